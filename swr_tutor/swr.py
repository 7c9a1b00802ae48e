"""Sliding window recurrences: the jagged window, the B2P reference, and the op ``swr(a, x)`` with autograd.

Shapes: inputs ``x (B, H, T, D)``, decays ``a (B, H, T)`` in [0, 1] shared by the D channels of a head.

B2P keeps two kinds of tiles (b = 16 positions) of the transfer operator L[t, s] = a_{s+1} ... a_t: the
diagonal tiles and the first sub-diagonal tiles. Token t sees its own tile up to t and the whole previous tile,
a jagged window of 17 to 32 tokens. As the official reference computes it, in two passes over the tiles:

    pass 1:  w_k = L_k x_k                       (the tile's local operator)
    pass 2:  y_k = w_k + g_k w_{k-1}[b - 1]      (g_k[i] = a_{kb} ... a_{kb+i}; the previous tile's LOCAL last row)

``swr`` runs it with the Triton kernels of kernels/triton/b2p.py (registered as the torch op ``swr_tutor::b2p``,
so torch.compile sees one node), with the CUDA kernels of kernels/cuda/b2p.cu (``swr_tutor::b2p_cuda``), or with
the same math in torch.
"""
import torch
import torch.nn.functional as F
import triton

from . import cuda_kernels, validate
from .blocked import TILE, local_operators, tile_factors
from .device import INTERPRETING
from .kernels.triton import b2p as kernels

BACKENDS = ("auto", "cuda", "triton", "torch")
# One 16-token tile per program and one warp per tile, as in the official CUDA kernel: on an H100 this beat
# blocks of 32 or 64 tokens and 2 or 4 warps, forward and backward (`python -m swr_tutor.bench b2p-tuning`).
BLOCK_T = 16
NUM_WARPS = 1
# fp32 inputs: the forward's GEMM runs in exact fp32 ("ieee"); the backward's four GEMMs use three tf32
# tensor-core passes ("tf32x3"), which keeps fp32-level accuracy (the GPU tests hold fp32 gradients to 1e-5).
FORWARD_PRECISION, BACKWARD_PRECISION = "ieee", "tf32x3"


def swr_mask(T: int, b: int = TILE) -> torch.Tensor:
    """The kept entries (T, T) bool of the transfer operator: s <= t and tile(t) - tile(s) in {0, 1}."""
    validate.positive_int("swr_mask", "T", T)
    validate.positive_int("swr_mask", "b", b)
    tile = torch.arange(T) // b
    tiles_apart = tile[:, None] - tile[None, :]
    return ((tiles_apart == 0) | (tiles_apart == 1)) & torch.ones(T, T, dtype=torch.bool).tril()


def _checked_inputs(fn: str, a, x) -> tuple[torch.Tensor, torch.Tensor]:
    """a (B, H, T) and x (B, H, T, D) on one device, T >= 1, finite decays in [0, 1].

    Checks that read values (NaN, range) need the data; under torch.compile they are skipped, so that
    compiling a model that calls ``swr`` does not break its graph.
    """
    eager = not torch.compiler.is_compiling()
    x = validate.tensor(fn, "x", x, dims=4, finite=False)
    a = validate.tensor(fn, "a", a, dims=3, finite=False)
    B, H, T, D = x.shape
    if tuple(a.shape) != (B, H, T):
        raise ValueError(f"{fn}: a must have shape (B, H, T) = {(B, H, T)} to match x of shape (B, H, T, D) = "
                         f"{tuple(x.shape)}, got {tuple(a.shape)}")
    if T == 0:
        raise ValueError(f"{fn}: the sequence length T (axis 2 of x) must be >= 1, got 0")
    if a.device != x.device:
        raise ValueError(f"{fn}: a is on {a.device} but x is on {x.device}; put both on one device")
    if eager and not bool(torch.isfinite(x).all() & ((a >= 0) & (a <= 1)).all()):  # one device sync, not three
        validate.tensor(fn, "x", x, finite=True)
        validate.tensor(fn, "a", a, finite=True)
        raise ValueError(f"{fn}: a holds decays and must lie in [0, 1], "
                         f"got values from {a.min().item():.6g} to {a.max().item():.6g}")
    return a, x


def _compute_dtype(a: torch.Tensor, x: torch.Tensor) -> torch.dtype:
    """The inputs' common dtype, at least float32: fp32 for 16-bit inputs, fp64 stays fp64."""
    return torch.promote_types(torch.promote_types(a.dtype, x.dtype), torch.float32)


