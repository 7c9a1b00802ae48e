"""The transfer operator in tiles: local operators on the diagonal, rank-one blocks below it, and the carrier system.

Cut the sequence into K tiles of b positions (b = 16, one warp's MMA tile). With t = kb + i in tile k and
s = jb + q in tile j < k, the product L[t, s] = a_{s+1} ... a_t splits at the tile boundaries:

    L_{k,j} = g_k  beta_{k,j}  r_j^T        g_k[i] = a_{kb} ... a_{kb+i}            (tile start to i)
                                            r_j[q] = a_{jb+q+1} ... a_{jb+b-1}      (q+1 to tile end)
                                            beta_{k,j} = c_{j+1} ... c_{k-1},   c_l = whole-tile decay

and the recurrence becomes K local solves joined by the carrier recurrence s_k = c_k s_{k-1} + r_k^T x_k,
h_k = L_k x_k + g_k s_{k-1}. Every product here is a running product (no logarithms, no division), so
decays of exactly 0 or 1 give exact zeros and ones, never NaN or inf.

Shapes: decays ``a (..., T)``; inputs ``x (..., T)`` or ``x (..., T, D)``; tiled results carry the tile
axes K, b in place of T. A T that is not a multiple of b is padded at the end with a = 1 (and x = 0).
"""
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from . import validate
from .recurrence import sequential_scan, transfer_operator

TILE = 16


class TileFactors(NamedTuple):
    """The rank-one factors of every tile: ``g (..., K, b)``, ``r (..., K, b)``, ``c (..., K)``."""

    g: torch.Tensor
    r: torch.Tensor
    c: torch.Tensor


def _tile_size(fn: str, b) -> int:
    return validate.positive_int(fn, "b", b)


def _tiled_decays(fn: str, a, b: int) -> torch.Tensor:
    """a (..., T) padded with ones to K*b positions and viewed as (..., K, b)."""
    a = validate.tensor(fn, "a", a)
    if a.dim() == 0 or a.shape[-1] == 0:
        raise ValueError(f"{fn}: a must have a time axis with T >= 1 (shape (..., T)), got shape {tuple(a.shape)}")
    padding = -a.shape[-1] % b
    return F.pad(a, (0, padding), value=1.0).unflatten(-1, (-1, b))


def _tile_index(fn: str, name: str, value, tiles: int) -> int:
    validate.positive_int(fn, name, value, minimum=0)
    if value >= tiles:
        raise ValueError(f"{fn}: {name} must be a tile index below K = {tiles}, got {value}")
    return value


def _below_diagonal_tiles(fn: str, k, j, tiles: int) -> tuple[int, int]:
    k, j = _tile_index(fn, "k", k, tiles), _tile_index(fn, "j", j, tiles)
    if not j < k:
        raise ValueError(f"{fn}: an off-diagonal block below the diagonal needs j < k, got k = {k}, j = {j}")
    return k, j


def _factors(tiles: torch.Tensor) -> TileFactors:
    g = torch.cumprod(tiles, dim=-1)
    after = tiles[..., 1:].flip(-1).cumprod(-1).flip(-1)  # r[q] for q < b-1
    r = torch.cat([after, torch.ones_like(tiles[..., :1])], dim=-1)
    return TileFactors(g, r, g[..., -1])


def tile_factors(a: torch.Tensor, b: int = TILE) -> TileFactors:
    """g, r, c of every tile: prefix products from the tile start (inclusive), suffix products after
    each position to the tile end (1 at the last position), and the whole-tile decays c = g[..., -1]."""
    b = _tile_size("tile_factors", b)
    return _factors(_tiled_decays("tile_factors", a, b))


def local_operators(a: torch.Tensor, b: int = TILE) -> torch.Tensor:
    """The diagonal blocks L_k (..., K, b, b): each tile's own transfer operator."""
    b = _tile_size("local_operators", b)
    return transfer_operator(_tiled_decays("local_operators", a, b))


def _betas(c: torch.Tensor) -> torch.Tensor:
    """beta (..., K, K) with beta[k, j] = c_{j+1} ... c_{k-1} below the diagonal, 0 on and above it.

    That is the transfer operator of the whole-tile decays, moved down one row.
    """
    return F.pad(transfer_operator(c), (0, 0, 1, 0))[..., :-1, :]


def _beta(c: torch.Tensor, k: int, j: int) -> torch.Tensor:
    return c[..., j + 1 : k].prod(-1)


def beta(a: torch.Tensor, k: int, j: int, b: int = TILE) -> torch.Tensor:
    """beta_{k,j} (...): the product of the whole-tile decays strictly between tiles j < k (1 when adjacent)."""
    b = _tile_size("beta", b)
    c = tile_factors(a, b).c
    k, j = _below_diagonal_tiles("beta", k, j, c.shape[-1])
    return _beta(c, k, j)


def off_diagonal_block(a: torch.Tensor, k: int, j: int, b: int = TILE) -> torch.Tensor:
    """L_{k,j} (..., b, b) = g_k beta_{k,j} r_j^T, built from the factors alone (j < k)."""
    b = _tile_size("off_diagonal_block", b)
    g, r, c = tile_factors(a, b)
    k, j = _below_diagonal_tiles("off_diagonal_block", k, j, c.shape[-1])
    return g[..., k, :, None] * _beta(c, k, j)[..., None, None] * r[..., j, None, :]


