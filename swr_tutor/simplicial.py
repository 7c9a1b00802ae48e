"""2-simplicial attention: each query attends to PAIRS of keys in two causal windows.

Shapes: queries ``q (B, T, Hq, D)``; two key sets and two value sets ``k1, k2, v1, v2 (B, T, Hkv, D)`` with Hq a
multiple of Hkv (grouped-query attention: query head h uses key/value head h // (Hq // Hkv)).

For query token i, key j of the first set and key k of the second set, both in causal windows
i - w1 < j <= i and i - w2 < k <= i (positions before 0 do not exist):

    A_ijk = <pair(q_i, k1_j), k2_k> / sqrt(D)                           (the logit)
    P_ijk = exp(A_ijk) / sum_(j', k') exp(A_ij'k')                        (one softmax over all pairs of i)
    out_i = sum_jk P_ijk (v1_j ⊙ v2_k)                                    (⊙: elementwise product)

``logits="trilinear"``: pair(x, y) = x ⊙ y, so A_ijk = sum_d q_i[d] k1_j[d] k2_k[d] / sqrt(D).
``logits="determinant"``: every 3-dim chunk of a head vector enters through the determinant of the 3 x 3 matrix
[q; k1; k2] of that chunk: pair(x, y) is the cross product x × y on each chunk, and det[a; b; c] = <a × b, c>.
The D % 3 dims after the last full chunk (two of them at D = 128) keep the trilinear product, as in the
``simplicial-attention`` package; at D % 3 == 0 the logit is exactly the sum of the chunk determinants. The scale
is 1/sqrt(D) for both forms. A common rotation R in SO(3) of every chunk of q, k1 and k2 leaves each determinant,
hence the logit, unchanged (det(Ra, Rb, Rc) = det(R) det(a, b, c)).

``two_simplicial_attention`` runs the Triton kernels of kernels/triton/simplicial.py (registered as the torch op
``swr_tutor::two_simplicial_attention`` with its backward, so torch.compile sees one node) or the windowed
reference in torch. ``windowed_reference`` is the definition over the windows (memory O(T w1 w2) logits at most,
cut into chunks of queries), ``dense_reference`` the same definition over all T^3 triples (tiny T: the
"by hand" version), ``forward_flops`` the cost convention of the benchmarks.

GPUs: tiles tuned on Hopper (``default_config``), smaller ones elsewhere. On a T4 (sm_75, 64 KiB of shared memory per
block) the backward fits up to D = 64, not above (tests/test_kernels_on_a_t4.py compiles the kernels for sm_75);
the launchers turn Triton's out-of-resources error into one that says so.
"""
import functools
import math
from dataclasses import dataclass, replace

import torch
import triton

try:
    from triton.tools.tensor_descriptor import TensorDescriptor
except ImportError:  # Triton before 3.3 has no host-side TMA descriptors: the kernels load through pointers
    TensorDescriptor = None

from . import validate
from .device import INTERPRETING
from .kernels.triton import simplicial as kernels

LOGITS = ("trilinear", "determinant")
BACKENDS = ("auto", "triton", "torch")
REFERENCE_CHUNK_ELEMENTS = 2**24  # the windowed reference handles this many (query, j, k or d) entries at a time
DENSE_LIMIT = 2**26               # dense_reference refuses more than this many (b, h, i, j, k) logits


# ---- input checks --------------------------------------------------------------------------------------------

