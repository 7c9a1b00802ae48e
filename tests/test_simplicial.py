"""2-simplicial attention: references, the Triton kernels (CPU interpreter; bf16 on a GPU), the determinant form."""

from dataclasses import replace

import pytest
import torch

from swr_tutor import check
from swr_tutor.checking import fenced
from swr_tutor import simplicial as S

ON_GPU = torch.cuda.is_available()


def inputs(B, T, Hq, Hkv, D, dtype=torch.float64, device="cpu", seed=0, requires_grad=False):
    generator = torch.Generator().manual_seed(seed)
    shapes = [(B, T, Hq, D)] + [(B, T, Hkv, D)] * 4
    return [torch.randn(shape, generator=generator, dtype=torch.float64).to(device, dtype)
            .requires_grad_(requires_grad) for shape in shapes]


def random_rotation(generator) -> torch.Tensor:
    """A random R in SO(3) (QR of a Gaussian matrix, signs fixed so that det R = +1)."""
    Q, R = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    Q = Q * torch.sign(torch.diagonal(R))
    return Q if torch.linalg.det(Q) > 0 else -Q


# (B, T, Hq, Hkv, D, w1, w2): GQA groups 1, 2 and 4; windows wider and narrower than T; T = 1; T past a block
SHAPES = [(1, 9, 2, 1, 6, 4, 3), (2, 7, 4, 2, 5, 8, 2), (1, 13, 1, 1, 16, 3, 5), (1, 1, 2, 2, 3, 2, 2),
          (1, 37, 4, 1, 9, 40, 6)]


# ---- references and the determinant --------------------------------------------------------------------------

@pytest.mark.parametrize("logits", S.LOGITS)
@pytest.mark.parametrize("shape", SHAPES)
def test_windowed_reference_equals_dense_einsum(shape, logits):
    B, T, Hq, Hkv, D, w1, w2 = shape
    x = inputs(B, T, Hq, Hkv, D)
    check(S.windowed_reference(*x, w1, w2, logits), S.dense_reference(*x, w1, w2, logits), name="windowed vs dense")


def test_windowed_reference_at_positions_is_a_slice_of_the_whole():
    x = inputs(1, 12, 2, 1, 6)
    positions = [0, 5, 11]
    check(S.windowed_reference(*x, 5, 3, positions=positions), S.windowed_reference(*x, 5, 3)[:, positions],
          name="positions")


def test_window_mask_counts_the_visible_pairs():
    T, w1, w2 = 9, 4, 2
    mask = S.window_mask(T, w1, w2)
    assert mask[5, 3, 4] and mask[5, 5, 5] and not mask[5, 1, 5] and not mask[5, 5, 3] and not mask[2, 3, 2]
    assert int(mask.sum()) == S.visible_triples(T, w1, w2) == sum(min(i + 1, w1) * min(i + 1, w2) for i in range(T))


def test_forward_flops_counts_full_windows():
    assert S.forward_flops(1, 64, 16384, 512, 32, 128) == 4 * 64 * 16384 * 512 * 32 * 128
    assert S.visible_triples(1000, 512, 32) < 1000 * 512 * 32


def test_chunk_determinants_equal_linalg_det():
    generator = torch.Generator().manual_seed(1)
    a, b, c = (torch.randn(5, 12, generator=generator, dtype=torch.float64) for _ in range(3))
    matrices = torch.stack([a.unflatten(-1, (4, 3)), b.unflatten(-1, (4, 3)), c.unflatten(-1, (4, 3))], dim=-2)
    check(S.chunk_determinants(a, b, c), torch.linalg.det(matrices), name="chunk determinants")


