"""Checkers for chapter 06, B2P in CUDA: where a lane keeps an operator entry, a scan with warp shuffles, and
the carry block that one more tensor-core product applies.

As in the earlier chapters, a checker first names a known mistake when the reader's answer reproduces it, then
runs the cases.
"""
from collections.abc import Callable

import torch

from .. import warp_model
from ..blocked import TILE
from ..recurrence import transfer_operator
from . import Case, converted, decays_with_zeros_and_ones, int_pair, name_the_mistake, run_cases


# ---- exercise 1: where a lane keeps an entry of the A operand ----------------------------------------------

def a_entry_reference(lane: int, register: int, half: int) -> tuple[int, int]:
    """(row, column) of the 16x16 A operand of mma.sync m16n8k16 held by ``lane`` in half ``half`` of
    register ``register``: row g + 8 (r & 1), column 2q + 8 (r >> 1) + h, with lane = 4 g + q."""
    g, q = divmod(lane, 4)
    return g + 8 * (register & 1), 2 * q + 8 * (register >> 1) + half


def check_a_entry(fn: Callable) -> None:
    """``fn(lane, register, half)`` must return the (row, column) of the A operand that the lane holds there."""
    exercise = "a_entry"
    fn = converted(fn, int_pair)
    lane, register, half = 13, 3, 1   # g = 3, q = 1
    name_the_mistake(exercise, fn, (lane, register, half), a_entry_reference(lane, register, half), [
        ((3 + 8, 2 * 1 + 8 + 1)[::-1], "you swapped row and column: the group g = lane // 4 picks the ROW"),
        ((1 + 8, 2 * 3 + 8 + 1), "the row comes from the group g = lane // 4, the columns from q = lane % 4; "
                                 "you used them the other way round"),
        ((3 + 8, 2 * 1 + 1), "register r >> 1 moves the columns by 8 (registers 2 and 3 hold columns 8-15)"),
        ((3, 2 * 1 + 8 + 1), "register r & 1 moves the row by 8 (registers 1 and 3 hold rows 8-15)"),
    ])
    cases = [Case((lane, register, half), a_entry_reference(lane, register, half), hint=hint)
             for lane, register, half, hint in [
                 (0, 0, 0, "lane 0, register 0, half 0: the top-left entry"),
                 (0, 0, 1, "the second 16-bit half of a register is the next column"),
                 (5, 1, 0, ""), (13, 3, 1, ""), (31, 3, 1, "lane 31 holds the bottom-right entry"),
                 (30, 2, 0, ""),
             ]]
    run_cases(exercise, fn, cases)


# ---- exercise 2: an inclusive scan with warp shuffles ------------------------------------------------------

def _hillis_steele(values: torch.Tensor, inclusive_condition: bool = True) -> torch.Tensor:
    prefix, offset = values.clone(), 1
    while offset < warp_model.LANES:
        earlier = warp_model.shfl_up(prefix, offset)
        prefix = torch.where(warp_model.LANE >= offset, prefix + earlier, prefix) if inclusive_condition \
            else prefix + earlier
        offset *= 2
    return prefix


def check_warp_scan(fn: Callable) -> None:
    """``fn(values)`` with values (32,) float64, one per lane, must return the inclusive prefix sums (32,)
    computed with ``warp_model.shfl_up`` (each lane adding what a lower lane holds)."""
    exercise = "warp_scan"
    values = torch.randn(32, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    expected = values.cumsum(0)
    name_the_mistake(exercise, fn, (values,), expected, [
        (_hillis_steele(values, inclusive_condition=False),
         "lanes below the offset: __shfl_up_sync hands them their OWN value, which they must not add "
         "(only lanes l >= offset add what lane l - offset holds)"),
        (expected - values, "that is the exclusive prefix (the sum BEFORE each lane); the kernel's "
                            "prefix includes the lane's own log-decay"),
        (values.flip(0).cumsum(0).flip(0), "you summed towards the last lane: lane l must hold values[0] + ... + "
                                           "values[l]"),
    ])
    cases = [
        Case((values,), expected),
        Case((torch.ones(32, dtype=torch.float64),), torch.arange(1, 33, dtype=torch.float64),
             hint="all ones: lane l holds l + 1"),
        Case((torch.log(decays_with_zeros_and_ones(32, seed=2)).clamp_min(-1e4),),
             torch.log(decays_with_zeros_and_ones(32, seed=2)).clamp_min(-1e4).cumsum(0),
             hint="log-decays, as the kernel scans them"),
    ]
    run_cases(exercise, fn, cases, atol=1e-9, rtol=1e-12)


# ---- exercise 3: the carry block -------------------------------------------------------------------------

def carry_block_reference(a_previous: torch.Tensor, a_own: torch.Tensor) -> torch.Tensor:
    """G (16, 16): G[t, s] = a_{s+1} ... a_t for s in the previous tile and t in this one: the block of the
    transfer operator of the 32 decays [a_previous, a_own] below the diagonal tile."""
    return transfer_operator(torch.cat([a_previous, a_own]))[TILE:, :TILE]


def check_carry_block(fn: Callable) -> None:
    """``fn(a_previous, a_own)`` (each (16,) float64) must return G_k (16, 16), G[t, s] = a_{s+1} ... a_t."""
    exercise = "carry_block"
    a_previous, a_own = decays_with_zeros_and_ones(TILE, seed=3), decays_with_zeros_and_ones(TILE, seed=4)
    expected = carry_block_reference(a_previous, a_own)
    g = a_own.cumprod(0)
    r_with_a_s = a_previous.flip(0).cumprod(0).flip(0)
    name_the_mistake(exercise, fn, (a_previous, a_own), expected, [
        (g[:, None] * r_with_a_s[None, :], "x_s enters the state at s without passing through a_s: the "
                                           "product starts at a_{s+1}"),
        (expected.T, "rows are the outputs t (this tile), columns the inputs s (the previous tile)"),
        (transfer_operator(a_own), "that is the diagonal tile L_k; G_k links the previous tile's inputs to "
                                   "this tile's outputs"),
    ])
    cases = [
        Case((a_previous, a_own), expected),
        Case((decays_with_zeros_and_ones(TILE, seed=5, zeros=(0,)), decays_with_zeros_and_ones(TILE, seed=6)),
             carry_block_reference(decays_with_zeros_and_ones(TILE, seed=5, zeros=(0,)),
                                   decays_with_zeros_and_ones(TILE, seed=6)),
             hint="a_0 of the previous tile is in no entry of G (s + 1 >= 1): a zero there changes nothing"),
        Case((decays_with_zeros_and_ones(TILE, seed=7), decays_with_zeros_and_ones(TILE, seed=8, zeros=(4,))),
             carry_block_reference(decays_with_zeros_and_ones(TILE, seed=7),
                                   decays_with_zeros_and_ones(TILE, seed=8, zeros=(4,))),
             hint="a zero at position 4 of this tile: rows t >= 4 of G are exactly 0"),
        Case((torch.ones(TILE, dtype=torch.float64), torch.ones(TILE, dtype=torch.float64)),
             torch.ones(TILE, TILE, dtype=torch.float64), hint="a = 1 everywhere: every entry is 1"),
    ]
    run_cases(exercise, fn, cases, atol=1e-12, rtol=1e-10)
