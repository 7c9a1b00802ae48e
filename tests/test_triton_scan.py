"""The Triton kernel kernels/triton/scan.py (through swr_tutor.scans.triton_scan) against the float64 loop.

fp32 accumulation error grows with the size of the running state, so the tolerance is relative to the largest
|h| of the case: atol = tol * max|h|, rtol = tol."""
import functools

import pytest
import torch

from swr_tutor import DEVICE, INTERPRETING
from swr_tutor.checking import fenced
from swr_tutor.recurrence import reference_scan
from swr_tutor.scans import triton_scan

rand = functools.partial(torch.rand, device=DEVICE)
randn = functools.partial(torch.randn, device=DEVICE)
TOLERANCE = {torch.float32: 1e-5, torch.float16: 1e-4}


def assert_matches_reference(h, a, x, tol):
    ref = reference_scan(a, x)
    assert h.dtype == torch.float32 and h.shape == x.shape
    torch.testing.assert_close(h.double().cpu(), ref.cpu(), atol=tol * ref.abs().max().item(), rtol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize("decay", [1e-12, 0.5, 0.999, 1.0])
@pytest.mark.parametrize("T", [1, 15, 16, 17, 100, 1000])
def test_kernel_matches_the_loop(T, decay, dtype):
    generator = torch.Generator().manual_seed(T)
    a = torch.full((3, T), decay, dtype=dtype, device=DEVICE)
    x = torch.randn(3, T, generator=generator).to(DEVICE, dtype)
    assert_matches_reference(triton_scan(fenced(a), fenced(x)), a, x, TOLERANCE[dtype])


@pytest.mark.parametrize("block_t", [1, 16, 64])
def test_the_carry_crosses_blocks(block_t):
    a, x = rand(4, 100), randn(4, 100)
    a[:, ::11] = 0.0
    assert_matches_reference(triton_scan(fenced(a), fenced(x), block_t=block_t), a, x, 1e-5)


def test_batches_and_channels_sharing_a_decay():
    a, x = rand(2, 3, 50), randn(2, 3, 50, 4)
    assert_matches_reference(triton_scan(a, x), a, x, 1e-5)
    assert_matches_reference(triton_scan(a.half(), x), a.half(), x, 1e-5)


def test_empty_batch():
    assert triton_scan(rand(0, 5), rand(0, 5)).shape == (0, 5)


@pytest.mark.parametrize("a, x, error, message", [
    ([0.5], rand(1), TypeError, "a must be a torch.Tensor"),
    (rand(4), "x", TypeError, "x must be a torch.Tensor"),
    (rand(4, dtype=torch.float64), rand(4), TypeError, r"a must have dtype in \(float16, .*float32\)"),
    (rand(4), torch.arange(4, device=DEVICE), TypeError, "x must have dtype"),
    (rand(2, 4), rand(2, 5), ValueError, "x must have shape"),
    (rand(2, 0), rand(2, 0), ValueError, r"the sequence length T \(last axis of a\) must be >= 1, got 0"),
    (rand(()), rand(()), ValueError, "a must have a time axis"),
])
def test_bad_inputs(a, x, error, message):
    with pytest.raises(error, match=f"triton_scan: {message}"):
        triton_scan(a, x)


@pytest.mark.skipif(not INTERPRETING, reason="bf16 is refused only under the interpreter")
def test_bf16_is_refused_by_the_interpreter():
    with pytest.raises(TypeError, match="a must have dtype in"):
        triton_scan(rand(4).bfloat16(), rand(4))


@pytest.mark.parametrize("block_t, error, message", [
    (0, ValueError, ">= 1"), (48, ValueError, "power of two"), (2**17, ValueError, "power of two"),
    (16.0, TypeError, "must be an int"),
])
def test_bad_block_size(block_t, error, message):
    with pytest.raises(error, match=f"triton_scan: block_t .*{message}"):
        triton_scan(rand(2, 8), rand(2, 8), block_t=block_t)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float16, 1e-4), (torch.bfloat16, 1e-4)], ids=str)
def test_kernel_on_the_gpu_at_book_shapes(dtype, tol):
    B, H, T, D = 2, 4, 8192, 16
    a = (0.9 + 0.1 * rand(B, H, T)).to(dtype)
    x = randn(B, H, T, D).to(dtype)
    assert_matches_reference(triton_scan(a, x), a, x, tol)
