"""Checkers for the exercises of chapter 01 (scalar linear recurrences).

Each checker sets ``__tracebackhide__``: IPython then leaves its frame out of the traceback the reader sees.
"""
import math

import torch

from .. import recurrence
from . import Case, run_cases


def check_half_life(half_life) -> None:
    """``half_life(a)``: for a constant decay 0 < a <= 1, the number of steps k (a real number) after which
    the weight a^k is 1/2."""
    __tracebackhide__ = True

    def case(a, hint):
        expected = math.inf if a == 1.0 else math.log(0.5) / math.log(a)
        return Case((a,), expected, hint=hint)

    run_cases("half_life", half_life, [
        case(0.5, "with a = 0.5 the weight halves every step"),
        case(0.9, "solve a^k = 1/2 for k: take logarithms of both sides"),
        case(0.99, "solve a^k = 1/2 for k: take logarithms of both sides"),
        case(0.1, "a small decay halves the weight in well under one step"),
        case(1.0, "a = 1 never forgets: return math.inf (log(1) = 0 would divide by zero)"),
    ])


def check_log_space_operator(log_space_operator) -> None:
    """``log_space_operator(a)``: the transfer operator L (T, T) of decays a (T,) in [0, 1], built from
    differences of one prefix sum of log a, with no NaN or inf, in a's dtype."""
    __tracebackhide__ = True
    float64 = dict(dtype=torch.float64)
    cases = [
        (torch.tensor([0.5, 0.5, 0.5], **float64),
         "L[t, s] = a[s+1] * ... * a[t] below the diagonal, 1 on it, 0 above it"),
        (torch.ones(4, **float64), "a = 1 everywhere: every entry on or below the diagonal is 1"),
        (torch.tensor([0.0, 0.5, 0.8, 0.9], **float64),
         "a zero decay: log(0) = -inf and -inf - (-inf) = NaN (so is 0 / 0 for products): "
         "clamp the logs at recurrence.LOG_DECAY_FLOOR"),
        (torch.tensor([1e-200, 1e-200, 0.5], **float64),
         "prefix products underflow to 0 and 0 / 0 = NaN: subtract prefix sums of logs, don't divide products"),
        (torch.tensor([0.9, 0.0, 0.7, 0.0, 0.0, 0.6], **float64), "several zeros: each one cuts the memory"),
        (torch.full((1200,), 0.5, **float64), "a long sequence: 0.5^1200 underflows even in float64"),
    ]
    run_cases("log_space_operator", log_space_operator,
              [Case((a,), recurrence.transfer_operator(a), hint=hint) for a, hint in cases])


def check_constant_input_state(constant_input_state) -> None:
    """``constant_input_state(a, c, T)``: h_{T-1} of the recurrence with constant decay a and constant input c,
    in closed form (no loop)."""
    __tracebackhide__ = True

    def case(a, c, T, hint):
        a_t, x = torch.full((T,), float(a), dtype=torch.float64), torch.full((T,), float(c), dtype=torch.float64)
        expected = recurrence.reference_scan(a_t, x)[-1].item()
        return Case((a, c, T), expected, hint=hint)

    run_cases("constant_input_state", constant_input_state, [
        case(0.5, 1.0, 1, "after one step h_0 = c"),
        case(0.5, 1.0, 4, "h_{T-1} = c (1 + a + ... + a^(T-1)): a geometric series"),
        case(0.9, 2.0, 50, "sum the geometric series: c (1 - a^T) / (1 - a)"),
        case(-0.5, 1.0, 7, "the closed form holds for negative decays too"),
        case(1.1, 1.0, 20, "the closed form holds for |a| > 1 too: the state grows"),
        case(0.0, 3.0, 10, "a = 0 keeps only the latest input"),
        case(1.0, 2.0, 10, "at a = 1 the formula is 0/0: the loop is a running sum, c T"),
    ], rtol=1e-9)
