"""Checkers for chapter 07, the Phalanx layer: the decay bias for a memory length, one streaming step of B2P,
and the parameter count of a layer with key/value groups.

As in the earlier chapters, a checker first names a known mistake when the reader's answer reproduces it, then
runs the cases.
"""
import math
from collections.abc import Callable

import torch

from ..blocked import TILE
from ..phalanx import Phalanx, decay_bias
from ..swr import b2p_reference
from . import Case, decays_with_zeros_and_ones, name_the_mistake, run_cases


def check_decay_bias(fn: Callable) -> None:
    """``fn(window)`` must return b with 1 / (1 - sigmoid(b)) = window."""
    exercise = "decay_bias"
    name_the_mistake(exercise, fn, (32.0,), decay_bias(32.0), [
        (math.log(32.0), "sigmoid(log w) = w / (w + 1), a memory of w + 1 tokens: solve 1 / (1 - a) = w for a "
                         "first (a = 1 - 1/w), then invert the sigmoid"),
        (1 - 1 / 32.0, "that is the decay a itself; the bias is the logit of a, log(a / (1 - a))"),
        (-decay_bias(32.0), "sign: sigmoid(b) must be close to 1 for a long memory, so b is positive"),
    ])
    run_cases(exercise, fn, [
        Case((2.0,), 0.0, hint="a memory of 2 tokens is a = 1/2, the sigmoid of 0"),
        Case((32.0,), decay_bias(32.0)),
        Case((1.25,), decay_bias(1.25), hint="windows between 1 and 2 have decays below 1/2: a negative bias"),
        Case((1000.0,), decay_bias(1000.0)),
    ])


def _streamed(step: Callable, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """y (T, D) from ``step(a_t, x_t, state, t)`` called for t = 0 .. T-1, starting from state None."""
    state, outputs = None, []
    for t in range(len(a)):
        y_t, state = step(a[t], x[t], state, t)
        outputs.append(y_t)
    return torch.stack(outputs)


def _b2p(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return b2p_reference(a[None, None], x[None, None])[0, 0]


def _step_carrying(carry_corrected: bool = False, reset_gate: bool = True):
    """A streaming step with one of two known mistakes switched on."""
    def step(a_t, x_t, state, t):
        local, gate, carry, y_previous = state or (torch.zeros_like(x_t), a_t.new_ones(()), torch.zeros_like(x_t),
                                                   torch.zeros_like(x_t))
        if t % TILE == 0:
            carry = y_previous if carry_corrected else local
            local, gate = torch.zeros_like(local), gate.new_ones(()) if reset_gate else gate
        local, gate = a_t * local + x_t, gate * a_t
        y_t = local + gate * carry
        return y_t, (local, gate, carry, y_t)

    return step


def check_swr_step(fn: Callable) -> None:
    """``fn(a_t, x_t, state, t) -> (y_t, state)`` (state None at t = 0) must stream B2P for one head."""
    exercise = "swr_step"
    T, D = 40, 3
    a = decays_with_zeros_and_ones(T, seed=1, zeros=(37,), ones=(5, 33))
    x = torch.randn(T, D, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    expected = _b2p(a, x)
    streamed = lambda a_, x_: _streamed(fn, a_, x_)
    name_the_mistake(exercise, streamed, (a, x), expected, [
        (_streamed(_step_carrying(carry_corrected=True), a, x),
         "you carried the corrected output y_{t-1} across the tile boundary: that streams the exact recurrence. "
         "B2P carries the previous tile's LOCAL last row w_{k-1}[b-1]"),
        (_streamed(_step_carrying(reset_gate=False), a, x),
         "reset the gate at every tile boundary: g_k[i] = a_{kb} ... a_t multiplies only the decays of tile k"),
    ])
    short = decays_with_zeros_and_ones(10, seed=3)
    run_cases(exercise, streamed, [
        Case((short, x[:10]), _b2p(short, x[:10]), hint="inside the first tile SWR is the plain recurrence"),
        Case((a, x), expected, hint="at t = 16, 32, ... the finished tile's local row becomes the carry"),
    ])


def _phalanx_parameters(d_model: int, head_dim: int, kv_heads: int) -> int:
    return sum(p.numel() for p in Phalanx(d_model, head_dim, kv_heads).parameters())


def check_phalanx_parameters(fn: Callable) -> None:
    """``fn(d_model, head_dim, kv_heads)`` must count the parameters of Phalanx(d_model, head_dim, kv_heads)."""
    exercise = "phalanx_parameters"
    C, D, kv = 64, 16, 2
    state_width = kv * D
    name_the_mistake(exercise, fn, (C, D, kv), _phalanx_parameters(C, D, kv), [
        (4 * C * C, "that is an attention layer's 4 C^2; Phalanx also has the decay projection and three biases, "
                    "and with groups its input gate and value projections are smaller"),
        (_phalanx_parameters(C, D, C // D), "with kv_heads state heads the decay, input gate and value projections "
                                            "have kv_heads * head_dim outputs, not d_model"),
        (_phalanx_parameters(C, D, kv) - kv - state_width - C,
         "count the biases of the decay, the input gate and the readout (the value and output projections have none)"),
    ])
    run_cases(exercise, fn, [Case(args, _phalanx_parameters(*args)) for args in ((C, D, kv), (C, D, 4), (48, 16, 1),
                                                                                 (96, 32, 3))])