def blocked_operator(a: torch.Tensor, b: int = TILE) -> torch.Tensor:
    """The transfer operator assembled tile by tile (..., K, K, b, b): L_k on the diagonal, g_k beta_{k,j} r_j^T
    below, zeros above. Equal to ``split_tiles(transfer_operator(a), b)`` (of the padded sequence)."""
    b = _tile_size("blocked_operator", b)
    g, r, c = tile_factors(a, b)
    rank_one = g[..., :, None, :, None] * _betas(c)[..., None, None] * r[..., None, :, None, :]
    diagonal = torch.diag_embed(local_operators(a, b).movedim((-2, -1), (0, 1)))  # (b, b, ..., K, K)
    return rank_one + diagonal.movedim((0, 1), (-2, -1))


def split_tiles(L: torch.Tensor, b: int = TILE) -> torch.Tensor:
    """A (..., T, T) matrix as (..., K, K, b, b) tiles: ``split_tiles(L)[..., k, j, :, :]`` is block (k, j)."""
    b = _tile_size("split_tiles", b)
    L = validate.tensor("split_tiles", "L", L, dims=tuple(range(2, 9)))
    T = L.shape[-1]
    if L.shape[-2] != T:
        raise ValueError(f"split_tiles: L must be square (..., T, T), got shape {tuple(L.shape)}")
    if T % b:
        raise ValueError(f"split_tiles: T = {T} must be a multiple of b = {b}")
    return L.unflatten(-1, (-1, b)).unflatten(-3, (-1, b)).transpose(-3, -2)


def _tiled_problem(fn: str, a, x, b) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Decays (..., K, b) and inputs with a channel axis (..., K, b, D), padded, in their common dtype; and T."""
    a, x = validate.decays_and_inputs(fn, a, x)
    b = _tile_size(fn, b)
    dtype = torch.promote_types(a.dtype, x.dtype)
    channels = x if x.dim() > a.dim() else x.unsqueeze(-1)
    T = a.shape[-1]
    padding = -T % b
    x_tiles = F.pad(channels.to(dtype), (0, 0, 0, padding)).unflatten(-2, (-1, b))
    return _tiled_decays(fn, a.to(dtype), b), x_tiles, T


def _carriers(factors: TileFactors, x_tiles: torch.Tensor) -> torch.Tensor:
    """s (..., K, D): s_k = c_k s_{k-1} + r_k^T x_k, the state at the last position of every tile."""
    tile_inputs = (factors.r.unsqueeze(-2) @ x_tiles).squeeze(-2)  # (..., K, D)
    return sequential_scan(factors.c, tile_inputs)


def carrier_states(a: torch.Tensor, x: torch.Tensor, b: int = TILE) -> torch.Tensor:
    """The carrier states s (..., K) or (..., K, D): s_k = c_k s_{k-1} + r_k^T x_k, s_{-1} = 0.

    s_k is the recurrence's state h at the last position of tile k."""
    a_tiles, x_tiles, _ = _tiled_problem("carrier_states", a, x, b)
    s = _carriers(_factors(a_tiles), x_tiles)
    return s if x.dim() > a.dim() else s.squeeze(-1)


def carrier_scan(a: torch.Tensor, x: torch.Tensor, b: int = TILE) -> torch.Tensor:
    """h (same shape as x) by tiles: h_k = L_k x_k + g_k s_{k-1}, with the carriers s from the carrier system."""
    a_tiles, x_tiles, T = _tiled_problem("carrier_scan", a, x, b)
    factors = _factors(a_tiles)
    s = _carriers(factors, x_tiles)
    incoming = F.pad(s, (0, 0, 1, 0))[..., :-1, :]  # s_{k-1}, zero before the first tile
    h_tiles = transfer_operator(a_tiles) @ x_tiles + factors.g.unsqueeze(-1) * incoming.unsqueeze(-2)
    h = h_tiles.flatten(-3, -2)[..., :T, :]
    return h if x.dim() > a.dim() else h.squeeze(-1)


def operator_costs(T: int, b: int = TILE, D: int = 1, bytes_per_element: int = 4) -> list[dict]:
    """FLOPs and bytes moved to compute h = L x three ways, one row (dict) per method.

    A multiply-add counts 2 FLOPs. Bytes count the operands read and the result written once, at
    ``bytes_per_element`` each (4: fp32). With K = ceil(T / b) tiles:

    - dense:   the (T, T) matrix L times x (T, D):                    2 T^2 D FLOPs; L, x, h.
    - blocked: K diagonal tiles L_k x_k, and every one of the K(K-1)/2 blocks below as g (beta (r^T x)):
               K 2 b^2 D + K(K-1)/2 (4b + 1) D FLOPs; the tiles, g, r, the betas, x, h.
    - carrier: K tiles L_k x_k, r_k^T x_k, the carrier step c s + u, and g_k s_{k-1}:
               K (2 b^2 + 4 b + 2) D FLOPs; the tiles, g, r, c, x, h.

    Intermediates (r^T x, the carriers: K D numbers) stay on chip and are not counted.
    """
    for name, value in (("T", T), ("b", b), ("D", D), ("bytes_per_element", bytes_per_element)):
        validate.positive_int("operator_costs", name, value)
    K = math.ceil(T / b)
    pairs = K * (K - 1) // 2                   # blocks below the diagonal
    local_flops = K * 2 * b * b * D            # L_k x_k for every tile
    tiles_and_factors = K * b * b + 2 * K * b  # L_k, g, r
    signal = 2 * T * D                         # x read, h written
    rows = [
        ("dense", "O(T² D)", 2 * T * T * D, T * T + signal),
        ("blocked", "O(T² D / b + T b D)", local_flops + pairs * (4 * b + 1) * D, tiles_and_factors + pairs + signal),
        ("carrier", "O(T b D)", local_flops + K * (4 * b + 2) * D, tiles_and_factors + K + signal),
    ]
    return [dict(method=method, flops_order=order, flops=flops, bytes=elements * bytes_per_element)
            for method, order, flops, elements in rows]
