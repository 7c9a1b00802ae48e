"""B2P (Block Two-Pass), the sliding window recurrence, in Triton: forward and backward kernels.

Launched by swr_tutor.swr. Layout (rows r = batch * H + head, all contiguous):
    A (R, T) decays in [0, 1], X (R, T, D) inputs, Y (R, T, D) outputs.

The operator
------------
Cut time into tiles of TILE = 16 positions. Of the transfer operator L[t, s] = a_{s+1} ... a_t, B2P keeps the
diagonal tiles (tile(s) = tile(t), s <= t) and the first sub-diagonal tiles (tile(s) = tile(t) - 1): y = M x
with M the band of L, so token t sees its own tile up to t and the whole previous tile.

Forward
-------
Grid: (rows, chunks of CHUNK_T positions, slices of BLOCK_D channels). A program walks its chunk in blocks of
BLOCK_T positions (a power of two >= TILE). Inside a block every entry of the band is a running product down its
column, P[t, s] = cumprod over t of (a_t if t > s else 1): a product of exactly the decays it needs (no log, no
division, nothing cancels; a = 0 and a = 1 give exact zeros and ones). One GEMM y = M x covers every pair
inside the block. The pairs that reach into the previous block belong to the block's first tile and form the
rank-one correction y_t += (a_start ... a_t) carry, where carry = sum_s P[last, s] x_s over the previous
block's last tile: that tile's LOCAL last row, as B2P defines it. The carry stays in registers from block to
block; the first block of a chunk recomputes it from the 16 positions before the chunk.

Backward
--------
Given dy, the gradient of the loss with respect to y.

dx = M^T dy, a B2P that runs backwards: position s sees its own tile from s on and the whole next tile. The next
tile enters through a rank-one factor, sum_{t in tile j+1} L[t, s] dy_t = r_j[s] e_{j+1}, with
r_j[s] = a_{s+1} ... a_{end of tile j} (the last row of P) and the backward carry
e_{j+1} = sum_{t in tile j+1} (a_{start of j+1} ... a_t) dy_t. So a program walks its chunk from the last block
to the first, keeping e in registers; the chunk's last block gets e from the 16 positions after the chunk.

da: M[t, s] holds a_m once exactly when s < m <= t, and its derivative is the product of the OTHER factors,
a_{s+1} ... a_{m-1} * a_{m+1} ... a_t = Q[m, s] L[t, m] with Q[m, s] = L[m-1, s] (no division: exact at a_m = 0).

    da_m = sum over band pairs (t, s) with s < m <= t of (dy_t . x_s) L[t, m] Q[m, s].

For m in tile k, s lies in tile k or k-1 and t in tile k or k+1; the pair (t in k+1, s in k-1) is outside the
band. Split the sum by the tile of s:
  s in tile k:   (t, s) is in the band exactly when (t, m) is, so the sum over t is dx_m:   dx_m . w_m,
                 w_m = sum_{s in tile k, s < m} Q[m, s] x_s
  s in tile k-1: t must stay in tile k:                                                      v_m . c_m,
                 v_m = sum_{t in tile k, t >= m} L[t, m] dy_t        (dx without the next tile)
                 c_m = sum_{s in tile k-1} Q[m, s] x_s               ((a_start ... a_{m-1}) carry in a block's
                                                                      first tile)
    da_m = dx_m . w_m + v_m . c_m

Q is built like P from the decays moved down one row (row m holds a_{m-1}, loaded at offset -1). Every term is
a product of decays times dot products of the inputs: finite for every a in [0, 1]. Each program owns its
positions, so no atomics; with several channel slices each slice writes its own partial da (summed by the
launcher).
"""
import triton
import triton.language as tl

TILE = tl.constexpr(16)


