"""swr_tutor.scans: the operator, the networks and their counts, the block scan, the traffic model."""
import dataclasses
import math

import matplotlib.pyplot as plt
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from swr_tutor import scans
from swr_tutor.recurrence import reference_scan, sequential_scan

POWERS_OF_TWO = [2**k for k in range(1, 11)]
FORMULAS = {  # (work, depth) at n = 2^k, k = log2 n
    scans.hillis_steele: lambda n, k: (n * k - (n - 1), k),
    scans.sklansky: lambda n, k: (n // 2 * k, k),
    scans.brent_kung: lambda n, k: (2 * n - 2 - k, 2 * k - 1),
    scans.blelloch: lambda n, k: (2 * (n - 1), 2 * k),
    scans.serial: lambda n, k: (n - 1, n - 1),
}
BUILDERS = list(FORMULAS)

finite = st.floats(-10, 10, allow_nan=False)
decay = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 1))
pair = st.tuples(st.floats(-2, 2, allow_nan=False), finite)


@given(pair, pair, pair)
def test_combine_is_associative(p, q, r):
    left = scans.combine(scans.combine(p, q), r)
    right = scans.combine(p, scans.combine(q, r))
    assert all(math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-9) for u, v in zip(left, right))


@given(pair)
def test_identity_on_both_sides(p):
    assert scans.combine(scans.IDENTITY, p) == p
    assert scans.combine(p, scans.IDENTITY) == p


def test_combine_is_one_step_then_the_other_and_not_commutative():
    first, second = (0.5, 1.0), (0.25, 2.0)
    assert scans.combine(first, second) == (0.125, 0.25 * 1.0 + 2.0)
    assert scans.combine(second, first) != scans.combine(first, second)


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
@pytest.mark.parametrize("n", POWERS_OF_TWO)
def test_work_and_depth_formulas(builder, n):
    network = builder(n)
    assert (network.work, network.depth) == FORMULAS[builder](n, int(math.log2(n)))
    result = scans.run_network(network, torch.rand(n), torch.randn(n))
    assert (result.work, result.depth) == (network.work, network.depth)


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_one_position_needs_no_combine(builder):
    network = builder(1)
    assert (network.work, network.depth) == (0, 0)
    result = scans.run_network(network, torch.tensor([0.3], dtype=torch.float64), torch.tensor([2.0]))
    assert result.h.tolist() == [2.0] and result.decay.tolist() == [0.3]


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_every_network_equals_the_loop(data):
    n = data.draw(st.integers(1, 300))
    a = torch.tensor(data.draw(st.lists(decay, min_size=n, max_size=n)), dtype=torch.float64)
    x = torch.tensor(data.draw(st.lists(finite, min_size=n, max_size=n)), dtype=torch.float64)
    for builder in BUILDERS:
        result = scans.run_network(builder(n), a, x)
        torch.testing.assert_close(result.h, sequential_scan(a, x), rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(result.decay, torch.cumprod(a, 0), rtol=1e-9, atol=1e-12)


def test_run_network_on_batches_and_channels():
    a, x = torch.rand(2, 3, 37), torch.randn(2, 3, 37, 4)
    result = scans.run_network(scans.blelloch(37), a, x)
    assert result.h.shape == x.shape and result.decay.shape == a.shape
    torch.testing.assert_close(result.h, reference_scan(a, x))
    torch.testing.assert_close(result.decay, torch.cumprod(a.double(), -1))


def test_run_network_rejects_the_wrong_length():
    with pytest.raises(ValueError, match="scans n = 8 positions but a has T = 9"):
        scans.run_network(scans.sklansky(8), torch.rand(9), torch.rand(9))
    with pytest.raises(TypeError, match="run_network: a must be a torch.Tensor"):
        scans.run_network(scans.sklansky(2), [0.5, 0.5], torch.rand(2))


def test_builders_reject_bad_sizes():
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        scans.hillis_steele(0)
    with pytest.raises(TypeError, match="n must be an int"):
        scans.blelloch(4.0)


def test_a_level_is_a_parallel_step():
    with pytest.raises(ValueError, match="level 0 writes a slot twice"):
        scans.Network("bad", 2, 2, (scans.Level(combines=((1, 0, 1),), clears=(1,)),))
    with pytest.raises(ValueError, match="outside 0..1"):
        scans.Network("bad", 2, 2, (scans.Level(combines=((1, 0, 2),)),))


def test_blelloch_leaves_the_exclusive_scan_before_the_total():
    a, x = torch.rand(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    network = scans.blelloch(8)
    assert network.slots == 9 and network.first_output == 1
    exclusive = scans.run_network(dataclasses.replace(network, first_output=0), a, x).h
    h = sequential_scan(a, x)
    torch.testing.assert_close(exclusive, torch.cat([torch.zeros(1, dtype=torch.float64), h[:-1]]))


def test_fix_up_by_hand():
    carry_h = torch.tensor([0.0, 2.0])
    local_decay = torch.tensor([[0.5, 0.25], [0.5, 0.0]])
    local_h = torch.tensor([[1.0, 1.0], [3.0, 4.0]])
    assert scans.fix_up(carry_h, local_decay, local_h).tolist() == [[1.0, 1.0], [4.0, 4.0]]


@pytest.mark.parametrize("chunk", [1, 3, 8, 37, 64])
@pytest.mark.parametrize("builder", [scans.hillis_steele, scans.blelloch, scans.serial], ids=lambda b: b.__name__)
def test_chunked_scan_equals_the_loop(chunk, builder):
    a, x = torch.rand(2, 37, dtype=torch.float64), torch.randn(2, 37, 3, dtype=torch.float64)
    a[:, ::7] = 0.0
    a[:, 1::9] = 1.0
    torch.testing.assert_close(scans.chunked_scan(a, x, chunk, builder), sequential_scan(a, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("chunk, error", [(0, ValueError), (-2, ValueError), (2.0, TypeError), (True, TypeError)])
def test_chunked_scan_rejects_a_bad_chunk(chunk, error):
    with pytest.raises(error, match="chunked_scan: chunk must"):
        scans.chunked_scan(torch.rand(8), torch.rand(8), chunk)


def test_traffic_by_hand():
    model = scans.TrafficModel()  # fp32, 32-byte sectors: 8 values per sector
    assert model.sectors([0, 7]) == 1 and model.sectors([0, 8, 16]) == 3
    # Hillis-Steele on 8 slots: 3 levels, each reads one sector and writes one sector of a and of x.
    assert scans.flat_traffic(scans.hillis_steele(8)) == scans.Traffic(3, 3 * 2 * 2 * 32)
    assert scans.chunked_traffic(64, 8, one_pass=True) == scans.Traffic(1, 64 * 12)
    reduce, scan_totals, rescan = 64 * 8 + 2 * 32, 3 * 32, 64 * 12 + 32
    assert scans.chunked_traffic(64, 8, one_pass=False) == scans.Traffic(3, reduce + scan_totals + rescan)


def test_flat_scans_move_more_than_one_pass():
    T = 1024
    one_pass = scans.chunked_traffic(T, 256, one_pass=True).bytes
    assert one_pass < scans.chunked_traffic(T, 256, one_pass=False).bytes
    for builder in scans.NETWORKS:
        assert scans.flat_traffic(builder(T)).bytes > 2 * one_pass


def test_draw_network_draws_every_combine():
    fig, ax = plt.subplots()
    network = scans.brent_kung(16)
    scans.draw_network(ax, network)
    assert len(ax.lines) == 2 * network.work and "work 26, depth 7" in ax.get_title()
    plt.close(fig)
