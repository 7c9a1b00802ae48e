"""Checkers for chapter 04, sliding window recurrences: the two passes, a tile size for an error budget, and
when the jagged window is exact.

As in chapter 02, a checker first names a known mistake when the reader's answer reproduces it, then runs the cases.
"""
from collections.abc import Callable

import torch

from .. import blocked, windows
from ..recurrence import reference_scan, transfer_operator
from ..swr import swr_mask
from . import Case, converted, decays_with_zeros_and_ones, name_the_mistake, run_cases


def _inputs(T: int, D: int, seed: int) -> torch.Tensor:
    return torch.randn(T, D, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _passes_with(a: torch.Tensor, x: torch.Tensor, b: int, carry: Callable) -> torch.Tensor:
    """Pass 1 (w_k = L_k x_k), then y_k = w_k + carry(g_k, w_{k-1}) for a known mistake in pass 2."""
    w = blocked.local_operators(a, b) @ x.reshape(-1, b, x.shape[-1])  # (K, b, D)
    g = blocked.tile_factors(a, b).g                                     # (K, b)
    y = w.clone()
    for k in range(1, len(w)):
        y[k] += carry(g[k], w[k - 1])
    return y.flatten(0, 1)


def check_two_pass(fn: Callable) -> None:
    """``fn(a, x, b)`` with a (T,), x (T, D), T a multiple of b, must return B2P's y (T, D) for tiles of b."""
    exercise = "two_pass"
    a, x, b = decays_with_zeros_and_ones(16, seed=1), _inputs(16, 3, seed=2), 4
    name_the_mistake(exercise, fn, (a, x, b), windows.swr_operator(a, b) @ x, [
        (reference_scan(a, x),
         "you carried the corrected last row y_{k-1}[b-1]: that runs the exact carrier system, one tile after "
         "another. B2P carries the previous tile's LOCAL last row w_{k-1}[b-1], so every tile's pass 2 needs only "
         "pass 1 of the tile before it"),
        (blocked.local_operators(a, b).matmul(x.reshape(-1, b, 3)).flatten(0, 1),
         "you stopped after pass 1: add g_k times the previous tile's local last row w_{k-1}[b-1]"),
        (_passes_with(a, x, b, lambda g, w_previous: w_previous[-1]),
         "the carry must decay into the tile: scale it by g_k[i] = a_{kb} ... a_{kb+i} (blocked.tile_factors)"),
        (_passes_with(a, x, b, lambda g, w_previous: g[:, None] * w_previous[0]),
         "the carry is the previous tile's LAST row w_{k-1}[b-1], the state at the end of that tile"),
    ])
    with_zeros = decays_with_zeros_and_ones(48, seed=3, zeros=(5, 20, 33), ones=(16, 40))
    run_cases(exercise, fn, [
        Case((a, x, b), windows.swr_operator(a, b) @ x),
        Case((with_zeros, _inputs(48, 2, seed=4), 16), windows.swr_operator(with_zeros, 16) @ _inputs(48, 2, seed=4),
             hint="decays of exactly 0 and 1 must work: use running products, not divisions or logarithms"),
        Case((a, _inputs(16, 1, seed=5), 1), windows.swr_operator(a, 1) @ _inputs(16, 1, seed=5),
             hint="b = 1: each token sees itself and the one before it, y_t = x_t + a_t x_{t-1}"),
    ])


def _smallest_tile(a_max: float, tolerance: float, bound: Callable = windows.truncation_error_bound) -> int:
    b = 1
    while bound(a_max, b) > tolerance:
        b += 1
    return b


def check_smallest_tile(fn: Callable) -> None:
    """``fn(a_max, tolerance)`` must return the smallest b >= 1 with a_max^(b+1) / (1 - a_max) <= tolerance."""
    exercise = "smallest_tile"
    a_max, tolerance = 0.9, 1e-2
    name_the_mistake(exercise, fn, (a_max, tolerance), _smallest_tile(a_max, tolerance), [
        (_smallest_tile(a_max, tolerance, lambda a, b: a**b / (1 - a)),
         "one too many: the nearest input SWR drops is b + 1 steps back, so the bound has a_max^(b+1), not a_max^b"),
        (_smallest_tile(a_max, tolerance, lambda a, b: a ** (b + 1)),
         "you left out the factor 1 / (1 - a_max): the dropped weights form a geometric tail "
         "a_max^(b+1) + a_max^(b+2) + ... = a_max^(b+1) / (1 - a_max)"),
    ])
    run_cases(exercise, fn, [
        Case((a_max, tolerance), _smallest_tile(a_max, tolerance)),
        Case((0.5, 1e-3), _smallest_tile(0.5, 1e-3)),
        Case((0.99, 0.1), _smallest_tile(0.99, 0.1), hint="decays close to 1 need long tiles"),
        Case((0.0, 1e-6), 1, hint="a_max = 0: nothing reaches past the current token, the smallest tile will do"),
        Case((0.3, 10.0), 1, hint="a loose tolerance is met by the smallest tile, b = 1"),
    ])


def _exact(a: torch.Tensor, b: int) -> bool:
    """Whether every entry of L outside the jagged window is exactly 0."""
    return bool((transfer_operator(a)[~swr_mask(a.shape[-1], b)] == 0).all())


def _as_bool(value):
    """A one-element tensor as a Python bool; anything else unchanged."""
    return bool(value) if isinstance(value, torch.Tensor) and value.numel() == 1 else value


def check_swr_is_exact(fn: Callable) -> None:
    """``fn(a, b)`` with a (T,), T a multiple of b, must say whether SWR equals the recurrence for every input."""
    exercise = "swr_is_exact"
    b, T = 4, 24
    cases = [  # (zero positions, hint)
        ((), "with no zero decay, rows from tile 2 on reach back past the window: not exact"),
        ((5, 9, 14, 18), "a zero in every tile between the first and the last cuts everything older than the window"),
        ((8, 12, 16, 20), "a_{kb}, the first decay of tile k, multiplies everything tile k's rows drop "
                          "(g_k[0] = a_kb): a zero there is as good as one in tile k - 1"),
        ((9, 13, 17, 21), "a zero at position kb + 1 cuts the rows after it, but row kb still reaches past its window"),
        ((5, 9, 18), "tile 3 holds no zero (and a_16, the first decay of tile 4, is not 0): the rows of tile 4 "
                     "reach back past their window"),
    ]
    run_cases(exercise, converted(fn, _as_bool), [
        *(Case((decays_with_zeros_and_ones(T, seed=6, zeros=zeros), b), _exact(decays_with_zeros_and_ones(T, seed=6, zeros=zeros), b), hint=hint)
          for zeros, hint in cases),
        Case((decays_with_zeros_and_ones(8, seed=7), 4), True, hint="with two tiles the window holds the whole sequence"),
    ])