def b2p_reference(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """y (B, H, T, D): B2P computed by its two passes in torch, in the compute dtype (at least fp32).

    Every entry is a running product of decays (no logarithms), so a = 0 and a = 1 are exact and autograd
    gives the exact derivative everywhere. T that is not a multiple of 16 is padded at the end (a = 1, x = 0).
    """
    return _b2p_two_passes(*_checked_inputs("b2p_reference", a, x))


def _b2p_two_passes(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    dtype = _compute_dtype(a, x)
    a, x = a.to(dtype), x.to(dtype)
    T = x.shape[2]
    x_tiles = F.pad(x, (0, 0, 0, -T % TILE)).unflatten(2, (-1, TILE))  # (B, H, K, b, D)
    w = local_operators(a) @ x_tiles                                    # pass 1
    previous_last_row = F.pad(w[:, :, :-1, -1], (0, 0, 1, 0))          # (B, H, K, D), zeros before tile 0
    y = w + tile_factors(a).g[..., None] * previous_last_row[:, :, :, None]  # pass 2
    return y.flatten(2, 3)[:, :, :T]


# ---- the Triton path -------------------------------------------------------------------------------------

def _block_d(fn: str, x: torch.Tensor, block_t: int) -> int:
    """BLOCK_D for x (B, H, T, D): channel slices of 16..64 (every block of block_t positions is a program)."""
    validate.positive_int(fn, "block_t", block_t, minimum=TILE)
    if block_t & (block_t - 1):
        raise ValueError(f"{fn}: block_t must be a power of two >= {TILE}, got {block_t}")
    return min(64, max(16, triton.next_power_of_2(x.shape[-1])))


def _kernel_operand(t: torch.Tensor) -> torch.Tensor:
    # The interpreter multiplies bf16 raw bits: there the kernel computes bf16 operands in fp32.
    t = t.contiguous()
    return t.float() if INTERPRETING and t.dtype == torch.bfloat16 else t


def _accumulator(x: torch.Tensor):
    return triton.language.float64 if x.dtype == torch.float64 else triton.language.float32


def b2p_forward(a: torch.Tensor, x: torch.Tensor, out_dtype: torch.dtype | None = None, *,
                block_t: int = BLOCK_T, num_warps: int = NUM_WARPS) -> torch.Tensor:
    """y (B, H, T, D) by the Triton forward kernel, without autograd (``swr`` adds it).

    a (B, H, T) and x (B, H, T, D) on one device (CUDA, or the CPU under the interpreter); fp64 inputs must
    both be fp64. ``block_t`` positions and ``num_warps`` warps per program.
    """
    BLOCK_D = _block_d("b2p_forward", x, block_t)
    B, H, T, D = x.shape
    y = torch.empty(x.shape, dtype=out_dtype or _compute_dtype(a, x), device=x.device)
    grid = (B * H, triton.cdiv(T, block_t), triton.cdiv(D, BLOCK_D))
    if y.numel():
        kernels.b2p_forward_kernel[grid](_kernel_operand(a), _kernel_operand(x), y, T, D,
                                         BLOCK_T=block_t, BLOCK_D=BLOCK_D, ACC=_accumulator(x),
                                         PRECISION=FORWARD_PRECISION, num_warps=num_warps)
    return y


def b2p_backward(a: torch.Tensor, x: torch.Tensor, dy: torch.Tensor, *, block_t: int = BLOCK_T,
                 num_warps: int = NUM_WARPS) -> tuple[torch.Tensor, torch.Tensor]:
    """(da, dx) for y = b2p_forward(a, x) and the gradient dy (B, H, T, D), by the Triton backward kernel."""
    BLOCK_D = _block_d("b2p_backward", x, block_t)
    B, H, T, D = x.shape
    slices = triton.cdiv(D, BLOCK_D)
    dx = torch.empty_like(x, memory_format=torch.contiguous_format)
    da_per_slice = torch.zeros((slices, B, H, T), dtype=_compute_dtype(a, x), device=x.device)
    grid = (B * H, triton.cdiv(T, block_t), slices)
    if dx.numel():
        kernels.b2p_backward_kernel[grid](_kernel_operand(a), _kernel_operand(x), _kernel_operand(dy), dx,
                                          da_per_slice, T, D, BLOCK_T=block_t, BLOCK_D=BLOCK_D,
                                          ACC=_accumulator(x), PRECISION=BACKWARD_PRECISION,
                                          num_warps=num_warps)
    return da_per_slice.sum(0).to(a.dtype), dx


def _save_inputs(ctx, inputs, output):
    a, x, _ = inputs
    ctx.save_for_backward(a, x)


def _differentiable_ops(name: str, forward, backward):
    """Register ``forward(a, x, out_dtype)`` and ``backward(a, x, dy) -> (da, dx)`` as the torch ops
    swr_tutor::<name> and swr_tutor::<name>_backward (one node each for torch.compile), the first differentiable
    through the second. Returns (op, backward_op)."""

    @torch.library.custom_op(f"swr_tutor::{name}", mutates_args=())
    def op(a: torch.Tensor, x: torch.Tensor, out_dtype: torch.dtype) -> torch.Tensor:
        return forward(a, x, out_dtype)

    @op.register_fake
    def _(a, x, out_dtype):
        return x.new_empty(x.shape, dtype=out_dtype)

    @torch.library.custom_op(f"swr_tutor::{name}_backward", mutates_args=())
    def backward_op(a: torch.Tensor, x: torch.Tensor, dy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return backward(a, x, dy)

    @backward_op.register_fake
    def _(a, x, dy):
        contiguous = torch.contiguous_format
        return torch.empty_like(a, memory_format=contiguous), torch.empty_like(x, memory_format=contiguous)

    def gradients(ctx, dy):
        da, dx = backward_op(*ctx.saved_tensors, dy)
        return da, dx, None

    op.register_autograd(gradients, setup_context=_save_inputs)
    return op, backward_op


b2p_op, b2p_backward_op = _differentiable_ops("b2p", b2p_forward, b2p_backward)  # the Triton kernels
b2p_cuda_op, b2p_cuda_backward_op = _differentiable_ops("b2p_cuda", cuda_kernels.b2p_forward, cuda_kernels.b2p_backward)


# ---- the public op ---------------------------------------------------------------------------------------

def _chosen_backend(backend, x: torch.Tensor) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"swr: backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        if not x.is_cuda:
            return "torch"
        return "cuda" if cuda_kernels.preferred(x) else "triton"
    if backend == "cuda" and (reason := cuda_kernels.unsupported_reason(x)):
        raise ValueError(f"swr: backend='cuda' {reason}")
    if backend == "triton" and not x.is_cuda and not INTERPRETING:
        raise ValueError(f"swr: backend='triton' needs CUDA tensors (x is on {x.device}) unless Triton's "
                         "interpreter is on (TRITON_INTERPRET=1); move a and x to the GPU or use backend='torch'")
    return backend


def _output_dtype(out_dtype, compute_dtype: torch.dtype, x: torch.Tensor) -> torch.dtype:
    if out_dtype is None:
        return compute_dtype
    if out_dtype == "input":
        return x.dtype
    if out_dtype not in validate.FLOAT_DTYPES:
        raise ValueError(f"swr: out_dtype must be None (fp32, or fp64 for fp64 inputs), 'input' or one of "
                         f"{validate.FLOAT_DTYPES}, got {out_dtype!r}")
    return out_dtype


def swr(a: torch.Tensor, x: torch.Tensor, backend: str = "auto", out_dtype=None) -> torch.Tensor:
    """The sliding window recurrence y (B, H, T, D) = B2P(a, x), differentiable in a and x.

    a (B, H, T) decays in [0, 1] shared by the D channels of each head; x (B, H, T, D) inputs; any T >= 1
    and D >= 1. Accumulates in fp32 (fp64 for fp64 inputs) and returns that dtype, or x's dtype for
    ``out_dtype="input"``, or the dtype given.

    backend: "cuda" runs the tensor-core kernels of kernels/cuda/b2p.cu (fp16/bf16 x on a CUDA GPU; built
    on first use); "triton" runs the kernels of kernels/triton/b2p.py (on a CPU through Triton's interpreter:
    right, but slow); "torch" runs ``b2p_reference`` (the same math, autograd through torch); "auto" picks
    "torch" for CPU tensors and, for CUDA tensors, "cuda" where it was measured fastest (16-bit x with D >= 64
    on the GPUs in ``cuda_kernels.FASTEST_ON``) and "triton" otherwise.
    """
    a, x = _checked_inputs("swr", a, x)
    return swr_without_checks(a, x, backend, out_dtype)


def swr_without_checks(a: torch.Tensor, x: torch.Tensor, backend: str = "auto", out_dtype=None) -> torch.Tensor:
    """``swr`` for inputs their caller has checked already (``_checked_inputs``: shapes, dtypes, x finite and a in
    [0, 1], which costs a device sync): the same result, without checking them again."""
    backend = _chosen_backend(backend, x)
    compute_dtype = _compute_dtype(a, x)
    out_dtype = _output_dtype(out_dtype, compute_dtype, x)
    if backend == "torch":
        return _b2p_two_passes(a, x).to(out_dtype)
    if backend == "cuda":
        return b2p_cuda_op(a, x, out_dtype)
    if compute_dtype == torch.float64:
        a, x = a.double(), x.double()
    return b2p_op(a, x, out_dtype)
