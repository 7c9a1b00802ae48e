"""``python -m swr_tutor.bench b2p``: the SWR forward and backward against the copy roofline and the peers.

Every row computes from the same bf16 inputs x (B, H, T, D) and fp32 head-shared decays a (B, H, T).
Minimal bytes: read x and a, write y (bf16). The peers compute the exact recurrence (accelerated-scan,
flash-linear-attention) or sliding-window attention (flex_attention, window 32 = SWR's receptive field
with 16-token tiles), so their errors are measured against their own float64 references.
"""
import torch
from tqdm import tqdm

from .. import cuda_kernels
from ..blocked import carrier_scan
from ..device import low_precision_dtype
from ..swr import b2p_backward, b2p_forward, b2p_op, b2p_reference
from .common import Row, copy_roofline_ms, median_ms, relative_error

SHAPES = [(8, 16, 8192, 64), (4, 8, 32768, 64), (16, 16, 4096, 16), (1, 16, 65536, 64)]
QUICK_SHAPES = [(2, 4, 4096, 64)]
DTYPE = low_precision_dtype()  # bf16 on sm_80+, fp16 on a T4 (sm_75 has no bf16)


def inputs(B, H, T, D, seed=0):
    generator = torch.Generator(device="cuda").manual_seed(seed)
    x = torch.randn(B, H, T, D, device="cuda", dtype=DTYPE, generator=generator)
    a = torch.sigmoid(2 + torch.randn(B, H, T, device="cuda", generator=generator))  # memories of ~10 tokens
    return a, x


def _first_sequence(a, x):
    return a[:1].double(), x[:1].double()


def _gradient_errors(a, x, dy, da, dx):
    a64, x64 = (t.detach()[:1].double().requires_grad_() for t in (a, x))
    b2p_reference(a64, x64).backward(dy[:1].double())
    return max(relative_error(dx[:1], x64.grad), relative_error(da[:1], a64.grad))


def forward_row(forward):
    """The row of a forward kernel ``forward(a, x, out_dtype)``: its step and its error on the first sequence."""
    def row(a, x):
        y = forward(a, x, DTYPE)
        return (lambda: forward(a, x, DTYPE)), relative_error(y[:1], b2p_reference(*_first_sequence(a, x)))

    return row


def kernels_forward_backward_row(forward, backward):
    """The forward and backward kernels back to back: what the GPU spends on one training step of the layer."""
    def row(a, x):
        dy = torch.randn_like(x)

        def step():
            forward(a, x, DTYPE)
            return backward(a, x, dy)

        da, dx = step()
        return step, _gradient_errors(a, x, dy, da, dx)

    return row


def ours_autograd_step(a, x):
    """forward + backward through the differentiable op, Python dispatch and autograd included."""
    a, x = a.clone().requires_grad_(), x.clone().requires_grad_()
    dy = torch.randn_like(x)

    def step():
        a.grad = x.grad = None
        b2p_op(a, x, DTYPE).backward(dy)

    step()
    return step, _gradient_errors(a, x, dy, a.grad, x.grad)


def torch_eager(a, x):
    return (lambda: b2p_reference(a, x)), relative_error(b2p_reference(a[:1], x[:1]), b2p_reference(*_first_sequence(a, x)))


def torch_compiled(a, x):
    compiled = torch.compile(b2p_reference)
    return (lambda: compiled(a, x)), relative_error(compiled(a, x)[:1], b2p_reference(*_first_sequence(a, x)))


def _channels_last_time(a, x):
    """Peers that want (B, C, T): one decay per channel (expanded from the head) and time last."""
    B, H, T, D = x.shape
    tokens = x.permute(0, 1, 3, 2).reshape(B, H * D, T).contiguous()
    gates = a[:, :, None, :].expand(B, H, D, T).reshape(B, H * D, T).to(DTYPE).contiguous()
    return gates, tokens


def _exact_reference_bct(gates, tokens):
    return carrier_scan(gates[:1].double(), tokens[:1].double())


def accelerated_scan_scalar(a, x):
    from accelerated_scan.scalar import scan

    gates, tokens = _channels_last_time(a, x)
    out = scan(gates, tokens)
    return (lambda: scan(gates, tokens)), relative_error(out[:1], _exact_reference_bct(gates, tokens))


class NotRun(Exception):
    """A configuration a peer cannot run; the row says why instead of a time."""


def accelerated_scan_warp(a, x):
    from accelerated_scan.warp import scan

    if x.shape[2] >= 65536:  # seen on an H100 (accelerated-scan 0.3.1): the launch corrupts the CUDA context
        raise NotRun("crashes with an illegal memory access at T = 65,536 (checked with CUDA_LAUNCH_BLOCKING=1)")
    gates, tokens = _channels_last_time(a, x)
    out = scan(gates, tokens)
    return (lambda: scan(gates, tokens)), relative_error(out[:1], _exact_reference_bct(gates, tokens))