@triton.jit
def _running_products(f, LAG: tl.constexpr, N: tl.constexpr):
    # f (N,) -> (N, N): entry [t, s] = product of f[u] over s + LAG < u <= t (1 where that range is empty).
    t = tl.arange(0, N)[:, None]
    s = tl.arange(0, N)[None, :]
    return tl.cumprod(tl.where(t > s + LAG, f[:, None], 1.0), axis=0)


@triton.jit
def _last_row(P, N: tl.constexpr):
    # P (N, N) -> (N,): P[N - 1, :]
    t = tl.arange(0, N)[:, None]
    return tl.sum(tl.where(t == N - 1, P, 0.0), axis=0)


@triton.jit
def _tile_masks(N: tl.constexpr):
    # (N, N) masks of a block: the diagonal tiles (s <= t) and the first sub-diagonal tiles.
    t = tl.arange(0, N)[:, None]
    s = tl.arange(0, N)[None, :]
    tiles_apart = t // TILE - s // TILE
    return (tiles_apart == 0) & (s <= t), tiles_apart == 1


@triton.jit
def _load_decays(A, positions, T, ACC: tl.constexpr):
    # (N,) decays at positions; 1 (the identity) outside [0, T)
    inside = (positions >= 0) & (positions < T)
    return tl.load(A + positions, mask=inside, other=1.0).to(ACC)


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
def _carry_out_of_tile(A, X, tile_start, channels, T, D, ACC: tl.constexpr):
    # (BLOCK_D,): sum_s (a_{s+1} ... a_{tile end}) x_s over the tile at tile_start, 0 for a tile before the start.
    positions = tile_start + tl.arange(0, TILE)
    a = _load_decays(A, positions, T, ACC)
    x = _load_rows(X, positions, channels, T, D).to(ACC)
    r = _last_row(_running_products(a, 0, TILE), TILE)
    return tl.sum(r[:, None] * x, axis=0)


@triton.jit
def _carry_back_from_tile(A, DY, tile_start, channels, T, D, ACC: tl.constexpr):
    # (BLOCK_D,): sum_t (a_{tile start} ... a_t) dy_t over the tile at tile_start, 0 for a tile past the end.
    positions = tile_start + tl.arange(0, TILE)
    g = tl.cumprod(_load_decays(A, positions, T, ACC), axis=0)
    dy = _load_rows(DY, positions, channels, T, D).to(ACC)
    return tl.sum(g[:, None] * dy, axis=0)


@triton.jit
def _dot(M, x, ACC: tl.constexpr, PRECISION: tl.constexpr):
    # M (N, N) in ACC, x (N, BLOCK_D): M x with M cast to x's dtype (tensor cores for 16-bit x), ACC accumulation
    return tl.dot(M.to(x.dtype), x, input_precision=PRECISION, out_dtype=ACC)


@triton.jit
def b2p_forward_kernel(A, X, Y, T, D, CHUNK_T, BLOCK_T: tl.constexpr, BLOCK_D: tl.constexpr,
                       ACC: tl.constexpr, PRECISION: tl.constexpr):
    # A (R, T), X (R, T, D), Y (R, T, D). Grid: (R, cdiv(T, CHUNK_T), cdiv(D, BLOCK_D)).
    row = tl.program_id(0).to(tl.int64)
    A += row * T
    X += row * T * D
    Y += row * T * D
    chunk_start = tl.program_id(1) * CHUNK_T
    chunk_end = tl.minimum(chunk_start + CHUNK_T, T)
    channels = tl.program_id(2) * BLOCK_D + tl.arange(0, BLOCK_D)
    offsets = tl.arange(0, BLOCK_T)
    diagonal, below = _tile_masks(BLOCK_T)
    first_tile = offsets < TILE
    last_tile = offsets >= BLOCK_T - TILE

    carry = _carry_out_of_tile(A, X, chunk_start - TILE, channels, T, D, ACC)  # (BLOCK_D,)
    for block_start in range(chunk_start, chunk_end, BLOCK_T):
        positions = block_start + offsets
        a = _load_decays(A, positions, T, ACC)                # (BLOCK_T,)
        x = _load_rows(X, positions, channels, T, D)          # (BLOCK_T, BLOCK_D)
        P = _running_products(a, 0, BLOCK_T)                  # (BLOCK_T, BLOCK_T)
        y = _dot(tl.where(diagonal | below, P, 0.0), x, ACC, PRECISION)
        y += tl.where(first_tile, tl.cumprod(a, axis=0), 0.0)[:, None] * carry[None, :]
        _store_rows(Y, positions, channels, T, D, y)
        carry = tl.sum(tl.where(last_tile, _last_row(P, BLOCK_T), 0.0)[:, None] * x.to(ACC), axis=0)


