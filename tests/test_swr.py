"""swr_tutor.swr: the B2P reference, the Triton kernels (forward, backward, autograd, torch.compile) and input checks.

On a CPU the kernels run in Triton's interpreter, so shapes stay tiny; the long-sequence checks are marked gpu.
"""
import pytest
import torch
from hypothesis import given, settings, strategies as st

from swr_tutor import check
from swr_tutor.checking import fenced
from swr_tutor.recurrence import transfer_operator
from swr_tutor.swr import b2p_backward, b2p_forward, b2p_op, b2p_reference, swr, swr_mask

SPECIAL_DECAYS = (0.0, 1e-12, 0.5, 0.999, 1.0)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _inputs(T, D=16, B=1, H=2, dtype=torch.float32, seed=0, device=DEVICE, low=0.0, high=1.0):
    """a (B, H, T) uniform in [low, high] with a third of the positions set to SPECIAL_DECAYS (when [0, 1]
    is allowed); x (B, H, T, D) standard normal."""
    g = torch.Generator().manual_seed(seed)
    a = low + (high - low) * torch.rand(B, H, T, generator=g, dtype=torch.float64)
    if (low, high) == (0.0, 1.0):
        special = torch.tensor(SPECIAL_DECAYS, dtype=torch.float64)
        pick = torch.randint(0, 3 * len(special), (B, H, T), generator=g)
        a = torch.where(pick < len(special), special[pick % len(special)], a)
    x = torch.randn(B, H, T, D, generator=g, dtype=torch.float64)
    return a.to(device, dtype), x.to(device, dtype)


def _grads(fn, a, x, dy):
    a, x = a.detach().clone().requires_grad_(), x.detach().clone().requires_grad_()
    fn(a, x).backward(dy)
    return a.grad, x.grad


# ---- the reference ---------------------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(data=st.data(), T=st.sampled_from([1, 15, 16, 17, 33, 100]))
def test_reference_is_the_banded_transfer_operator(data, T):
    decay = st.one_of(st.sampled_from(SPECIAL_DECAYS), st.floats(0.0, 1.0))
    a = torch.tensor(data.draw(st.lists(decay, min_size=2 * T, max_size=2 * T)), dtype=torch.float64)
    a = a.reshape(1, 2, T)
    x = torch.randn(1, 2, T, 3, generator=torch.Generator().manual_seed(T), dtype=torch.float64)
    check(b2p_reference(a, x), (transfer_operator(a) * swr_mask(T)) @ x, quiet=True)


def test_mask_is_the_jagged_window():
    window = swr_mask(64).sum(1)
    assert window[:16].tolist() == list(range(1, 17))  # the first tile has no previous tile
    assert window[16:].tolist() == [17 + t % 16 for t in range(16, 64)]  # 17 .. 32 tokens


def test_reference_dtypes():
    a, x = _inputs(20, dtype=torch.float16, device="cpu")
    assert b2p_reference(a, x).dtype == torch.float32
    assert b2p_reference(a.double(), x.float()).dtype == torch.float64


# ---- the Triton forward ----------------------------------------------------------------------------------

@pytest.mark.parametrize("T", [1, 15, 16, 17, 100, 300])
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float16, 1e-2), (torch.bfloat16, 2e-2)])
def test_triton_forward_matches_reference(T, dtype, tol):
    """bf16 runs in fp32 under the interpreter (which mishandles bf16 arithmetic) and natively on a GPU."""
    a, x = _inputs(T, dtype=dtype, seed=T)
    y = swr(fenced(a), fenced(x), backend="triton")
    assert y.dtype == torch.float32
    check(y, b2p_reference(a.double(), x.double()), atol=tol, rtol=tol, quiet=True)


@pytest.mark.parametrize("D", [1, 20, 80])  # 80: two channel slices of 64
def test_triton_across_blocks_and_channel_slices(D):
    """Blocks of 16 to 64 positions, so that every tile and program boundary is crossed."""
    a, x = _inputs(300, D=D, dtype=torch.float64, seed=D)
    dy = torch.randn_like(x)
    da_ref, dx_ref = _grads(b2p_reference, a, x, dy)
    for block_t in (16, 32, 64):
        check(b2p_forward(fenced(a), fenced(x), block_t=block_t), b2p_reference(a, x), quiet=True)
        da, dx = b2p_backward(fenced(a), fenced(x), fenced(dy), block_t=block_t)
        check(dx, dx_ref, quiet=True)
        check(da, da_ref, atol=1e-9, rtol=1e-9, quiet=True)


def test_triton_long_sequence():
    a, x = _inputs(1000, B=1, H=1, seed=7)
    check(swr(a, x, backend="triton"), b2p_reference(a.double(), x.double()), quiet=True)


@pytest.mark.parametrize("decay", SPECIAL_DECAYS)
def test_constant_extreme_decays_stay_finite(decay):
    a = torch.full((1, 2, 50), decay, device=DEVICE)
    x = torch.randn(1, 2, 50, 16, device=DEVICE)
    dy = torch.randn_like(x)
    grads = _grads(lambda a, x: swr(a, x, backend="triton"), a, x, dy)
    for got, expected in zip(grads, _grads(lambda a, x: swr(a, x, backend="torch"), a, x, dy)):
        assert torch.isfinite(got).all()
        check(got, expected, atol=1e-4, rtol=1e-5, quiet=True)


@pytest.mark.parametrize("out_dtype, expected", [(None, torch.float32), ("input", torch.float16),
                                                 (torch.float64, torch.float64)])
