"""The scalar linear recurrence h_t = a_t h_{t-1} + x_t (h_{-1} = 0) and its float64 references.

Shapes: decays ``a (..., T)``; inputs ``x (..., T)`` or ``x (..., T, D)`` with D channels sharing
each position's decay (the book's (B, H, T, D) layout with a (B, H, T)).
"""
import math
import numbers

import torch

from . import validate

# log(a) is clamped here: exp(LOG_DECAY_FLOOR) is 0 in every float format we use (fp16 to fp64),
# yet sums of many such floors stay finite, so a = 0 never produces -inf - (-inf) = NaN.
LOG_DECAY_FLOOR = -1.0e4


def _real(fn: str, name: str, value) -> float:
    """``value`` as a finite float; TypeError / ValueError naming ``fn`` and ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{fn}: {name} must be a real number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{fn}: {name} must be finite, got {value}")
    return float(value)


def _unit_decay(fn: str, a) -> float:
    """A constant decay ``a`` as a float in [0, 1]."""
    a = _real(fn, "a", a)
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"{fn}: a must be in [0, 1], got {a}")
    return a


def _decays(fn: str, a) -> torch.Tensor:
    """Decays ``a (..., T)`` with at least one position."""
    a = validate.tensor(fn, "a", a, dims=tuple(range(1, 9)))
    if a.shape[-1] == 0:
        raise ValueError(f"{fn}: the sequence length T (last axis of a) must be >= 1, got 0")
    return a


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
    a = _decays("transfer_operator", a)
    T = a.shape[-1]
    below = torch.ones(T, T, dtype=torch.bool, device=a.device).tril(-1)  # t > s
    factors = torch.where(below, a.unsqueeze(-1).expand(*a.shape, T), torch.ones((), dtype=a.dtype, device=a.device))
    return torch.cumprod(factors, dim=-2).tril()


def impulse_response(a: float, T: int) -> torch.Tensor:
    """h for x = (1, 0, 0, ...) and a constant decay a: h_t = a^t, in float64."""
    a = _real("impulse_response", "a", a)
    validate.positive_int("impulse_response", "T", T)
    return torch.full((T,), a, dtype=torch.float64).pow(torch.arange(T, dtype=torch.float64))


def effective_window(a: float) -> float:
    """Memory length 1 / (1 - a) of a constant decay 0 <= a <= 1: the total weight of the impulse response.

    Inf at a = 1 (the running sum forgets nothing).
    """
    a = _unit_decay("effective_window", a)
    return math.inf if a == 1.0 else 1.0 / (1.0 - a)


def varying_decays(a: float, T: int, *, seed: int = 0) -> torch.Tensor:
    """Time-varying decays a_t = a^(2 u_t) with u_t ~ U[0, 1) (seeded), in float64, shape (T,).

    Each a_t lies in [a^2, 1] and the mean of log a_t is log a, so over many steps they forget
    about as fast as the constant decay a does.
    """
    a = _unit_decay("varying_decays", a)
    validate.positive_int("varying_decays", "T", T)
    u = torch.rand(T, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.full((T,), a, dtype=torch.float64).pow(2 * u)


def _clamped_logs(fn: str, a: torch.Tensor) -> torch.Tensor:
    if a.numel() and (a.min() < 0 or a.max() > 1):
        raise ValueError(f"{fn}: a must lie in [0, 1] (the log-space view needs non-negative decays), "
                         f"got values in [{a.min().item():g}, {a.max().item():g}]")
    return torch.log(a).clamp_min(LOG_DECAY_FLOOR)


def log_decays(a: torch.Tensor) -> torch.Tensor:
    """log a for decays in [0, 1], clamped at LOG_DECAY_FLOOR so that a = 0 stays finite."""
    return _clamped_logs("log_decays", validate.tensor("log_decays", "a", a))


def decay_product(a: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """a_start * ... * a_{stop-1} along the last axis, computed in log space (1 for an empty range)."""
    a = _decays("decay_product", a)
    T = a.shape[-1]
    validate.positive_int("decay_product", "start", start, minimum=0)
    validate.positive_int("decay_product", "stop", stop, minimum=0)
    if not start <= stop <= T:
        raise ValueError(f"decay_product: need 0 <= start <= stop <= T = {T}, got start={start}, stop={stop}")
    return torch.exp(_clamped_logs("decay_product", a)[..., start:stop].sum(-1))


def _log_prefix(fn: str, a: torch.Tensor, tile: int | None) -> torch.Tensor:
    logs = _clamped_logs(fn, a)
    if tile is None:
        return logs.cumsum(-1)
    T = a.shape[-1]
    if T % tile:
        raise ValueError(f"{fn}: T = {T} must be a multiple of the tile size {tile}")
    return logs.unflatten(-1, (T // tile, tile)).cumsum(-1).flatten(-2)


def cumulative_log_decays(a: torch.Tensor, tile: int | None = None) -> torch.Tensor:
    """C (..., T): prefix sums C_t = log a_0 + ... + log a_t in a's dtype, so that for s <= t

        a_{s+1} ... a_t = exp(C_t - C_s).

    With ``tile`` the sums restart at every tile boundary (tile-local prefixes; T must be a multiple
    of ``tile``) and the identity holds for s and t in the same tile. Without it the prefix runs
    over the whole sequence, and its size grows with T.
    """
    a = _decays("cumulative_log_decays", a)
    if tile is not None:
        validate.positive_int("cumulative_log_decays", "tile", tile)
    return _log_prefix("cumulative_log_decays", a, tile)


def diagonal_tiles(a: torch.Tensor, b: int, *, tile_local: bool = True) -> torch.Tensor:
    """The diagonal tiles L_k (..., T/b, b, b) of the transfer operator, in a's dtype, from log-space prefixes.

    ``tile_local=True`` differences tile-local prefixes; ``False`` differences the global prefix
    (same values in exact arithmetic, far less accurate at long T in low precision).
    """
    a = _decays("diagonal_tiles", a)
    validate.positive_int("diagonal_tiles", "b", b)
    if a.shape[-1] % b:
        raise ValueError(f"diagonal_tiles: T = {a.shape[-1]} must be a multiple of the tile size b = {b}")
    prefix = _log_prefix("diagonal_tiles", a, b if tile_local else None).unflatten(-1, (-1, b))  # (..., T/b, b)
    exponent = prefix.unsqueeze(-1) - prefix.unsqueeze(-2)  # (..., T/b, b, b): C_t - C_s
    # Products of decays in [0, 1] are <= 1: clamping removes rounding above 1 on and below the diagonal
    # and keeps exp finite above it, where the entries are zeroed.
    lower = torch.ones(b, b, dtype=torch.bool, device=a.device).tril()
    return torch.where(lower, torch.exp(exponent.clamp_max(0)), torch.zeros((), dtype=a.dtype, device=a.device))
