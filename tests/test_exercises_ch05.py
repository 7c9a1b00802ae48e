import math

import pytest
import torch

from swr_tutor.exercises import ExerciseError
from swr_tutor.exercises.ch05 import (check_da_at, check_halo_carry, check_programs_and_reads, da_reference,
                                      operators_for_gradient)
from swr_tutor.recurrence import transfer_operator


def test_halo_carry(capsys):
    def halo_carry(a_prev, x_prev):
        r = torch.ones_like(a_prev)
        for s in range(len(a_prev) - 2, -1, -1):
            r[s] = r[s + 1] * a_prev[s + 1]
        return r @ x_prev

    def local_last_row(a_prev, x_prev):
        return (transfer_operator(a_prev) @ x_prev)[-1]

    def including_a_s(a_prev, x_prev):
        return a_prev.flip(0).cumprod(0).flip(0) @ x_prev

    def by_division(a_prev, x_prev):
        return (a_prev.prod() / a_prev.cumprod(0)) @ x_prev

    check_halo_carry(halo_carry)
    assert "✓ halo_carry: all 5 cases pass" in capsys.readouterr().out
    check_halo_carry(local_last_row)  # the same numbers, another way
    with pytest.raises(ExerciseError, match="starts AFTER s"):
        check_halo_carry(including_a_s)
    with pytest.raises(ExerciseError, match=r"(?s)case 2: .*running products"):
        check_halo_carry(by_division)


def test_programs_and_reads(capsys):
    def programs_and_reads(B, H, T, block_t):
        blocks = math.ceil(T / block_t)
        return B * H * blocks, B * H * (T + 16 * (blocks - 1))

    def halo_for_every_block(B, H, T, block_t):
        blocks = math.ceil(T / block_t)
        return B * H * blocks, B * H * (T + 16 * blocks)

    def halo_of_a_block(B, H, T, block_t):
        blocks = math.ceil(T / block_t)
        return [float(B * H * blocks), float(B * H * (T + block_t * (blocks - 1)))]

    check_programs_and_reads(programs_and_reads)
    assert "✓ programs_and_reads: all 6 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="has no tile before it"):
        check_programs_and_reads(halo_for_every_block)
    with pytest.raises(ExerciseError, match="one tile of TILE = 16 positions"):
        check_programs_and_reads(halo_of_a_block)


def test_da_at(capsys):
    def da_at(L, Q, band, x, dy, m):
        pairs = band * (dy @ x.T)  # (t, s): dy_t . x_s inside the band
        return (pairs * L[:, m, None] * Q[m, None, :]).sum().item()

    def exact_recurrence(L, Q, band, x, dy, m):
        return ((dy @ x.T) * L[:, m, None] * Q[m, None, :]).sum()

    check_da_at(da_at)
    assert "✓ da_at: all 10 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="gradient of the EXACT recurrence"):
        check_da_at(exact_recurrence)


def test_gradient_helpers_agree_with_the_formula():
    T = 40
    a = torch.rand(T, dtype=torch.float64)
    a[[7, 16]] = 0.0
    x, dy = torch.randn(T, 3, dtype=torch.float64), torch.randn(T, 3, dtype=torch.float64)
    L, Q, band = operators_for_gradient(a)
    assert torch.equal(Q[5, :5], L[4, :5]) and torch.equal(Q.triu(), torch.zeros(T, T, dtype=torch.float64))
    da = torch.einsum("ts,tm,ms->m", band * (dy @ x.T), L, Q)
    assert torch.allclose(da, da_reference(a, x, dy), atol=1e-12, rtol=1e-10)
