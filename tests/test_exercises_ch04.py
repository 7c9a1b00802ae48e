import math

import pytest
import torch

from swr_tutor import blocked
from swr_tutor.exercises import ExerciseError
from swr_tutor.exercises.ch04 import check_smallest_tile, check_swr_is_exact, check_two_pass


def passes(a, x, b, carry_corrected=False, decay_carry=True, carried_row=-1):
    w = blocked.local_operators(a, b) @ x.reshape(-1, b, x.shape[-1])  # (K, b, D)
    g = blocked.tile_factors(a, b).g if decay_carry else torch.ones(w.shape[:2], dtype=w.dtype)
    y = w.clone()
    for k in range(1, len(w)):
        carry = y[k - 1, carried_row] if carry_corrected else w[k - 1, carried_row]
        y[k] += g[k, :, None] * carry
    return y.flatten(0, 1)


def test_two_pass(capsys):
    check_two_pass(passes)
    assert "✓ two_pass: all 3 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="you carried the corrected last row"):
        check_two_pass(lambda a, x, b: passes(a, x, b, carry_corrected=True))
    with pytest.raises(ExerciseError, match="the carry must decay into the tile"):
        check_two_pass(lambda a, x, b: passes(a, x, b, decay_carry=False))
    with pytest.raises(ExerciseError, match="the carry is the previous tile's LAST row"):
        check_two_pass(lambda a, x, b: passes(a, x, b, carried_row=0))
    with pytest.raises(ExerciseError, match="you stopped after pass 1"):
        check_two_pass(lambda a, x, b: (blocked.local_operators(a, b) @ x.reshape(-1, b, x.shape[-1])).flatten(0, 1))


def test_smallest_tile(capsys):
    def smallest_tile(a_max, tolerance):
        if a_max == 0:
            return 1
        return max(1, math.ceil(math.log(tolerance * (1 - a_max)) / math.log(a_max)) - 1)

    def one_too_many(a_max, tolerance):
        return smallest_tile(a_max, tolerance) + 1

    def without_the_tail(a_max, tolerance):
        return max(1, math.ceil(math.log(tolerance) / math.log(a_max)) - 1)

    check_smallest_tile(smallest_tile)
    assert "✓ smallest_tile: all 5 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match=r"b \+ 1 steps back"):
        check_smallest_tile(one_too_many)
    with pytest.raises(ExerciseError, match=r"factor 1 / \(1 - a_max\)"):
        check_smallest_tile(without_the_tail)


def test_swr_is_exact(capsys):
    def swr_is_exact(a, b):
        K = a.shape[-1] // b
        return all((a[(k - 1) * b : k * b + 1] == 0).any() for k in range(2, K))

    def zero_in_the_previous_tile(a, b):
        K = a.shape[-1] // b
        return torch.tensor(all((a[(k - 1) * b : k * b] == 0).any() for k in range(2, K)))

    def zero_in_every_tile(a, b):
        return bool((a.reshape(-1, b) == 0).any(-1).all())

    check_swr_is_exact(swr_is_exact)
    assert "✓ swr_is_exact: all 6 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match=r"case 3: .*returned False, expected True\n  hint: a_\{kb\}"):
        check_swr_is_exact(zero_in_the_previous_tile)
    with pytest.raises(ExerciseError, match="case 2: .*returned False, expected True"):
        check_swr_is_exact(zero_in_every_tile)
