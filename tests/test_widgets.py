import matplotlib.pyplot as plt
import pytest
import torch
from IPython.display import HTML

from swr_tutor import plotting, recurrence, widgets


def controls(explorer):
    (slider, toggle), image = explorer.children[0].children, explorer.children[1]
    return slider, toggle, image


def test_input_weights_of_a_constant_decay_are_its_impulse_response():
    weights = widgets.input_weights(torch.full((12,), 0.8, dtype=torch.float64))
    torch.testing.assert_close(weights, recurrence.impulse_response(0.8, 12))


def test_input_weights_of_varying_decays_are_products_back_from_the_end():
    a = torch.tensor([0.1, 0.5, 0.2, 0.9], dtype=torch.float64)
    torch.testing.assert_close(widgets.input_weights(a), torch.tensor([1.0, 0.9, 0.18, 0.09], dtype=torch.float64))


@pytest.mark.parametrize("a, time_varying", [(0.0, False), (0.9, False), (0.9, True), (1.0, True)])
def test_draw_decay_weights(a, time_varying):
    fig, ax = plotting.subplots()
    widgets.draw_decay_weights(ax, a, time_varying=time_varying, T=32)
    labels = ax.get_legend_handles_labels()[1]
    assert ("effective window 1/(1-a) = " in " ".join(labels)) == (a < 1)
    assert ("nothing is forgotten" in ax.get_title()) == (a == 1)
    plt.close(fig)


def test_decay_explorer_redraws_when_a_control_changes():
    slider, toggle, image = controls(widgets.decay_explorer(0.9, T=24))
    assert slider.value == 0.9 and toggle.value is False
    first = bytes(image.value)
    assert first.startswith(b"\x89PNG")
    slider.value = 0.5
    second = bytes(image.value)
    assert second.startswith(b"\x89PNG") and second != first
    toggle.value = True
    assert bytes(image.value) != second
    slider.value = 1.0  # the edge: an infinite window
    assert bytes(image.value).startswith(b"\x89PNG")


def test_decay_animation_is_a_self_contained_player():
    player = widgets.decay_animation((0.5, 0.9, 1.0), T=16)
    assert isinstance(player, HTML)
    assert 'class="animation"' in player.data
    assert player.data.count("data:image/png;base64") == 3


def test_default_animation_stays_small():
    assert 12 <= len(widgets.DEFAULT_ANIMATION_DECAYS) <= 16


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: widgets.decay_explorer(1.5), ValueError, r"decay_explorer: a must be in \[0, 1\], got 1.5"),
        (lambda: widgets.decay_explorer(0.5, T=0), ValueError, "decay_explorer: T must be >= 1, got 0"),
        (lambda: widgets.decay_explorer("0.5"), TypeError, "decay_explorer: a must be a real number, got str"),
        (lambda: widgets.decay_animation([]), ValueError, "decay_animation: a_values must hold 1 to 32 decays"),
        (lambda: widgets.decay_animation([0.5] * 33), ValueError, "decay_animation: a_values must hold 1 to 32"),
        (lambda: widgets.decay_animation([0.5, -0.1]), ValueError, r"decay_animation: a must be in \[0, 1\]"),
        (lambda: widgets.decay_animation(0.5), TypeError, "decay_animation: a_values must be a sequence"),
        (lambda: widgets.decay_animation([0.5], dpi=0), ValueError, "decay_animation: dpi must be >= 1, got 0"),
        (lambda: widgets.draw_decay_weights(None, 2.0), ValueError, r"draw_decay_weights: a must be in \[0, 1\]"),
        (lambda: widgets.input_weights(torch.ones(2, 3)), ValueError, "input_weights: a must have 1 dimensions"),
    ],
)
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()
