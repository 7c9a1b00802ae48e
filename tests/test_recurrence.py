import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from swr_tutor import recurrence

F64 = torch.float64
# Decays in [0, 1] with the edges 0 and 1 drawn often.
decay = st.one_of(st.just(0.0), st.just(1.0), st.floats(0.0, 1.0))
decay_sequences = st.lists(decay, min_size=1, max_size=40).map(lambda v: torch.tensor(v, dtype=F64))
property_test = settings(max_examples=60, deadline=None)


def test_sequential_scan_by_hand():
    a = torch.tensor([0.5, 0.5, 2.0], dtype=F64)
    x = torch.tensor([1.0, 2.0, 3.0], dtype=F64)
    assert recurrence.sequential_scan(a, x).tolist() == [1.0, 2.5, 8.0]


def test_sequential_scan_shares_a_decay_across_channels():
    a = torch.rand(2, 3, 7, dtype=F64)      # (B, H, T)
    x = torch.randn(2, 3, 7, 4, dtype=F64)  # (B, H, T, D)
    h = recurrence.sequential_scan(a, x)
    assert h.shape == x.shape
    for d in range(4):
        torch.testing.assert_close(h[..., d], recurrence.sequential_scan(a, x[..., d]))


def test_sequential_scan_keeps_low_precision_and_reference_scan_is_float64():
    a, x = torch.rand(5), torch.randn(5)
    assert recurrence.sequential_scan(a, x).dtype == torch.float32
    assert recurrence.sequential_scan(a.half(), x.half()).dtype == torch.float16
    reference = recurrence.reference_scan(a, x)
    assert reference.dtype == F64
    torch.testing.assert_close(reference, recurrence.sequential_scan(a.double(), x.double()))


def test_transfer_operator_small_case():
    L = recurrence.transfer_operator(torch.tensor([9.0, 0.5, 0.0], dtype=F64))
    assert L.tolist() == [[1.0, 0.0, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]]


def test_impulse_response_and_effective_window():
    torch.testing.assert_close(recurrence.impulse_response(0.5, 4), torch.tensor([1.0, 0.5, 0.25, 0.125], dtype=F64))
    assert recurrence.impulse_response(0.0, 3).tolist() == [1.0, 0.0, 0.0]
    assert recurrence.impulse_response(-2, 3).tolist() == [1.0, -2.0, 4.0]
    assert recurrence.effective_window(0.0) == 1.0
    assert recurrence.effective_window(0.75) == 4.0
    assert recurrence.effective_window(1) == math.inf
    assert math.isclose(recurrence.impulse_response(0.9, 2000).sum().item(), recurrence.effective_window(0.9))


def test_varying_decays():
    a = recurrence.varying_decays(0.8, 5000)
    assert a.shape == (5000,) and a.dtype == F64
    assert (a >= 0.8**2).all() and (a <= 1).all()
    assert math.isclose(a.log().mean().item(), math.log(0.8), rel_tol=0.05)
    assert torch.equal(a, recurrence.varying_decays(0.8, 5000))
    assert not torch.equal(a, recurrence.varying_decays(0.8, 5000, seed=1))
    assert recurrence.varying_decays(1.0, 4).tolist() == [1.0] * 4


def test_log_decays_clamps_zero():
    logs = recurrence.log_decays(torch.tensor([0.0, 1.0, math.exp(-2)], dtype=F64))
    assert logs[0] == recurrence.LOG_DECAY_FLOOR and logs[1] == 0.0
    assert math.isclose(logs[2].item(), -2.0)
    for dtype in (torch.float16, torch.float32, F64):
        assert torch.exp(torch.tensor(recurrence.LOG_DECAY_FLOOR, dtype=dtype)) == 0


def test_decay_product_ranges():
    a = torch.tensor([0.5, 0.25, 0.0, 0.8], dtype=F64)
    assert recurrence.decay_product(a, 0, 2).item() == pytest.approx(0.125)
    assert recurrence.decay_product(a, 1, 1).item() == 1.0
    assert recurrence.decay_product(a, 0, 4).item() == 0.0
    batched = recurrence.decay_product(torch.full((2, 3, 5), 0.5, dtype=F64), 1, 4)
    torch.testing.assert_close(batched, torch.full((2, 3), 0.125, dtype=F64))


