"""The jagged window of a sliding window recurrence: which inputs a token sees, what the truncation costs,
and an explorer (a live ipywidget and a static animation drawn by one function).

SWR with tiles of b positions keeps two tile-diagonals of the transfer operator L[t, s] = a_{s+1} ... a_t:
token t = kb + i sees its own tile up to t and the whole previous tile, b + i + 1 inputs (17 to 32 for
b = 16; the t + 1 inputs 0..t in the first tile). The nearest input it drops lies b + i + 1 steps back, so
with decays in [0, a_max] the weight it drops is at most a_max^(b+1) / (1 - a_max).
"""
import io
from collections.abc import Iterable

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.patches import Rectangle

from . import plotting, recurrence, validate
from .blocked import TILE
from .swr import swr_mask

EXPLORER_T = 48                # positions shown by the explorer: three tiles of 16
EXPLORER_TILES = (4, 8, 16)    # tile sizes the explorer offers (divisors of EXPLORER_T)
WINDOW_FIGURE = {"ncols": 2, "width": 4.2, "height": 3.4}
DROPPED_COLOR = "#c8c8c8"      # the entries of L that SWR drops
MAX_FRAMES = 32


def jagged_window(t: int, b: int = TILE) -> range:
    """The positions s whose inputs reach y_t: from the start of the tile before t's (0 in the first tile) to t."""
    validate.positive_int("jagged_window", "t", t, minimum=0)
    validate.positive_int("jagged_window", "b", b)
    return range(max(0, (t // b - 1) * b), t + 1)


def uniform_window_mask(T: int, w: int) -> torch.Tensor:
    """(T, T) bool: the last w inputs of every token, 0 <= t - s < w (a sliding window of attention)."""
    validate.positive_int("uniform_window_mask", "T", T)
    validate.positive_int("uniform_window_mask", "w", w)
    steps_back = torch.arange(T)[:, None] - torch.arange(T)[None, :]
    return (steps_back >= 0) & (steps_back < w)


def swr_operator(a: torch.Tensor, b: int = TILE) -> torch.Tensor:
    """L (..., T, T) with the entries outside the jagged window set to 0: y = swr_operator(a, b) @ x is SWR."""
    validate.positive_int("swr_operator", "b", b)
    L = recurrence.transfer_operator(validate.tensor("swr_operator", "a", a))
    return L * swr_mask(L.shape[-1], b).to(L.device)


def truncation_error_bound(a_max: float, b: int = TILE) -> float:
    """a_max^(b+1) / (1 - a_max): the most weight SWR drops from any row of L when every decay is in [0, a_max].

    It bounds the error per unit of input: max_t |y_t - h_t| <= bound * max_s |x_s|.
    """
    a_max = recurrence._real("truncation_error_bound", "a_max", a_max)
    if not 0.0 <= a_max < 1.0:
        raise ValueError(f"truncation_error_bound: a_max must be in [0, 1) (at 1 nothing decays and the bound "
                         f"is infinite), got {a_max}")
    validate.positive_int("truncation_error_bound", "b", b)
    return a_max ** (b + 1) / (1.0 - a_max)


def measured_truncation_error(a: torch.Tensor, x: torch.Tensor, b: int = TILE) -> float:
    """max_t |y_t - h_t| / max_s |x_s| in float64: SWR (the jagged-window operator) against the exact recurrence.

    a (..., T), x (..., T) or (..., T, D) with D channels sharing a decay. 0 for x = 0.
    """
    a, x = validate.decays_and_inputs("measured_truncation_error", a, x)
    validate.positive_int("measured_truncation_error", "b", b)
    a, x = a.double(), x.double()
    channels = x if x.dim() > a.dim() else x.unsqueeze(-1)
    error = (swr_operator(a, b) @ channels).squeeze(-1) - recurrence.reference_scan(a, x)
    scale = x.abs().max()
    return 0.0 if scale == 0 else (error.abs().max() / scale).item()


# ---- the explorer ----------------------------------------------------------------------------------------

def _bound_text(a: float, b: int) -> str:
    return "∞" if a == 1.0 else f"{truncation_error_bound(a, b):.3g}"


def _position(fn: str, t, T: int) -> int:
    validate.positive_int(fn, "t", t, minimum=0)
    if t >= T:
        raise ValueError(f"{fn}: t must be a position below T = {T}, got {t}")
    return t


def draw_window(axes, a: float, t: int, b: int = TILE, *, T: int = EXPLORER_T) -> None:
    """Draw token t's jagged window for a constant decay a on two axes: the operator L with the window of row t
    outlined (entries SWR drops in grey), and the weight of every input in y_t, exact against SWR."""
    a = recurrence._unit_decay("draw_window", a)
    validate.positive_int("draw_window", "b", b)
    validate.positive_int("draw_window", "T", T)
    t = _position("draw_window", t, T)
    matrix_ax, weights_ax = axes
    L = recurrence.transfer_operator(torch.full((T,), a, dtype=torch.float64))
    kept = swr_mask(T, b)
    dropped = (L != 0) & ~kept
    window = jagged_window(t, b)

    plotting.heatmap(matrix_ax, L * kept, f"L for a = {a:.2f}, tiles of b = {b}", log=True, tile=b,
                     colorbar=False, vmin=-4)
    matrix_ax.imshow(np.where(dropped.numpy(), 1.0, np.nan), cmap=ListedColormap([DROPPED_COLOR]),
                     interpolation="nearest")
    matrix_ax.add_patch(Rectangle((window.start - 0.5, t - 0.5), len(window), 1, fill=False,
                                  ec=plotting.COLORS["highlight"], lw=1.5))

    positions = np.arange(t + 1)
    exact, kept_weights = L[t, : t + 1].numpy(), (L * kept)[t, : t + 1].numpy()
    weights_ax.bar(positions, exact, width=0.8, color=plotting.COLORS["exact"], alpha=0.35,
                   label="exact: $L[t, s]$")
    weights_ax.bar(positions, kept_weights, width=0.8, color=plotting.COLORS["window"], label="SWR keeps")
    weights_ax.axvspan(window.start - 0.5, t + 0.5, color=plotting.COLORS["window"], alpha=0.12, lw=0)
    weights_ax.set_xlim(-1, T)
    weights_ax.set_ylim(0, 1.25)
    weights_ax.set_xlabel("input position s")
    weights_ax.set_ylabel(f"weight of $x_s$ in $y_{{{t}}}$")
    weights_ax.set_title(f"t = {t}: {len(window)} inputs kept, dropped weight {exact.sum() - kept_weights.sum():.3g} "
                         f"(bound {_bound_text(a, b)})", fontsize=9)
    weights_ax.legend(loc="upper left", ncol=2)


def _window_png(a: float, t: int, b: int, T: int, dpi: int) -> bytes:
    fig, axes = plotting.subplots(**WINDOW_FIGURE)
    draw_window(axes, a, t, b, T=T)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def _explorer_tile(fn: str, b) -> int:
    validate.positive_int(fn, "b", b)
    if b not in EXPLORER_TILES:
        raise ValueError(f"{fn}: b must be one of {EXPLORER_TILES}, got {b}")
    return b


def sweep(b: int = TILE, T: int = EXPLORER_T) -> range:
    """The animation's default positions: every other position of tiles 1 and 2 (below T)."""
    return range(b, min(3 * b, T), 2)


def window_explorer(a: float = 0.9, t: int = 37, b: int = TILE, *, T: int = EXPLORER_T, dpi: int = 80):
    """A live explorer: sliders for the tile size b, the decay a and the position t, and draw_window's picture.

    Returns an ipywidgets.VBox; the picture is an Image widget redrawn whenever a slider moves.
    """
    import ipywidgets as widgets

    a = recurrence._unit_decay("window_explorer", a)
    b = _explorer_tile("window_explorer", b)
    validate.positive_int("window_explorer", "T", T)
    t = _position("window_explorer", t, T)
    validate.positive_int("window_explorer", "dpi", dpi)
    image = widgets.Image(format="png", value=_window_png(a, t, b, T, dpi))
    tile = widgets.SelectionSlider(options=EXPLORER_TILES, value=b, description="tile b")
    decay = widgets.FloatSlider(value=a, min=0.0, max=1.0, step=0.01, description="decay a",
                                continuous_update=False)
    position = widgets.IntSlider(value=t, min=0, max=T - 1, description="position t", continuous_update=False)

    def redraw(_change=None):
        image.value = _window_png(decay.value, position.value, tile.value, T, dpi)

    for slider in (tile, decay, position):
        slider.observe(redraw, names="value")
    return widgets.VBox([widgets.HBox([tile, decay, position]), image])


def window_animation(a: float = 0.9, positions=None, b: int = TILE, *, T: int = EXPLORER_T, dpi: int = 70):
    """The static fallback: one frame per position t (default: every other position of tiles 1 and 2), as an
    HTML player that needs no kernel (a matplotlib FuncAnimation rendered with ``to_jshtml``)."""
    from IPython.display import HTML
    from matplotlib.animation import FuncAnimation

    a = recurrence._unit_decay("window_animation", a)
    b = _explorer_tile("window_animation", b)
    validate.positive_int("window_animation", "T", T)
    validate.positive_int("window_animation", "dpi", dpi)
    positions = sweep(b, T) if positions is None else positions
    if not isinstance(positions, Iterable):
        raise TypeError(f"window_animation: positions must be a sequence of positions t, "
                        f"got {type(positions).__name__}")
    positions = [_position("window_animation", t, T) for t in positions]
    if not 1 <= len(positions) <= MAX_FRAMES:
        raise ValueError(f"window_animation: positions must hold 1 to {MAX_FRAMES} positions (one frame each), "
                         f"got {len(positions)}")
    fig, axes = plotting.subplots(**WINDOW_FIGURE)

    def frame(i):
        for ax in axes:
            ax.clear()
        draw_window(axes, a, positions[i], b, T=T)

    animation = FuncAnimation(fig, frame, frames=len(positions), interval=600)
    with matplotlib.rc_context({"savefig.dpi": dpi}):
        player = animation.to_jshtml(default_mode="loop")
    plt.close(fig)
    return HTML(player)