def test_determinant_logit_is_pair_product_dotted_with_k2():
    generator = torch.Generator().manual_seed(2)
    q, k1, k2 = (torch.randn(8, generator=generator, dtype=torch.float64) for _ in range(3))  # 2 chunks + 2 dims
    logit = (S.pair_product(q, k1, "determinant") * k2).sum()
    expected = S.chunk_determinants(q, k1, k2).sum() + (q[6:] * k1[6:] * k2[6:]).sum()
    check(logit, expected, name="<pair(q, k1), k2>")


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_determinant_attention_is_invariant_under_a_common_rotation(backend):
    x = inputs(1, 10, 2, 1, 9, dtype=torch.float64)
    R = random_rotation(torch.Generator().manual_seed(3))
    rotated = [(t.unflatten(-1, (-1, 3)) @ R.T).flatten(-2) for t in x[:3]] + x[3:]
    out = S.two_simplicial_attention(*x, 4, 3, logits="determinant", backend=backend)
    check(S.two_simplicial_attention(*rotated, 4, 3, logits="determinant", backend=backend), out, name="rotated")


def test_trilinear_attention_is_not_rotation_invariant():
    x = inputs(1, 10, 2, 1, 9)
    R = random_rotation(torch.Generator().manual_seed(3))
    rotated = [(t.unflatten(-1, (-1, 3)) @ R.T).flatten(-2) for t in x[:3]] + x[3:]
    difference = S.windowed_reference(*rotated, 4, 3) - S.windowed_reference(*x, 4, 3)
    assert difference.abs().max() > 1e-3


# ---- the Triton kernels through the interpreter ---------------------------------------------------------------

