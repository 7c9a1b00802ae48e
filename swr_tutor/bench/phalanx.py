"""``python -m swr_tutor.bench phalanx``: the Phalanx layer against sliding-window attention, and three small
models' training throughput, at contexts of 1K to 32K tokens.

Every shape holds B * T = 32K tokens, so the work of the projections is the same at every context and what
changes is the mixing along time. Layers: C = 1024 in bf16; Phalanx with 64 heads of 16 (the B2P tile),
sliding-window attention (window 32, the reach of SWR's jagged window) with 16 heads of 64 through
flex_attention and a block mask; forward + backward of one layer. Models: "PAPA", "SASA", "AAAA"
(build_model, d_model 1024, attention heads of 64) on random tokens, one AdamW step under bf16 autocast;
tokens per second = B * T / step time.
"""
import torch
from tqdm import tqdm

from ..device import DEVICE, low_precision_dtype
from ..phalanx import Phalanx, SlidingWindowAttention, build_model
from ..train import loss_of
from .common import Row, median_ms, relative_error

TOKENS = 32 * 1024
CONTEXTS = (1024, 4096, 8192, 16384, 32768)
QUICK_CONTEXTS = (4096,)
D_MODEL, ATTENTION_HEADS, WINDOW, VOCAB = 1024, 16, 32, 256
PATTERNS = ("PAPA", "SASA", "AAAA")
DTYPE = low_precision_dtype()  # bf16 on sm_80+, fp16 on a T4 (sm_75 has no bf16)


def _layers() -> dict:
    return {
        "Phalanx (64 heads x 16)": Phalanx(D_MODEL),
        f"SWA-{WINDOW} (flex, {ATTENTION_HEADS} heads x {D_MODEL // ATTENTION_HEADS})":
            SlidingWindowAttention(D_MODEL, ATTENTION_HEADS, WINDOW),
    }


def _layer_step(layer, x: torch.Tensor):
    """forward + backward of ``layer`` on x (B, T, C), the gradient of the output random."""
    x = x.detach().requires_grad_()
    dy = torch.randn_like(x)

    def step():
        x.grad = None
        layer.zero_grad(set_to_none=True)
        layer(x).backward(dy)

    return step


def _phalanx_error(layer: Phalanx, x: torch.Tensor) -> float:
    """The layer's output with its backend against the torch backend (B2P in torch), on the first sequence."""
    with torch.no_grad():
        out = layer(x[:1])
        reference = Phalanx(D_MODEL, backend="torch").to(DEVICE, DTYPE)
        reference.load_state_dict(layer.state_dict())
        return relative_error(out, reference(x[:1]))


def _train_step(model, tokens: torch.Tensor):
    """One AdamW step of ``model`` on next-token prediction of ``tokens`` under bf16 autocast."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=tokens.is_cuda)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]

    def step():
        with torch.autocast(DEVICE.type, dtype=DTYPE):
            loss = loss_of(model, inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def _timed(suite: str, shape: dict, name: str, make, **row) -> Row:
    """A Row with the median time of the step ``make()`` returns, or the reason it could not run."""
    try:
        ms = median_ms(make())
    except Exception as e:  # an out-of-memory or a failing path is reported, not hidden
        return Row(suite, shape, name, None, note=f"failed: {type(e).__name__}: {str(e)[:80]}")
    return Row(suite, shape, name, ms, **row)


def layer_rows(T: int) -> list[Row]:
    """Phalanx and sliding-window attention, forward + backward; ratio = time / the SWA time."""
    B = TOKENS // T
    shape = dict(B=B, T=T, C=D_MODEL)
    x = torch.randn(B, T, D_MODEL, device=DEVICE, dtype=DTYPE)
    rows = []
    for name, layer in _layers().items():
        layer = layer.to(DEVICE, DTYPE)
        error = _phalanx_error(layer, x) if isinstance(layer, Phalanx) else None
        rows.append(_timed("phalanx", shape, f"layer fwd+bwd: {name}", lambda: _layer_step(layer, x),
                           max_rel_err=error))
    swa_ms = rows[-1].ms
    for row in rows:
        row.ratio = row.ms / swa_ms if row.ms and swa_ms else None
    return rows


def model_rows(T: int) -> list[Row]:
    """One training step of each small model; extra["tokens_per_s"]; ratio = time / the "AAAA" time."""
    B = TOKENS // T
    shape = dict(B=B, T=T, C=D_MODEL)
    tokens = torch.randint(VOCAB, (B, T + 1), device=DEVICE)
    rows = []
    for pattern in PATTERNS:
        model = build_model(pattern, VOCAB, D_MODEL, ATTENTION_HEADS, window=WINDOW).to(DEVICE)
        row = _timed("phalanx", shape, f"train step: {pattern}", lambda: _train_step(model, tokens),
                     extra={"params": sum(p.numel() for p in model.parameters())})
        if row.ms:
            row.extra["tokens_per_s"] = B * T / (row.ms / 1e3)
        rows.append(row)
        del model
        torch.cuda.empty_cache()
    full_ms = rows[-1].ms
    for row in rows:
        row.ratio = row.ms / full_ms if row.ms and full_ms else None
    return rows


def run_phalanx(quick: bool = False) -> list[Row]:
    contexts = QUICK_CONTEXTS if quick else CONTEXTS
    rows = []
    with torch._dynamo.config.patch(recompile_limit=64):  # the compiled flex_attention recompiles per shape
        for T in tqdm(contexts, desc="phalanx"):
            rows += layer_rows(T) + model_rows(T)
    return rows