def test_output_dtype(out_dtype, expected):
    a, x = _inputs(20, dtype=torch.float16)
    for backend in ("triton", "torch"):
        assert swr(a, x, backend=backend, out_dtype=out_dtype).dtype == expected


def test_fp64_inputs_give_fp64():
    a, x = _inputs(20, dtype=torch.float64)
    assert swr(a.float(), x, backend="triton").dtype == torch.float64


# ---- the backward ----------------------------------------------------------------------------------------

def test_triton_gradcheck_float64():
    a, x = _inputs(40, dtype=torch.float64, low=0.05, high=0.95)
    a.requires_grad_(), x.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, x: swr(a, x, backend="triton"), (a, x), fast_mode=True)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_triton_grads_match_torch_backend(dtype, tol):
    a, x = _inputs(100, dtype=dtype, seed=3)  # decays include 0, 1e-12 and 1
    dy = torch.randn(x.shape, dtype=dtype, device=DEVICE)
    triton_grads = _grads(lambda a, x: swr(a, x, backend="triton"), a, x, dy)
    torch_grads = _grads(lambda a, x: swr(a, x, backend="torch"), a, x, dy)
    for got, expected in zip(triton_grads, torch_grads):
        check(got, expected, atol=tol, rtol=tol, quiet=True)


# ---- torch.library ---------------------------------------------------------------------------------------

def test_op_passes_opcheck():
    a, x = _inputs(20, dtype=torch.float64, low=0.1, high=0.9)
    torch.library.opcheck(b2p_op, (a.requires_grad_(), x.requires_grad_(), torch.float64))


def test_compiles_without_graph_breaks():
    a, x = _inputs(20, dtype=torch.float64)
    compiled = torch.compile(lambda a, x: swr(a, x, backend="triton").sum(), fullgraph=True, backend="aot_eager")
    a.requires_grad_()
    compiled(a, x).backward()
    check(a.grad, _grads(lambda a, x: b2p_reference(a, x).sum(), a, x, torch.ones(()))[0], quiet=True)


# ---- input checks ----------------------------------------------------------------------------------------

def _bad_inputs():
    a, x = _inputs(8, device="cpu")
    nan_x = x.clone()
    nan_x[0, 0, 3, 1] = float("nan")
    return [
        ([0.5], x, TypeError, "swr: a must be a torch.Tensor, got list"),
        (a, x[0], ValueError, r"swr: x must have 4 dimensions, got shape \(2, 8, 16\)"),
        (a[0], x, ValueError, r"swr: a must have 3 dimensions"),
        (a[:, :, :5], x, ValueError, r"swr: a must have shape \(B, H, T\) = \(1, 2, 8\) to match x"),
        (a, x.int(), TypeError, "swr: x must have dtype in .* got int32"),
        (a + 0.5, x, ValueError, r"swr: a holds decays and must lie in \[0, 1\]"),
        (a - 0.5, x, ValueError, r"swr: a holds decays and must lie in \[0, 1\]"),
        (a, nan_x, ValueError, "swr: x contains NaN or inf"),
        (a[:, :, :0], x[:, :, :0], ValueError, r"swr: the sequence length T .* must be >= 1, got 0"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_inputs())))
def test_bad_inputs_raise_clear_errors(case):
    a, x, error, message = _bad_inputs()[case]
    with pytest.raises(error, match=message):
        swr(a, x)


def test_bad_options_raise_clear_errors():
    a, x = _inputs(8, device="cpu")
    with pytest.raises(ValueError, match="swr: backend must be one of"):
        swr(a, x, backend="cudnn")
    with pytest.raises(ValueError, match="swr: backend='cuda' needs CUDA tensors"):
        swr(a, x, backend="cuda")
    with pytest.raises(ValueError, match="swr: out_dtype must be None"):
        swr(a, x, out_dtype=torch.int32)
    with pytest.raises(ValueError, match="block_t must be a power of two >= 16, got 48"):
        b2p_forward(a, x, block_t=48)


# ---- GPU -------------------------------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype, tol", [(torch.bfloat16, 1e-2), (torch.float32, 1e-5)])
def test_gpu_long_sequence_error_bars(dtype, tol):
    """T = 65,536 against float64: errors within tol relative to the largest output (and per element)."""
    a, x = _inputs(65_536, B=2, H=4, D=16, dtype=dtype, device="cuda")
    dy = torch.randn(x.shape, device="cuda")
    y = swr(a, x)
    ref = b2p_reference(a.double(), x.double())
    check(y, ref, atol=tol * ref.abs().max().item(), rtol=tol, name=f"forward {dtype}")
    da, dx = _grads(swr, a, x, dy)
    da_ref, dx_ref = _grads(b2p_reference, a.double(), x.double(), dy.double())
    check(dx.double(), dx_ref, atol=tol * dx_ref.abs().max().item(), rtol=tol, name=f"dx {dtype}")
    check(da.double(), da_ref, atol=tol * da_ref.abs().max().item(), rtol=tol, name=f"da {dtype}")


def test_swr_checks_its_inputs_once(monkeypatch):
    """Each check of x (finite) and a (in [0, 1]) costs a device sync on a GPU: swr does it once, not again in
    the torch path's b2p_reference."""
    import swr_tutor.swr as module

    checked, original = [], module._checked_inputs
    monkeypatch.setattr(module, "_checked_inputs", lambda fn, a, x: checked.append(fn) or original(fn, a, x))
    module.swr(torch.rand(1, 2, 20), torch.randn(1, 2, 20, 3), backend="torch")
    assert checked == ["swr"]
