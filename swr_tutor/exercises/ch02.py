"""Checkers for chapter 02, the unit lower-triangular system.

Each checker first tries the reader's function on one telling input and names a known mistake when the
answer matches it (an off-by-one in S_a, a bound of beta_{k,j} included, ...); then it runs the cases.
"""
import functools
from collections.abc import Callable

import torch

from .. import blocked
from ..recurrence import reference_scan, transfer_operator
from . import as_number, Case, converted, decays_with_zeros_and_ones, name_the_mistake, run_cases


def _inputs(T: int, seed: int) -> torch.Tensor:
    return torch.randn(T, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _unit_lower(a: torch.Tensor, sub_diagonal: torch.Tensor, sign: float = -1.0, offset: int = -1) -> torch.Tensor:
    return torch.eye(a.shape[-1], dtype=a.dtype) + sign * torch.diag(sub_diagonal, offset)


def check_solve_recurrence(fn: Callable) -> None:
    """``fn(a, x)`` with a, x of shape (T,) must return h (T,) solving (I - S_a) h = x."""
    exercise = "solve_recurrence"
    a, x = decays_with_zeros_and_ones(6, seed=1), _inputs(6, seed=2)
    solve = functools.partial(torch.linalg.solve_triangular, upper=False, unitriangular=True)
    column = x.unsqueeze(-1)
    name_the_mistake(exercise, fn, (a, x), reference_scan(a, x), [
        (solve(_unit_lower(a, a[:-1]), column).squeeze(-1),
         "row t of S_a must hold a_t (at column t-1), so the sub-diagonal is a[1:]; you used a[:-1] (a_{t-1})"),
        (solve(_unit_lower(a, a[1:], sign=1.0), column).squeeze(-1),
         "sign: the system is (I - S_a) h = x, i.e. h_t - a_t h_{t-1} = x_t; you solved (I + S_a) h = x"),
        (torch.linalg.solve_triangular(_unit_lower(a, a[1:], offset=1), column, upper=True).squeeze(-1),
         "S_a lives below the diagonal (h_t depends on h_{t-1}); you put a on the super-diagonal"),
        (_unit_lower(a, a[1:]) @ x,
         "you multiplied x by (I - S_a); solve (I - S_a) h = x for h instead (torch.linalg.solve_triangular)"),
    ])
    run_cases(exercise, fn, [
        Case((torch.tensor([0.5], dtype=torch.float64), torch.tensor([2.0], dtype=torch.float64)),
             torch.tensor([2.0], dtype=torch.float64), hint="T = 1: h_0 = x_0 (a_0 multiplies h_{-1} = 0)"),
        Case((a, x), reference_scan(a, x)),
        Case((decays_with_zeros_and_ones(16, seed=3, zeros=(5,), ones=(9, 10)), _inputs(16, seed=4)),
             reference_scan(decays_with_zeros_and_ones(16, seed=3, zeros=(5,), ones=(9, 10)), _inputs(16, seed=4)),
             hint="decays of exactly 0 and 1 must work: solve the system, don't divide by a"),
    ])


def check_beta(fn: Callable) -> None:
    """``fn(a, k, j, b)`` must return beta_{k,j}, the product of the whole-tile decays strictly between j < k."""
    exercise = "beta"
    b, k, j = 4, 3, 0
    a = decays_with_zeros_and_ones(5 * b, seed=5)
    c = a.reshape(-1, b).prod(-1)
    name_the_mistake(exercise, converted(fn, as_number), (a, k, j, b), c[j + 1 : k].prod().item(), [
        (c[j : k + 1].prod().item(), "you included both tiles j and k; beta_{k,j} covers the tiles strictly between"),
        (c[j:k].prod().item(), "you included tile j; its part of the product is r_j, beta starts at tile j + 1"),
        (c[j + 1 : k + 1].prod().item(),
         "you included tile k; its part of the product is g_k, beta stops at tile k - 1"),
        (a[j + 1 : k].prod().item(),
         "k and j are tile indices, not positions: tile l covers positions l*b ... l*b + b - 1"),
    ])
    zero_in_tile_1 = decays_with_zeros_and_ones(48, seed=6, zeros=(20,))  # b = 16: position 20 lies in tile 1
    cases = [
        ((a, k, j, b), ""),
        ((a, 2, 1, b), "adjacent tiles: nothing lies strictly between, and the empty product is 1"),
        ((a, 4, 0, b), ""),
        ((zero_in_tile_1, 2, 0, 16), "a zero decay inside a tile between j and k makes beta exactly 0"),
        ((zero_in_tile_1, 2, 1, 16), "the zero is in tile j here: it belongs to r_j, not to beta"),
    ]
    run_cases(exercise, converted(fn, as_number), [Case(args, blocked.beta(*args).item(), hint=hint) for args, hint in cases])


def _block_rank(a: torch.Tensor, k: int, j: int, b: int) -> int:
    return int(torch.linalg.matrix_rank(blocked.split_tiles(transfer_operator(a), b)[k, j]))


def check_block_rank(fn: Callable) -> None:
    """``fn(a, k, j, b)`` must predict the rank (0 or 1) of block (k, j), j < k, of the transfer operator."""
    exercise = "block_rank"
    b, k, j = 4, 3, 1
    start_k, end_j = k * b, j * b + b - 1
    zero_at = [  # (position of the one zero decay, hint)
        (None, "with no zero decay every block below the diagonal is g_k beta r_j^T with nothing zero: rank 1"),
        (b * 2 + 1, "a zero in a tile strictly between j and k makes beta_{k,j} = 0: rank 0"),
        (start_k, "every entry of block (k, j) contains a_{kb}, the first decay of tile k (g_k[i] starts there)"),
        (start_k + 1, "a zero later in tile k zeroes the rows from it on; row 0 (g_k[0] = a_{kb}) survives"),
        (end_j, "r_j[b-1] = 1 (an empty product): a zero inside tile j zeroes only the columns before it"),
        (j * b, "a_{jb} never enters block (k, j): its products start at a_{s+1} with s >= jb"),
        (start_k + b, "a zero after tile k cannot reach block (k, j)"),
    ]
    cases = []
    for position, hint in zero_at:
        a = decays_with_zeros_and_ones(5 * b, seed=7, zeros=() if position is None else (position,))
        cases.append(Case((a, k, j, b), _block_rank(a, k, j, b), hint=hint))
    run_cases(exercise, converted(fn, as_number), cases)
