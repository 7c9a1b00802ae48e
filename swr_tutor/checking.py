"""``check(out, ref)``: compare a result with a (float64) reference and say clearly how it went; ``fenced(x)``: an
input whose neighbours in memory are NaN, so that a kernel reading outside it shows."""
from dataclasses import dataclass

import torch

# (atol, rtol) per dtype of the result being checked.
_TOLERANCES = {
    torch.float64: (1e-10, 1e-10),
    torch.float32: (1e-5, 1e-5),
    torch.float16: (1e-2, 1e-2),
    torch.bfloat16: (2e-2, 2e-2),
}


def tolerance(dtype: torch.dtype) -> tuple[float, float]:
    """Default (atol, rtol) for results of ``dtype``."""
    if dtype not in _TOLERANCES:
        raise TypeError(f"tolerance: no default tolerance for dtype {dtype}; pass atol and rtol")
    return _TOLERANCES[dtype]


@dataclass(frozen=True)
class CheckResult:
    max_abs_err: float
    max_rel_err: float
    elements: int

    def _ipython_display_(self):
        """Show nothing in a notebook: ``check`` has already printed its line."""


def _as_float64(name, value) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(value, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as e:
            raise TypeError(f"check: {name} must be a tensor or array-like, got {type(value).__name__}") from e
    return value.detach().to("cpu", torch.float64)


def check(out, ref, atol: float | None = None, rtol: float | None = None, name: str = "check",
          quiet: bool = False) -> CheckResult:
    """Assert ``|out - ref| <= atol + rtol * |ref|`` elementwise; print one pass line.

    Tolerances default to the dtype of ``out`` (see ``tolerance``). On failure the error names the
    worst element: its index, both values, the error and what was allowed. NaN or inf in ``out``
    fails unless ``ref`` has the same non-finite value at that place.
    """
    out_dtype = out.dtype if isinstance(out, torch.Tensor) else torch.float64
    default_atol, default_rtol = tolerance(out_dtype) if out_dtype in _TOLERANCES else (1e-10, 1e-10)
    atol = default_atol if atol is None else atol
    rtol = default_rtol if rtol is None else rtol
    o, r = _as_float64("out", out), _as_float64("ref", ref)
    if o.shape != r.shape:
        raise AssertionError(f"{name}: shape {tuple(o.shape)} of out differs from shape {tuple(r.shape)} of ref")
    same_nonfinite = (~torch.isfinite(r)) & ((o == r) | (torch.isnan(o) & torch.isnan(r)))
    err = torch.where(same_nonfinite, torch.zeros_like(o), (o - r).abs())
    err = torch.where(torch.isnan(err), torch.full_like(err, float("inf")), err)
    allowed = atol + rtol * torch.where(torch.isfinite(r), r.abs(), torch.zeros_like(r))
    excess = err - allowed
    rel = err / r.abs().clamp_min(torch.finfo(torch.float64).tiny)
    max_abs = err.max().item() if err.numel() else 0.0
    max_rel = rel[r.abs() > atol].max().item() if (r.abs() > atol).any() else 0.0
    if err.numel() and (excess > 0).any():
        worst = int(excess.flatten().argmax())
        index = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), o.shape)) if o.dim() else ()
        raise AssertionError(
            f"{name}: {(excess > 0).sum().item()} of {o.numel()} elements out of tolerance; worst at index {index}: "
            f"out={o.flatten()[worst].item():.6g}, ref={r.flatten()[worst].item():.6g}, "
            f"|err|={err.flatten()[worst].item():.3g} > allowed {allowed.flatten()[worst].item():.3g} "
            f"(atol={atol:g}, rtol={rtol:g})"
        )
    if not quiet:
        print(f"✓ {name}: max abs err {max_abs:.2e}, max rel err {max_rel:.2e} "
              f"(atol={atol:g}, rtol={rtol:g}, {o.numel()} elements)")
    return CheckResult(max_abs, max_rel, o.numel())


def fenced(x: torch.Tensor) -> torch.Tensor:
    """x copied into the middle of NaN-filled storage three times its size: a contiguous tensor equal to x, with the
    same ``requires_grad``, whose neighbours in memory are NaN. A kernel that reads past either end of it (a missing
    mask, a loop bound one block too far) gets NaN, and its result shows it, where plain memory would give whatever
    happened to lie there, which is often finite and masked away, and sometimes not."""
    if not x.is_floating_point():
        raise TypeError(f"fenced: x must be a floating-point tensor (NaN marks the fence), got {x.dtype}")
    storage = torch.full((3 * x.numel(),), float("nan"), dtype=x.dtype, device=x.device)
    inside = storage[x.numel():2 * x.numel()].view(x.shape)
    inside.copy_(x.detach())
    return inside.requires_grad_(x.requires_grad)