def _checked_inputs(fn: str, q, k1, k2, v1, v2, w1, w2, logits: str = "trilinear"):
    """q (B, T, Hq, D) and k1, k2, v1, v2 (B, T, Hkv, D) of one dtype on one device; Hq % Hkv == 0; w1, w2 >= 1."""
    q = validate.tensor(fn, "q", q, dims=4, finite=False)
    others = {name: validate.tensor(fn, name, t, dims=4, finite=False)
              for name, t in (("k1", k1), ("k2", k2), ("v1", v1), ("v2", v2))}
    B, T, Hq, D = q.shape
    for name, t in others.items():
        if t.dtype != q.dtype:
            raise TypeError(f"{fn}: {name} has dtype {str(t.dtype).removeprefix('torch.')} but q has "
                            f"{str(q.dtype).removeprefix('torch.')}; give all five tensors one dtype")
        if t.device != q.device:
            raise ValueError(f"{fn}: {name} is on {t.device} but q is on {q.device}; put all five on one device")
        if (t.shape[0], t.shape[1], t.shape[3]) != (B, T, D):
            raise ValueError(f"{fn}: {name} must have shape (B, T, Hkv, D) = ({B}, {T}, Hkv, {D}) to match q of "
                             f"shape (B, T, Hq, D) = {tuple(q.shape)}, got {tuple(t.shape)}")
    Hkv = others["k1"].shape[2]
    for name, t in others.items():
        if t.shape[2] != Hkv:
            raise ValueError(f"{fn}: {name} has {t.shape[2]} key/value heads but k1 has {Hkv}; k1, k2, v1, v2 "
                             f"must have one shape (B, T, Hkv, D), got {tuple(t.shape)}")
    if T == 0 or D == 0 or Hkv == 0:
        raise ValueError(f"{fn}: T, Hkv and D must be >= 1, got q of shape {tuple(q.shape)} and k1 of shape "
                         f"{tuple(others['k1'].shape)}")
    if Hq % Hkv:
        raise ValueError(f"{fn}: the query heads Hq = {Hq} (axis 2 of q) must be a multiple of the key/value heads "
                         f"Hkv = {Hkv} (axis 2 of k1)")
    validate.positive_int(fn, "w1", w1)
    validate.positive_int(fn, "w2", w2)
    if logits not in LOGITS:
        raise ValueError(f"{fn}: logits must be one of {LOGITS}, got {logits!r}")
    if logits == "determinant" and D < 3:
        raise ValueError(f"{fn}: logits='determinant' needs head dimension D >= 3 (one 3-dim chunk), got D = {D}")
    return q, others["k1"], others["k2"], others["v1"], others["v2"]


def _compute_dtype(q: torch.Tensor) -> torch.dtype:
    """fp32 for 16-bit and fp32 inputs, fp64 for fp64."""
    return torch.promote_types(q.dtype, torch.float32)


# ---- the math, in torch ------------------------------------------------------------------------------------------

