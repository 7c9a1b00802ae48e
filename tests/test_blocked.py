import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from swr_tutor import blocked
from swr_tutor.recurrence import reference_scan, sequential_scan, transfer_operator


def decays(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def padded(a, b):
    return F.pad(a, (0, -a.shape[-1] % b), value=1.0)


# ---- tile_factors -------------------------------------------------------------------------------


def test_tile_factors_by_definition():
    a = torch.tensor([2.0, 3.0, 5.0, 7.0, 11.0, 13.0], dtype=torch.float64)
    g, r, c = blocked.tile_factors(a, 3)
    assert g.tolist() == [[2, 6, 30], [7, 77, 1001]]
    assert r.tolist() == [[15, 5, 1], [143, 13, 1]]
    assert c.tolist() == [30, 1001]


def test_tile_factors_pad_with_ones_and_keep_batch_axes():
    a = decays(2, 3, 5)
    g, r, c = blocked.tile_factors(a, 4)
    assert g.shape == r.shape == (2, 3, 2, 4) and c.shape == (2, 3, 2)
    assert torch.equal(g[..., 1, 1:], g[..., 1, :1].expand(-1, -1, 3))  # padding multiplies by 1
    assert torch.equal(c, g[..., -1])


def test_tile_factors_are_exact_for_zero_and_one():
    a = torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float32)
    g, r, c = blocked.tile_factors(a, 4)
    assert g.tolist() == [[1, 0, 0, 0]] and r.tolist() == [[0, 1, 1, 1]] and c.tolist() == [0]


# ---- local operators, beta, off-diagonal blocks, blocked operator, split_tiles --------------------


def test_local_operators_are_the_diagonal_blocks():
    a = decays(3, 32)
    tiles = blocked.split_tiles(transfer_operator(a), 8)
    assert torch.equal(blocked.local_operators(a, 8), tiles.diagonal(dim1=-4, dim2=-3).movedim(-1, -3))


def test_beta_is_the_product_of_whole_tiles_strictly_between():
    a = decays(40)
    c = a.reshape(-1, 8).prod(-1)
    assert blocked.beta(a, 1, 0, 8).item() == 1.0
    torch.testing.assert_close(blocked.beta(a, 4, 0, 8), c[1:4].prod(), rtol=1e-14, atol=0)


def test_off_diagonal_block_matches_the_operator():
    a = decays(2, 48)
    L = blocked.split_tiles(transfer_operator(a))
    torch.testing.assert_close(blocked.off_diagonal_block(a, 2, 0), L[:, 2, 0], rtol=1e-12, atol=1e-15)


def test_blocked_operator_equals_the_tiled_transfer_operator():
    a = decays(2, 37)
    tiles = blocked.split_tiles(transfer_operator(padded(a, 8)), 8)
    torch.testing.assert_close(blocked.blocked_operator(a, 8), tiles, rtol=1e-12, atol=1e-15)


def test_split_tiles_layout():
    L = torch.arange(16.0).reshape(4, 4)
    assert blocked.split_tiles(L, 2)[1, 0].tolist() == [[8, 9], [12, 13]]


# ---- carrier system ----------------------------------------------------------------------------


def test_carrier_states_are_the_states_at_tile_ends():
    a, x = decays(2, 40), torch.randn(2, 40, 3, dtype=torch.float64)
    h = reference_scan(a, x)
    torch.testing.assert_close(blocked.carrier_states(a, x, 8), h[:, 7::8], rtol=1e-12, atol=1e-12)
    assert blocked.carrier_states(a, x[..., 0], 8).shape == (2, 5)


def test_carrier_scan_keeps_dtype_and_shape():
    a, x = decays(5).float(), torch.randn(5, dtype=torch.float32)
    h = blocked.carrier_scan(a, x, 2)
    assert h.dtype == torch.float32 and h.shape == (5,)
    torch.testing.assert_close(h, sequential_scan(a, x))


# ---- properties --------------------------------------------------------------------------------

special = st.sampled_from([0.0, 1.0, 1e-12, 0.5])
decay = st.one_of(special, st.floats(0.0, 1.0))


@st.composite
def problems(draw):
    T = draw(st.one_of(st.sampled_from([1, 15, 16, 17]), st.integers(1, 300)))
    b = draw(st.sampled_from([1, 4, 16]))
    values = draw(st.lists(decay, min_size=T, max_size=T))
    D = draw(st.sampled_from([None, 1, 3]))
    x = torch.randn(T if D is None else (T, D), generator=torch.Generator().manual_seed(T), dtype=torch.float64)
    return torch.tensor(values, dtype=torch.float64), x, b


