import pytest
import torch

from swr_tutor import validate


def test_tensor_accepts_and_returns():
    t = torch.zeros(2, 3)
    assert validate.tensor("f", "x", t, dims=2) is t


@pytest.mark.parametrize(
    "value, kwargs, error, message",
    [
        ([1.0], {}, TypeError, "f: x must be a torch.Tensor, got list"),
        (torch.zeros(2, dtype=torch.int64), {}, TypeError, "f: x must have dtype in .*got int64"),
        (torch.zeros(2), {"dims": (2, 3)}, ValueError, r"f: x must have 2 or 3 dimensions, got shape \(2,\)"),
        (torch.tensor([0.0, float("nan")]), {}, ValueError, "f: x contains NaN or inf"),
    ],
)
def test_tensor_rejects(value, kwargs, error, message):
    with pytest.raises(error, match=message):
        validate.tensor("f", "x", value, **kwargs)


def test_positive_int():
    assert validate.positive_int("f", "b", 16) == 16
    with pytest.raises(ValueError, match="f: b must be >= 1, got 0"):
        validate.positive_int("f", "b", 0)
    with pytest.raises(TypeError, match="f: b must be an int, got float"):
        validate.positive_int("f", "b", 16.0)
    with pytest.raises(TypeError, match="f: b must be an int, got bool"):
        validate.positive_int("f", "b", True)


def test_decays_and_inputs_shapes():
    a = torch.rand(2, 5)
    validate.decays_and_inputs("f", a, torch.rand(2, 5))
    validate.decays_and_inputs("f", a, torch.rand(2, 5, 3))
    with pytest.raises(ValueError, match=r"f: x must have shape \(2, 5\)"):
        validate.decays_and_inputs("f", a, torch.rand(2, 4))
    with pytest.raises(ValueError, match="T .* must be >= 1, got 0"):
        validate.decays_and_inputs("f", torch.rand(2, 0), torch.rand(2, 0))
    with pytest.raises(ValueError, match="a must have a time axis"):
        validate.decays_and_inputs("f", torch.tensor(0.5), torch.tensor(1.0))
