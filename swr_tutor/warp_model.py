"""One warp of kernels/cuda/b2p.cu, modelled in torch on the CPU: 32 lanes, shuffles, mma.sync fragments.

Every per-lane quantity is a tensor whose first axis is the lane (32 entries). The functions carry the names of
the CUDA functions they model and compute what each lane holds, with the same index arithmetic, so a reader
without a GPU can run the kernel's algorithm step by step and check it against ``b2p_reference``:

- ``warp_log_prefix``: the float64 log-prefix of 32 decays by 5 shuffle-and-add steps (Hillis-Steele);
- ``operator_fragment``: a 16x16 operator built directly in the registers of mma.sync's A operand;
- ``b_fragments``: what ``ldmatrix.trans`` hands each lane of a (token, channel) tile in shared memory;
- ``mma``: the m16n8k16 product, fragments in, fragments out (operands rounded to 16 bits, fp32 accumulation);
- ``store_tile``: the two butterfly exchanges that turn accumulator fragments into 16-byte row pieces.

``warp_forward`` and ``warp_backward`` run one tile the way one warp does; ``b2p_by_warps`` and
``b2p_backward_by_warps`` run every tile of every sequence and return what the kernels return.
"""
import torch
import torch.nn.functional as F

from . import validate
from .blocked import TILE
from .recurrence import LOG_DECAY_FLOOR

LANES = 32
LANE = torch.arange(LANES)
GROUP, QUAD = LANE // 4, LANE % 4  # lane = 4 g + q
FRAGMENT_DTYPES = (torch.float16, torch.bfloat16, torch.float32)  # fp32: the model only (exact products)
BANDS = ("full", "lower_with_diagonal", "strictly_lower", "upper_with_diagonal")


# ---- shuffles --------------------------------------------------------------------------------------------

def shfl_up(values: torch.Tensor, delta: int) -> torch.Tensor:
    """__shfl_up_sync: lane l reads lane l - delta; lanes below delta keep their own value."""
    source = torch.where(LANE >= delta, LANE - delta, LANE)
    return values[source]


def shfl(values: torch.Tensor, source_lanes: torch.Tensor) -> torch.Tensor:
    """__shfl_sync: every lane reads the lane it names (source_lanes has the lanes as its first axis)."""
    return values[source_lanes]


def shfl_xor(values: torch.Tensor, lane_mask: int) -> torch.Tensor:
    """__shfl_xor_sync: lane l reads lane l ^ lane_mask (a butterfly)."""
    return values[LANE ^ lane_mask]


# ---- 1. the log-prefix -----------------------------------------------------------------------------------

