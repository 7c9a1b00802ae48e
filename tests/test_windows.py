"""swr_tutor.windows: the jagged window, the truncation bound against measured errors, and the window explorer."""
import math

import matplotlib.pyplot as plt
import pytest
import torch
from hypothesis import given, settings, strategies as st
from IPython.display import HTML

from swr_tutor import check, plotting, windows
from swr_tutor.recurrence import reference_scan, transfer_operator
from swr_tutor.swr import b2p_reference, swr_mask



def within_bound(measured, a_max, b):
    """measured <= bound, up to float64 rounding of states as large as max|x| / (1 - a_max)."""
    return measured <= windows.truncation_error_bound(a_max, b) + 1e-12 / (1 - a_max)


@pytest.mark.parametrize("b", [1, 4, 16])
def test_jagged_window_holds_b_plus_1_to_2b_inputs_after_the_first_tile(b):
    T = 5 * b
    sizes = [len(windows.jagged_window(t, b)) for t in range(T)]
    assert sizes[:b] == list(range(1, b + 1))  # the first tile has no previous tile
    assert sizes[b:] == [b + 1 + t % b for t in range(b, T)]
    assert min(sizes[b:]) == b + 1 and max(sizes) == 2 * b


def test_jagged_window_for_16_token_tiles_is_17_to_32_tokens():
    assert {len(windows.jagged_window(t)) for t in range(16, 256)} == set(range(17, 33))
    assert windows.jagged_window(37) == range(16, 38)


@pytest.mark.parametrize("T, b", [(1, 16), (48, 16), (50, 16), (24, 4), (7, 1)])
def test_jagged_windows_are_the_rows_of_swr_mask(T, b):
    rows = torch.zeros(T, T, dtype=torch.bool)
    for t in range(T):
        rows[t, list(windows.jagged_window(t, b))] = True
    assert torch.equal(rows, swr_mask(T, b))


def test_uniform_windows_bracket_the_jagged_window():
    T, b = 80, 16
    jagged = swr_mask(T, b)
    assert torch.equal(windows.uniform_window_mask(T, 2 * b) | jagged, windows.uniform_window_mask(T, 2 * b))
    assert torch.equal(windows.uniform_window_mask(T, b + 1) & jagged, windows.uniform_window_mask(T, b + 1))
    assert torch.equal(windows.uniform_window_mask(T, T), torch.ones(T, T, dtype=torch.bool).tril())
    assert windows.uniform_window_mask(T, 32).sum(1)[31:].eq(32).all()


def test_swr_operator_is_b2p_at_16_token_tiles():
    a = torch.rand(2, 3, 50, dtype=torch.float64)
    x = torch.randn(2, 3, 50, 4, dtype=torch.float64)
    check(windows.swr_operator(a) @ x, b2p_reference(a, x), quiet=True)


def test_bound_values():
    assert windows.truncation_error_bound(0.0, 16) == 0.0
    assert math.isclose(windows.truncation_error_bound(0.5, 16), 0.5**16)
    assert math.isclose(windows.truncation_error_bound(0.9, 4), 0.9**5 / 0.1)


def _decays_up_to(a_max, shape, seed):
    """Decays a_max^(1 + u), u uniform in [0, 1): in [a_max^2, a_max]."""
    u = torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.full(shape, a_max, dtype=torch.float64) ** (1 + u)


