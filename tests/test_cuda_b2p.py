"""kernels/cuda/b2p.cu: compiled with nvcc for sm_75, sm_80 and sm_90 on any machine that has nvcc (tensor-core
instructions in the SASS, no spills), and run against the float64 reference on a GPU (tests marked gpu)."""
import re

import pytest
import torch

from swr_tutor import check, cuda_kernels
from swr_tutor.swr import b2p_reference, swr

ARCHS = ("sm_75", "sm_80", "sm_90")
needs_nvcc = pytest.mark.skipif(cuda_kernels.nvcc_path() is None, reason="nvcc (CUDA toolkit) is not installed")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cubins")
    return {arch: cuda_kernels.compile_cubin(arch, directory) for arch in ARCHS}


@needs_nvcc
@pytest.mark.parametrize("arch", ARCHS)
def test_compiles_to_tensor_core_instructions(compiled, arch):
    cubin, report = compiled[arch]
    machine_code = cuda_kernels.sass(cubin)
    assert "HMMA" in machine_code, f"{arch}: no tensor-core instruction in the SASS"
    assert "LDSM" in machine_code, f"{arch}: no ldmatrix"
    assert "LDG.E.128" in machine_code and "STG.E.128" in machine_code, f"{arch}: no 16-byte loads and stores"
    kernels = re.findall(r"Compiling entry function '(\w+)'", report)
    assert len(kernels) == 10  # forward: 2 inputs x 3 outputs; backward: 2 inputs x 2 gradient dtypes
    assert "bytes spill" not in report.replace("0 bytes spill", "")


@needs_nvcc
def test_sm_75_uses_the_k8_shape_and_sm_80_bf16(compiled):
    assert "HMMA.1688.F32" in cuda_kernels.sass(compiled["sm_75"][0])
    assert "HMMA.16816.F32.BF16" in cuda_kernels.sass(compiled["sm_80"][0])


def test_sources_ship_with_the_package():
    assert all(path.is_file() for path in cuda_kernels.source_paths())


def test_cpu_tensors_are_refused_clearly():
    a, x = torch.rand(1, 1, 8), torch.randn(1, 1, 8, 16, dtype=torch.float16)
    assert "needs CUDA tensors" in cuda_kernels.unsupported_reason(x)
    with pytest.raises(ValueError, match="swr: backend='cuda' needs CUDA tensors"):
        swr(a, x, backend="cuda")


# ---- GPU -------------------------------------------------------------------------------------------------

gpu = pytest.mark.gpu
SPECIAL_DECAYS = (0.0, 1e-12, 0.5, 0.999, 1.0)
TOLERANCE = {torch.float16: 3e-3, torch.bfloat16: 1e-2}