def test_long_products_underflow_directly_but_not_in_log_space():
    a = torch.full((400,), 0.5)  # float32
    prefix = torch.cumprod(a, 0)
    assert torch.isnan(prefix[310] / prefix[300])
    C = recurrence.cumulative_log_decays(a)
    assert torch.exp(C[310] - C[300]).item() == pytest.approx(0.5**10, rel=1e-5)


def test_cumulative_log_decays_restarts_at_tiles():
    a = torch.full((8,), 0.5, dtype=F64)
    global_prefix = recurrence.cumulative_log_decays(a)
    tile_local = recurrence.cumulative_log_decays(a, tile=4)
    torch.testing.assert_close(global_prefix, math.log(0.5) * torch.arange(1, 9, dtype=F64))
    torch.testing.assert_close(tile_local, math.log(0.5) * torch.arange(1, 5, dtype=F64).repeat(2))


def test_tile_local_prefixes_stay_accurate_in_float32():
    torch.manual_seed(0)
    a = torch.empty(2**16).uniform_(0.9, 1.0)
    reference = recurrence.diagonal_tiles(a.double(), 16)

    def worst_relative_error(tile_local):
        tiles = recurrence.diagonal_tiles(a, 16, tile_local=tile_local).double()
        return ((tiles - reference).abs() / torch.where(reference > 0, reference, 1.0)).max().item()

    assert worst_relative_error(tile_local=True) < 1e-6
    assert worst_relative_error(tile_local=False) > 1e-5


@property_test
@given(decay_sequences, st.integers(1, 3), st.randoms(use_true_random=False))
def test_scan_equals_transfer_operator_times_x(a, D, rng):
    gen = torch.Generator().manual_seed(rng.randint(0, 2**31))
    x = torch.randn(a.shape[0], D, generator=gen, dtype=F64)  # (T, D)
    torch.testing.assert_close(recurrence.sequential_scan(a, x), recurrence.transfer_operator(a) @ x,
                               atol=1e-10, rtol=1e-10)


@property_test
@given(decay_sequences, st.data())
def test_log_space_product_equals_direct_product(a, data):
    T = a.shape[0]
    start = data.draw(st.integers(0, T))
    stop = data.draw(st.integers(start, T))
    product = recurrence.decay_product(a, start, stop)
    assert torch.isfinite(product)
    torch.testing.assert_close(product, torch.prod(a[start:stop]), atol=1e-12, rtol=1e-9)


@property_test
@given(st.integers(1, 4), st.sampled_from([1, 2, 4, 8]), st.data())
def test_diagonal_tiles_are_the_tiles_of_the_transfer_operator(tiles, b, data):
    a = torch.tensor(data.draw(st.lists(decay, min_size=tiles * b, max_size=tiles * b)), dtype=F64)
    L = recurrence.transfer_operator(a)
    for tile_local in (True, False):
        found = recurrence.diagonal_tiles(a, b, tile_local=tile_local)
        assert torch.isfinite(found).all()
        for k in range(tiles):
            window = slice(k * b, (k + 1) * b)
            torch.testing.assert_close(found[k], L[window, window], atol=1e-9, rtol=1e-9)


@property_test
@given(decay_sequences)
def test_no_nan_or_inf_in_log_space(a):
    assert torch.isfinite(recurrence.log_decays(a)).all()
    assert torch.isfinite(recurrence.cumulative_log_decays(a)).all()
    assert torch.isfinite(recurrence.transfer_operator(a)).all()


# Bad inputs: every public function says which argument is wrong.
INT = torch.arange(4)
TENSOR_FUNCTIONS = {
    "sequential_scan": lambda a: recurrence.sequential_scan(a, torch.ones(len(a))),
    "reference_scan": lambda a: recurrence.reference_scan(a, torch.ones(len(a))),
    "transfer_operator": recurrence.transfer_operator,
    "log_decays": recurrence.log_decays,
    "decay_product": lambda a: recurrence.decay_product(a, 0, 1),
    "cumulative_log_decays": recurrence.cumulative_log_decays,
    "diagonal_tiles": lambda a: recurrence.diagonal_tiles(a, 1),
}


@pytest.mark.parametrize("name", TENSOR_FUNCTIONS)
def test_decays_must_be_a_float_tensor(name):
    with pytest.raises(TypeError, match=f"{name}: a must be a torch.Tensor, got list"):
        TENSOR_FUNCTIONS[name]([0.5, 0.5, 0.5, 0.5])
    with pytest.raises(TypeError, match=f"{name}: a must have dtype in .*got int64"):
        TENSOR_FUNCTIONS[name](INT)


