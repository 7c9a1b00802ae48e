"""Explorers for the book: a live ipywidget for a running kernel and a static fallback for the built HTML.

Each explorer draws with one plotting function, so the widget and its fallback always show the same picture.
"""
import io
import math
from collections.abc import Iterable

import matplotlib
import matplotlib.pyplot as plt
import torch

from . import plotting, recurrence, validate

DECAY_FIGURE = {"width": 5.6, "height": 2.8}


def input_weights(a: torch.Tensor) -> torch.Tensor:
    """w (T,): w_k is the weight of the input k steps back, x_{T-1-k}, in the last state h_{T-1}.

    The last row of the transfer operator, read from the diagonal backwards: w_k = a_{T-k} ... a_{T-1}.
    """
    a = validate.tensor("input_weights", "a", a, dims=1)
    return recurrence.transfer_operator(a)[-1].flip(-1)


def draw_decay_weights(ax, a: float, *, time_varying: bool = False, T: int = 64) -> None:
    """Draw the weight each past input gets in h_{T-1}, with the effective window 1/(1-a) marked."""
    a = recurrence._unit_decay("draw_decay_weights", a)
    validate.positive_int("draw_decay_weights", "T", T)
    lags = torch.arange(T).numpy()
    constant = input_weights(torch.full((T,), a, dtype=torch.float64)).numpy()
    if time_varying:
        ax.plot(lags, constant, color=plotting.COLORS["highlight"], lw=1.2, zorder=3, label="constant a")
        weights = input_weights(recurrence.varying_decays(a, T)).numpy()
        ax.bar(lags, weights, width=0.8, color=plotting.COLORS["exact"], label="time-varying $a_t$")
    else:
        ax.bar(lags, constant, width=0.8, color=plotting.COLORS["exact"], label="$a^k$")
    window = recurrence.effective_window(a)
    if window < T:
        ax.axvspan(-0.5, window - 0.5, color=plotting.COLORS["window"], alpha=0.15, lw=0)
        ax.axvline(window - 0.5, color=plotting.COLORS["window"], ls="--", lw=1.2,
                   label=f"effective window 1/(1-a) = {window:.1f}")
    ax.set_xlim(-1, T)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("k: steps back")
    ax.set_ylabel("weight of $x_{t-k}$ in $h_t$")
    ax.set_title(f"a = {a:.2f}" + (" (nothing is forgotten)" if window == math.inf else ""))
    ax.legend(loc="upper right")


def _figure_png(a: float, time_varying: bool, T: int, dpi: int) -> bytes:
    fig, ax = plotting.subplots(**DECAY_FIGURE)
    draw_decay_weights(ax, a, time_varying=time_varying, T=T)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def decay_explorer(a: float = 0.9, *, T: int = 64, dpi: int = 80):
    """A live explorer: a slider for the decay a, a toggle constant / time-varying, and the weights plot.

    Returns an ipywidgets.VBox; the plot is an Image widget redrawn whenever a control changes.
    """
    import ipywidgets as widgets

    a = recurrence._unit_decay("decay_explorer", a)
    validate.positive_int("decay_explorer", "T", T)
    validate.positive_int("decay_explorer", "dpi", dpi)
    slider = widgets.FloatSlider(value=a, min=0.0, max=1.0, step=0.01, description="a", continuous_update=False)
    toggle = widgets.ToggleButtons(options=[("constant", False), ("time-varying", True)], value=False,
                                   description="decays")
    image = widgets.Image(format="png", value=_figure_png(a, False, T, dpi))

    def redraw(_change=None):
        image.value = _figure_png(slider.value, toggle.value, T, dpi)

    slider.observe(redraw, names="value")
    toggle.observe(redraw, names="value")
    return widgets.VBox([widgets.HBox([slider, toggle]), image])


DEFAULT_ANIMATION_DECAYS = (0.0, 0.3, 0.5, 0.65, 0.75, 0.82, 0.87, 0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 1.0)


def decay_animation(a_values=DEFAULT_ANIMATION_DECAYS, *, time_varying: bool = False, T: int = 64, dpi: int = 100):
    """The static fallback: one frame per decay in ``a_values``, as an HTML player that needs no kernel.

    A matplotlib FuncAnimation rendered with ``to_jshtml`` (PNG frames embedded in the page).
    """
    from IPython.display import HTML
    from matplotlib.animation import FuncAnimation

    if not isinstance(a_values, Iterable):
        raise TypeError(f"decay_animation: a_values must be a sequence of decays, got {type(a_values).__name__}")
    a_values = [recurrence._unit_decay("decay_animation", a) for a in a_values]
    if not 1 <= len(a_values) <= 32:
        raise ValueError(f"decay_animation: a_values must hold 1 to 32 decays (one frame each), got {len(a_values)}")
    validate.positive_int("decay_animation", "T", T)
    validate.positive_int("decay_animation", "dpi", dpi)
    fig, ax = plotting.subplots(**DECAY_FIGURE)

    def frame(i):
        ax.clear()
        draw_decay_weights(ax, a_values[i], time_varying=time_varying, T=T)

    animation = FuncAnimation(fig, frame, frames=len(a_values), interval=700)
    with matplotlib.rc_context({"savefig.dpi": dpi}):
        player = animation.to_jshtml(default_mode="loop")
    plt.close(fig)
    return HTML(player)