@settings(max_examples=40, deadline=None)
@given(a_max=st.floats(1e-6, 0.999), T=st.integers(1, 160), b=st.sampled_from([4, 8, 16]), seed=st.integers(0, 99))
def test_measured_error_never_exceeds_the_bound(a_max, T, b, seed):
    x = torch.randn(2, T, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    random_decays = _decays_up_to(a_max, (2, T), seed)
    worst_case = torch.full((T,), a_max, dtype=torch.float64), torch.ones(T, dtype=torch.float64)
    assert within_bound(windows.measured_truncation_error(random_decays, x, b), a_max, b)
    assert within_bound(windows.measured_truncation_error(*worst_case, b), a_max, b)


@pytest.mark.parametrize("a_max, b", [(0.5, 4), (0.9, 8), (0.95, 16)])
def test_bound_is_reached_by_a_constant_decay_and_input(a_max, b):
    T = 40 * b
    measured = windows.measured_truncation_error(torch.full((T,), a_max, dtype=torch.float64),
                                                 torch.ones(T, dtype=torch.float64), b)
    assert within_bound(measured, a_max, b)
    assert measured >= 0.99 * windows.truncation_error_bound(a_max, b)


def test_measured_error_is_the_largest_error_per_unit_input():
    a, x = torch.rand(3, 40, dtype=torch.float64), torch.randn(3, 40, dtype=torch.float64)
    y = (transfer_operator(a) * swr_mask(40, 8)) @ x.unsqueeze(-1)
    expected = (y.squeeze(-1) - reference_scan(a, x)).abs().max() / x.abs().max()
    assert math.isclose(windows.measured_truncation_error(a, x, 8), expected.item())
    assert windows.measured_truncation_error(a, torch.zeros(3, 40), 8) == 0.0
    assert windows.measured_truncation_error(torch.ones(40), torch.ones(40), 8) == 24  # a = 1: h_39 = 40, y_39 = 16


@pytest.mark.parametrize("a, t, b", [(0.0, 0, 16), (0.9, 37, 16), (1.0, 20, 4), (0.5, 47, 8)])
def test_draw_window(a, t, b):
    fig, axes = plotting.subplots(**windows.WINDOW_FIGURE)
    windows.draw_window(axes, a, t, b)
    title = axes[1].get_title()
    assert title.startswith(f"t = {t}: {len(windows.jagged_window(t, b))} inputs kept")
    assert ("bound ∞" in title) == (a == 1.0)
    plt.close(fig)


def test_window_explorer_redraws_when_a_slider_moves():
    explorer = windows.window_explorer(0.9, 37, 16)
    (tile, decay, position), image = explorer.children[0].children, explorer.children[1]
    assert (tile.value, decay.value, position.value) == (16, 0.9, 37)
    pictures = [bytes(image.value)]
    for slider, value in ((tile, 8), (decay, 1.0), (position, 3)):
        slider.value = value
        pictures.append(bytes(image.value))
    assert all(p.startswith(b"\x89PNG") for p in pictures)
    assert len(set(pictures)) == len(pictures)


def test_window_animation_is_a_small_self_contained_player():
    player = windows.window_animation(0.8, positions=(16, 24, 31))
    assert isinstance(player, HTML)
    assert 'class="animation"' in player.data
    assert player.data.count("data:image/png;base64") == 3
    assert len(player.data) / 3 < 1e6 / 16  # 16 frames stay under 1 MB


def test_default_animation_sweeps_two_tiles_in_12_to_16_frames():
    assert list(windows.sweep(16)) == list(range(16, 48, 2))
    assert 12 <= len(windows.sweep(16)) <= 16
    assert list(windows.sweep(4)) == [4, 6, 8, 10]


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: windows.jagged_window(-1), ValueError, "jagged_window: t must be >= 0, got -1"),
        (lambda: windows.jagged_window(3, 0), ValueError, "jagged_window: b must be >= 1, got 0"),
        (lambda: windows.jagged_window(3.0), TypeError, "jagged_window: t must be an int, got float"),
        (lambda: windows.uniform_window_mask(8, 0), ValueError, "uniform_window_mask: w must be >= 1, got 0"),
        (lambda: windows.truncation_error_bound(1.0, 16), ValueError,
         r"truncation_error_bound: a_max must be in \[0, 1\)"),
        (lambda: windows.truncation_error_bound(-0.1), ValueError,
         r"truncation_error_bound: a_max must be in \[0, 1\)"),
        (lambda: windows.truncation_error_bound("0.5"), TypeError,
         "truncation_error_bound: a_max must be a real number, got str"),
        (lambda: windows.truncation_error_bound(0.5, -16), ValueError,
         "truncation_error_bound: b must be >= 1, got -16"),
        (lambda: windows.truncation_error_bound(0.5, 16.0), TypeError, "truncation_error_bound: b must be an int"),
        (lambda: windows.measured_truncation_error(torch.ones(4), torch.ones(5)), ValueError,
         "measured_truncation_error: x must have shape"),
        (lambda: windows.measured_truncation_error([0.5], torch.ones(1)), TypeError,
         "measured_truncation_error: a must be a torch.Tensor, got list"),
        (lambda: windows.measured_truncation_error(torch.ones(4), torch.ones(4), 0), ValueError,
         "measured_truncation_error: b must be >= 1, got 0"),
        (lambda: windows.swr_operator(torch.ones(4), b=0), ValueError, "swr_operator: b must be >= 1, got 0"),
        (lambda: windows.draw_window(None, 0.5, 48), ValueError, "draw_window: t must be a position below T = 48"),
        (lambda: windows.draw_window(None, 0.5, 3, 0), ValueError, "draw_window: b must be >= 1, got 0"),
        (lambda: windows.window_explorer(1.5), ValueError, r"window_explorer: a must be in \[0, 1\], got 1.5"),
        (lambda: windows.window_explorer(0.5, b=5), ValueError, r"window_explorer: b must be one of \(4, 8, 16\)"),
        (lambda: windows.window_explorer(0.5, t=60), ValueError, "window_explorer: t must be a position below T"),
        (lambda: windows.window_animation(positions=[]), ValueError, "window_animation: positions must hold 1 to 32"),
        (lambda: windows.window_animation(positions=5), TypeError, "window_animation: positions must be a sequence"),
        (lambda: windows.window_animation(positions=[3, 50]), ValueError,
         "window_animation: t must be a position below T = 48, got 50"),
        (lambda: windows.window_animation(-0.5), ValueError, r"window_animation: a must be in \[0, 1\]"),
    ],
)
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()
