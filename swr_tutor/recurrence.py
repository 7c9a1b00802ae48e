"""The scalar linear recurrence h_t = a_t h_{t-1} + x_t (h_{-1} = 0) and its float64 references.

Shapes: decays ``a (..., T)``; inputs ``x (..., T)`` or ``x (..., T, D)`` with D channels sharing
each position's decay (the book's (B, H, T, D) layout with a (B, H, T)).
"""
import math

import torch

from . import validate

# log(a) is clamped here: exp(LOG_DECAY_FLOOR) is 0 in every float format we use (fp16 to fp64),
# yet sums of many such floors stay finite, so a = 0 never produces -inf - (-inf) = NaN.
LOG_DECAY_FLOOR = -1.0e4


def _channel_view(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """a shaped to broadcast against x: (..., T) or (..., T, 1)."""
    return a if x.dim() == a.dim() else a.unsqueeze(-1)


def sequential_scan(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The loop itself: h_t = a_t h_{t-1} + x_t, one step per token, in the inputs' common dtype."""
    a, x = validate.decays_and_inputs("sequential_scan", a, x)
    dtype = torch.promote_types(a.dtype, x.dtype)
    a_t = _channel_view(a, x).to(dtype)
    time_axis = a.dim() - 1
    h = torch.empty(x.shape, dtype=dtype, device=x.device)
    state = torch.zeros_like(x.select(time_axis, 0), dtype=dtype)
    for t in range(x.shape[time_axis]):
        state = a_t.select(time_axis, t) * state + x.select(time_axis, t)
        h.select(time_axis, t).copy_(state)
    return h


def reference_scan(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The float64 reference every kernel is checked against: the loop, run in float64."""
    a, x = validate.decays_and_inputs("reference_scan", a, x)
    return sequential_scan(a.double(), x.double())


def transfer_operator(a: torch.Tensor) -> torch.Tensor:
    """L (..., T, T) with L[t, s] = a_{s+1} a_{s+2} ... a_t for s <= t and 0 above the diagonal.

    h = L x solves (I - S_a) h = x. Built with running products down each column (no logarithms),
    so zeros and negative decays are exact.
    """
    a = validate.tensor("transfer_operator", "a", a, dims=tuple(range(1, 9)))
    T = a.shape[-1]
    below = torch.ones(T, T, dtype=torch.bool, device=a.device).tril(-1)  # t > s
    factors = torch.where(below, a.unsqueeze(-1).expand(*a.shape, T), torch.ones((), dtype=a.dtype, device=a.device))
    return torch.cumprod(factors, dim=-2).tril()


def impulse_response(a: float, T: int) -> torch.Tensor:
    """h for x = (1, 0, 0, ...) and a constant decay a: h_t = a^t, in float64."""
    validate.positive_int("impulse_response", "T", T)
    if not math.isfinite(a):
        raise ValueError(f"impulse_response: a must be finite, got {a}")
    return torch.full((T,), float(a), dtype=torch.float64).pow(torch.arange(T, dtype=torch.float64))


def effective_window(a: float) -> float:
    """Memory length 1 / (1 - a) of a constant decay 0 <= a <= 1: the total weight of the impulse response.

    Inf at a = 1 (the running sum forgets nothing).
    """
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"effective_window: a must be in [0, 1], got {a}")
    return math.inf if a == 1.0 else 1.0 / (1.0 - a)


def log_decays(a: torch.Tensor) -> torch.Tensor:
    """log a for decays in [0, 1], clamped at LOG_DECAY_FLOOR so that a = 0 stays finite."""
    a = validate.tensor("log_decays", "a", a)
    if (a < 0).any() or (a > 1).any():
        raise ValueError("log_decays: a must lie in [0, 1] (the log-space view needs non-negative decays)")
    return torch.log(a).clamp_min(LOG_DECAY_FLOOR)


def decay_product(a: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """a_start * ... * a_{stop-1} along the last axis, computed in log space (1 for an empty range)."""
    return torch.exp(log_decays(a)[..., start:stop].sum(-1))
