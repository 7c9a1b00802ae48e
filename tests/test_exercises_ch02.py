import pytest
import torch

from swr_tutor.exercises import ExerciseError
from swr_tutor.exercises.ch02 import check_beta, check_block_rank, check_solve_recurrence


def solve_with(a, x, sub_diagonal):
    I_minus_S = torch.eye(a.shape[-1], dtype=a.dtype) - torch.diag(sub_diagonal, -1)
    return torch.linalg.solve_triangular(I_minus_S, x.unsqueeze(-1), upper=False, unitriangular=True).squeeze(-1)


def test_solve_recurrence(capsys):
    def solve_recurrence(a, x):
        return solve_with(a, x, a[1:])

    def shifted(a, x):
        return solve_with(a, x, a[:-1])

    def loop_that_forgets_the_decay(a, x):
        return x.cumsum(0)

    check_solve_recurrence(solve_recurrence)
    assert "✓ solve_recurrence: all 3 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match=r"sub-diagonal is a\[1:\]; you used a\[:-1\]"):
        check_solve_recurrence(shifted)
    with pytest.raises(ExerciseError, match="case 2: loop_that_forgets_the_decay"):
        check_solve_recurrence(loop_that_forgets_the_decay)


def test_beta(capsys):
    def beta(a, k, j, b):
        return a.reshape(-1, b).prod(-1)[j + 1 : k].prod()

    def including_tile_k(a, k, j, b):
        return float(a.reshape(-1, b).prod(-1)[j + 1 : k + 1].prod())

    def positions_not_tiles(a, k, j, b):
        return a[j + 1 : k].prod()

    check_beta(beta)
    assert "✓ beta: all 5 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="you included tile k; its part of the product is g_k"):
        check_beta(including_tile_k)
    with pytest.raises(ExerciseError, match="tile indices, not positions"):
        check_beta(positions_not_tiles)


def test_block_rank(capsys):
    def block_rank(a, k, j, b):
        return 0 if (a[(j + 1) * b : k * b + 1] == 0).any() else 1

    def any_zero_in_either_tile(a, k, j, b):
        return torch.tensor(0 if (a[j * b : (k + 1) * b] == 0).any() else 1)

    def always_one(a, k, j, b):
        return 1

    check_block_rank(block_rank)
    assert "✓ block_rank: all 7 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match=r"returned 0, expected 1\n  hint: a zero later in tile k"):
        check_block_rank(any_zero_in_either_tile)
    with pytest.raises(ExerciseError, match="makes beta_{k,j} = 0: rank 0"):
        check_block_rank(always_one)