def warp_log_prefix(a_row: torch.Tensor, first: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(through, before), each (32,) float64: lane l holds token first + l of a_row (T,); decays outside
    [0, T) are 1. through = log a_first + ... + log a_token, before = through - log a_token."""
    T = a_row.shape[0]
    tokens = first + LANE
    inside = (tokens >= 0) & (tokens < T)
    decay = torch.where(inside, a_row.float()[tokens.clamp(0, T - 1)], torch.ones(()))
    log_decay = torch.where(decay > 0, torch.log(decay.clamp_min(1e-45)), LOG_DECAY_FLOOR).double()
    prefix = log_decay
    offset = 1
    while offset < LANES:  # 5 steps: 1, 2, 4, 8, 16
        prefix = torch.where(LANE >= offset, prefix + shfl_up(prefix, offset), prefix)
        offset *= 2
    return prefix, prefix - log_decay


# ---- 2. operators as A fragments -------------------------------------------------------------------------

def a_coordinates() -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, cols), each (32, 4, 2): the (row, column) of the 16x16 A operand that lane l keeps in half h of
    register r: row g + 8 (r & 1), column 2q + 8 (r >> 1) + h."""
    r, h = torch.arange(4)[None, :, None], torch.arange(2)[None, None, :]
    rows = GROUP[:, None, None] + 8 * (r & 1) + 0 * h
    cols = 2 * QUAD[:, None, None] + 8 * (r >> 1) + h
    return rows, cols


def _kept(band: str, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    if band not in BANDS:
        raise ValueError(f"operator_fragment: band must be one of {BANDS}, got {band!r}")
    return {"full": torch.ones_like(rows, dtype=torch.bool), "lower_with_diagonal": cols <= rows,
            "strictly_lower": cols < rows, "upper_with_diagonal": cols >= rows}[band]


def _fragment_dtype(fn: str, dtype: torch.dtype) -> torch.dtype:
    if dtype not in FRAGMENT_DTYPES:
        raise ValueError(f"{fn}: dtype must be one of {FRAGMENT_DTYPES}, got {dtype}")
    return dtype


def operator_fragment(row_log, row_lane0: int, col_log, col_lane0: int, transposed: bool, band: str,
                      dtype=torch.float16) -> torch.Tensor:
    """(32, 4, 2) in dtype: lane l's registers of the operator E[row][col] = exp(later - earlier) inside
    ``band`` (0 outside). Row i's log value comes from lane row_lane0 + i of row_log (32,), column j's from
    lane col_lane0 + j of col_log; ``later`` is the row's value, or the column's when ``transposed``."""
    dtype = _fragment_dtype("operator_fragment", dtype)
    rows, cols = a_coordinates()
    row_value = shfl(row_log, row_lane0 + rows)           # gathered by __shfl_sync, as in the kernel
    col_value = shfl(col_log, col_lane0 + cols)
    exponent = col_value - row_value if transposed else row_value - col_value   # float64
    kept = _kept(band, rows, cols)
    return torch.where(kept, torch.exp(torch.where(kept, exponent, 0.0).float()), 0.0).to(dtype)


def fragment_to_matrix(fragment: torch.Tensor) -> torch.Tensor:
    """The 16x16 matrix that the 32 lanes' A registers (32, 4, 2) hold together."""
    rows, cols = a_coordinates()
    matrix = torch.zeros(16, 16, dtype=fragment.dtype)
    matrix[rows.flatten(), cols.flatten()] = fragment.flatten()
    return matrix


# ---- 3. the B operand and the product --------------------------------------------------------------------

def b_fragments(tile: torch.Tensor, channel: int) -> torch.Tensor:
    """(32, 4, 2): what ldmatrix.x4.trans gives each lane from tile (16 tokens, channels) at channels
    channel .. channel + 15. Register m covers the 8x8 block (tokens 8 (m & 1) + 0..7, channels channel +
    8 (m >> 1) + 0..7); transposed, lane (g, q) receives its tokens 2q, 2q + 1 of channel g."""
    m, h = torch.arange(4)[None, :, None], torch.arange(2)[None, None, :]
    tokens = 8 * (m & 1) + 2 * QUAD[:, None, None] + h
    channels = channel + 8 * (m >> 1) + GROUP[:, None, None] + 0 * h
    return tile[tokens, channels]


def b_to_matrix(b0: torch.Tensor, b1: torch.Tensor) -> torch.Tensor:
    """The 16x8 B operand (tokens, channels) held by registers b0, b1 (each (32, 2)) of the 32 lanes."""
    h = torch.arange(2)[None, :]
    matrix = torch.zeros(16, 8, dtype=b0.dtype)
    for register, base in ((b0, 0), (b1, 8)):
        matrix[(base + 2 * QUAD[:, None] + h).flatten(), (GROUP[:, None] + 0 * h).flatten()] = register.flatten()
    return matrix


def accumulator_coordinates() -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, cols), each (32, 4): acc[e] of lane (g, q) is row g + 8 (e >> 1), column 2q + (e & 1)."""
    e = torch.arange(4)[None, :]
    return GROUP[:, None] + 8 * (e >> 1), 2 * QUAD[:, None] + (e & 1)


def mma(acc: torch.Tensor, A: torch.Tensor, b0: torch.Tensor, b1: torch.Tensor) -> torch.Tensor:
    """mma.sync m16n8k16: acc (32, 4) fp32 plus A (16x16) B (16x8), all as fragments; products of the
    16-bit operands are exact in fp32, the sum is accumulated in fp32."""
    product = fragment_to_matrix(A).float() @ b_to_matrix(b0, b1).float()   # (16, 8)
    rows, cols = accumulator_coordinates()
    return acc + product[rows, cols]


def mma_pair(acc: torch.Tensor, A: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """acc (2, 32, 4): the two 8-channel blocks of b (32, 4, 2) multiplied by A."""
    return torch.stack([mma(acc[0], A, b[:, 0], b[:, 1]), mma(acc[1], A, b[:, 2], b[:, 3])])


# ---- 4. the stores ---------------------------------------------------------------------------------------

def store_tile(out: torch.Tensor, start: int, channel: int, acc: torch.Tensor) -> list[tuple[int, int, int]]:
    """Write acc (2 blocks, 32 lanes, 4) into out (T, D) at tokens start.., channels channel.. the way the
    kernel does: butterfly 1 (lanes q, q ^ 1) gives each lane 4 columns of one row per block; for 16-bit out,
    butterfly 2 (lanes q, q ^ 2) gives it 8 columns of one block. Returns the stores as (lane, token, first
    channel), each one 16 bytes; tokens past the end are not stored."""
    T = out.shape[0]
    odd, upper = (QUAD & 1).bool()[:, None], (QUAD & 2).bool()[:, None]
    rows = []
    for block in range(2):
        row_g, row_g8 = acc[block][:, 0:2], acc[block][:, 2:4]
        received = shfl_xor(torch.where(odd, row_g, row_g8), 1)
        rows.append(torch.where(odd, torch.cat([received, row_g8], 1), torch.cat([row_g, received], 1)))
    tokens = start + GROUP + 8 * (QUAD & 1)
    stores = []
    if out.element_size() == 4:
        for lane in range(LANES):
            for block in range(2):
                first = channel + 8 * block + 4 * (QUAD[lane].item() >> 1)
                stores.append((lane, tokens[lane].item(), first, rows[block][lane]))
    else:
        rows = [r.to(out.dtype) for r in rows]
        mine, other = torch.where(upper, rows[1], rows[0]), torch.where(upper, rows[0], rows[1])
        received = shfl_xor(other, 2)
        pieces = torch.where(upper, torch.cat([received, mine], 1), torch.cat([mine, received], 1))
        for lane in range(LANES):
            first = channel + 8 * (QUAD[lane].item() >> 1)
            stores.append((lane, tokens[lane].item(), first, pieces[lane]))
    written = []
    for lane, token, first, values in stores:
        if token < T:
            out[token, first:first + len(values)] = values.to(out.dtype)
            written.append((lane, token, first))
    return written


# ---- one tile, as one warp computes it --------------------------------------------------------------------

def _tile(rows: torch.Tensor, first: int, dtype: torch.dtype) -> torch.Tensor:
    """(16, D) rows first .. first + 15 of rows (T, D) in dtype, 0 outside [0, T): a staged shared-memory tile."""
    T = rows.shape[0]
    padded = F.pad(rows, (0, 0, TILE, 2 * TILE))          # TILE zero rows before the sequence, 2 TILE after
    return padded[first + TILE:first + 2 * TILE].to(dtype)


def _channel_blocks(D: int) -> range:
    if D % 16:
        raise ValueError(f"warp model: D must be a multiple of 16 (the kernel pads it), got {D}")
    return range(0, D, 16)


def warp_forward(a_row: torch.Tensor, x_row: torch.Tensor, k: int, y_row: torch.Tensor,
                 dtype=torch.float16) -> None:
    """Tile k of y_row (T, D) from a_row (T,) and x_row (T, D), as b2p_forward_kernel's warp computes it."""
    start = k * TILE
    C_through, _ = warp_log_prefix(a_row, start - TILE)     # lanes 0-15: tile k-1, lanes 16-31: tile k
    L = operator_fragment(C_through, TILE, C_through, TILE, False, "lower_with_diagonal", dtype)
    G = operator_fragment(C_through, TILE, C_through, 0, False, "full", dtype)
    own_tile, previous_tile = _tile(x_row, start, dtype), _tile(x_row, start - TILE, dtype)
    for c in _channel_blocks(x_row.shape[1]):
        acc = torch.zeros(2, LANES, 4)
        acc = mma_pair(acc, L, b_fragments(own_tile, c))        # pass 1: L_k x_k
        acc = mma_pair(acc, G, b_fragments(previous_tile, c))   # the carry: G_k x_{k-1}
        store_tile(y_row, start, c, acc)


def warp_backward(a_row: torch.Tensor, x_row: torch.Tensor, dy_row: torch.Tensor, k: int,
                  dx_row: torch.Tensor, da_row: torch.Tensor, dtype=torch.float16) -> None:
    """Tile k of dx_row (T, D) and da_row (T,), as b2p_backward_kernel's warp computes them."""
    start = k * TILE
    back_through, back_before = warp_log_prefix(a_row, start - TILE)   # tiles k-1, k
    ahead_through, _ = warp_log_prefix(a_row, start)                   # tiles k, k+1
    Lt = operator_fragment(ahead_through, 0, ahead_through, 0, True, "upper_with_diagonal", dtype)
    Gt = operator_fragment(ahead_through, 0, ahead_through, TILE, True, "full", dtype)
    Q_own = operator_fragment(back_before, TILE, back_through, TILE, False, "strictly_lower", dtype)
    Q_previous = operator_fragment(back_before, TILE, back_through, 0, False, "full", dtype)
    x_previous, x_own = _tile(x_row, start - TILE, dtype), _tile(x_row, start, dtype)
    dy_own, dy_next = _tile(dy_row, start, dtype), _tile(dy_row, start + TILE, dtype)
    da_rows = torch.zeros(LANES, 2)
    for c in _channel_blocks(x_row.shape[1]):
        zero = torch.zeros(2, LANES, 4)
        v = mma_pair(zero, Lt, b_fragments(dy_own, c))                # v = L_k^T dy_k
        grad = mma_pair(v, Gt, b_fragments(dy_next, c))               # dx = v + G_{k+1}^T dy_{k+1}
        w = mma_pair(zero, Q_own, b_fragments(x_own, c))
        carried = mma_pair(zero, Q_previous, b_fragments(x_previous, c))
        per_element = (grad * w + v * carried).sum(0)                 # (32, 4): rows g (e = 0, 1), g+8 (e = 2, 3)
        da_rows += torch.stack([per_element[:, :2].sum(1), per_element[:, 2:].sum(1)], 1)
        store_tile(dx_row, start, c, grad)
    da_rows = da_rows + shfl_xor(da_rows, 1)                          # the 4 lanes of a row
    da_rows = da_rows + shfl_xor(da_rows, 2)
    T = a_row.shape[0]
    for lane in range(0, LANES, 4):                                    # lane q = 0 of each group writes
        for i in range(2):
            token = start + GROUP[lane].item() + 8 * i
            if token < T:
                da_row[token] = da_rows[lane, i]


# ---- every tile ------------------------------------------------------------------------------------------

def _rows(fn: str, a: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = validate.tensor(fn, "x", x, dims=4)
    a = validate.tensor(fn, "a", a, dims=3)
    if tuple(a.shape) != tuple(x.shape[:3]):
        raise ValueError(f"{fn}: a must have shape (B, H, T) = {tuple(x.shape[:3])}, got {tuple(a.shape)}")
    return a.reshape(-1, a.shape[-1]).cpu(), x.reshape(-1, *x.shape[2:]).cpu()


def _padded_channels(t: torch.Tensor) -> torch.Tensor:
    return F.pad(t, (0, -t.shape[-1] % 16))  # the library pads D to a multiple of 16 for the kernel


def b2p_by_warps(a: torch.Tensor, x: torch.Tensor, dtype=torch.float16) -> torch.Tensor:
    """y (B, H, T, D) fp32: every tile of every sequence computed by ``warp_forward``."""
    a_rows, x_rows = _rows("b2p_by_warps", a, x)
    D = x.shape[-1]
    x_rows = _padded_channels(x_rows)
    y = torch.zeros(x_rows.shape, dtype=torch.float32)
    for a_row, x_row, y_row in zip(a_rows, x_rows, y):
        for k in range(-(-a_row.shape[0] // TILE)):
            warp_forward(a_row, x_row, k, y_row, dtype)
    return y[..., :D].reshape(x.shape)


def b2p_backward_by_warps(a: torch.Tensor, x: torch.Tensor, dy: torch.Tensor,
                          dtype=torch.float16) -> tuple[torch.Tensor, torch.Tensor]:
    """(da (B, H, T), dx (B, H, T, D)), fp32: every tile computed by ``warp_backward``."""
    a_rows, x_rows = _rows("b2p_backward_by_warps", a, x)
    _, dy_rows = _rows("b2p_backward_by_warps", a, dy)
    D = x.shape[-1]
    x_rows, dy_rows = _padded_channels(x_rows), _padded_channels(dy_rows)
    dx = torch.zeros(x_rows.shape, dtype=torch.float32)
    da = torch.zeros(a_rows.shape, dtype=torch.float32)
    for a_row, x_row, dy_row, dx_row, da_row in zip(a_rows, x_rows, dy_rows, dx, da):
        for k in range(-(-a_row.shape[0] // TILE)):
            warp_backward(a_row, x_row, dy_row, k, dx_row, da_row, dtype)
    return da.reshape(a.shape), dx[..., :D].reshape(x.shape)
