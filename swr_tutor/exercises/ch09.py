"""Checkers for chapter 09, determinant-based rotation: a rotation about an axis, the chunk determinants without
torch.linalg.det, and positions as rotations.

As in the earlier chapters, a checker first names a known mistake when the reader's answer reproduces it, then
runs the cases.
"""
import math
from collections.abc import Callable

import torch

from .. import rotations as R
from ..simplicial import chunk_determinants
from . import Case, name_the_mistake, run_cases

F64 = torch.float64


def _randn(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


# ---- exercise 1: a rotation about an axis ----------------------------------------------------------------------

def check_rotation_about(fn: Callable) -> None:
    """``fn(axis (3,), angle)`` must return the (3, 3) rotation by ``angle`` about ``axis`` (right-hand rule)."""
    exercise = "rotation_about"
    axis, angle = torch.tensor([1.0, 2.0, 2.0], dtype=F64), 0.7
    name_the_mistake(exercise, fn, (axis, angle), R.rotation(axis, angle), [
        (torch.linalg.matrix_exp(angle * R.skew(axis)),
         "normalise the axis first: exp(angle * skew(axis)) turns by angle * |axis|, here 3 * angle"),
        (R.rotation(axis, -angle), "that is the rotation by -angle (the transpose): with Ω v = axis × v, "
                                   "exp(angle Ω) turns counter-clockwise seen from the tip of the axis"),
        (angle * R.skew(axis / 3), "that is angle * Ω, the first-order term only: take the matrix exponential"),
    ])
    cases = [((torch.tensor([0.0, 0.0, 1.0], dtype=F64), math.pi / 2),
              "a quarter turn about z maps x to y: the first column is (0, 1, 0)"),
             ((axis, angle), ""), ((torch.tensor([0.0, 3.0, 0.0], dtype=F64), 0.0), "angle 0: the identity"),
             ((_randn(3, seed=5), 2.5), ""), ((torch.tensor([1.0, -1.0, 0.5], dtype=F64), -1.2), "")]
    run_cases(exercise, fn, [Case(args, R.rotation(*args), hint=hint) for args, hint in cases], atol=1e-10)


# ---- exercise 2: the chunk determinants by their six terms -----------------------------------------------------

def check_chunk_det(fn: Callable) -> None:
    """``fn(a, b, c)`` with (..., D) tensors, D % 3 == 0, must return det[a; b; c] of every chunk, (..., D // 3)."""
    exercise = "chunk_det"
    a, b, c = (_randn(2, 6, seed=s) for s in (1, 2, 3))
    expected = chunk_determinants(a, b, c)
    chunk = lambda x: x.unflatten(-1, (-1, 3))  # noqa: E731
    name_the_mistake(exercise, fn, (a, b, c), expected, [
        (-expected, "the sign is flipped: det[a; b; c] = <a × b, c>, and a × b = (a2 b3 - a3 b2, ...)"),
        ((chunk(a) * chunk(b) * chunk(c)).sum(-1), "that is the trilinear form of each chunk (the product of the "
                                                   "diagonal terms only); the determinant has six terms"),
        (expected.sum(-1), "return one determinant per chunk, shape (..., D // 3): do not sum them"),
        ((chunk(a) * chunk(b)[..., [1, 2, 0]] * chunk(c)[..., [2, 0, 1]]).sum(-1),
         "you have the three terms with sign +1; subtract the three with sign -1"),
    ])
    cases = [((torch.eye(3, dtype=F64)[0], torch.eye(3, dtype=F64)[1], torch.eye(3, dtype=F64)[2]),
              "det[e1; e2; e3] = 1"),
             ((a, b, c), ""), ((a, a, c), "two equal rows: the determinant is 0"),
             ((_randn(4, 5, 9, seed=7), _randn(4, 5, 9, seed=8), _randn(4, 5, 9, seed=9)), "")]
    run_cases(exercise, fn, [Case(args, chunk_determinants(*args), hint=hint) for args, hint in cases])


# ---- exercise 3: positions as rotations ------------------------------------------------------------------------

def rotate_by_position_reference(x: torch.Tensor, generator: torch.Tensor) -> torch.Tensor:
    """x (T, D) with every 3-dim chunk of token t multiplied by R_t = exp(t Ω)."""
    T = x.shape[0]
    return R.rotate_chunks(x[None, :, None], R.position_rotations(torch.arange(T), generator))[0, :, 0]


def check_rotate_by_position(fn: Callable) -> None:
    """``fn(x (T, D), generator (3, 3))`` must rotate every 3-dim chunk of token t by exp(t * generator)."""
    exercise = "rotate_by_position"
    x, omega = _randn(5, 6, seed=1), R.skew(torch.tensor([0.3, -0.2, 0.4], dtype=F64))
    T, D = x.shape
    expected = rotate_by_position_reference(x, omega)
    one = R.position_rotations(torch.ones(T), omega)
    by_columns = x.view(T, 3, D // 3).transpose(1, 2)  # "chunks" of dims (c, c + D/3, c + 2D/3)
    turned = torch.einsum("tmn,tcn->tcm", R.position_rotations(torch.arange(T), omega), by_columns)
    name_the_mistake(exercise, fn, (x, omega), expected, [
        (rotate_by_position_reference(x, -omega), "you rotated token t by exp(-t Ω) = R_t^T: multiply by R_t"),
        (R.rotate_chunks(x[None, :, None], one)[0, :, 0], "every token gets its own rotation R_t = exp(t Ω), "
                                                          "not one common rotation"),
        (turned.transpose(1, 2).reshape(T, D), "a chunk is three CONSECUTIVE dims (3c, 3c + 1, 3c + 2)"),
        (torch.cat([rotate_by_position_reference(x[:, :3], omega), x[:, 3:]], -1), "rotate every chunk, not "
                                                                                    "only the first"),
    ])
    cases = [((x, omega), ""), ((_randn(1, 3, seed=2), omega), "T = 1: token 0 gets R_0 = I"),
             ((_randn(7, 9, seed=3), R.skew(torch.tensor([0.0, 0.0, 0.5], dtype=F64))), ""),
             ((_randn(4, 8, seed=4), omega), "D = 8: two chunks and two dims after them, left alone")]
    run_cases(exercise, fn, [Case(args, rotate_by_position_reference(*args), hint=hint) for args, hint in cases])
