import math

import pytest
import torch

from swr_tutor import rotations as R
from swr_tutor.exercises import ExerciseError
from swr_tutor.exercises.ch09 import check_chunk_det, check_rotate_by_position, check_rotation_about


def test_rotation_about(capsys):
    def rotation_about(axis, angle):
        n = axis / axis.norm()
        K = torch.tensor([[0, -n[2], n[1]], [n[2], 0, -n[0]], [-n[1], n[0], 0]], dtype=axis.dtype)
        return torch.eye(3, dtype=axis.dtype) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K  # Rodrigues

    check_rotation_about(rotation_about)
    assert "✓ rotation_about: all 5 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="normalise the axis"):
        check_rotation_about(lambda axis, angle: torch.linalg.matrix_exp(angle * R.skew(axis)))
    with pytest.raises(ExerciseError, match="-angle"):
        check_rotation_about(lambda axis, angle: rotation_about(axis, angle).T)


def test_chunk_det(capsys):
    def chunk_det(a, b, c):
        a, b, c = (x.unflatten(-1, (-1, 3)) for x in (a, b, c))
        return (a[..., 0] * (b[..., 1] * c[..., 2] - b[..., 2] * c[..., 1])
                - a[..., 1] * (b[..., 0] * c[..., 2] - b[..., 2] * c[..., 0])
                + a[..., 2] * (b[..., 0] * c[..., 1] - b[..., 1] * c[..., 0]))

    check_chunk_det(chunk_det)
    assert "✓ chunk_det: all 4 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="sign is flipped"):
        check_chunk_det(lambda a, b, c: -chunk_det(a, b, c))
    with pytest.raises(ExerciseError, match="do not sum"):
        check_chunk_det(lambda a, b, c: chunk_det(a, b, c).sum(-1))
    with pytest.raises(ExerciseError, match="trilinear form"):
        check_chunk_det(lambda a, b, c: (a * b * c).unflatten(-1, (-1, 3)).sum(-1))


def test_rotate_by_position(capsys):
    def rotate_by_position(x, generator):
        T, D = x.shape
        out = x.clone()
        for t in range(T):
            Rt = torch.linalg.matrix_exp(t * generator)
            for c in range(D // 3):
                out[t, 3 * c:3 * c + 3] = Rt @ x[t, 3 * c:3 * c + 3]
        return out

    check_rotate_by_position(rotate_by_position)
    assert "✓ rotate_by_position: all 4 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match=r"exp\(-t Ω\)"):
        check_rotate_by_position(lambda x, g: rotate_by_position(x, -g))
    with pytest.raises(ExerciseError, match="only the first"):
        check_rotate_by_position(lambda x, g: torch.cat([rotate_by_position(x[:, :3], g), x[:, 3:]], -1))
