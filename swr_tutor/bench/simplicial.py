"""``python -m swr_tutor.bench simplicial``: windowed 2-simplicial attention against its peer and torch SDPA.

Settings (bf16, fp16 before sm_80; causal windows, D = 128), each with (w1, w2) = (512, 32) and (128, 128):
  (a) paper-like GQA: B = 1, T = 16384, Hkv = 1, Hq = 64
  (b) plain multi-head: B = 2, T = 8192, Hq = Hkv = 8
Rows: our forward and forward+backward with trilinear and determinant logits; the ``simplicial-attention``
package (its Triton kernel ``sliding_two_simplicial_attn``) when it imports; torch SDPA (causal, the same B,
Hq, T, D) as the calibration of the machine.

FLOPs. Forward: ``forward_flops`` = 4 B Hq T w1 w2 D, full windows. Forward+backward: 4.5 times that. The
backward's least matmul work is 7 products of size D per (i, j, k) against the forward's 2 (the logits again,
dP, and one per gradient of q, k1, k2, v1, v2): the way of counting that gives FlashAttention's 3.5x
(2 + 5 products). Our backward runs 12 such products (kernels/triton/simplicial.py says why), the figure
credits 7. SDPA: 4 B H T^2 D / 2 forward (causal), 3.5 times that forward+backward. ``ratio`` is TFLOP/s over
SDPA's TFLOP/s for the same pass.

``python -m swr_tutor.bench simplicial-orders`` (``run_loop_orders``) times the forward kernel alone in its two loop
orders (kernels/triton/simplicial.py: streamed and resident inner keys) at the same settings and windows; its
``ratio`` is TFLOP/s over the streamed order's.

max_rel_err: ||out - ref|| / ||ref|| at a few query positions against ``windowed_reference`` in float64 on
the GPU; forward+backward rows give the largest of the five gradients' errors for an output gradient that
is nonzero at those positions only.
"""
import concurrent.futures
import multiprocessing
import statistics
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .. import simplicial as S
from ..device import low_precision_dtype
from .common import Row, median_ms, relative_error

FORWARD_BACKWARD_FLOPS = 4.5  # x forward FLOPs (see the module docstring)
SDPA_FORWARD_BACKWARD_FLOPS = 3.5
DTYPE = low_precision_dtype()  # bf16 on sm_80+, fp16 on a T4 (sm_75 has no bf16)
D = 128
SLOW_MS = 200.0


@dataclass(frozen=True)
class Setting:
    label: str
    B: int
    T: int
    Hq: int
    Hkv: int

    def shape(self, w1: int, w2: int) -> dict:
        return dict(setting=self.label, B=self.B, T=self.T, Hq=self.Hq, Hkv=self.Hkv, D=D, w1=w1, w2=w2)


SETTINGS = [Setting("a", 1, 16384, 64, 1), Setting("b", 2, 8192, 8, 8)]
WINDOWS = [(512, 32), (128, 128)]
QUICK_SETTINGS = [Setting("quick", 1, 2048, 16, 2)]
QUICK_WINDOWS = [(128, 32)]


