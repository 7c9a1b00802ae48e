"""B2P (Block Two-Pass), the sliding window recurrence, in Triton: forward and backward kernels.

Launched by swr_tutor.swr. Layout (rows r = batch * H + head, all contiguous):
    A (R, T) decays in [0, 1], X (R, T, D) inputs, Y (R, T, D) outputs.

The operator
------------
Cut time into tiles of TILE = 16 positions. Of the transfer operator L[t, s] = a_{s+1} ... a_t, B2P keeps the
diagonal tiles (tile(s) = tile(t), s <= t) and the first sub-diagonal tiles (tile(s) = tile(t) - 1): y = M x
with M the band of L, so token t sees its own tile up to t and the whole previous tile.

Each program owns a block of BLOCK_T positions (a few tiles) and nothing it computes depends on another
program: the one tile before its block (and, in the backward, the one after) is read again as a halo.

Entries from a log prefix
-------------------------
Inside a block, C[t] = log a_start + ... + log a_t (the inclusive prefix from the block's start) and every kept
entry is M[t, s] = exp(C[t] - C[s]). Two details make this exact enough for fp32 and safe for every a in [0, 1]:
- log a is clamped at LOG_FLOOR = -1e4 (a = 0): exp of any sum that contains it is exactly 0, and no -inf
  appears, so no -inf - (-inf) = NaN;
- C is summed and differenced in float64. In float32 a prefix of size 1e4 (after a clamped zero) is only known
  to about 1e-3, and C[t] - C[s] would carry that error into every later entry of the block; float64 keeps the
  difference exact to ~1e-12, and only the final exp runs in the accumulator's precision.

Forward
-------
    y = M x                                 one GEMM per block (tensor cores for 16-bit inputs)
    y[first tile] += g carry                g[t] = exp(C[t]) = a_start ... a_t
    carry = sum_s r[s] x_s over the tile before the block, r[s] = a_{s+1} ... a_{tile end}

carry is that tile's LOCAL last row, as B2P defines it (pass 2 of the reference).

Backward
--------
Given dy, the gradient of the loss with respect to y.

dx = M^T dy, a B2P that runs backwards: position s sees its own tile from s on and the whole next tile. The next
tile enters through a rank-one factor, sum_{t in next tile} L[t, s] dy_t = r[s] e, with r[s] = a_{s+1} ... a_{end
of the block} for s in the block's last tile and e = sum_{t in next tile} (a_{next start} ... a_t) dy_t, read
from the tile after the block as a halo.

da: M[t, s] holds a_m once exactly when s < m <= t, and its derivative is the product of the OTHER factors,
a_{s+1} ... a_{m-1} * a_{m+1} ... a_t = Q[m, s] L[t, m] with Q[m, s] = exp(C[m] - log a_m - C[s]) (no division:
exact at a_m = 0).

    da_m = sum over band pairs (t, s) with s < m <= t of (dy_t . x_s) L[t, m] Q[m, s].

For m in tile k, s lies in tile k or k-1 and t in tile k or k+1; the pair (t in k+1, s in k-1) is outside the
band. Split the sum by the tile of s:
  s in tile k:   (t, s) is in the band exactly when (t, m) is, so the sum over t is dx_m:   dx_m . w_m,
                 w_m = sum_{s in tile k, s < m} Q[m, s] x_s
  s in tile k-1: t must stay in tile k:                                                      v_m . c_m,
                 v_m = sum_{t in tile k, t >= m} L[t, m] dy_t        (dx without the next tile)
                 c_m = sum_{s in tile k-1} Q[m, s] x_s               (in the block's first tile:
                                                                      (a_start ... a_{m-1}) carry)
    da_m = dx_m . w_m + v_m . c_m

With several channel slices, each slice writes its own partial da (summed by the launcher): no atomics.
"""
import triton
import triton.language as tl

TILE = tl.constexpr(16)
LOG_FLOOR = tl.constexpr(-1.0e4)  # = swr_tutor.recurrence.LOG_DECAY_FLOOR