@triton.jit
def b2p_backward_kernel(A, X, DY, DX, DA, T, D, CHUNK_T, BLOCK_T: tl.constexpr, BLOCK_D: tl.constexpr,
                        ACC: tl.constexpr, PRECISION: tl.constexpr):
    # A (R, T); X, DY, DX (R, T, D); DA (S, R, T): the channel slice s of the grid writes DA[s].
    # Grid: (R, cdiv(T, CHUNK_T), S = cdiv(D, BLOCK_D)).
    row = tl.program_id(0).to(tl.int64)
    A += row * T
    X += row * T * D
    DY += row * T * D
    DX += row * T * D
    DA += (tl.program_id(2) * tl.num_programs(0) + row) * T
    chunk_start = tl.program_id(1) * CHUNK_T
    chunk_end = tl.minimum(chunk_start + CHUNK_T, T)
    channels = tl.program_id(2) * BLOCK_D + tl.arange(0, BLOCK_D)
    offsets = tl.arange(0, BLOCK_T)
    diagonal, below = _tile_masks(BLOCK_T)
    t = offsets[:, None]
    s = offsets[None, :]
    first_tile = offsets < TILE
    last_tile = offsets >= BLOCK_T - TILE

    carry_back = _carry_back_from_tile(A, DY, chunk_end, channels, T, D, ACC)  # e (BLOCK_D,)
    blocks = tl.cdiv(chunk_end - chunk_start, BLOCK_T)
    for i in range(blocks):
        block_start = chunk_start + (blocks - 1 - i) * BLOCK_T
        positions = block_start + offsets
        a = _load_decays(A, positions, T, ACC)                                        # row m: a_m
        a_before = tl.where(offsets == 0, 1.0, _load_decays(A, positions - 1, T, ACC))  # row m: a_{m-1}
        x = _load_rows(X, positions, channels, T, D)
        dy = _load_rows(DY, positions, channels, T, D)
        carry = _carry_out_of_tile(A, X, block_start - TILE, channels, T, D, ACC)
        P = _running_products(a, 0, BLOCK_T)          # L[t, s] = a_{s+1} ... a_t
        Q = _running_products(a_before, 1, BLOCK_T)   # Q[m, s] = a_{s+1} ... a_{m-1}

        v = _dot(tl.trans(tl.where(diagonal, P, 0.0)), dy, ACC, PRECISION)
        dx = v + _dot(tl.trans(tl.where(below, P, 0.0)), dy, ACC, PRECISION)
        dx += tl.where(last_tile, _last_row(P, BLOCK_T), 0.0)[:, None] * carry_back[None, :]
        w = _dot(tl.where(diagonal & (s < t), Q, 0.0), x, ACC, PRECISION)
        c = _dot(tl.where(below, Q, 0.0), x, ACC, PRECISION)
        c += tl.where(first_tile, tl.cumprod(a_before, axis=0), 0.0)[:, None] * carry[None, :]
        _store_rows(DX, positions, channels, T, D, dx)
        tl.store(DA + positions, tl.sum(dx * w + v * c, axis=1), mask=positions < T)
        carry_back = tl.sum(tl.where(first_tile, tl.cumprod(a, axis=0), 0.0)[:, None] * dy.to(ACC), axis=0)