def inputs(setting: Setting, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator(device="cuda").manual_seed(seed)
    shapes = [(setting.B, setting.T, setting.Hq, D)] + [(setting.B, setting.T, setting.Hkv, D)] * 4
    return [torch.randn(shape, device="cuda", dtype=DTYPE, generator=generator) for shape in shapes]


def _positions(T: int, w2: int) -> torch.Tensor:
    return torch.tensor(sorted({0, 1, w2 - 1, T // 2, T - 1}), device="cuda")


def _reference(x, w1, w2, logits, positions, requires_grad=False):
    x64 = [t.detach().double().requires_grad_(requires_grad) for t in x]
    return x64, S.windowed_reference(*x64, w1, w2, logits, positions=positions)


# ---- the measured functions: each returns (fn to time, max relative error) ---------------------------------------

def ours_forward(x, w1, w2, logits):
    def forward():
        with torch.no_grad():
            return S.two_simplicial_attention(*x, w1, w2, logits=logits)

    positions = _positions(x[0].shape[1], w2)
    _, ref = _reference(x, w1, w2, logits, positions)
    return forward, relative_error(forward()[:, positions], ref)


def ours_forward_backward(x, w1, w2, logits):
    leaves = [t.detach().requires_grad_() for t in x]
    dout = torch.randn_like(x[0])

    def step():
        return torch.autograd.grad(S.two_simplicial_attention(*leaves, w1, w2, logits=logits), leaves, dout)

    positions = _positions(x[0].shape[1], w2)
    sparse_dout = torch.zeros_like(dout)
    sparse_dout[:, positions] = dout[:, positions]
    grads = torch.autograd.grad(S.two_simplicial_attention(*leaves, w1, w2, logits=logits), leaves, sparse_dout)
    x64, ref = _reference(x, w1, w2, logits, positions, requires_grad=True)
    ref_grads = torch.autograd.grad(ref, x64, sparse_dout[:, positions].double())
    return step, max(relative_error(g, r) for g, r in zip(grads, ref_grads))


def _peer():
    from simplicial_attention.triton_two_simplicial_attention import sliding_two_simplicial_attn
    return sliding_two_simplicial_attn


def peer_forward(x, w1, w2, logits):
    attend = _peer()
    q, k1, k2, v1, v2 = x

    def forward():
        with torch.no_grad():
            return attend(q, (k1, k2), (v1, v2), w1=w1, w2=w2, causal=True)

    positions = _positions(q.shape[1], w2)
    _, ref = _reference(x, w1, w2, logits, positions)
    return forward, relative_error(forward()[:, positions], ref)


def peer_forward_backward(x, w1, w2, logits):
    attend = _peer()
    leaves = [t.detach().requires_grad_() for t in x]
    q, k1, k2, v1, v2 = leaves
    dout = torch.randn_like(q)

    def step():
        return torch.autograd.grad(attend(q, (k1, k2), (v1, v2), w1=w1, w2=w2, causal=True), leaves, dout)

    step()
    return step, None


def _sdpa_inputs(x):
    q = x[0].transpose(1, 2)  # (B, Hq, T, D)
    return q, torch.randn_like(q), torch.randn_like(q)


def sdpa_forward(x, w1, w2, logits):
    q, k, v = _sdpa_inputs(x)
    return (lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)), None


def sdpa_forward_backward(x, w1, w2, logits):
    leaves = [t.detach().requires_grad_() for t in _sdpa_inputs(x)]
    dout = torch.randn_like(leaves[0])
    return (lambda: torch.autograd.grad(F.scaled_dot_product_attention(*leaves, is_causal=True), leaves, dout)), None


# ---- compiling ahead, in parallel -----------------------------------------------------------------------------

def _compile_jobs(jobs) -> None:
    """Run each (setting, windows, logits, config, backward) once at a small T with the same specialisations
    (T a multiple of 16, the same heads, D and windows), so that the kernels land in Triton's disk cache."""
    for setting, (w1, w2), logits, config, backward in jobs:
        small = Setting(setting.label, 1, 1024, setting.Hq, setting.Hkv)
        x = inputs(small)
        out, lse = S.triton_forward(*x, w1, w2, logits == "determinant", config=config)
        if backward:
            S.triton_backward(*x, out, lse, torch.randn_like(out), w1, w2, logits == "determinant", config=config)
    torch.cuda.synchronize()


def compile_ahead(jobs, workers: int = 12) -> None:
    """Compile the kernels of ``jobs`` in ``workers`` processes (Triton compiles one kernel at a time)."""
    chunks = [jobs[k::workers] for k in range(workers) if jobs[k::workers]]
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(len(chunks), mp_context=context) as pool:
        for done in tqdm(concurrent.futures.as_completed([pool.submit(_compile_jobs, c) for c in chunks]),
                         total=len(chunks), desc="compiling", leave=False):
            done.result()


# ---- the suite ---------------------------------------------------------------------------------------------------

OURS = [("ours fwd", ours_forward, False), ("ours fwd+bwd", ours_forward_backward, True)]
OTHERS = [("simplicial-attention fwd", peer_forward, False),
          ("simplicial-attention fwd+bwd", peer_forward_backward, True),
          ("torch sdpa causal fwd", sdpa_forward, False), ("torch sdpa causal fwd+bwd", sdpa_forward_backward, True)]


def _flops(setting: Setting, w1: int, w2: int, name: str, backward: bool) -> float:
    if name.startswith("torch sdpa"):
        forward = 4 * setting.B * setting.Hq * setting.T**2 * D / 2
        return forward * (SDPA_FORWARD_BACKWARD_FLOPS if backward else 1)
    forward = S.forward_flops(setting.B, setting.Hq, setting.T, w1, w2, D)
    return forward * (FORWARD_BACKWARD_FLOPS if backward else 1)


def _timed_ms(fn) -> float:
    """``median_ms``; a function slower than SLOW_MS (a peer's backward at T = 16384) runs 3 timed times only."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def once() -> float:
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end)

    if once() < SLOW_MS:
        return median_ms(fn)
    return statistics.median(once() for _ in range(3))


def _default_config(setting: Setting, windows: tuple[int, int], logits: str) -> S.KernelConfig:
    return S.default_config(torch.device("cuda"), setting.Hq // setting.Hkv, windows, logits == "determinant")


def _measure(setting, w1, w2, name, measure, backward, logits) -> Row:
    x = inputs(setting)
    shape = setting.shape(w1, w2)
    try:
        fn, err = measure(x, w1, w2, logits)
        ms = _timed_ms(fn)
    except Exception as error:  # a peer that fails on a shape: report it, measure the rest
        return Row("simplicial", shape, name, None, note=f"failed: {type(error).__name__}: {str(error)[:80]}")
    finally:
        torch.cuda.empty_cache()
    flops = _flops(setting, w1, w2, name, backward)
    note = f"wrong result (rel err {err:.2g})" if err is not None and err > 0.05 else ""
    extra = dict(flops=flops, logits=logits if name.startswith("ours") else None)
    if name.startswith("ours"):
        extra["config"] = asdict(_default_config(setting, (w1, w2), logits))
    return Row("simplicial", shape, name + (f" {logits}" if name.startswith("ours") else ""), ms,
               tflops=flops / ms / 1e9, max_rel_err=err, note=note, extra=extra)


def run(quick: bool = False) -> list[Row]:
    settings, windows = (QUICK_SETTINGS, QUICK_WINDOWS) if quick else (SETTINGS, WINDOWS)
    compile_ahead([(s, w, logits, _default_config(s, w, logits), True)
                   for s in settings for w in windows for logits in S.LOGITS])
    plan = [(s, w, name, measure, backward, logits) for s in settings for w in windows
            for name, measure, backward in OURS for logits in S.LOGITS]
    plan += [(s, w, name, measure, backward, "trilinear") for s in settings for w in windows
             for name, measure, backward in OTHERS]
    rows = [_measure(s, *w, name, measure, backward, logits)
            for s, w, name, measure, backward, logits in tqdm(plan, desc="simplicial")]
    _relate_to_sdpa(rows)
    return rows


# ---- the forward's two loop orders --------------------------------------------------------------------------------

LOOP_ORDERS = ("streamed", "resident")


def _loop_order_config(setting: Setting, order: str) -> S.KernelConfig:
    """Both orders walk the smaller window as outer keys and the larger one in blocks. "streamed": the blocks stream
    past every pass of outer offsets; "resident": each block loaded once, then every pass runs against it."""
    group = setting.Hq // setting.Hkv
    config = S.default_config(torch.device("cuda"), group)
    if order == "streamed":
        return config
    return replace(config, forward=S.HOPPER_RESIDENT_FORWARD)


def run_loop_orders(quick: bool = False) -> list[Row]:
    """The forward kernel (launched directly, no autograd op) in both loop orders at every setting and window shape:
    ``python -m swr_tutor.bench simplicial-orders``. Chapter 8 reads which order wins where."""
    settings, windows = (QUICK_SETTINGS, QUICK_WINDOWS) if quick else (SETTINGS, WINDOWS)
    plan = [(s, w, logits, order) for s in settings for w in windows for logits in S.LOGITS for order in LOOP_ORDERS]
    compile_ahead([(s, w, logits, _loop_order_config(s, order), False) for s, w, logits, order in plan])
    rows = []
    progress = tqdm(total=len(plan), desc="simplicial loop orders")
    for setting in settings:
        x = inputs(setting)
        for w1, w2 in windows:
            positions = _positions(setting.T, w2)
            for logits in S.LOGITS:
                reference = _reference(x, w1, w2, logits, positions)[1]
                determinant = logits == "determinant"
                for order in LOOP_ORDERS:
                    config = _loop_order_config(setting, order)
                    out, _ = S.triton_forward(*x, w1, w2, determinant, config=config)
                    err = relative_error(out[:, positions], reference)
                    ms = median_ms(lambda: S.triton_forward(*x, w1, w2, determinant, config=config))
                    flops = _flops(setting, w1, w2, "ours", False)
                    rows.append(Row("simplicial-orders", setting.shape(w1, w2), f"{order} fwd {logits}", ms,
                                    tflops=flops / ms / 1e9, max_rel_err=err,
                                    extra=dict(flops=flops, logits=logits, forward=asdict(config.forward))))
                    progress.update()
        del x
        torch.cuda.empty_cache()
    progress.close()
    for row in rows:  # ratio: TFLOP/s over the streamed order's at the same shape and logits
        streamed = next(r for r in rows if r.shape == row.shape and r.name == f"streamed fwd {row.extra['logits']}")
        row.ratio = row.tflops / streamed.tflops
    return rows


def _relate_to_sdpa(rows: list[Row]) -> None:
    for row in rows:
        backward = "fwd+bwd" in row.name
        sdpa = next(r for r in rows if r.shape == row.shape and r.name.startswith("torch sdpa")
                    and ("fwd+bwd" in r.name) == backward)
        if row.tflops is not None and sdpa.tflops:
            row.ratio = row.tflops / sdpa.tflops


# ---- tuning ------------------------------------------------------------------------------------------------------

CANDIDATES = {  # per kernel: the tiles tried, each with the other kernels at their defaults
    "forward": [S.Tiles(64, 64, 4, 2), S.Tiles(64, 64, 4, 3), S.Tiles(64, 128, 4, 2), S.Tiles(128, 64, 8, 2),
                S.Tiles(64, 64, 4, 2, outer=64), S.Tiles(64, 64, 4, 3, outer=64), S.Tiles(128, 64, 8, 2, outer=128),
                S.Tiles(128, 32, 8, 2, outer=128), S.Tiles(128, 64, 8, 2, outer=2), S.Tiles(128, 128, 8, 2, outer=2),
                S.HOPPER_RESIDENT_FORWARD, replace(S.HOPPER_RESIDENT_FORWARD, num_stages=2)],
    "query_backward": [S.Tiles(64, 32, 4, 2), S.Tiles(64, 32, 4, 3), S.Tiles(64, 64, 4, 2), S.Tiles(32, 32, 4, 2)],
    "outer_backward": [S.Tiles(64, 32, 4, 2), S.Tiles(64, 32, 4, 3), S.Tiles(64, 64, 4, 2), S.Tiles(64, 32, 8, 2),
                       S.Tiles(64, 64, 8, 2), S.Tiles(32, 32, 4, 2)],
    "inner_backward": [S.Tiles(64, 16, 4, 2), S.Tiles(32, 32, 4, 2), S.Tiles(64, 32, 4, 2), S.Tiles(32, 16, 4, 2)],
}


def _candidate_configs(base: S.KernelConfig) -> list[tuple[str, S.KernelConfig]]:
    return [(f"{kernel} {tiles}", replace(base, **{kernel: tiles}))
            for kernel, candidates in CANDIDATES.items() for tiles in candidates]


def _time(x, w1, w2, config, backward: bool) -> float:
    out, lse = S.triton_forward(*x, w1, w2, config=config)
    if not backward:
        return median_ms(lambda: S.triton_forward(*x, w1, w2, config=config), rep_ms=150)
    dout = torch.randn_like(out)
    return median_ms(lambda: S.triton_backward(*x, out, lse, dout, w1, w2, config=config), rep_ms=150)


def sweep() -> list[dict]:
    """Time the candidate tiles of each kernel (the others at their defaults) on both settings and both window
    shapes, trilinear logits: the forward alone, or the whole backward. Prints and returns the table; the defaults
    in swr_tutor.simplicial (HOPPER_CONFIG, HOPPER_WIDE_GQA_CONFIG) come from it. The full T matters: at
    T = 4096 setting a's inner-key backward has 64 programs of 64 keys for 132 multiprocessors, and the 32-key
    tiles chosen there made the whole backward 6% slower than 64-key ones at T = 16384, (w1, w2) = (128, 128)."""
    settings = SETTINGS
    plans = {s.label: _candidate_configs(S.default_config(torch.device("cuda"), s.Hq // s.Hkv)) for s in settings}
    compile_ahead([(s, w, "trilinear", config, not label.startswith("forward"))
                   for s in settings for w in WINDOWS for label, config in plans[s.label]])
    results = []
    for s in settings:
        x = inputs(s)
        for w1, w2 in WINDOWS:
            for label, config in tqdm(plans[s.label], desc=f"sweep {s.label} {w1}x{w2}", leave=False):
                try:
                    ms, note = _time(x, w1, w2, config, not label.startswith("forward")), ""
                except Exception as error:
                    ms, note = None, f"{type(error).__name__}: {str(error)[:60]}"
                results.append(dict(setting=s.label, T=s.T, w1=w1, w2=w2, candidate=label, ms=ms, note=note))
                print(f"{s.label} {w1:>3}x{w2:<3} {label:<70} {'-' if ms is None else f'{ms:8.3f} ms'} {note}",
                      flush=True)
    return results
