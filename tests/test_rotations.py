"""Rotations of 3-dim chunks (chapter 9)."""
import math

import pytest
import torch

from swr_tutor import rotations as R
from swr_tutor.simplicial import chunk_determinants

F64 = torch.float64


def test_skew_is_the_cross_product():
    w, v = torch.randn(3, dtype=F64), torch.randn(3, dtype=F64)
    torch.testing.assert_close(R.skew(w) @ v, torch.linalg.cross(w, v))
    torch.testing.assert_close(R.skew(w), -R.skew(w).T)


def test_rotation_turns_x_to_y_about_z_and_ignores_the_axis_length():
    Rz = R.rotation(torch.tensor([0.0, 0.0, 2.0], dtype=F64), math.pi / 2)
    torch.testing.assert_close(Rz @ torch.tensor([1.0, 0.0, 0.0], dtype=F64), torch.tensor([0.0, 1.0, 0.0], dtype=F64))
    with pytest.raises(ValueError, match="zero vector"):
        R.rotation(torch.zeros(3, dtype=F64), 1.0)


def test_position_rotations_form_a_group():
    omega = R.skew(torch.tensor([0.2, -0.4, 0.1], dtype=F64))
    Rt = R.position_rotations(torch.arange(-3, 8), omega)                  # t = -3 .. 7
    at = lambda t: Rt[t + 3]
    torch.testing.assert_close(at(0), torch.eye(3, dtype=F64))
    torch.testing.assert_close(at(2) @ at(5), at(7))
    torch.testing.assert_close(at(-3), at(3).T)
    torch.testing.assert_close(torch.linalg.det(Rt), torch.ones(11, dtype=F64))
    with pytest.raises(ValueError, match="skew-symmetric"):
        R.position_rotations([1], torch.eye(3, dtype=F64))


def test_rotate_chunks_per_token_and_common():
    x = torch.randn(2, 4, 3, 8, dtype=F64)
    Rt = torch.stack([R.random_rotation(torch.Generator().manual_seed(s)) for s in range(4)])
    y = R.rotate_chunks(x, Rt)
    torch.testing.assert_close(y[1, 2, 0, 3:6], Rt[2] @ x[1, 2, 0, 3:6])
    torch.testing.assert_close(y[..., 6:], x[..., 6:])                     # D % 3 dims untouched
    common = R.rotate_chunks(x, Rt[0])
    torch.testing.assert_close(common[0, 3, 1, :3], Rt[0] @ x[0, 3, 1, :3])
    with pytest.raises(ValueError, match=r"\(T, 3, 3\)"):
        R.rotate_chunks(x, Rt[:3])


def test_determinants_are_invariant_under_a_common_shift_of_positions():
    omega = R.skew(torch.tensor([0.3, 0.5, -0.2], dtype=F64))
    a, b, c = (torch.randn(1, 12, 1, 6, dtype=F64) for _ in range(3))
    def score(start):
        Rt = R.position_rotations(torch.arange(12) + start, omega)
        qa, kb, kc = (R.rotate_chunks(x, Rt) for x in (a, b, c))
        return chunk_determinants(qa[0, 9, 0], kb[0, 4, 0], kc[0, 7, 0])
    torch.testing.assert_close(score(0), score(37))


def test_random_rotation_is_special_orthogonal():
    for seed in range(10):
        Q = R.random_rotation(torch.Generator().manual_seed(seed))
        torch.testing.assert_close(Q @ Q.T, torch.eye(3, dtype=F64))
        assert abs(torch.linalg.det(Q).item() - 1) < 1e-12
