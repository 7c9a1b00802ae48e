"""swr_tutor.phalanx: the Phalanx layer, attention with the same interface, the model builder, input checks."""
import math
import warnings

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from swr_tutor import check
from swr_tutor.blocked import TILE
from swr_tutor.phalanx import (CausalSelfAttention, Phalanx, SlidingWindowAttention, attend, build_model,
                               decay_bias, mean_keys_per_query, memory_lengths)
from swr_tutor.swr import swr_mask

C = 64


def _x(B=2, T=50, C=C, seed=0, device="cpu", requires_grad=False, **kwargs):
    x = torch.randn(B, T, C, generator=torch.Generator().manual_seed(seed), **kwargs)
    return x.to(device).requires_grad_(requires_grad)


def _parameters(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("T", [1, 16, 17, 50])
def test_phalanx_is_a_drop_in_for_sliding_window_attention(T):
    x = _x(T=T)
    outputs = [layer(x) for layer in (Phalanx(C), SlidingWindowAttention(C, 4), CausalSelfAttention(C, 4))]
    assert all(y.shape == x.shape and y.dtype == x.dtype for y in outputs)


def test_parameter_counts():
    H = C // TILE
    assert _parameters(Phalanx(C)) == 4 * C**2 + C * H + H + 2 * C
    assert _parameters(Phalanx(C, kv_heads=1)) == 2 * C**2 + 2 * C * TILE + C * 1 + 1 + TILE + C
    assert _parameters(SlidingWindowAttention(C, 4)) == _parameters(CausalSelfAttention(C, 4)) == 4 * C**2


def test_initial_decays_spread_the_memory_from_2_to_32_tokens():
    layer = Phalanx(128)                                             # 8 heads
    windows = layer.initial_windows()
    check(windows, torch.logspace(math.log10(2), math.log10(32), 8, dtype=torch.float64), atol=1e-6, rtol=1e-6,
          quiet=True)
    a = layer.gates(_x(C=128))[0]                                   # (B, T, H): W_a = 0, the decay is sigmoid(b_a)
    check(1 / (1 - a.double()), windows.expand_as(a), atol=1e-4, rtol=1e-4, quiet=True)
    assert decay_bias(2.0) == 0.0 and math.isclose(decay_bias(32.0), math.log(31))
    assert memory_lengths(1).tolist() == [2.0]
    with pytest.raises(ValueError, match="effective window must be > 1"):
        decay_bias(1.0)


def test_phalanx_is_the_formula_of_the_layer():
    layer, x = Phalanx(C, backend="torch"), _x(T=40)
    B, T, _ = x.shape
    H, D = C // TILE, TILE
    heads = lambda t: t.view(B, T, H, D).transpose(1, 2)            # (B, H, T, D)
    a = torch.sigmoid(layer.decay(x)).transpose(1, 2)                # (B, H, T)
    V = heads(layer.value(x))
    X = torch.sigmoid(heads(layer.input_gate(x))) * V
    h = (swr_mask(T) * torch.tril(torch.exp(_log_products(a)))) @ X
    y = layer.out((h * heads(layer.readout(x)) + V).transpose(1, 2).reshape(B, T, C))
    check(layer(x), y, atol=1e-5, rtol=1e-4, quiet=True)


def _log_products(a):
    """log L[t, s] = sum of log a over s+1..t (below the diagonal), for a (B, H, T) in (0, 1)."""
    prefix = torch.cumsum(a.log(), -1)
    return (prefix[..., :, None] - prefix[..., None, :]).tril()


@pytest.mark.parametrize("kv_heads", [None, 2])
def test_streaming_step_reproduces_the_parallel_forward(kv_heads):
    """The bar: 1,000 decoding steps equal the parallel forward to 1e-5 in fp32."""
    layer, x = Phalanx(C, kv_heads=kv_heads, backend="torch"), _x(T=1000)
    with torch.no_grad():
        parallel = layer(x)
        state, steps = None, []
        for t in range(x.shape[1]):
            y_t, state = layer.step(x[:, t], state)
            steps.append(y_t)
    check(torch.stack(steps, 1), parallel, atol=1e-5, rtol=1e-5, quiet=True)
    assert state.position == 1000 and state.local.shape == state.carry.shape == (2, kv_heads or C // TILE, TILE)


def test_key_value_groups_share_the_state():
    """A grouped layer equals the full layer whose decay, input gate and value weights repeat per group."""
    grouped, full = Phalanx(C, kv_heads=2, backend="torch"), Phalanx(C, backend="torch")
    groups = full.heads // grouped.kv_heads
    with torch.no_grad():
        full.decay.weight.copy_(grouped.decay.weight.repeat_interleave(groups, 0))
        full.decay.bias.copy_(grouped.decay.bias.repeat_interleave(groups, 0))
        for name in ("input_gate", "value"):
            per_head = getattr(grouped, name).weight.unflatten(0, (grouped.kv_heads, TILE))
            getattr(full, name).weight.copy_(per_head.repeat_interleave(groups, 0).flatten(0, 1))
        full.input_gate.bias.copy_(grouped.input_gate.bias.view(-1, TILE).repeat_interleave(groups, 0).flatten())
        full.readout.load_state_dict(grouped.readout.state_dict())
        full.out.load_state_dict(grouped.out.state_dict())
    x = _x()
    check(grouped(x), full(x), atol=1e-5, rtol=1e-5, quiet=True)


def test_each_token_sees_only_its_window():
    """Changing an input outside a token's window leaves its output alone; inside, it changes it."""
    T, t = 64, 40                                                    # t = 2 * 16 + 8: jagged window from 16
    for layer, first_seen in ((Phalanx(C, backend="torch"), 16), (SlidingWindowAttention(C, 4, 32), t - 31)):
        x = _x(T=T)
        y = layer(x)[:, t]
        for s, sees in ((first_seen - 1, False), (first_seen, True)):
            x_changed = x.clone()
            x_changed[:, s] += 1.0
            assert torch.allclose(layer(x_changed)[:, t], y, atol=1e-6) is not sees, (type(layer).__name__, s)


def test_gradients_flow_to_every_parameter():
    model = build_model("PSA", vocab_size=20, d_model=C, n_heads=4)
    model(torch.randint(20, (2, 40))).logsumexp(-1).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_torch_compile_without_graph_breaks():
    """Phalanx with the Triton backend (one custom op) and attention compile to one graph each."""
    x = _x(1, 20, 32)
    for layer in (Phalanx(32, backend="triton"), SlidingWindowAttention(32, 2, window=8)):
        compiled = torch.compile(layer, backend="aot_eager", fullgraph=True)
        compiled(x).sum().backward()
        check(compiled(x), layer(x), atol=1e-5, rtol=1e-5, quiet=True)


def test_triton_backend_equals_torch_backend():
    layer, x = Phalanx(32, backend="triton"), _x(1, 37, 32).requires_grad_()
    y = layer(x)
    dx, = torch.autograd.grad(y.square().sum(), x)
    layer.backend = "torch"
    y_torch = layer(x)
    dx_torch, = torch.autograd.grad(y_torch.square().sum(), x)
    check(y, y_torch, atol=1e-5, rtol=1e-5, quiet=True)
    check(dx, dx_torch, atol=1e-4, rtol=1e-4, quiet=True)


def test_flex_attention_path_equals_the_masked_sdpa_path():
    q, k, v = (torch.randn(1, 2, 70, 16, generator=torch.Generator().manual_seed(i)) for i in range(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                              # eager flex_attention warns it is unfused
        flex = attend(q, k, v, 32, use_flex=True)
    check(flex, attend(q, k, v, 32, use_flex=False), atol=1e-5, rtol=1e-5, quiet=True)


def test_a_window_as_long_as_the_sequence_is_full_attention():
    full, windowed, x = CausalSelfAttention(C, 4), SlidingWindowAttention(C, 4, window=50), _x(T=50)
    windowed.load_state_dict(full.state_dict())
    check(windowed(x), full(x), atol=1e-5, rtol=1e-5, quiet=True)


def test_flops_per_token_match_counted_flops():
    T, x = 64, _x(1, 64)
    for layer in (Phalanx(C, backend="torch"), Phalanx(C, kv_heads=2, backend="torch"), CausalSelfAttention(C, 4)):
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            layer(x)
        dense = layer.flops_per_token(T).projections + (4 * C * T if isinstance(layer, CausalSelfAttention) else
                                                       layer.flops_per_token(T).mixing)
        assert counter.get_total_flops() == T * dense
    assert Phalanx(C).flops_per_token() == (2 * (4 * C**2 + C * 4), 2 * TILE * C)
    assert SlidingWindowAttention(C, 4, 32).flops_per_token(1024).mixing == 4 * C * mean_keys_per_query(1024, 32)
    assert mean_keys_per_query(4, None) == 2.5 and mean_keys_per_query(4, 2) == 1.75


def test_build_model_patterns():
    model = build_model("PSAP", vocab_size=30, d_model=32, n_heads=2, kv_heads=1)
    kinds = [type(block.mixer) for block in model.blocks]
    assert kinds == [Phalanx, SlidingWindowAttention, CausalSelfAttention, Phalanx]
    assert model.blocks[0].mixer.kv_heads == 1 and model.blocks[1].mixer.window == 32
    assert model.blocks[2].mixer.window is None
    assert model(torch.randint(30, (3, 20))).shape == (3, 20, 30)
    assert model.head.weight is model.embed.weight
    for bad in ("", "PX", "pa", None):
        with pytest.raises(ValueError, match="pattern must be a non-empty string of the letters P = Phalanx"):
            build_model(bad)


@pytest.mark.parametrize("make, x, error, match", [
    (lambda: Phalanx(C), _x(C=32), ValueError, r"x must have shape \(B, T, C\) with C = d_model = 64"),
    (lambda: Phalanx(C), _x(T=0), ValueError, "sequence length T .* must be >= 1"),
    (lambda: Phalanx(C), _x(dtype=torch.float64), TypeError, "x has dtype float64 but the layer's parameters"),
    (lambda: Phalanx(C), torch.ones(2, 5, C, dtype=torch.long), TypeError, "x must have dtype in"),
    (lambda: Phalanx(C), torch.ones(5, C), ValueError, "x must have 3 dimensions"),
    (lambda: SlidingWindowAttention(C, 4), _x(C=32), ValueError, "SlidingWindowAttention: x must have shape"),
    (lambda: CausalSelfAttention(C, 4), _x(T=0), ValueError, "CausalSelfAttention: the sequence length T"),
])
def test_bad_inputs_are_named(make, x, error, match):
    with pytest.raises(error, match=match):
        make()(x)


@pytest.mark.parametrize("make, match", [
    (lambda: Phalanx(60), "head_dim = 16 must divide d_model = 60"),
    (lambda: Phalanx(C, kv_heads=3), "kv_heads = 3 must divide the number of heads"),
    (lambda: Phalanx(C, backend="cudnn"), "backend must be one of"),
    (lambda: SlidingWindowAttention(C, 3), "n_heads = 3 must divide d_model = 64"),
    (lambda: SlidingWindowAttention(C, 4, window=0), "window must be >= 1"),
    (lambda: CausalSelfAttention(C, 64), "rotary positions need an even head size"),
])
def test_bad_settings_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_step_checks_its_input():
    layer = Phalanx(C)
    with pytest.raises(ValueError, match=r"x_t must have 2 dimensions"):
        layer.step(_x())
    with pytest.raises(ValueError, match=r"with C = d_model = 64"):
        layer.step(torch.randn(2, 32))


# ---- on a GPU: the Triton kernel inside the layer, bf16, compiled with inductor ------------------------------

@pytest.mark.gpu
def test_gpu_layer_in_bf16_matches_the_float64_layer():
    layer = Phalanx(256).cuda()
    x = _x(4, 4096 + 5, 256, device="cuda")
    reference = Phalanx(256, backend="torch").cuda().double()
    reference.load_state_dict(layer.state_dict())
    check(layer.bfloat16()(x.bfloat16()).double(), reference(x.double()), atol=3e-2, rtol=3e-2, quiet=True)


@pytest.mark.gpu
def test_gpu_inductor_compiles_the_layer_and_its_backward():
    layer, x = Phalanx(256).cuda(), _x(2, 1000, 256, device="cuda", requires_grad=True)
    compiled = torch.compile(layer, fullgraph=True)
    dx_compiled, = torch.autograd.grad(compiled(x).square().sum(), x)
    dx, = torch.autograd.grad(layer(x).square().sum(), x)
    check(compiled(x), layer(x), atol=1e-4, rtol=1e-4, quiet=True)
    check(dx_compiled, dx, atol=1e-3, rtol=1e-3, quiet=True)


@pytest.mark.gpu
def test_gpu_streaming_decode_over_a_thousand_steps_equals_the_parallel_forward():
    layer, x = Phalanx(128).cuda(), _x(2, 1000, 128, device="cuda")
    with torch.no_grad():
        parallel, state, steps = layer(x), None, []
        for t in range(x.shape[1]):
            y_t, state = layer.step(x[:, t], state)
            steps.append(y_t)
    check(torch.stack(steps, 1), parallel, atol=1e-5, rtol=1e-5, quiet=True)
