import math

import pytest
import torch

from swr_tutor.blocked import TILE
from swr_tutor.exercises import ExerciseError
from swr_tutor.exercises.ch07 import check_decay_bias, check_phalanx_parameters, check_swr_step


def test_decay_bias(capsys):
    check_decay_bias(lambda window: math.log(window - 1))
    assert "✓ decay_bias: all 4 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match=r"a memory of w \+ 1 tokens"):
        check_decay_bias(math.log)
    with pytest.raises(ExerciseError, match="that is the decay a itself"):
        check_decay_bias(lambda window: 1 - 1 / window)
    with pytest.raises(ExerciseError, match="sign"):
        check_decay_bias(lambda window: -math.log(window - 1))


def streaming_step(carry_output=False, reset_gate=True):
    def swr_step(a_t, x_t, state, t):
        local, gate, carry, y = state or (torch.zeros_like(x_t), torch.ones(()), torch.zeros_like(x_t), None)
        if t % TILE == 0:
            carry = y if carry_output and y is not None else local
            local = torch.zeros_like(local)
            gate = torch.ones(()) if reset_gate else gate
        local = a_t * local + x_t
        gate = gate * a_t
        y = local + gate * carry
        return y, (local, gate, carry, y)

    return swr_step


def test_swr_step(capsys):
    check_swr_step(streaming_step())
    assert "✓ swr_step: all 2 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="you carried the corrected output"):
        check_swr_step(streaming_step(carry_output=True))
    with pytest.raises(ExerciseError, match="reset the gate at every tile boundary"):
        check_swr_step(streaming_step(reset_gate=False))


def test_phalanx_parameters(capsys):
    def count(d_model, head_dim, kv_heads, biases=True, grouped=True):
        state = kv_heads * head_dim if grouped else d_model
        decay = d_model * (kv_heads if grouped else d_model // head_dim)
        bias = (kv_heads if grouped else d_model // head_dim) + state + d_model if biases else 0
        return decay + 2 * d_model * state + 2 * d_model**2 + bias

    check_phalanx_parameters(count)
    assert "✓ phalanx_parameters: all 4 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="count the biases"):
        check_phalanx_parameters(lambda *args: count(*args, biases=False))
    with pytest.raises(ExerciseError, match="have kv_heads \\* head_dim outputs"):
        check_phalanx_parameters(lambda *args: count(*args, grouped=False))
    with pytest.raises(ExerciseError, match="attention layer's 4 C\\^2"):
        check_phalanx_parameters(lambda d_model, head_dim, kv_heads: 4 * d_model**2)
