import math

import pytest
import torch

from swr_tutor.exercises import ExerciseError, ch01
from swr_tutor.recurrence import LOG_DECAY_FLOOR


# Right answers, as a reader would write them.
def half_life(a):
    return math.inf if a == 1 else math.log(0.5) / math.log(a)


def log_space_operator(a):
    C = torch.log(a).clamp_min(LOG_DECAY_FLOOR).cumsum(-1)  # (T,)
    exponent = C[:, None] - C[None, :]                     # (T, T): C_t - C_s
    lower = torch.ones_like(exponent, dtype=torch.bool).tril()
    return torch.where(lower, exponent.clamp_max(0).exp(), torch.zeros_like(exponent))


def constant_input_state(a, c, T):
    return c * T if a == 1 else c * (1 - a**T) / (1 - a)


# Wrong answers with the mistakes readers make.
def log_space_operator_unclamped(a):
    C = torch.log(a).cumsum(-1)
    return torch.where(torch.ones(len(a), len(a), dtype=torch.bool).tril(), (C[:, None] - C[None, :]).exp(), 0.0)


def log_space_operator_by_division(a):
    P = torch.cumprod(a, -1)
    return (P[:, None] / P[None, :]).tril()


def log_space_operator_unmasked(a):
    C = torch.log(a).clamp_min(LOG_DECAY_FLOOR).cumsum(-1)
    return (C[:, None] - C[None, :]).exp()


CHECKERS = [
    (ch01.check_half_life, half_life, "half_life"),
    (ch01.check_log_space_operator, log_space_operator, "log_space_operator"),
    (ch01.check_constant_input_state, constant_input_state, "constant_input_state"),
]


@pytest.mark.parametrize("checker, solution, name", CHECKERS, ids=[c[2] for c in CHECKERS])
def test_a_right_solution_passes(checker, solution, name, capsys):
    checker(solution)
    assert f"✓ {name}: all" in capsys.readouterr().out


@pytest.mark.parametrize(
    "checker, wrong, message",
    [
        (ch01.check_half_life, lambda a: 1 / (1 - a),
         r"half_life: case 1: <lambda>\(0.5\) returned 2.0, expected 1.0\n  hint: with a = 0.5 the weight halves"),
        (ch01.check_half_life, lambda a: math.log(0.5) / math.log(a),
         r"case 5: <lambda>\(1.0\) raised ZeroDivisionError"),
        (ch01.check_half_life, lambda a: round(math.log(0.5) / math.log(a)),
         r"case 2: <lambda>\(0.9\) returned 7, expected 6.57"),
        (ch01.check_log_space_operator, log_space_operator_unclamped,
         r"case 3: .* returned tensor of shape \(4, 4\) starting \[nan.*\n  hint: a zero decay: log\(0\) = -inf"),
        (ch01.check_log_space_operator, log_space_operator_by_division,
         r"case 3: .*\n  hint: a zero decay"),
        (ch01.check_log_space_operator, log_space_operator_unmasked,
         r"case 1: .* returned tensor of shape \(3, 3\) starting \[1.0, 2.0.*\n  hint: L\[t, s\] = .* 0 above it"),
        (ch01.check_log_space_operator, lambda a: log_space_operator(a.float()),  # float32 cancels near the floor
         r"case 3: .* starting \[1.0, 0.0, 0.0, 0.0, 0.4998"),
        (ch01.check_constant_input_state, lambda a, c, T: c / (1 - a),
         r"case 1: <lambda>\(0.5, 1.0, 1\) returned 2.0, expected 1.0\n  hint: after one step h_0 = c"),
        (ch01.check_constant_input_state, lambda a, c, T: c * (1 - a**T) / (1 - a),
         r"case 7: <lambda>\(1.0, 2.0, 10\) raised ZeroDivisionError"),
        (ch01.check_constant_input_state, lambda a, c, T: c * (1 - abs(a) ** T) / (1 - abs(a)),
         r"case 4: .* expected 0.67.*\n  hint: the closed form holds for negative decays too"),
    ],
)
def test_a_wrong_solution_is_told_what_is_wrong(checker, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        checker(wrong)