def _inputs(T, D=64, B=2, H=3, dtype=torch.bfloat16, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(B, H, T, generator=g, dtype=torch.float64)
    special = torch.tensor(SPECIAL_DECAYS, dtype=torch.float64)
    pick = torch.randint(0, 3 * len(special), (B, H, T), generator=g)
    a = torch.where(pick < len(special), special[pick % len(special)], a)
    x = torch.randn(B, H, T, D, generator=g, dtype=torch.float64)
    return a.float().cuda(), x.to(dtype).cuda()


def _close(got, ref, tol, name):
    """Within tol relative to the largest reference value, per element."""
    check(got.double(), ref, atol=tol * ref.abs().max().item(), rtol=tol, name=name, quiet=True)


def _grads(fn, a, x, dy):
    a, x = a.detach().clone().requires_grad_(), x.detach().clone().requires_grad_()
    fn(a, x).backward(dy)
    return a.grad, x.grad


@gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("T", [1, 15, 16, 17, 100, 129, 300, 1000])
@pytest.mark.parametrize("D", [16, 20, 64, 80, 128])
def test_forward_matches_float64(dtype, T, D):
    a, x = _inputs(T, D, dtype=dtype, seed=T + D)
    y = swr(a, x, backend="cuda")
    assert y.dtype == torch.float32
    _close(y, b2p_reference(a.double(), x.double()), TOLERANCE[dtype], f"forward {dtype} T={T} D={D}")


@gpu
@pytest.mark.parametrize("out_dtype", ["input", torch.float16, torch.bfloat16, torch.float64])
def test_output_dtypes(out_dtype):
    a, x = _inputs(200, 64, dtype=torch.float16)
    y = swr(a, x, backend="cuda", out_dtype=out_dtype)
    assert y.dtype == (torch.float16 if out_dtype == "input" else out_dtype)
    _close(y, b2p_reference(a.double(), x.double()), 1e-2, f"out {out_dtype}")


@gpu
@pytest.mark.parametrize("decay", [0.0, 1e-12, 0.999, 1.0])
def test_constant_extreme_decays(decay):
    a = torch.full((2, 2, 300), decay, device="cuda")
    x = torch.randn(2, 2, 300, 64, device="cuda", dtype=torch.float16)
    dy = torch.randn(x.shape, device="cuda")
    y = swr(a, x, backend="cuda")
    assert torch.isfinite(y).all()
    _close(y, b2p_reference(a.double(), x.double()), 3e-3, f"forward a={decay}")
    da, dx = _grads(lambda a, x: swr(a, x, backend="cuda"), a, x, dy)
    da_ref, dx_ref = _grads(b2p_reference, a.double(), x.double(), dy.double())
    assert torch.isfinite(da).all() and torch.isfinite(dx).all()
    _close(dx, dx_ref, 3e-3, f"dx a={decay}")
    _close(da, da_ref, 3e-3, f"da a={decay}")


@gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_exact_across_tile_and_block_boundaries_at_65536(dtype):
    """Every 16-token tile and every 128-token block edge (and the 8192-token edges where the official kernel
    drops its carry): the first tile after an edge is as accurate as every other tile."""
    T = 65_536
    a, x = _inputs(T, 64, B=1, H=2, dtype=dtype, seed=5)
    a = torch.sigmoid(2 + torch.randn_like(a))  # long memories, so that every carry matters
    y = swr(a, x, backend="cuda").double()
    ref = b2p_reference(a.double(), x.double())
    error_per_tile = ((y - ref).abs().amax(dim=(0, 1, 3)) / ref.abs().max()).unflatten(0, (-1, 16)).amax(1)
    assert error_per_tile.max() < TOLERANCE[dtype]
    first_after_block = error_per_tile[8::8]
    first_after_8192 = error_per_tile[512::512]
    typical = error_per_tile.median()
    assert first_after_block.max() < 4 * error_per_tile.quantile(0.999) + 1e-12
    assert first_after_8192.max() < 4 * error_per_tile.quantile(0.999) + 1e-12
    assert typical > 0  # 16-bit inputs are rounded: the comparison above is not vacuous
    carry_dropped = y - ref  # a dropped carry would show as an error of the size of the carry itself
    assert carry_dropped.abs().max() < TOLERANCE[dtype] * ref.abs().max()


@gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("dy_dtype", ["input", torch.float32])
@pytest.mark.parametrize("T, D", [(1, 16), (17, 20), (300, 64), (1000, 80), (4096, 128)])
def test_backward_matches_float64(dtype, dy_dtype, T, D):
    a, x = _inputs(T, D, dtype=dtype, seed=T * D)
    out_dtype = "input" if dy_dtype == "input" else None
    dy = torch.randn(x.shape, device="cuda", dtype=dtype if dy_dtype == "input" else torch.float32)
    da, dx = _grads(lambda a, x: swr(a, x, backend="cuda", out_dtype=out_dtype), a, x, dy)
    assert da.dtype == a.dtype and dx.dtype == x.dtype
    da_ref, dx_ref = _grads(b2p_reference, a.double(), x.double(), dy.double())
    tol = 2 * TOLERANCE[dtype]
    _close(dx, dx_ref, tol, f"dx {dtype} T={T} D={D}")
    _close(da, da_ref, tol, f"da {dtype} T={T} D={D}")


@gpu
def test_backward_at_65536_across_boundaries():
    a, x = _inputs(65_536, 64, B=1, H=2, dtype=torch.bfloat16, seed=9)
    dy = torch.randn(x.shape, device="cuda", dtype=torch.bfloat16)
    da, dx = _grads(lambda a, x: swr(a, x, backend="cuda", out_dtype="input"), a, x, dy)
    da_ref, dx_ref = _grads(b2p_reference, a.double(), x.double(), dy.double())
    _close(dx, dx_ref, 2e-2, "dx at T = 65,536")
    _close(da, da_ref, 2e-2, "da at T = 65,536")


@gpu
def test_cuda_agrees_with_triton():
    a, x = _inputs(5000, 64, dtype=torch.bfloat16)
    dy = torch.randn(x.shape, device="cuda")
    check(swr(a, x, backend="cuda"), swr(a, x, backend="triton"), atol=2e-2, rtol=2e-2, quiet=True)
    for got, expected in zip(_grads(lambda a, x: swr(a, x, backend="cuda"), a, x, dy),
                             _grads(lambda a, x: swr(a, x, backend="triton"), a, x, dy)):
        _close(got, expected.double(), 2e-2, "cuda vs triton gradients")


@gpu
def test_fp32_inputs_are_refused_with_the_alternative():
    a, x = _inputs(32, 16, dtype=torch.float32)
    with pytest.raises(ValueError, match="float16 or bfloat16 x, got torch.float32; use backend='triton'"):
        swr(a, x, backend="cuda")


@gpu
def test_op_passes_opcheck_and_compiles():
    a, x = _inputs(64, 32, dtype=torch.float16)
    from swr_tutor.swr import b2p_cuda_op

    torch.library.opcheck(b2p_cuda_op, (a.requires_grad_(), x.requires_grad_(), torch.float32),
                          test_utils=("test_schema", "test_faketensor", "test_autograd_registration"))
    compiled = torch.compile(lambda a, x: swr(a, x, backend="cuda").sum(), fullgraph=True)
    compiled(a, x).backward()
    assert torch.isfinite(a.grad).all()


@gpu
def test_auto_picks_cuda_where_it_is_fastest():
    a, x = _inputs(64, 64, dtype=torch.bfloat16)
    capability = torch.cuda.get_device_capability()
    assert cuda_kernels.preferred(x) == (capability in cuda_kernels.FASTEST_ON)
    assert not cuda_kernels.preferred(x.float()) and not cuda_kernels.preferred(x[..., :16])