@triton.jit
def _load_decays(A, positions, T, ACC: tl.constexpr):
    # (N,) decays at positions; 1 (the identity) outside [0, T)
    inside = (positions >= 0) & (positions < T)
    return tl.load(A + positions, mask=inside, other=1.0).to(ACC)


@triton.jit
def _log_decays(a):
    # (N,) float64 log a, LOG_FLOOR for a = 0 (finite; log is never taken of 0)
    positive = a > 0
    return tl.where(positive, tl.log(tl.where(positive, a, 1.0)), LOG_FLOOR).to(tl.float64)


@triton.jit
def _load_rows(X, positions, channels, T, D):
    # (N, BLOCK_D) rows of X (T, D) at positions and channels; 0 outside the sequence
    inside = ((positions >= 0) & (positions < T))[:, None] & (channels < D)[None, :]
    return tl.load(X + positions[:, None] * D + channels[None, :], mask=inside, other=0.0)


@triton.jit
def _store_rows(Y, positions, channels, T, D, values):
    inside = (positions < T)[:, None] & (channels < D)[None, :]
    tl.store(Y + positions[:, None] * D + channels[None, :], values.to(Y.dtype.element_ty), mask=inside)


@triton.jit
def _band_masks(N: tl.constexpr):
    # (N, N) masks of a block: the diagonal tiles (s <= t) and the first sub-diagonal tiles.
    t = tl.arange(0, N)[:, None]
    s = tl.arange(0, N)[None, :]
    tiles_apart = t // TILE - s // TILE
    return (tiles_apart == 0) & (s <= t), tiles_apart == 1


@triton.jit
def _exp_of_difference(row_prefix, column_prefix, keep, ACC: tl.constexpr):
    # (N, N): exp(row_prefix[t] - column_prefix[s]) where keep, else 0; the difference is taken in float64
    difference = row_prefix[:, None] - column_prefix[None, :]
    return tl.where(keep, tl.exp(tl.where(keep, difference, 0.0).to(ACC)), 0.0)


@triton.jit
def _carry_out_of_tile(A, X, tile_start, channels, T, D, ACC: tl.constexpr):
    # (BLOCK_D,): sum_s (a_{s+1} ... a_{tile end}) x_s over the tile at tile_start; 0 for a tile before the start.
    positions = tile_start + tl.arange(0, TILE)
    C = tl.cumsum(_log_decays(_load_decays(A, positions, T, ACC)), axis=0)
    r = tl.exp((tl.max(tl.where(tl.arange(0, TILE) == TILE - 1, C, -float("inf")), axis=0) - C).to(ACC))
    return tl.sum(r[:, None] * _load_rows(X, positions, channels, T, D).to(ACC), axis=0)


@triton.jit
def _carry_back_from_tile(A, DY, tile_start, channels, T, D, ACC: tl.constexpr):
    # (BLOCK_D,): sum_t (a_{tile start} ... a_t) dy_t over the tile at tile_start; 0 for a tile past the end.
    positions = tile_start + tl.arange(0, TILE)
    g = tl.exp(tl.cumsum(_log_decays(_load_decays(A, positions, T, ACC)), axis=0).to(ACC))
    return tl.sum(g[:, None] * _load_rows(DY, positions, channels, T, D).to(ACC), axis=0)


@triton.jit
def _dot(M, x, ACC: tl.constexpr, PRECISION: tl.constexpr):
    # M (N, N) in ACC, x (N, BLOCK_D): M x with M cast to x's dtype (tensor cores for 16-bit x), ACC accumulation
    return tl.dot(M.to(x.dtype), x, input_precision=PRECISION, out_dtype=ACC)