@pytest.mark.parametrize("name", sorted(set(TENSOR_FUNCTIONS) - {"log_decays"}))
def test_empty_sequences_are_rejected(name):
    with pytest.raises(ValueError, match=f"{name}: the sequence length T .* must be >= 1, got 0"):
        TENSOR_FUNCTIONS[name](torch.ones(0))


@pytest.mark.parametrize("scan", [recurrence.sequential_scan, recurrence.reference_scan])
def test_scans_reject_bad_inputs(scan):
    name = scan.__name__
    with pytest.raises(ValueError, match=rf"{name}: x must have shape \(4,\)"):
        scan(torch.rand(4), torch.rand(5))
    with pytest.raises(TypeError, match=f"{name}: x must have dtype"):
        scan(torch.rand(4), INT)
    with pytest.raises(TypeError, match=f"{name}: x must be a torch.Tensor"):
        scan(torch.rand(4), 1.0)


def test_decays_outside_the_unit_interval_have_no_logarithm():
    for bad in ([-0.1], [1.5]):
        with pytest.raises(ValueError, match=r"log_decays: a must lie in \[0, 1\]"):
            recurrence.log_decays(torch.tensor(bad))
    with pytest.raises(ValueError, match=r"cumulative_log_decays: a must lie in \[0, 1\].*got values in \[0.5, 2\]"):
        recurrence.cumulative_log_decays(torch.tensor([0.5, 2.0]))
    with pytest.raises(ValueError, match=r"decay_product: a must lie in \[0, 1\]"):
        recurrence.decay_product(torch.tensor([-1.0]), 0, 1)


def test_ranges_and_tiles_are_checked():
    a = torch.rand(8)
    with pytest.raises(ValueError, match=r"decay_product: need 0 <= start <= stop <= T = 8, got start=3, stop=2"):
        recurrence.decay_product(a, 3, 2)
    with pytest.raises(ValueError, match="decay_product: start must be >= 0, got -1"):
        recurrence.decay_product(a, -1, 2)
    with pytest.raises(TypeError, match="decay_product: stop must be an int, got float"):
        recurrence.decay_product(a, 0, 2.0)
    with pytest.raises(ValueError, match="cumulative_log_decays: T = 8 must be a multiple of the tile size 3"):
        recurrence.cumulative_log_decays(a, tile=3)
    with pytest.raises(ValueError, match="cumulative_log_decays: tile must be >= 1, got 0"):
        recurrence.cumulative_log_decays(a, tile=0)
    with pytest.raises(ValueError, match="diagonal_tiles: T = 8 must be a multiple of the tile size b = 3"):
        recurrence.diagonal_tiles(a, 3)
    with pytest.raises(ValueError, match=r"diagonal_tiles: a must lie in \[0, 1\]"):
        recurrence.diagonal_tiles(torch.full((4,), 1.5), 2)
    with pytest.raises(ValueError, match="diagonal_tiles: b must be >= 1, got 0"):
        recurrence.diagonal_tiles(a, 0)


@pytest.mark.parametrize("function", [recurrence.impulse_response, recurrence.varying_decays])
def test_scalar_decay_arguments_are_checked(function):
    name = function.__name__
    with pytest.raises(TypeError, match=f"{name}: a must be a real number, got str"):
        function("0.5", 4)
    with pytest.raises(ValueError, match=f"{name}: a must be finite, got nan"):
        function(math.nan, 4)
    with pytest.raises(ValueError, match=f"{name}: T must be >= 1, got 0"):
        function(0.5, 0)
    with pytest.raises(TypeError, match=f"{name}: T must be an int, got float"):
        function(0.5, 4.0)


def test_window_and_varying_decays_need_a_in_the_unit_interval():
    for function in (recurrence.effective_window, lambda a: recurrence.varying_decays(a, 3)):
        with pytest.raises(ValueError, match=r"a must be in \[0, 1\], got 1.5"):
            function(1.5)
    with pytest.raises(TypeError, match="effective_window: a must be a real number, got bool"):
        recurrence.effective_window(True)
    with pytest.raises(TypeError, match="effective_window: a must be a real number, got Tensor"):
        recurrence.effective_window(torch.tensor(0.5))
