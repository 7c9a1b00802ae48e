"""Checkers for chapter 05, B2P in Triton: the carry a program reads from its halo, the programs and reads of a
launch, and the gradient of one decay.

As in the earlier chapters, a checker first names a known mistake when the reader's answer reproduces it, then
runs the cases.
"""
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..blocked import TILE
from ..recurrence import transfer_operator
from ..swr import b2p_reference, swr_mask
from . import as_number, Case, converted, decays_with_zeros_and_ones, int_pair, name_the_mistake, run_cases


def _inputs(T: int, D: int, seed: int) -> torch.Tensor:
    return torch.randn(T, D, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---- exercise 1: the carry out of the halo tile ---------------------------------------------------------

def _suffix_products(a: torch.Tensor, include_self: bool) -> torch.Tensor:
    """r[s] = a_{s+1} ... a_{b-1} (or a_s ... a_{b-1} with include_self), by running products: no division."""
    products = a.flip(0).cumprod(0).flip(0)  # a_s ... a_{b-1}
    return products if include_self else torch.cat([products[1:], torch.ones_like(a[:1])])


def halo_carry_reference(a_prev: torch.Tensor, x_prev: torch.Tensor) -> torch.Tensor:
    """The carry (D,) = r^T x_prev with r[s] = a_{s+1} ... a_{b-1}: the previous tile's local last row."""
    return _suffix_products(a_prev, include_self=False) @ x_prev


def check_halo_carry(fn: Callable) -> None:
    """``fn(a_prev, x_prev)`` with a_prev (b,) and x_prev (b, D) must return the carry r^T x_prev (D,)."""
    exercise = "halo_carry"
    a, x = decays_with_zeros_and_ones(TILE, seed=1), _inputs(TILE, 3, seed=2)
    name_the_mistake(exercise, fn, (a, x), halo_carry_reference(a, x), [
        (_suffix_products(a, include_self=True) @ x,
         "r[s] = a_{s+1} ... a_{b-1} starts AFTER s: x_s enters the state at s without passing through a_s "
         "(and r[b-1] = 1, an empty product); you included a_s"),
        (a.cumprod(0) @ x,
         "you weighted x_s with a_0 ... a_s (that is g, the decay from the tile's start to s, which multiplies the "
         "carry entering a tile); the carry leaving the tile needs the decay from s to the tile's END"),
        (x.sum(0), "every x_s must be decayed to the end of the tile: weight it with r[s] = a_{s+1} ... a_{b-1}"),
        ((transfer_operator(a) @ x)[0], "that is row 0 of L x; the carry is the LAST row, (L_prev x_prev)[b-1]"),
    ])
    cases = [
        ((a, x), ""),
        ((decays_with_zeros_and_ones(TILE, seed=3, zeros=(0,)), _inputs(TILE, 4, seed=4)),
         "a_0 never enters the carry (r[s] starts at a_{s+1}), so a zero there changes nothing; dividing by a "
         "turns it into 0/0 = NaN: build r with running products"),
        ((decays_with_zeros_and_ones(TILE, seed=5, zeros=(TILE - 1,)), _inputs(TILE, 2, seed=6)),
         "a zero at the last position cuts every x_s with s < b-1: only x_{b-1} (r = 1) survives"),
        ((decays_with_zeros_and_ones(TILE, seed=7, zeros=(5,), ones=(9, 10)), _inputs(TILE, 16, seed=8)), ""),
        ((torch.tensor([0.5, 0.25], dtype=torch.float64), torch.tensor([[1.0], [2.0]], dtype=torch.float64)),
         "a tile of b = 2: r = (a_1, 1) = (0.25, 1), so the carry is 0.25 * 1 + 2 = 2.25"),
    ]
    run_cases(exercise, fn, [Case(args, halo_carry_reference(*args), hint=hint) for args, hint in cases])


# ---- exercise 2: programs and reads of a forward launch --------------------------------------------------

def programs_and_reads_reference(B: int, H: int, T: int, block_t: int = TILE) -> tuple[int, int]:
    """(programs, rows of x loaded) of the forward with one channel slice: each program loads its own positions
    inside [0, T) and, except the first of a sequence, the TILE positions before its block (the halo)."""
    blocks = math.ceil(T / block_t)
    return B * H * blocks, B * H * (T + TILE * (blocks - 1))


def check_programs_and_reads(fn: Callable) -> None:
    """``fn(B, H, T, block_t)`` must return (programs, rows of x loaded) of the forward launch."""
    exercise = "programs_and_reads"
    B, H, T, block_t = 2, 3, 100, 32
    blocks, padded_blocks = math.ceil(T / block_t), T // block_t
    programs, rows = programs_and_reads_reference(B, H, T, block_t)
    name_the_mistake(exercise, converted(fn, int_pair), (B, H, T, block_t), (programs, rows), [
        ((programs, rows + TILE * B * H),
         "the first block of a sequence has no tile before it: its halo lies before position 0, every load "
         "is masked off and reads nothing"),
        ((programs, B * H * T), "every block after the first also loads the TILE positions before it (the halo)"),
        ((programs, B * H * (blocks * block_t + TILE * (blocks - 1))),
         "the last block's positions past T are masked off and read nothing: count T positions, not "
         "blocks * block_t"),
        ((B * H * padded_blocks, rows), "a partial last block is a program too: use ceil(T / block_t)"),
        ((B * H * blocks, B * H * (T + block_t * (blocks - 1))),
         "the halo is one tile of TILE = 16 positions, whatever block_t is"),
    ])
    cases = [
        ((1, 1, 1, 16), "T = 1: one program, one position, no halo"),
        ((1, 1, 17, 16), "two blocks: 17 own positions plus one halo tile of 16 for the second block"),
        ((2, 3, 100, 16), ""),
        ((1, 1, 100, 64), "block_t = 64: two blocks, the second re-reads the 16 positions before it"),
        ((8, 16, 8192, 16), ""),
        ((8, 16, 8192, 64), ""),
    ]
    run_cases(exercise, converted(fn, int_pair),
              [Case(args, programs_and_reads_reference(*args), hint=hint) for args, hint in cases])


# ---- exercise 3: the gradient of one decay ---------------------------------------------------------------

def operators_for_gradient(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """L (T, T) = transfer_operator(a), Q (T, T) with Q[m, s] = a_{s+1} ... a_{m-1} for s < m (0 otherwise: L
    moved down one row), and band (T, T) = swr_mask(T)."""
    L = transfer_operator(a)
    return L, F.pad(L, (0, 0, 1, 0))[:-1], swr_mask(a.shape[-1]).to(a.device)


def da_reference(a: torch.Tensor, x: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """d(sum dy * y)/da (T,) for y = b2p_reference(a, x), a (T,), x and dy (T, D), by autograd in float64."""
    a = a.detach().double().requires_grad_()
    b2p_reference(a[None, None], x[None, None].double()).backward(dy[None, None].double())
    return a.grad


def _da_with(L, Q, pairs, x, dy):
    return torch.einsum("ts,tm,ms->m", pairs * (dy @ x.T), L, Q)


def check_da_at(fn: Callable) -> None:
    """``fn(L, Q, band, x, dy, m)`` must return da_m, the gradient of sum(dy * y) with respect to a_m."""
    exercise = "da_at"
    T = 48
    a = decays_with_zeros_and_ones(T, seed=11, zeros=(5, 40), ones=(30,))
    x, dy = _inputs(T, 4, seed=12), _inputs(T, 4, seed=13)
    L, Q, band = operators_for_gradient(a)
    m = 26  # tile 1: pairs (t, s) with s in tile 0 and with s in tile 1 both count
    expected = da_reference(a, x, dy)
    tiles = torch.arange(T) // TILE
    same_tile = (tiles[:, None] == tiles[None, :]).double()
    dx = (L * band).T @ dy
    w = (Q * same_tile) @ x
    fn = converted(fn, as_number)
    name_the_mistake(exercise, fn, (L, Q, band, x, dy, m), expected[m].item(), [
        (_da_with(L, Q, torch.ones(T, T, dtype=torch.float64), x, dy)[m].item(),
         "you summed over every pair (t, s) with s < m <= t: that is the gradient of the EXACT recurrence. "
         "B2P keeps only the pairs inside the band: multiply by band[t, s]"),
        ((dx[m] * w[m]).sum().item(),
         "you kept only the pairs with s in the same tile as m (dx_m . w_m); the pairs with s in the previous "
         "tile (and t in m's tile) count too"),
        (_da_with(L * band, torch.eye(T, dtype=torch.float64) + Q, band, x, dy)[m].item(),
         "Q[m, s] is nonzero only for s < m: a_m must lie strictly after s (s < m <= t)"),
    ])
    a2 = decays_with_zeros_and_ones(T, seed=14, zeros=(16, 33))
    x2, dy2 = _inputs(T, 2, seed=15), _inputs(T, 2, seed=16)
    expected2 = da_reference(a2, x2, dy2)
    cases = [Case((L, Q, band, x, dy, m), expected[m].item(), hint=hint) for m, hint in [
        (26, ""),
        (3, "in the first tile only pairs inside the tile exist"),
        (0, "a_0 multiplies nothing (h_{-1} = 0): its gradient is 0"),
        (16, "the first position of a tile: every pair (t, s) with s in the previous tile passes a_16"),
        (5, "a_5 = 0: the formula has no division, so the gradient is finite and exact"),
        (40, "a_40 = 0: the formula has no division, so the gradient is finite and exact"),
        (47, ""),
    ]]
    cases += [Case(operators_for_gradient(a2) + (x2, dy2, m),
                   expected2[m].item(), hint="other decays, zeros at 16 and 33") for m in (17, 33, 40)]
    run_cases(exercise, fn, cases)