def pair_product(x: torch.Tensor, y: torch.Tensor, logits: str = "trilinear") -> torch.Tensor:
    """pair(x, y) (..., D), broadcasting x and y: the vector whose dot product with k2 is the logit.

    "trilinear": x ⊙ y. "determinant": the cross product x × y on each 3-dim chunk (dims 3c, 3c+1, 3c+2) and
    x ⊙ y on the D % 3 dims after the last chunk, so that <pair(a, b), c> sums det[a; b; c] over the chunks.
    """
    if logits == "trilinear":
        return x * y
    if logits != "determinant":
        raise ValueError(f"pair_product: logits must be one of {LOGITS}, got {logits!r}")
    x, y = torch.broadcast_tensors(x, y)
    chunked = 3 * (x.shape[-1] // 3)
    cross = torch.linalg.cross(x[..., :chunked].unflatten(-1, (-1, 3)), y[..., :chunked].unflatten(-1, (-1, 3)))
    return torch.cat([cross.flatten(-2), x[..., chunked:] * y[..., chunked:]], dim=-1)


def chunk_determinants(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """det[a; b; c] of every 3-dim chunk, (..., D // 3), by the permutation formula

        det = <a, (b2, b3, b1) ⊙ (c3, c1, c2)> - <a, (b3, b1, b2) ⊙ (c2, c3, c1)>

    (the six terms of the 3 x 3 determinant, three with sign +1 and three with sign -1).
    """
    chunked = 3 * (a.shape[-1] // 3)
    a3, b3, c3 = (x[..., :chunked].unflatten(-1, (-1, 3)) for x in (a, b, c))
    up, down = [1, 2, 0], [2, 0, 1]  # (x2, x3, x1) and (x3, x1, x2)
    return (a3 * b3[..., up] * c3[..., down]).sum(-1) - (a3 * b3[..., down] * c3[..., up]).sum(-1)


def logit_scale(D: int) -> float:
    """The scale of the logits: 1/sqrt(D), for both forms."""
    return 1.0 / math.sqrt(D)


def window_mask(T: int, w1: int, w2: int, device=None) -> torch.Tensor:
    """(T, T, T) bool: mask[i, j, k] is True when j and k are both in query i's windows, i - w1 < j <= i and
    i - w2 < k <= i."""
    validate.positive_int("window_mask", "T", T)
    validate.positive_int("window_mask", "w1", w1)
    validate.positive_int("window_mask", "w2", w2)
    i = torch.arange(T, device=device)
    back = i[:, None] - i[None, :]  # back[i, j] = i - j
    in_w1 = (back >= 0) & (back < w1)
    in_w2 = (back >= 0) & (back < w2)
    return in_w1[:, :, None] & in_w2[:, None, :]


def _levi_civita(dtype, device) -> torch.Tensor:
    eps = torch.zeros(3, 3, 3, dtype=dtype, device=device)
    for (l, m, n), sign in {(0, 1, 2): 1, (1, 2, 0): 1, (2, 0, 1): 1, (0, 2, 1): -1, (2, 1, 0): -1,
                            (1, 0, 2): -1}.items():
        eps[l, m, n] = sign
    return eps


def dense_reference(q, k1, k2, v1, v2, w1: int, w2: int, logits: str = "trilinear") -> torch.Tensor:
    """out (B, T, Hq, D) from all T^3 logits at once: the definition read literally, for tiny T.

    Computes in the compute dtype (fp32, or fp64 for fp64 inputs). Every (i, j, k) gets a logit by einsum,
    the determinant form through the Levi-Civita symbol (det[a; b; c] = sum_lmn eps_lmn a_l b_m c_n); then
    ``window_mask`` removes the pairs outside the windows and one softmax runs over each query's (j, k).
    """
    fn = "dense_reference"
    q, k1, k2, v1, v2 = _checked_inputs(fn, q, k1, k2, v1, v2, w1, w2, logits)
    B, T, Hq, D = q.shape
    group = Hq // k1.shape[2]
    if B * Hq * T**3 > DENSE_LIMIT:
        raise ValueError(f"{fn}: B * Hq * T^3 = {B * Hq * T**3} logits is too many for the dense version "
                         f"(limit {DENSE_LIMIT}); use windowed_reference")
    dtype = _compute_dtype(q)
    q, k1, k2, v1, v2 = (x.to(dtype) for x in (q, k1, k2, v1, v2))
    k1, k2, v1, v2 = (x.repeat_interleave(group, dim=2) for x in (k1, k2, v1, v2))  # (B, T, Hq, D)
    chunked = 3 * (D // 3) if logits == "determinant" else 0
    rest = slice(chunked, D)
    scores = torch.einsum("bihd,bjhd,bkhd->bhijk", q[..., rest], k1[..., rest], k2[..., rest])
    if chunked:
        q3, k13, k23 = (x[..., :chunked].unflatten(-1, (-1, 3)) for x in (q, k1, k2))
        scores = scores + torch.einsum("bihcl,bjhcm,bkhcn,lmn->bhijk", q3, k13, k23,
                                       _levi_civita(dtype, q.device))
    scores = scores * logit_scale(D)
    scores = scores.masked_fill(~window_mask(T, w1, w2, q.device), float("-inf"))
    p = torch.softmax(scores.flatten(-2), dim=-1).view_as(scores)
    return torch.einsum("bhijk,bjhd,bkhd->bihd", p, v1, v2)


def _query_positions(fn: str, positions, T: int, device) -> torch.Tensor:
    if positions is None:
        return torch.arange(T, device=device)
    positions = torch.as_tensor(positions, device=device)
    if positions.dim() != 1 or positions.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"{fn}: positions must be a 1-D sequence of ints, got {positions.dtype} of shape "
                        f"{tuple(positions.shape)}")
    if positions.numel() and (positions.min() < 0 or positions.max() >= T):
        raise ValueError(f"{fn}: positions must lie in [0, T) = [0, {T}), got values from "
                         f"{positions.min().item()} to {positions.max().item()}")
    return positions.long()


def windowed_reference(q, k1, k2, v1, v2, w1: int, w2: int, logits: str = "trilinear",
                       positions=None) -> torch.Tensor:
    """out (B, N, Hq, D) at the N query ``positions`` (default: all T), computed over the windows only.

    For each query the w1 keys j = i - w1 + 1 .. i and the w2 keys k = i - w2 + 1 .. i are gathered (those
    before position 0 are masked out), giving a (w1, w2) block of logits per query and head: memory O(T w1 w2),
    handled a chunk of queries at a time. Computes in the compute dtype (fp32, or fp64 for fp64 inputs) and is
    differentiable (autograd through torch).
    """
    fn = "windowed_reference"
    q, k1, k2, v1, v2 = _checked_inputs(fn, q, k1, k2, v1, v2, w1, w2, logits)
    B, T, Hq, D = q.shape
    Hkv = k1.shape[2]
    positions = _query_positions(fn, positions, T, q.device)
    dtype = _compute_dtype(q)
    q, k1, k2, v1, v2 = (x.to(dtype) for x in (q, k1, k2, v1, v2))
    chunk = max(1, REFERENCE_CHUNK_ELEMENTS // (B * Hq * w1 * max(w2, D)))
    outs = [_windowed_chunk(q, k1, k2, v1, v2, w1, w2, logits, positions[start:start + chunk], Hkv)
            for start in range(0, positions.numel(), chunk)]
    return torch.cat(outs, dim=1) if outs else q.new_empty((B, 0, Hq, D))


def _windowed_chunk(q, k1, k2, v1, v2, w1, w2, logits, positions, Hkv) -> torch.Tensor:
    B, _, Hq, D = q.shape
    j = positions[:, None] - w1 + 1 + torch.arange(w1, device=q.device)      # (N, w1)
    k = positions[:, None] - w2 + 1 + torch.arange(w2, device=q.device)      # (N, w2)
    queries = q[:, positions].unflatten(2, (Hkv, -1))                        # (B, N, Hkv, G, D)
    k1_window, v1_window = k1[:, j.clamp(min=0)], v1[:, j.clamp(min=0)]      # (B, N, w1, Hkv, D)
    k2_window, v2_window = k2[:, k.clamp(min=0)], v2[:, k.clamp(min=0)]      # (B, N, w2, Hkv, D)
    u = pair_product(queries[:, :, :, :, None], k1_window.transpose(2, 3)[:, :, :, None], logits)  # (B,N,Hkv,G,w1,D)
    scores = torch.einsum("bnhgjd,bnkhd->bnhgjk", u, k2_window) * logit_scale(D)
    exists = (j >= 0)[:, :, None] & (k >= 0)[:, None, :]                     # (N, w1, w2)
    scores = scores.masked_fill(~exists[None, :, None, None], float("-inf"))
    p = torch.softmax(scores.flatten(-2), dim=-1).view_as(scores)
    out = torch.einsum("bnhgjk,bnjhd,bnkhd->bnhgd", p, v1_window, v2_window)
    return out.flatten(2, 3)                                                  # (B, N, Hq, D)


def forward_flops(B: int, Hq: int, T: int, w1: int, w2: int, D: int) -> int:
    """4 B Hq T w1 w2 D: the forward's multiply-adds (x2) of the logits (2 D per triple, the k2 dot product of
    pair(q, k1)) and of the output (2 D per triple, P times v1 ⊙ v2), over every query's FULL w1 x w2 window.

    The convention ignores the causal edge: the first queries have shorter windows (query i sees
    min(i + 1, w1) x min(i + 1, w2) pairs; ``visible_triples`` counts them), and ignores the elementwise products
    q ⊙ k1 and v1 ⊙ v2, which are O(D) per (i, j) rather than per (i, j, k).
    """
    for name, value in (("B", B), ("Hq", Hq), ("T", T), ("w1", w1), ("w2", w2), ("D", D)):
        validate.positive_int("forward_flops", name, value)
    return 4 * B * Hq * T * w1 * w2 * D


def visible_triples(T: int, w1: int, w2: int) -> int:
    """The number of (i, j, k) with j and k in query i's windows: sum_i min(i + 1, w1) min(i + 1, w2)."""
    for name, value in (("T", T), ("w1", w1), ("w2", w2)):
        validate.positive_int("visible_triples", name, value)
    return sum(min(i + 1, w1) * min(i + 1, w2) for i in range(T))


# ---- the Triton path -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tiles:
    """One kernel's launch shape. ``rows``: the MMA M dimension of a program (tokens x GQA heads, and for the
    forward x outer offsets; for the inner-key backward: inner keys). ``block``: keys per step (for the inner-key
    backward: (query, head) columns per step). ``outer`` (forward only): outer offsets per pass, a power of two
    that ``forward_tiling`` caps at the outer window. ``resident`` (forward only): the loop order that holds each
    block of inner keys while every pass runs against it, instead of streaming the blocks past every pass.
    ``num_warps`` and ``num_stages`` go to Triton (the interpreter ignores them)."""

    rows: int
    block: int
    num_warps: int = 4
    num_stages: int = 2
    outer: int = 1
    resident: bool = False


@dataclass(frozen=True)
class KernelConfig:
    """Tiles of the forward and of the backward kernels for dq, for the outer keys' gradients and for the inner
    keys' gradients."""

    forward: Tiles
    query_backward: Tiles
    outer_backward: Tiles
    inner_backward: Tiles


def _uniform(tiles: Tiles) -> KernelConfig:
    return KernelConfig(tiles, tiles, tiles, tiles)


INTERPRETER_CONFIG = replace(_uniform(Tiles(32, 32)), forward=Tiles(32, 32, outer=4))
SMALL_GPU_CONFIG = _uniform(Tiles(64, 32, 4, 2))  # T4 and friends
# Chosen on an H100 (bf16, D = 128, the benchmark's shapes, inner keys copied by TMA) by
# swr_tutor.bench.simplicial.sweep and by hand. The forward fills its 64 rows with one token's outer offsets (two
# tokens at w_a = 32), 3 stages deep; wide GQA groups (16+ query heads per key/value head) fill 128 rows with one
# token's heads at two offsets, on 8 warps, against blocks of 128 keys. The backward kernels run 4 warps (they beat
# 8 in every kernel but dq of the determinant form with wide GQA groups); with wide GQA groups the row kernels take
# blocks of 64 keys, without them blocks of 32, 3 stages deep.
HOPPER_CONFIG = KernelConfig(Tiles(64, 64, 4, 3, outer=64), Tiles(64, 32, 4, 3), Tiles(64, 32, 4, 3),
                             Tiles(64, 32, 4, 2))
HOPPER_WIDE_GQA_CONFIG = KernelConfig(Tiles(128, 128, 8, 2, outer=2), Tiles(64, 64, 4, 2), Tiles(64, 64, 4, 2),
                                      Tiles(64, 32, 4, 2))
# The resident loop order (each block of inner keys held while every outer offset passes over it, the pass loop
# innermost and unpipelined) wins with wide GQA groups at both window shapes (all rows of a pass share one outer key),
# and without GQA where the smaller window fills more than half of a block of 128 keys (one token's 64 offsets fill
# the rows); the streamed order wins without GQA at a 32-key window, where one pass covers it.
HOPPER_RESIDENT_FORWARD = Tiles(64, 128, 4, 1, outer=64, resident=True)


def default_config(device: torch.device, group: int = 1, windows: tuple[int, int] | None = None,
                   determinant: bool = False) -> KernelConfig:
    """Tiles for the machine, the GQA group size (query heads per key/value head), the windows (w1, w2) and the
    logits: small ones for the interpreter and older GPUs, tuned ones on Hopper."""
    if device.type != "cuda":
        return INTERPRETER_CONFIG
    if torch.cuda.get_device_capability(device)[0] < 9:
        return SMALL_GPU_CONFIG
    wide_gqa = group >= 16
    config = HOPPER_WIDE_GQA_CONFIG if wide_gqa else HOPPER_CONFIG
    block = HOPPER_RESIDENT_FORWARD.block
    if windows is not None and (wide_gqa or block // 2 < min(windows) <= block):
        config = replace(config, forward=HOPPER_RESIDENT_FORWARD)
    if determinant and wide_gqa:
        config = replace(config, query_backward=Tiles(64, 64, 8, 2))
    return config


@dataclass(frozen=True)
class _Problem:
    """The kernels' view of one call: outer keys a (the smaller window, one offset t at a time), inner keys b,
    and the factors of the pair product as (next, prev) neighbour tensors (q and a themselves for "trilinear")."""

    q: torch.Tensor
    factors: tuple  # (q_next, q_prev, ka_next, ka_prev)
    va: torch.Tensor
    kb: torch.Tensor
    vb: torch.Tensor
    w_a: int
    w_b: int
    outer_is_k1: bool
    constants: dict


def _kernel_operand(t: torch.Tensor) -> torch.Tensor:
    # The interpreter multiplies bf16 raw bits: there the kernels compute bf16 inputs in fp32.
    t = t.contiguous()
    return t.float() if INTERPRETING and t.dtype == torch.bfloat16 else t


def _chunk_neighbours(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_next, x_prev): x[m+1] and x[m-1] inside each 3-dim chunk (cyclically), x[m] after the last chunk."""
    D = x.shape[-1]
    m = torch.arange(D, device=x.device)
    in_chunk = m < 3 * (D // 3)
    chunk_start = m - m % 3
    next_col = torch.where(in_chunk, chunk_start + (m + 1) % 3, m)
    prev_col = torch.where(in_chunk, chunk_start + (m + 2) % 3, m)
    return x[..., next_col].contiguous(), x[..., prev_col].contiguous()


_TL_DTYPES = {torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float32: "float32",
              torch.float64: "float64"}
_PACKED_TYPES = {torch.float16: "f16x2", torch.bfloat16: "bf16x2"}  # PTX: two 16-bit numbers in one register


def _problem(q, k1, k2, v1, v2, w1: int, w2: int, determinant: bool) -> _Problem:
    q, k1, k2, v1, v2 = (_kernel_operand(x) for x in (q, k1, k2, v1, v2))
    outer_is_k1 = w1 < w2
    ka, va, w_a, kb, vb, w_b = (k1, v1, w1, k2, v2, w2) if outer_is_k1 else (k2, v2, w2, k1, v1, w1)
    factors = (*_chunk_neighbours(q), *_chunk_neighbours(ka)) if determinant else (q, q, ka, ka)
    D = q.shape[3]
    group = q.shape[2] // k1.shape[2]
    tl = triton.language
    constants = dict(GROUP=group, GROUP_PAD=triton.next_power_of_2(group), HEAD_DIM=D,
                     BLOCK_D=max(16, triton.next_power_of_2(D)), CHUNKED_DIMS=3 * (D // 3) if determinant else 0,
                     Q_FIRST=outer_is_k1, DOT=getattr(tl, _TL_DTYPES[q.dtype]),
                     ACC=tl.float64 if q.dtype == torch.float64 else tl.float32,
                     PACKED_PAIR="" if INTERPRETING else _PACKED_TYPES.get(q.dtype, ""))
    return _Problem(q, factors, va, kb, vb, w_a, w_b, outer_is_k1, constants)


def _tokens_per_program(rows: int, group_pad: int) -> int:
    return max(1, rows // group_pad)


def forward_tiling(tiles: Tiles, group: int, outer_window: int) -> tuple[int, int]:
    """(tokens per program, outer offsets per pass) of the forward: a program's rows are its tokens x the GQA
    group (padded to a power of two) x the outer offsets that one pass over the inner keys serves."""
    group_pad = triton.next_power_of_2(group)
    outer = min(tiles.outer, triton.next_power_of_2(outer_window), _tokens_per_program(tiles.rows, group_pad))
    return _tokens_per_program(tiles.rows, group_pad * outer), outer


def _key_descriptors(kb: torch.Tensor, vb: torch.Tensor, block: int) -> tuple:
    """(kb, vb descriptors, tma): TMA descriptors of the inner keys and values (B, T, Hkv, D), copied ``block`` keys
    at a time, where the hardware has the tensor memory accelerator (sm_90+; the interpreter emulates it) and the
    rows are 16-byte aligned; (None, None, False) elsewhere, and the kernels load through pointers."""
    D = kb.shape[-1]
    aligned = D * kb.element_size() % 16 == 0 and all(t.data_ptr() % 16 == 0 for t in (kb, vb))
    has_tma = INTERPRETING or (kb.is_cuda and torch.cuda.get_device_capability(kb.device)[0] >= 9)
    if TensorDescriptor is None or not (aligned and has_tma):
        return None, None, False
    box = [1, block, 1, max(16, triton.next_power_of_2(D))]
    return TensorDescriptor.from_tensor(kb, box), TensorDescriptor.from_tensor(vb, box), True


def _explains_gpu_resources(launcher):
    """``launcher(q, k1, ...)`` with Triton's out-of-resources error turned into one that says which inputs need what
    and what fits."""
    @functools.wraps(launcher)
    def launch(q, k1, *args, **kwargs):
        try:
            return launcher(q, k1, *args, **kwargs)
        except triton.runtime.errors.OutOfResources as error:
            raise RuntimeError(
                f"two_simplicial_attention: the kernels' tiles for head dimension D = {q.shape[-1]} with "
                f"{q.shape[2] // k1.shape[2]} query head(s) per key/value head need more {error.name} per program "
                f"than this GPU has ({error.required} > {error.limit}). On a GPU with 64 KiB of shared memory per "
                f"block (a T4, sm_75) the backward fits at D <= 64, not above") from error
    return launch


def _scale_log2(D: int) -> float:
    return logit_scale(D) * math.log2(math.e)


@_explains_gpu_resources
def triton_forward(q, k1, k2, v1, v2, w1: int, w2: int, determinant: bool = False,
                   config: KernelConfig | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(out (B, T, Hq, D) in q's dtype, lse (B, T, Hq) base-2 log-sum-exp) by the forward kernel; no autograd.

    Inputs as ``two_simplicial_attention`` (unchecked here), on CUDA or, under the interpreter, on the CPU.
    """
    group = q.shape[2] // k1.shape[2]
    tiles = (config or default_config(q.device, group, (w1, w2), determinant)).forward
    block_t, outer = forward_tiling(tiles, group, min(w1, w2))
    problem = _problem(q, k1, k2, v1, v2, w1, w2, determinant)
    c = problem.constants
    B, T, Hq, D = q.shape
    out = torch.empty(q.shape, dtype=problem.q.dtype, device=q.device)
    lse = torch.empty((B, T, Hq), dtype=_compute_dtype(q), device=q.device)
    grid = (triton.cdiv(T, block_t), B * k1.shape[2])
    kb_desc, vb_desc, tma = _key_descriptors(problem.kb, problem.vb, tiles.block)
    kernels.forward_kernel[grid](*problem.factors, problem.va, problem.kb, problem.vb, kb_desc, vb_desc, out, lse, T,
                                 Hq, k1.shape[2], problem.w_a, problem.w_b, _scale_log2(D), BLOCK_T=block_t, TMA=tma,
                                 OUTER_BLOCK=outer, ONE_PASS=outer >= problem.w_a and not tiles.resident,
                                 RESIDENT_INNER=tiles.resident, BLOCK_K=tiles.block,
                                 num_warps=tiles.num_warps, num_stages=tiles.num_stages, **c)
    return out.to(q.dtype), lse


@_explains_gpu_resources
def triton_backward(q, k1, k2, v1, v2, out, lse, dout, w1: int, w2: int, determinant: bool = False,
                    config: KernelConfig | None = None) -> tuple[torch.Tensor, ...]:
    """(dq, dk1, dk2, dv1, dv2) for the gradient ``dout`` of ``out`` (and ``lse``) from ``triton_forward``.

    Four launches, each writing the rows its programs own: dq, the outer keys' dk and dv (rows_backward_kernel
    three times), the inner keys' dk and dv (inner_backward_kernel).
    """
    problem = _problem(q, k1, k2, v1, v2, w1, w2, determinant)
    config = config or default_config(q.device, q.shape[2] // k1.shape[2], (w1, w2), determinant)
    c = problem.constants
    B, T, Hq, D = q.shape
    Hkv = k1.shape[2]
    dout = _kernel_operand(dout)
    delta = torch.empty_like(lse)  # (B, T, Hq): <dO_i, out_i>
    kernels.row_dot_kernel[(triton.cdiv(delta.numel(), 32),)](
        dout, _kernel_operand(out), delta, delta.numel(), ROWS=32, HEAD_DIM=D, BLOCK_D=c["BLOCK_D"], ACC=c["ACC"])
    inputs = (*problem.factors, problem.va, problem.kb, problem.vb, dout, lse, delta)
    scalars = (T, Hq, Hkv, problem.w_a, problem.w_b, _scale_log2(D), logit_scale(D))

    key_descriptors = functools.cache(functools.partial(_key_descriptors, problem.kb, problem.vb))  # per block
    grads = {}
    for name, grad_of, like, tiles in (("q", kernels.GRAD_Q, problem.q, config.query_backward),
                                       ("ka", kernels.GRAD_KA, problem.va, config.outer_backward),
                                       ("va", kernels.GRAD_VA, problem.va, config.outer_backward)):
        grads[name] = torch.empty_like(like)
        block_t = _tokens_per_program(tiles.rows, c["GROUP_PAD"])
        kb_desc, vb_desc, tma = key_descriptors(tiles.block)
        kernels.rows_backward_kernel[(triton.cdiv(T, block_t), B * Hkv)](
            *inputs, kb_desc, vb_desc, grads[name], *scalars, GRAD_OF=grad_of, BLOCK_T=block_t, BLOCK_K=tiles.block,
            TMA=tma, num_warps=tiles.num_warps, num_stages=tiles.num_stages, **c)

    inner = config.inner_backward
    grads["kb"], grads["vb"] = torch.empty_like(problem.kb), torch.empty_like(problem.vb)
    block_q = max(triton.cdiv(16, c["GROUP_PAD"]), inner.block // c["GROUP_PAD"])
    kernels.inner_backward_kernel[(triton.cdiv(T, inner.rows), B * Hkv)](
        *inputs, grads["kb"], grads["vb"], *scalars, BLOCK_C=inner.rows, BLOCK_Q=block_q,
        num_warps=inner.num_warps, num_stages=inner.num_stages, **c)

    if problem.outer_is_k1:
        dk1, dv1, dk2, dv2 = grads["ka"], grads["va"], grads["kb"], grads["vb"]
    else:
        dk1, dv1, dk2, dv2 = grads["kb"], grads["vb"], grads["ka"], grads["va"]
    return grads["q"].to(q.dtype), dk1.to(q.dtype), dk2.to(q.dtype), dv1.to(q.dtype), dv2.to(q.dtype)


@torch.library.custom_op("swr_tutor::two_simplicial_attention", mutates_args=())
def _attention_op(q: torch.Tensor, k1: torch.Tensor, k2: torch.Tensor, v1: torch.Tensor, v2: torch.Tensor,
                  w1: int, w2: int, determinant: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The Triton forward as a torch op: (out, lse). Differentiable in q, k1, k2, v1, v2."""
    return triton_forward(q, k1, k2, v1, v2, w1, w2, determinant)


@_attention_op.register_fake
def _attention_shapes(q, k1, k2, v1, v2, w1, w2, determinant):
    return torch.empty_like(q), q.new_empty(q.shape[:3], dtype=_compute_dtype(q))


@torch.library.custom_op("swr_tutor::two_simplicial_attention_backward", mutates_args=())
def _attention_backward_op(q: torch.Tensor, k1: torch.Tensor, k2: torch.Tensor, v1: torch.Tensor,
                           v2: torch.Tensor, out: torch.Tensor, lse: torch.Tensor, dout: torch.Tensor, w1: int,
                           w2: int, determinant: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                                torch.Tensor, torch.Tensor]:
    """The Triton backward as a torch op: (dq, dk1, dk2, dv1, dv2)."""
    return triton_backward(q, k1, k2, v1, v2, out, lse, dout, w1, w2, determinant)


@_attention_backward_op.register_fake
def _attention_backward_shapes(q, k1, k2, v1, v2, out, lse, dout, w1, w2, determinant):
    return tuple(torch.empty_like(x) for x in (q, k1, k2, v1, v2))


def _save_for_backward(ctx, inputs, output):
    q, k1, k2, v1, v2, w1, w2, determinant = inputs
    out, lse = output
    ctx.mark_non_differentiable(lse)
    ctx.save_for_backward(q, k1, k2, v1, v2, out, lse)
    ctx.settings = (w1, w2, determinant)


def _attention_op_backward(ctx, dout, dlse):
    grads = _attention_backward_op(*ctx.saved_tensors, dout.contiguous(), *ctx.settings)
    return (*grads, None, None, None)


_attention_op.register_autograd(_attention_op_backward, setup_context=_save_for_backward)


# ---- the public op ---------------------------------------------------------------------------------------------

def _chosen_backend(backend, q: torch.Tensor) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"two_simplicial_attention: backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "triton" if q.is_cuda else "torch"
    if backend == "triton" and not q.is_cuda and not INTERPRETING:
        raise ValueError(f"two_simplicial_attention: backend='triton' needs CUDA tensors (q is on {q.device}) "
                         "unless Triton's interpreter is on (TRITON_INTERPRET=1); use backend='torch'")
    return backend


def two_simplicial_attention(q, k1, k2, v1, v2, w1: int, w2: int, logits: str = "trilinear",
                             backend: str = "auto") -> torch.Tensor:
    """Windowed 2-simplicial attention: out (B, T, Hq, D) in q's dtype, differentiable in all five inputs.

    q (B, T, Hq, D); k1, k2, v1, v2 (B, T, Hkv, D) with Hq a multiple of Hkv (GQA); one dtype (fp16, bf16,
    fp32 or fp64) and one device. Query i attends to the pairs (j, k) with i - w1 < j <= i and
    i - w2 < k <= i; ``logits`` is "trilinear" or "determinant" (see the module's docstring). Accumulates in
    fp32 (fp64 for fp64 inputs).

    backend: "triton" runs the kernels of kernels/triton/simplicial.py (on a CPU through Triton's interpreter:
    right, but slow); "torch" runs ``windowed_reference``; "auto" picks "triton" for CUDA tensors and "torch"
    otherwise.
    """
    fn = "two_simplicial_attention"
    q, k1, k2, v1, v2 = _checked_inputs(fn, q, k1, k2, v1, v2, w1, w2, logits)
    if _chosen_backend(backend, q) == "torch":
        return windowed_reference(q, k1, k2, v1, v2, w1, w2, logits).to(q.dtype)
    out, _ = _attention_op(q, k1, k2, v1, v2, w1, w2, logits == "determinant")
    return out
