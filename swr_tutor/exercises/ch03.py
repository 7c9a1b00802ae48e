"""Checkers for chapter 03, parallel scans: the operator, Hillis-Steele's work, the block scan's fix-up."""
from collections.abc import Callable

import torch

from .. import scans
from ..recurrence import reference_scan
from . import Case, converted, run_cases


def _pair_tensor(got):
    """The (a, x) result stacked into one float64 tensor, so that pairs of numbers or of tensors compare."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise TypeError(f"return the pair (a, x) as a tuple, got {type(got).__name__}")
    return torch.stack([torch.as_tensor(part, dtype=torch.float64) for part in got])


def _pair(a, x) -> torch.Tensor:
    return torch.stack([torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(x, dtype=torch.float64)])


def check_combine(fn: Callable) -> None:
    """``fn(earlier, later)`` with pairs (a, x) must return (a1 a2, a2 x1 + x2)."""
    order_hint = "the earlier state x1 goes through the later decay a2 before x2 is added: (a1 a2, a2 x1 + x2)"
    generator = torch.Generator().manual_seed(0)
    a1, a2 = torch.rand(2, 4, generator=generator, dtype=torch.float64)
    x1, x2 = torch.randn(2, 4, generator=generator, dtype=torch.float64)
    run_cases("combine", converted(fn, _pair_tensor), [
        Case(((0.5, 1.0), (0.25, 2.0)), _pair(0.125, 2.25), hint=order_hint),
        Case(((1.0, 0.0), (0.5, 3.0)), _pair(0.5, 3.0), hint="(1, 0) is the identity: it changes nothing"),
        Case(((0.5, 3.0), (1.0, 0.0)), _pair(0.5, 3.0), hint="(1, 0) is the identity on the right too"),
        Case(((0.5, 7.0), (0.0, 1.0)), _pair(0.0, 1.0), hint="a later decay of 0 forgets everything before it"),
        Case(((a1, x1), (a2, x2)), _pair(a1 * a2, a2 * x1 + x2), hint="it must work elementwise on tensors"),
    ], atol=1e-12, rtol=1e-12)


def check_hillis_steele_work(fn: Callable) -> None:
    """``fn(n)`` for n a power of two must return the number of combines of Kogge-Stone / Hillis-Steele."""
    hint = ("at distance d = 1, 2, 4, ..., n/2 every position t >= d combines once: n - d combines per level; "
            "sum them over the log2(n) levels")
    run_cases("hillis_steele_work", fn,
              [Case((n,), scans.hillis_steele(n).work, hint=hint) for n in (1, 2, 4, 16, 1024)])


def _chunked_problem(K: int, C: int, seed: int):
    """(carry_h (K,), local_decay (K, C), local_h (K, C)) of a random sequence with some zero decays, and h (K, C)."""
    generator = torch.Generator().manual_seed(seed)
    a = torch.rand(K * C, generator=generator, dtype=torch.float64)
    a[::5] = 0.0
    x = torch.randn(K * C, generator=generator, dtype=torch.float64)
    h = reference_scan(a, x).reshape(K, C)
    carry_h = torch.cat([torch.zeros(1, dtype=torch.float64), h[:-1, -1]])
    local_h = reference_scan(a.reshape(K, C), x.reshape(K, C))
    return (carry_h, torch.cumprod(a.reshape(K, C), -1), local_h), h


def check_fix_up(fn: Callable) -> None:
    """``fn(carry_h, local_decay, local_h)`` must return the true states h (K, C) of every chunk."""
    hint = ("the carry decays through the chunk: h = (1, carry) o (local decay, local h), "
            "i.e. local h plus local decay times the carry of its chunk (broadcast over C)")
    cases = [Case(*_chunked_problem(K, C, seed), hint=hint) for K, C, seed in ((1, 4, 0), (3, 4, 1), (8, 16, 2))]
    run_cases("fix_up", fn, cases)