@pytest.mark.parametrize("logits", S.LOGITS)
@pytest.mark.parametrize("shape", SHAPES)
def test_triton_forward_matches_reference_fp32(shape, logits):
    B, T, Hq, Hkv, D, w1, w2 = shape
    x = inputs(B, T, Hq, Hkv, D, dtype=torch.float32)
    out = S.two_simplicial_attention(*(fenced(t) for t in x), w1, w2, logits=logits, backend="triton")
    assert out.dtype == torch.float32
    check(out, S.windowed_reference(*(t.double() for t in x), w1, w2, logits), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_triton_forward_matches_reference_16_bit(dtype):
    x = inputs(2, 21, 4, 2, 12, dtype=dtype)
    out = S.two_simplicial_attention(*x, 7, 3, logits="determinant", backend="triton")
    assert out.dtype == dtype
    check(out, S.windowed_reference(*(t.double() for t in x), 7, 3, "determinant"))


@pytest.mark.parametrize("logits", S.LOGITS)
def test_one_token_per_program(logits):
    """The GQA packing with BLOCK_T = 1: the forward and the backward load one outer key for all rows, and only
    rows that exist (T = 11 is not a multiple of the 16-key blocks)."""
    x = inputs(1, 11, 16, 1, 6, requires_grad=True)
    determinant = logits == "determinant"
    config = S.KernelConfig(*[S.Tiles(16, 16)] * 4)
    out, lse = S.triton_forward(*(fenced(t) for t in x), 5, 3, determinant, config=config)
    ref = S.windowed_reference(*x, 5, 3, logits)
    check(out, ref)
    dout = torch.randn(out.shape, generator=torch.Generator().manual_seed(4), dtype=out.dtype)
    grads = S.triton_backward(*(fenced(t) for t in x), fenced(out), lse, fenced(dout), 5, 3, determinant,
                              config=config)
    for name, grad, ref_grad in zip(("dq", "dk1", "dk2", "dv1", "dv2"), grads, torch.autograd.grad(ref, x, dout)):
        check(grad, ref_grad, name=name)


# (B, T, Hq, Hkv, D, w1, w2, forward tiles): outer offsets x GQA heads x tokens in the rows of the forward
OUTER_PACKING = [
    (1, 13, 2, 1, 6, 5, 3, S.Tiles(16, 16, outer=4)),    # one pass, one offset past the window, 2 tokens
    (1, 13, 2, 1, 6, 9, 7, S.Tiles(16, 16, outer=4)),    # two passes, the second part past the window
    (1, 20, 1, 1, 8, 6, 40, S.Tiles(16, 16, outer=8)),   # the outer keys are k1; 2 tokens
    (2, 11, 1, 1, 5, 16, 16, S.Tiles(16, 8, outer=16)),  # one token, all 16 offsets
    # each block of inner keys resident while the passes walk the outer window:
    (1, 13, 4, 1, 6, 9, 5, S.Tiles(16, 8, outer=4, resident=True)),           # 1 token x 4 heads x 4 offsets, 2 blocks
    (1, 13, 1, 1, 6, 3, 11, S.Tiles(16, 8, outer=4, resident=True)),          # 4 tokens x 4 offsets
    (1, 13, 6, 2, 6, 9, 5, S.Tiles(16, 8, outer=4, resident=True)),           # 3 heads padded to 4: unmasked passes
    (1, 13, 8, 2, 6, 5, 8, S.Tiles(4, 8, resident=True)),                    # 1 token: one outer key for all rows
    (1, 13, 8, 2, 6, 9, 9, S.Tiles(4, 8, resident=True)),                    # 9 keys: a block and one more
    (1, 5, 8, 2, 6, 9, 8, S.Tiles(4, 8, resident=True)),                     # T shorter than both windows
    (1, 30, 2, 1, 6, 4, 24, S.Tiles(8, 8, outer=4, resident=True)),          # 2 tokens x 4 offsets, 4 blocks
]


@pytest.mark.parametrize("logits", S.LOGITS)
@pytest.mark.parametrize("case", OUTER_PACKING)
def test_forward_packs_outer_offsets_into_rows(case, logits):
    B, T, Hq, Hkv, D, w1, w2, tiles = case
    x = inputs(B, T, Hq, Hkv, D)
    config = replace(S.INTERPRETER_CONFIG, forward=tiles)
    out, lse = S.triton_forward(*(fenced(t) for t in x), w1, w2, logits == "determinant", config=config)
    check(out, S.windowed_reference(*x, w1, w2, logits))


@pytest.mark.gpu
@pytest.mark.skipif(not ON_GPU, reason="needs a CUDA GPU")
def test_gpu_default_config_and_loop_order_benchmark():
    from swr_tutor.bench import simplicial as bench

    device = torch.device("cuda")
    assert all(S.default_config(device, 64, windows).forward.resident for windows in [(128, 128), (512, 32)])
    assert S.default_config(device, 1, (128, 128)).forward.resident
    assert not S.default_config(device, 1, (512, 32)).forward.resident
    rows = bench.run_loop_orders(quick=True)
    assert sorted(r.name for r in rows) == sorted(f"{o} fwd {lg}" for o in bench.LOOP_ORDERS for lg in S.LOGITS)
    assert all(r.max_rel_err < 5e-3 and r.tflops > 0 for r in rows)
    assert all(r.ratio == 1.0 for r in rows if r.name.startswith("streamed"))


def test_inner_keys_go_through_tma_where_rows_are_16_byte_aligned():
    """The interpreter emulates TMA: the tests run both load paths (D * 4 bytes a multiple of 16, or not)."""
    kb = torch.randn(1, 9, 2, 8)
    assert S._key_descriptors(kb, kb.clone(), 16)[2]
    assert not S._key_descriptors(kb[..., :6].contiguous(), kb[..., :6].contiguous(), 16)[2]
    assert {D * 4 % 16 == 0 for *_, D, _, _ in SHAPES} == {True, False}


def test_forward_tiling_caps_the_outer_offsets():
    assert S.forward_tiling(S.Tiles(64, 64, outer=64), 1, 128) == (1, 64)
    assert S.forward_tiling(S.Tiles(64, 64, outer=64), 1, 32) == (2, 32)
    assert S.forward_tiling(S.Tiles(128, 64, outer=2), 64, 32) == (1, 2)
    assert S.forward_tiling(S.Tiles(64, 64, outer=64), 64, 32) == (1, 1)   # one token's heads fill the rows
    assert S.forward_tiling(S.Tiles(64, 64, outer=64), 3, 50) == (1, 16)


@pytest.mark.parametrize("logits", S.LOGITS)
@pytest.mark.parametrize("shape", [SHAPES[1], SHAPES[2], (1, 40, 1, 1, 8, 7, 40)])
def test_triton_backward_matches_autograd_of_reference(shape, logits):
    B, T, Hq, Hkv, D, w1, w2 = shape
    x = [fenced(t) for t in inputs(B, T, Hq, Hkv, D, dtype=torch.float32, requires_grad=True)]
    x64 = [t.detach().double().requires_grad_() for t in x]
    dout = torch.randn(B, T, Hq, D, generator=torch.Generator().manual_seed(5))
    S.two_simplicial_attention(*x, w1, w2, logits=logits, backend="triton").backward(dout)
    S.windowed_reference(*x64, w1, w2, logits).backward(dout.double())
    for name, t, t64 in zip(("dq", "dk1", "dk2", "dv1", "dv2"), x, x64):
        check(t.grad, t64.grad, atol=1e-5, rtol=1e-4, name=name)


@pytest.mark.parametrize("logits", S.LOGITS)
def test_gradcheck_float64_through_the_kernels(logits):
    """float64 runs the same kernel code (tl.dot in fp64 works in the interpreter): gradcheck the custom op."""
    x = inputs(1, 6, 2, 1, 4, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *t: S.two_simplicial_attention(*t, 3, 2, logits=logits, backend="triton"), x, fast_mode=True)


def test_torch_compile_sees_one_op_without_graph_breaks():
    x = inputs(1, 8, 2, 1, 6, dtype=torch.float32, requires_grad=True)

    @torch.compile(fullgraph=True, backend="aot_eager")
    def loss(q, k1, k2, v1, v2):
        return S.two_simplicial_attention(q, k1, k2, v1, v2, 4, 3, backend="triton").square().sum()

    loss(*x).backward()
    x64 = [t.detach().double().requires_grad_() for t in x]
    S.windowed_reference(*x64, 4, 3).square().sum().backward()
    check(x[0].grad, x64[0].grad, atol=1e-5, rtol=1e-4, name="dq through torch.compile")


# ---- input checks ------------------------------------------------------------------------------------------------

def test_bad_inputs_raise_errors_that_name_the_argument():
    q, k1, k2, v1, v2 = inputs(1, 5, 4, 2, 6, dtype=torch.float32)
    op = S.two_simplicial_attention
    cases = [
        (lambda: op(q[0], k1, k2, v1, v2, 2, 2), ValueError, "q must have 4 dimensions"),
        (lambda: op(q, k1.double(), k2, v1, v2, 2, 2), TypeError, "k1 has dtype float64"),
        (lambda: op(q, k1, k2[:, :4], v1, v2, 2, 2), ValueError, "k2 must have shape"),
        (lambda: op(q, k1, k2, v1[:, :, :1], v2, 2, 2), ValueError, "v1 has 1 key/value heads"),
        (lambda: op(q[:, :, :3], k1, k2, v1, v2, 2, 2), ValueError, "multiple of the key/value heads"),
        (lambda: op(q, k1, k2, v1, v2.to("meta"), 2, 2), ValueError, "v2 is on meta"),
        (lambda: op(q, k1, k2, v1, v2, 0, 2), ValueError, "w1 must be >= 1"),
        (lambda: op(q, k1, k2, v1, v2, 2, 2.0), TypeError, "w2 must be an int"),
        (lambda: op(q, k1, k2, v1, v2, 2, 2, logits="cubic"), ValueError, "logits must be one of"),
        (lambda: op(q, k1, k2, v1, v2, 2, 2, backend="cuda"), ValueError, "backend must be one of"),
        (lambda: op(q[..., :2], *(t[..., :2] for t in (k1, k2, v1, v2)), 2, 2, logits="determinant"),
         ValueError, "D >= 3"),
        (lambda: op(q.int(), k1, k2, v1, v2, 2, 2), TypeError, "q must have dtype"),
        (lambda: S.windowed_reference(q, k1, k2, v1, v2, 2, 2, positions=[5]), ValueError, "positions must lie"),
        (lambda: S.dense_reference(*inputs(1, 300, 4, 4, 3), 2, 2), ValueError, "use windowed_reference"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()


# ---- on a GPU: bf16 at realistic shapes ---------------------------------------------------------------------------

def _relative_error(out, ref):
    return (torch.linalg.vector_norm(out.double() - ref) / torch.linalg.vector_norm(ref)).item()


GPU_CASES = [  # (B, T, Hq, Hkv, D, w1, w2): paper-like GQA and plain multi-head, both window shapes
    (1, 2048, 64, 1, 128, 512, 32), (1, 2048, 64, 1, 128, 128, 128),
    (2, 1024, 8, 8, 128, 512, 32), (2, 1024, 8, 8, 128, 128, 128), (1, 777, 12, 4, 96, 200, 50),
    (1, 777, 12, 4, 96, 100, 300), (1, 100, 16, 1, 64, 128, 128),   # the second: the resident forward, T < w
]


@pytest.mark.gpu
@pytest.mark.skipif(not ON_GPU, reason="needs a CUDA GPU")
@pytest.mark.parametrize("logits", S.LOGITS)
@pytest.mark.parametrize("shape", GPU_CASES)
def test_gpu_bf16_forward_and_backward_match_float64_reference(shape, logits):
    B, T, Hq, Hkv, D, w1, w2 = shape
    x = inputs(B, T, Hq, Hkv, D, dtype=torch.bfloat16, device="cuda", requires_grad=True)
    positions = torch.tensor(sorted({0, 1, min(w2, T) - 1, T // 2, T - 1}), device="cuda")
    out = S.two_simplicial_attention(*x, w1, w2, logits=logits)
    x64 = [t.detach().double().requires_grad_() for t in x]
    ref = S.windowed_reference(*x64, w1, w2, logits, positions=positions)
    assert _relative_error(out[:, positions], ref) < 1e-2

    dout = torch.zeros_like(out)
    dout[:, positions] = torch.randn_like(out[:, positions])  # gradients of the sliced reference only
    out.backward(dout)
    ref.backward(dout[:, positions].double())
    for name, t, t64 in zip(("dq", "dk1", "dk2", "dv1", "dv2"), x, x64):
        assert _relative_error(t.grad, t64.grad) < 2e-2, name


@pytest.mark.gpu
@pytest.mark.skipif(not ON_GPU, reason="needs a CUDA GPU")
def test_gpu_fp32_forward_is_exact_to_fp32():
    x = inputs(1, 300, 8, 2, 64, dtype=torch.float32, device="cuda")
    out = S.two_simplicial_attention(*x, 64, 16, logits="determinant")
    assert _relative_error(out, S.windowed_reference(*(t.double() for t in x), 64, 16, "determinant")) < 1e-5


def test_a_gpu_without_the_shared_memory_gets_an_error_that_says_what_fits(monkeypatch):
    from triton.runtime.errors import OutOfResources

    class TooBig:
        def __getitem__(self, grid):
            def launch(*args, **kwargs):
                raise OutOfResources(98304, 65536, "shared memory")
            return launch

    x = inputs(1, 8, 64, 1, 128)
    out, lse = S.triton_forward(*x, 4, 2)
    explained = r"D = 128 with 64 query head\(s\) per key/value head.*98304 > 65536.*D <= 64"
    monkeypatch.setattr(S.kernels, "inner_backward_kernel", TooBig())
    with pytest.raises(RuntimeError, match=explained):
        S.triton_backward(*x, out, lse, torch.randn_like(out), 4, 2)
    monkeypatch.setattr(S.kernels, "forward_kernel", TooBig())
    with pytest.raises(RuntimeError, match=explained):
        S.triton_forward(*x, 4, 2)


def test_the_hopper_defaults_are_among_the_tuning_sweeps_candidates():
    from swr_tutor.bench import simplicial as bench

    for config in (S.HOPPER_CONFIG, S.HOPPER_WIDE_GQA_CONFIG):
        for kernel, candidates in bench.CANDIDATES.items():
            assert getattr(config, kernel) in candidates, kernel
    assert S.HOPPER_RESIDENT_FORWARD in bench.CANDIDATES["forward"]