@triton.jit
def b2p_forward_kernel(A, X, Y, T, D, BLOCK_T: tl.constexpr, BLOCK_D: tl.constexpr,
                       ACC: tl.constexpr, PRECISION: tl.constexpr):
    # A (R, T), X (R, T, D), Y (R, T, D). Grid: (R, cdiv(T, BLOCK_T), cdiv(D, BLOCK_D)).
    row = tl.program_id(0).to(tl.int64)
    A += row * T
    X += row * T * D
    Y += row * T * D
    block_start = tl.program_id(1) * BLOCK_T
    channels = tl.program_id(2) * BLOCK_D + tl.arange(0, BLOCK_D)
    offsets = tl.arange(0, BLOCK_T)
    positions = block_start + offsets
    diagonal, below = _band_masks(BLOCK_T)

    C = tl.cumsum(_log_decays(_load_decays(A, positions, T, ACC)), axis=0)       # (BLOCK_T,) float64
    x = _load_rows(X, positions, channels, T, D)                            # (BLOCK_T, BLOCK_D)
    y = _dot(_exp_of_difference(C, C, diagonal | below, ACC), x, ACC, PRECISION)
    carry = _carry_out_of_tile(A, X, block_start - TILE, channels, T, D, ACC)  # (BLOCK_D,)
    g = tl.where(offsets < TILE, tl.exp(C.to(ACC)), 0.0)                    # a_start ... a_t, first tile
    _store_rows(Y, positions, channels, T, D, y + g[:, None] * carry[None, :])


@triton.jit
def b2p_backward_kernel(A, X, DY, DX, DA, T, D, BLOCK_T: tl.constexpr, BLOCK_D: tl.constexpr,
                        ACC: tl.constexpr, PRECISION: tl.constexpr):
    # A (R, T); X, DY, DX (R, T, D); DA (S, R, T): the channel slice s of the grid writes DA[s].
    # Grid: (R, cdiv(T, BLOCK_T), S = cdiv(D, BLOCK_D)).
    row = tl.program_id(0).to(tl.int64)
    A += row * T
    X += row * T * D
    DY += row * T * D
    DX += row * T * D
    DA += (tl.program_id(2) * tl.num_programs(0) + row) * T
    block_start = tl.program_id(1) * BLOCK_T
    channels = tl.program_id(2) * BLOCK_D + tl.arange(0, BLOCK_D)
    offsets = tl.arange(0, BLOCK_T)
    positions = block_start + offsets
    diagonal, below = _band_masks(BLOCK_T)
    t = offsets[:, None]
    s = offsets[None, :]
    first_tile = offsets < TILE
    last_tile = offsets >= BLOCK_T - TILE

    log_a = _log_decays(_load_decays(A, positions, T, ACC))
    C = tl.cumsum(log_a, axis=0)                                  # C[m] = log a_start + ... + log a_m
    C_before = C - log_a                                          # ... + log a_{m-1}
    x = _load_rows(X, positions, channels, T, D)
    dy = _load_rows(DY, positions, channels, T, D)

    v = _dot(tl.trans(_exp_of_difference(C, C, diagonal, ACC)), dy, ACC, PRECISION)
    dx = v + _dot(tl.trans(_exp_of_difference(C, C, below, ACC)), dy, ACC, PRECISION)
    C_end = tl.max(tl.where(offsets == BLOCK_T - 1, C, -float("inf")), axis=0)
    r = tl.where(last_tile, tl.exp((C_end - C).to(ACC)), 0.0)     # a_{s+1} ... a_{block end}, last tile
    dx += r[:, None] * _carry_back_from_tile(A, DY, block_start + BLOCK_T, channels, T, D, ACC)[None, :]

    w = _dot(_exp_of_difference(C_before, C, diagonal & (s < t), ACC), x, ACC, PRECISION)
    c = _dot(_exp_of_difference(C_before, C, below, ACC), x, ACC, PRECISION)
    carry = _carry_out_of_tile(A, X, block_start - TILE, channels, T, D, ACC)
    c += tl.where(first_tile, tl.exp(C_before.to(ACC)), 0.0)[:, None] * carry[None, :]
    _store_rows(DX, positions, channels, T, D, dx)
    tl.store(DA + positions, tl.sum(dx * w + v * c, axis=1), mask=positions < T)
