"""Input checks shared by every public function: clear errors that name the argument."""
import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def tensor(fn: str, name: str, value, *, dims: int | tuple[int, ...] | None = None,
           dtypes=FLOAT_DTYPES, finite: bool = True) -> torch.Tensor:
    """Return ``value`` if it is a tensor with an allowed dtype and number of dimensions, else raise.

    ``fn`` and ``name`` make the message: "sequential_scan: a must be ...".
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{fn}: {name} must be a torch.Tensor, got {type(value).__name__}")
    if dtypes is not None and value.dtype not in dtypes:
        allowed = ", ".join(str(d).removeprefix("torch.") for d in dtypes)
        raise TypeError(f"{fn}: {name} must have dtype in ({allowed}), got {str(value.dtype).removeprefix('torch.')}")
    if dims is not None:
        allowed_dims = (dims,) if isinstance(dims, int) else dims
        if value.dim() not in allowed_dims:
            raise ValueError(f"{fn}: {name} must have {' or '.join(map(str, allowed_dims))} dimensions, "
                             f"got shape {tuple(value.shape)}")
    if finite and value.is_floating_point() and not torch.isfinite(value).all():
        raise ValueError(f"{fn}: {name} contains NaN or inf")
    return value


def positive_int(fn: str, name: str, value, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{fn}: {name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value}")
    return value


def decays_and_inputs(fn: str, a, x) -> tuple[torch.Tensor, torch.Tensor]:
    """Check a recurrence's decays ``a (..., T)`` against its inputs ``x (..., T)`` or ``x (..., T, D)``.

    A decay is shared by the D channels of its position when x has one more dimension than a.
    """
    a = tensor(fn, "a", a, dtypes=FLOAT_DTYPES)
    x = tensor(fn, "x", x, dtypes=FLOAT_DTYPES)
    if a.dim() == 0:
        raise ValueError(f"{fn}: a must have a time axis (shape (..., T)), got a scalar")
    if x.dim() not in (a.dim(), a.dim() + 1) or tuple(x.shape[: a.dim()]) != tuple(a.shape):
        raise ValueError(f"{fn}: x must have shape {tuple(a.shape)} (one channel) or {tuple(a.shape)} + (D,) "
                         f"(channels sharing a decay) to match a, got {tuple(x.shape)}")
    if a.shape[-1] == 0:
        raise ValueError(f"{fn}: the sequence length T (last axis of a) must be >= 1, got 0")
    if a.device != x.device:
        raise ValueError(f"{fn}: a is on {a.device} but x is on {x.device}; put both on one device")
    return a, x
