"""Plotting helpers with one look across the book (matplotlib)."""
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch

# One colour per idea, used the same way in every chapter.
COLORS = {
    "exact": "#1f4e79",      # exact recurrence / reference
    "window": "#d9822b",     # sliding window / truncation
    "kernel": "#2e8540",     # our kernels
    "peer": "#7f7f7f",       # other libraries
    "highlight": "#c0392b",  # the thing to look at
}
CMAP = "magma_r"

STYLE = {
    "figure.figsize": (7.0, 3.2),
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "image.cmap": CMAP,
}


def use_book_style() -> None:
    matplotlib.rcParams.update(STYLE)


def _numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().to("cpu", torch.float64).numpy()
    return np.asarray(values, dtype=float)


def heatmap(ax, matrix, title: str = "", *, log: bool = False, tile: int | None = None, colorbar: bool = True,
            vmin: float | None = None):
    """Show a (T, T) operator: rows are outputs t, columns inputs s. ``tile`` draws the block grid."""
    m = _numpy(matrix)
    if log:
        with np.errstate(divide="ignore"):
            m = np.where(m > 0, np.log10(np.abs(m)), np.nan)
    image = ax.imshow(m, cmap=CMAP, interpolation="nearest", vmin=vmin)
    ax.set_title(title)
    ax.set_xlabel("input position s")
    ax.set_ylabel("output position t")
    ax.grid(False)
    if tile:
        for edge in np.arange(tile, m.shape[0], tile) - 0.5:
            ax.axhline(edge, color="white", lw=0.6)
            ax.axvline(edge, color="white", lw=0.6)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="log10 |L|" if log else None)
    return image


def subplots(ncols: int = 1, nrows: int = 1, width: float = 3.4, height: float = 3.0, **kwargs):
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), constrained_layout=True, **kwargs)


use_book_style()