@settings(max_examples=60, deadline=None)
@given(problems())
def test_carrier_scan_equals_the_reference(problem):
    a, x, b = problem
    h = blocked.carrier_scan(a, x, b)
    assert torch.isfinite(h).all()
    torch.testing.assert_close(h, reference_scan(a, x), rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(problems())
def test_every_off_diagonal_block_is_g_beta_r_and_rank_at_most_one(problem):
    a, _, b = problem
    tiles = blocked.split_tiles(transfer_operator(padded(a, b)), b)
    K = tiles.shape[0]
    below = [(k, j) for k in range(K) for j in range(k)][:40]
    for k, j in below:
        torch.testing.assert_close(blocked.off_diagonal_block(a, k, j, b), tiles[k, j], rtol=1e-12, atol=1e-300)
    normal = [tiles[k, j] for k, j in below if tiles[k, j].abs().max() > 1e-200]  # far from underflow
    if normal:
        assert (torch.linalg.matrix_rank(torch.stack(normal)) <= 1).all()


# ---- operator_costs ----------------------------------------------------------------------------


def test_operator_costs_rows_and_growth():
    rows = {row["method"]: row for row in blocked.operator_costs(1024, 16, 64)}
    assert list(rows) == ["dense", "blocked", "carrier"]
    assert rows["dense"]["flops"] == 2 * 1024**2 * 64
    assert rows["dense"]["bytes"] == 4 * (1024**2 + 2 * 1024 * 64)
    assert rows["carrier"]["flops"] == 64 * (2 * 16**2 + 4 * 16 + 2) * 64
    doubled = {row["method"]: row for row in blocked.operator_costs(2048, 16, 64)}
    assert doubled["dense"]["flops"] == 4 * rows["dense"]["flops"]
    assert doubled["carrier"]["flops"] == 2 * rows["carrier"]["flops"]
    assert 2 < doubled["blocked"]["flops"] / rows["blocked"]["flops"] < 4


def test_operator_costs_for_a_partial_tile():
    carrier = blocked.operator_costs(17, 16, 1)[2]
    assert carrier["flops"] == math.ceil(17 / 16) * (2 * 16**2 + 4 * 16 + 2)


# ---- bad inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize("b", [0, -3])
def test_tile_size_must_be_positive(b):
    with pytest.raises(ValueError, match="b must be >= 1"):
        blocked.carrier_scan(decays(8), decays(8), b)
    with pytest.raises(ValueError, match="b must be >= 1"):
        blocked.tile_factors(decays(8), b)


def test_tile_size_must_be_an_int():
    with pytest.raises(TypeError, match="b must be an int"):
        blocked.tile_factors(decays(8), 4.0)


def test_decays_must_be_a_float_tensor():
    with pytest.raises(TypeError, match="a must have dtype"):
        blocked.tile_factors(torch.ones(8, dtype=torch.int64))
    with pytest.raises(TypeError, match="a must be a torch.Tensor"):
        blocked.carrier_scan([0.5, 0.5], decays(2))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        blocked.carrier_scan(decays(2), [1.0, 2.0])


def test_shapes_must_match():
    with pytest.raises(ValueError, match="x must have shape"):
        blocked.carrier_scan(decays(8), decays(7))
    with pytest.raises(ValueError, match="L must be square"):
        blocked.split_tiles(torch.zeros(4, 8), 4)
    with pytest.raises(ValueError, match="multiple of b"):
        blocked.split_tiles(torch.zeros(6, 6), 4)


def test_empty_sequence_is_refused():
    with pytest.raises(ValueError, match="T"):
        blocked.carrier_scan(torch.ones(0), torch.ones(0))
    with pytest.raises(ValueError, match="T >= 1"):
        blocked.tile_factors(torch.ones(0))


def test_tile_indices_are_checked():
    a = decays(32)
    with pytest.raises(ValueError, match="j < k"):
        blocked.off_diagonal_block(a, 1, 1)
    with pytest.raises(ValueError, match="k must be a tile index below K = 2"):
        blocked.beta(a, 2, 0)
    with pytest.raises(ValueError, match="j must be >= 0"):
        blocked.beta(a, 1, -1)


def test_operator_costs_checks_sizes():
    with pytest.raises(ValueError, match="T must be >= 1"):
        blocked.operator_costs(0)
    with pytest.raises(TypeError, match="D must be an int"):
        blocked.operator_costs(16, 16, 2.5)
