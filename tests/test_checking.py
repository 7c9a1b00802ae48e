import math

import pytest
import torch

from swr_tutor import check, tolerance
from swr_tutor.checking import CheckResult, fenced


def test_check_passes_and_reports(capsys):
    ref = torch.linspace(-1, 1, 11, dtype=torch.float64)
    result = check(ref.float(), ref, name="linspace")
    assert isinstance(result, CheckResult) and result.elements == 11
    assert result.max_abs_err < 1e-7
    assert "✓ linspace" in capsys.readouterr().out


def test_check_names_the_worst_element():
    ref = torch.zeros(3, 4, dtype=torch.float64)
    out = ref.clone()
    out[2, 1] = 0.5
    out[0, 0] = 1e-3
    with pytest.raises(AssertionError, match=r"worst at index \(2, 1\).*out=0.5.*ref=0"):
        check(out, ref, atol=1e-6, rtol=0)


def test_check_rejects_nan_and_inf_that_ref_lacks():
    ref = torch.ones(4, dtype=torch.float64)
    for bad in (float("nan"), float("inf")):
        out = ref.clone()
        out[1] = bad
        with pytest.raises(AssertionError, match="index \\(1,\\)"):
            check(out, ref, quiet=True)


def test_check_accepts_matching_infinities():
    ref = torch.tensor([1.0, math.inf, -math.inf], dtype=torch.float64)
    check(ref.clone(), ref, quiet=True)


def test_check_shape_mismatch():
    with pytest.raises(AssertionError, match=r"shape \(3,\) of out differs from shape \(4,\)"):
        check(torch.zeros(3), torch.zeros(4))


def test_check_uses_dtype_tolerance():
    ref = torch.ones(8, dtype=torch.float64)
    check((ref + 5e-3).half(), ref, quiet=True)  # inside fp16's default tolerance
    with pytest.raises(AssertionError):
        check((ref + 5e-3).float(), ref, quiet=True)  # outside fp32's


def test_check_rejects_non_arrays():
    with pytest.raises(TypeError, match="out must be a tensor"):
        check(object(), torch.zeros(1))


def test_tolerance_table():
    assert tolerance(torch.float32) == (1e-5, 1e-5)
    assert tolerance(torch.bfloat16)[1] > tolerance(torch.float16)[1] > tolerance(torch.float32)[1]
    with pytest.raises(TypeError, match="no default tolerance"):
        tolerance(torch.int32)


def test_check_compares_plain_numbers_in_float64():
    check(torch.tensor(0.6, dtype=torch.float64), 0.6, quiet=True)
    check(0.1 + 0.2, 0.3, atol=1e-15, rtol=0, quiet=True)


def test_check_result_displays_nothing_in_a_notebook():
    result = check(torch.zeros(2), torch.zeros(2), quiet=True)
    assert result._ipython_display_() is None


def test_fenced_is_x_with_nan_on_both_sides_in_memory():
    x = torch.randn(2, 3, requires_grad=True)
    inside = fenced(x)
    assert inside.is_contiguous() and inside.requires_grad and torch.equal(inside, x)
    storage = torch.as_strided(inside, (3 * x.numel(),), (1,), 0)   # the whole storage, from its start
    assert storage[:6].isnan().all() and storage[12:].isnan().all()
    with pytest.raises(TypeError, match="fenced: x must be a floating-point tensor"):
        fenced(torch.arange(4))
