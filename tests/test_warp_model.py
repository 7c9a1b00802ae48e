"""swr_tutor.warp_model: the CPU model of one warp of kernels/cuda/b2p.cu, against the float64 reference."""
import pytest
import torch

from swr_tutor import check, warp_model as wm
from swr_tutor.blocked import local_operators
from swr_tutor.recurrence import transfer_operator
from swr_tutor.swr import b2p_reference

F64 = torch.float64


def _inputs(T, D, seed, B=1, H=2):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(B, H, T, generator=g, dtype=F64)
    a[..., ::7], a[..., 3::11], a[..., 5::13] = 0.0, 1e-12, 1.0
    return a, torch.randn(B, H, T, D, generator=g, dtype=F64)


def test_shuffles():
    values = torch.arange(32) * 10
    assert wm.shfl_up(values, 4)[:6].tolist() == [0, 10, 20, 30, 0, 10]  # lanes < delta keep their own
    assert wm.shfl_xor(values, 1)[:4].tolist() == [10, 0, 30, 20]
    assert wm.shfl(values, torch.full((32,), 7)).eq(70).all()


def test_log_prefix_is_the_cumulative_sum():
    a = torch.rand(40, dtype=F64)
    a[3] = 0.0
    through, before = wm.warp_log_prefix(a, first=-8)  # lanes 0-7 lie before the sequence: decay 1
    logs = torch.log(a[:24].float()).double().clamp_min(-1e4)
    check(through, torch.cat([torch.zeros(8, dtype=F64), logs.cumsum(0)]), quiet=True)
    check(before[8:], torch.cat([torch.zeros(1, dtype=F64), logs.cumsum(0)[:-1]]), quiet=True)


def test_every_register_of_a_and_b_is_one_entry():
    rows, cols = wm.a_coordinates()
    assert sorted((rows * 16 + cols).flatten().tolist()) == list(range(256))
    tile = torch.arange(16 * 16).reshape(16, 16).float()
    b = wm.b_fragments(tile, 0)
    assert torch.equal(wm.b_to_matrix(b[:, 0], b[:, 1]), tile[:, :8])
    assert torch.equal(wm.b_to_matrix(b[:, 2], b[:, 3]), tile[:, 8:])


def test_operator_fragments_hold_the_tile_operators():
    a = torch.rand(32, dtype=F64)
    a[20] = 0.0
    through, before = wm.warp_log_prefix(a, first=0)
    L = wm.operator_fragment(through, 16, through, 16, False, "lower_with_diagonal", torch.float32)
    G = wm.operator_fragment(through, 16, through, 0, False, "full", torch.float32)
    full = transfer_operator(a)
    check(wm.fragment_to_matrix(L).double(), local_operators(a[16:])[0], atol=1e-6, quiet=True)
    check(wm.fragment_to_matrix(G).double(), full[16:, :16], atol=1e-6, quiet=True)
    Lt = wm.operator_fragment(through, 0, through, 0, True, "upper_with_diagonal", torch.float32)
    check(wm.fragment_to_matrix(Lt).double(), local_operators(a[:16])[0].T, atol=1e-6, quiet=True)
    with pytest.raises(ValueError, match="band must be one of"):
        wm.operator_fragment(through, 0, through, 0, False, "diagonal")


def test_mma_is_the_matrix_product():
    A = torch.randn(16, 16).half()
    rows, cols = wm.a_coordinates()
    fragment = A[rows, cols]
    B = torch.randn(16, 16).half()
    b = wm.b_fragments(B, 0)
    acc = wm.mma(torch.zeros(32, 4), fragment, b[:, 0], b[:, 1])
    r, c = wm.accumulator_coordinates()
    product = torch.zeros(16, 8)
    product[r, c] = acc
    check(product.double(), A.double() @ B[:, :8].double(), atol=1e-4, rtol=1e-4, quiet=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_butterfly_stores_write_every_element_once(dtype):
    out = torch.full((16, 16), float("nan"), dtype=dtype)
    r, c = wm.accumulator_coordinates()
    acc = torch.stack([(r * 16 + c).float(), (r * 16 + c + 8).float()])
    stores = wm.store_tile(out, 0, 0, acc)
    assert len(stores) == (64 if dtype == torch.float32 else 32)  # 16-byte stores: 4 fp32 or 8 fp16 values
    assert torch.equal(out.float(), torch.arange(256).reshape(16, 16).float())


@pytest.mark.parametrize("T, D", [(1, 16), (17, 20), (70, 32)])
def test_warp_forward_is_b2p(T, D):
    a, x = _inputs(T, D, seed=T)
    ref = b2p_reference(a, x)
    check(wm.b2p_by_warps(a, x, torch.float32).double(), ref, atol=1e-5, rtol=1e-5, quiet=True)
    check(wm.b2p_by_warps(a, x, torch.float16).double(), ref, atol=3e-3 * ref.abs().max().item(), quiet=True)


def test_warp_backward_is_the_gradient():
    a, x = _inputs(50, 16, seed=3)
    dy = torch.randn_like(x)
    a_, x_ = a.clone().requires_grad_(), x.clone().requires_grad_()
    b2p_reference(a_, x_).backward(dy)
    da, dx = wm.b2p_backward_by_warps(a, x, dy, torch.float32)
    check(dx.double(), x_.grad, atol=1e-5, rtol=1e-5, quiet=True)
    check(da.double(), a_.grad, atol=1e-5, rtol=1e-5, quiet=True)


def test_bad_inputs():
    a, x = _inputs(20, 16, seed=0)
    with pytest.raises(ValueError, match="b2p_by_warps: a must have shape"):
        wm.b2p_by_warps(a[..., :5], x)
    with pytest.raises(ValueError, match="dtype must be one of"):
        wm.b2p_by_warps(a, x, torch.float64)