def fla_chunk_hgrn(a, x):
    from fla.ops.hgrn import chunk_hgrn

    B, H, T, D = x.shape
    tokens = x.permute(0, 2, 1, 3).reshape(B, T, H * D).contiguous()
    log_gates = a.log().permute(0, 2, 1)[..., None].expand(B, T, H, D).reshape(B, T, H * D).contiguous()
    out, _ = chunk_hgrn(tokens, log_gates)
    reference = carrier_scan(a[:1].double(), x[:1].double()).permute(0, 2, 1, 3).reshape(1, T, H * D)
    return (lambda: chunk_hgrn(tokens, log_gates)), relative_error(out[:1], reference)


def flex_attention_window_32(a, x):
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    B, H, T, D = x.shape
    q, k, v = (torch.randn_like(x) for _ in range(3))

    def sliding_window(b, h, q_idx, kv_idx):
        return (kv_idx <= q_idx) & (q_idx - kv_idx < 32)

    mask = create_block_mask(sliding_window, None, None, T, T, device="cuda")
    attend = torch.compile(flex_attention)
    attend(q, k, v, block_mask=mask)
    return (lambda: attend(q, k, v, block_mask=mask)), None


ROWS = [
    ("ours: Triton forward", forward_row(b2p_forward)),
    ("ours: Triton forward+backward kernels", kernels_forward_backward_row(b2p_forward, b2p_backward)),
    ("ours: CUDA forward", forward_row(cuda_kernels.b2p_forward)),
    ("ours: CUDA forward+backward kernels", kernels_forward_backward_row(cuda_kernels.b2p_forward,
                                                                         cuda_kernels.b2p_backward)),
    ("ours: autograd step (host included)", ours_autograd_step),
    ("torch eager b2p_reference", torch_eager),
    ("torch.compile b2p_reference", torch_compiled),
    ("accelerated-scan scalar (exact)", accelerated_scan_scalar),
    ("accelerated-scan warp (exact)", accelerated_scan_warp),
    ("fla chunk_hgrn (exact)", fla_chunk_hgrn),
    ("flex_attention SWA-32", flex_attention_window_32),
]


def _measure(name, make, a, x, shape, copy_ms, minimal_bytes) -> Row:
    try:
        fn, error = make(a, x)
        ms = median_ms(fn)
    except ImportError as e:
        return Row("b2p", shape, name, None, note=f"not installed ({e.name})")
    except NotRun as e:
        return Row("b2p", shape, name, None, note=f"not run: {e}")
    except Exception as e:  # a peer that fails on this shape is reported, not hidden
        return Row("b2p", shape, name, None, note=f"failed: {type(e).__name__}: {str(e)[:80]}")
    return Row("b2p", shape, name, ms, gbps=minimal_bytes / ms / 1e6, ratio=ms / copy_ms, max_rel_err=error)


def run(quick: bool = False) -> list[Row]:
    shapes = QUICK_SHAPES if quick else SHAPES
    rows = []
    with tqdm(total=len(shapes) * (len(ROWS) + 1), desc="b2p") as progress:
        for B, H, T, D in shapes:
            shape = dict(B=B, H=H, T=T, D=D)
            a, x = inputs(B, H, T, D)
            minimal_bytes = 2 * x.numel() * x.element_size() + a.numel() * a.element_size()
            copy_ms = copy_roofline_ms(x)
            rows.append(Row("b2p", shape, "copy roofline (read x, write y)", copy_ms,
                            gbps=2 * x.numel() * x.element_size() / copy_ms / 1e6, ratio=1.0))
            progress.update()
            for name, make in ROWS:
                progress.set_postfix_str(name)
                rows.append(_measure(name, make, a, x, shape, copy_ms, minimal_bytes))
                progress.update()
            del a, x
            torch.cuda.empty_cache()
    return rows


def run_tuning(quick: bool = False) -> list[Row]:
    """The kernels' launch settings: positions and warps per program, forward and backward, on one shape."""
    B, H, T, D = QUICK_SHAPES[0] if quick else SHAPES[0]
    shape = dict(B=B, H=H, T=T, D=D)
    a, x = inputs(B, H, T, D)
    dy = torch.randn_like(x)
    copy_ms = copy_roofline_ms(x)
    rows = [Row("b2p-tuning", shape, "copy roofline (read x, write y)", copy_ms, ratio=1.0)]
    settings = [(block_t, num_warps) for block_t in (16, 32, 64) for num_warps in (1, 2, 4)]
    for block_t, num_warps in tqdm(settings, desc="b2p-tuning"):
        launch = dict(block_t=block_t, num_warps=num_warps)
        forward_ms = median_ms(lambda: b2p_forward(a, x, DTYPE, **launch))
        backward_ms = median_ms(lambda: b2p_backward(a, x, dy, **launch))
        for name, ms in (("forward", forward_ms), ("backward", backward_ms)):
            rows.append(Row("b2p-tuning", shape, f"{name} block_t={block_t} num_warps={num_warps}", ms,
                            ratio=ms / copy_ms, extra=launch))
    return rows
