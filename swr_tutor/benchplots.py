"""Pictures and tables of stored benchmark results (book/data/*.json), for the chapters and the benchmarks appendix.

A record is what ``swr_tutor.bench.common.load_results`` returns: ``{"suite", "command", "environment",
"rows": [Row, ...]}``. Every row has a shape (a dict such as ``{"B": 8, "H": 16, "T": 8192, "D": 64}``), a name
and a time ``ms`` (None when the configuration did not run; its ``note`` says why) and a ``ratio`` to the
suite's calibration row of the same shape (the copy roofline for memory-bound kernels).

These functions only read stored numbers: nothing here measures anything.
"""
import json
import os
import re
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.patches import Rectangle

from .bench.common import ROOT, load_results
from .plotting import COLORS

# Where the stored results live when swr_tutor was installed without the repository (on Colab): the same
# repository and branch as the chapters' setup cell (a test keeps this in step with _config.yml).
# SWR_TUTOR_DATA_URL replaces it, e.g. with a file:// URL where no network is (python -m swr_tutor.notebook_runs).
DATA_URL = os.environ.get("SWR_TUTOR_DATA_URL", "https://raw.githubusercontent.com/swr-tutor/swr-tutor/main/book/data/")
CALIBRATION_PREFIX = "copy roofline"
# Rows whose name starts with one of these are the book's own kernels (drawn in the kernel colour).
OURS_PREFIX = "ours"
_OURS_HATCHES = (None, "//", "..", "xx")  # the book's rows share one colour and differ by hatching
_PEER_SHADES = ("#4d4d4d", "#7f7f7f", "#a6a6a6", "#5b7fa6", "#8fa9c4", "#b58b5a", "#d0b48f", "#6b8e6b")


def book_data_dir() -> Path:
    """book/data of the repository when there is one, else the copy installed inside the package."""
    repository = ROOT / "book" / "data"
    return repository if repository.is_dir() else Path(__file__).resolve().parent / "data"


def load_book_data(name: str, *, data_dir: Path | None = None, url: str = DATA_URL) -> dict:
    """The stored record book/data/``name`` (a JSON file), from the repository or the installed package, else
    fetched from ``url`` (a record newer than the installed copy)."""
    path = (data_dir or book_data_dir()) / name
    if path.is_file():
        return load_results(path)
    try:
        with urllib.request.urlopen(url + name, timeout=30) as response:
            record = json.loads(response.read().decode())
    except OSError as e:
        raise FileNotFoundError(f"load_book_data: {name} is neither in {path.parent} nor at {url + name} "
                                f"({e}); run the notebook from a clone of the repository") from e
    cached = Path.home() / ".cache" / "swr_tutor" / name
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(record))
    return load_results(cached)


def shape_key(shape) -> tuple:
    """A shape dict (or tuple) as a tuple of its values, in the record's order: {"B": 8, "T": 4} -> (8, 4)."""
    return tuple(shape.values()) if isinstance(shape, dict) else tuple(shape)


def shape_label(shape) -> str:
    """'(B, H, T, D) = (8, 16, 8192, 64)' for a shape dict; '(8, 16, 8192, 64)' for a tuple."""
    if isinstance(shape, dict):
        return f"({', '.join(shape)}) = ({', '.join(map(str, shape.values()))})"
    return str(tuple(shape))


def shape_words(shape: dict) -> list[str]:
    """['B=8', 'H=16', ...] for a shape dict."""
    return [f"{k}={v}" for k, v in shape.items()]


def _tick_label(shape: dict) -> str:
    """Two lines, 'B=8 H=16' over 'T=8192 D=64': fits under a group of bars."""
    items = shape_words(shape)
    half = (len(items) + 1) // 2
    return " ".join(items[:half]) + "\n" + " ".join(items[half:])


def shapes(record: dict) -> list[dict]:
    """The distinct shapes of a record, in the order they were measured."""
    seen = {}
    for row in record["rows"]:
        seen.setdefault(shape_key(row.shape), row.shape)
    return list(seen.values())


def names(record: dict, *, calibration: bool = False) -> list[str]:
    """The distinct row names, in the order they were measured; without the calibration row unless asked."""
    found = dict.fromkeys(row.name for row in record["rows"])
    return [n for n in found if calibration or not n.startswith(CALIBRATION_PREFIX)]


def find(record: dict, name: str, shape=None):
    """The row called ``name`` at ``shape`` (a dict or a tuple of its values; any shape if None)."""
    for row in record["rows"]:
        if row.name == name and (shape is None or shape_key(row.shape) == shape_key(shape)):
            return row
    measured = ", ".join(shape_label(s) for s in shapes(record))
    raise KeyError(f"find: no row named {name!r} at shape {shape!r} in this record (shapes: {measured}; "
                   f"names: {names(record, calibration=True)})")


def environment_summary(record: dict) -> str:
    """One line: device, capability, versions and date of a record (what a CPU record lacks is left out)."""
    env = record["environment"]
    capability = f" (sm {env['capability']})" if env.get("capability") else ""
    versions = [f"{label} {env[key]}" for key, label in (("torch", "torch"), ("cuda", "CUDA"), ("triton", "Triton"))
                if env.get(key)]
    date = str(env.get("date", "?"))[:10]
    return f"{env.get('device', '?')}{capability}, " + ", ".join(versions + [f"measured {date}"])


def _color(name: str, index: int) -> str:
    if name.startswith(OURS_PREFIX):
        return COLORS["kernel"]
    return _PEER_SHADES[index % len(_PEER_SHADES)]


def plot_ratios(record: dict, ax, *, names_shown: list[str] | None = None, value: str = "ratio",
                log: bool = True, legend: bool = True, calibration: str = "copy roofline",
                ratio_label: str = "time / copy roofline"):
    """Grouped bars: one group per shape, one bar per row name, height ``value`` ("ratio" or "ms").

    The calibration (ratio 1, named ``calibration``; ``ratio_label`` says what the ratio divides) is drawn as a
    line across the axis; a copy-roofline row is not drawn as a bar. Rows that did not run
    get a small 'x' at the bottom of their slot (one legend entry says what it means). Returns ``{name: [bar or None per shape]}``.
    """
    if value not in ("ratio", "ms"):
        raise ValueError(f"plot_ratios: value must be 'ratio' or 'ms', got {value!r}")
    shown = names_shown if names_shown is not None else names(record)
    groups = shapes(record)
    width = 0.8 / max(len(shown), 1)
    bars, peer_index, ours_index = {}, 0, 0
    for i, name in enumerate(shown):
        ours = name.startswith(OURS_PREFIX)
        color = _color(name, peer_index)
        hatch = _OURS_HATCHES[ours_index % len(_OURS_HATCHES)] if ours else None
        peer_index += not ours
        ours_index += ours
        bars[name], labelled = [], False
        for g, shape in enumerate(groups):
            row = find(record, name, shape)
            height = getattr(row, value)
            position = g - 0.4 + (i + 0.5) * width
            if height is None:  # did not run: an x at the foot of its slot
                ax.plot(position, 0, "x", color=color, transform=ax.get_xaxis_transform(), clip_on=False,
                        label="x: did not run (see the row's note)")
                bars[name].append(None)
            else:
                bars[name].append(ax.bar(position, height, width, color=color, hatch=hatch,
                                         edgecolor="white" if hatch else None, label=None if labelled else name)[0])
                labelled = True
    if value == "ratio":
        ax.axhline(1.0, color=COLORS["highlight"], lw=1, ls="--", label=f"{calibration} (1)")
        ax.set_ylabel(ratio_label)
    else:
        ax.set_ylabel("ms")
    if log:
        ax.set_yscale("log")
    ax.set_xticks(range(len(groups)), [_tick_label(s) for s in groups], fontsize=8)
    ax.grid(False, axis="x")
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        unique = {k: v for k, v in unique.items() if not k.startswith("x:")} | \
                 {k: v for k, v in unique.items() if k.startswith("x:")}  # the x's meaning last
        ax.legend(unique.values(), unique.keys(), fontsize=7, ncols=3, loc="upper center",
                  bbox_to_anchor=(0.5, -0.18))
    return bars


def markdown_table(record: dict, *, value: str = "ratio", names_shown: list[str] | None = None,
                   spec: str = ".2f") -> str:
    """A Markdown table: one line per row name, one column per shape, cells ``value`` (missing: 'n/a')."""
    if value not in ("ratio", "ms", "gbps", "tflops", "max_rel_err"):
        raise ValueError(f"markdown_table: value must be a numeric Row field, got {value!r}")
    shown = names_shown if names_shown is not None else names(record, calibration=True)
    groups = shapes(record)
    lines = ["| | " + " | ".join(" ".join(shape_words(s)) for s in groups) + " |",
             "|:---|" + "---:|" * len(groups)]
    for name in shown:
        cells = []
        for shape in groups:
            number = getattr(find(record, name, shape), value)
            cells.append("n/a" if number is None else format(number, spec))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _setting(row, key: str) -> int:
    if key in row.extra:
        return int(row.extra[key])
    match = re.search(rf"{key}=(\d+)", row.name)
    if not match:
        raise ValueError(f"tuning_grid: row {row.name!r} does not say its {key}")
    return int(match.group(1))


def tuning_grid(record: dict, pass_name: str, *, value: str = "ratio") -> tuple[list[int], list[int], np.ndarray]:
    """(block_ts, warps, grid) of a launch-setting sweep: grid[i, j] = ``value`` of ``pass_name`` ("forward"
    or "backward") at block_ts[i] and warps[j] (NaN where not measured)."""
    rows = [row for row in record["rows"] if row.name.startswith(f"{pass_name} ")]
    if not rows:
        raise ValueError(f"tuning_grid: no rows for the pass {pass_name!r} (names start with 'forward' or 'backward')")
    block_ts = sorted({_setting(row, "block_t") for row in rows})
    warps = sorted({_setting(row, "num_warps") for row in rows})
    grid = np.full((len(block_ts), len(warps)), np.nan)
    for row in rows:
        number = getattr(row, value)
        if number is not None:
            grid[block_ts.index(_setting(row, "block_t")), warps.index(_setting(row, "num_warps"))] = number
    return block_ts, warps, grid


def plot_tuning(record: dict, axes, *, passes: tuple[str, ...] = ("forward", "backward")):
    """One heat map per pass of the ratio to the copy roofline over block_t x num_warps, values written in,
    the best setting of each pass outlined."""
    images = []
    for ax, pass_name in zip(np.atleast_1d(axes), passes):
        block_ts, warps, grid = tuning_grid(record, pass_name)
        norm = LogNorm(vmin=min(1.0, np.nanmin(grid)), vmax=max(2.0, np.nanmax(grid)))
        image = ax.imshow(grid, cmap="Greens_r", norm=norm)
        best = np.unravel_index(np.nanargmin(grid), grid.shape)
        for (i, j), number in np.ndenumerate(grid):
            dark = not np.isnan(number) and norm(number) < 0.4
            ax.text(j, i, "n/a" if np.isnan(number) else f"{number:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if dark else "black", fontweight="bold" if (i, j) == best else None)
        ax.add_patch(Rectangle((best[1] - 0.5, best[0] - 0.5), 1, 1, fill=False, lw=2, edgecolor=COLORS["highlight"]))
        ax.set_xticks(range(len(warps)), warps)
        ax.set_yticks(range(len(block_ts)), block_ts)
        ax.set_xlabel("num_warps")
        ax.set_ylabel("block_t (positions per program)")
        ax.set_title(f"{pass_name}: time / copy")
        ax.grid(False)
        images.append(image)
    return images


# ---- the benchmarks appendix: every stored record, whatever its suite ----------------------------------------

@dataclass(frozen=True)
class Suite:
    """How the appendix presents a suite: what its ``ratio`` divides, what has ratio 1 (in words and as the
    figure's legend names it), which way is faster."""

    ratio: str
    calibration: str
    faster: str
    legend: str

    def describe(self) -> str:
        return f"ratio = {self.ratio} ({self.faster} is faster); ratio 1 is {self.calibration}, measured in the same run"


SUITES = {
    "b2p": Suite("time / copy roofline", "the copy roofline (read x, write y)", "lower", "copy roofline"),
    "b2p-tuning": Suite("time / copy roofline", "the copy roofline (read x, write y)", "lower", "copy roofline"),
    "simplicial": Suite("TFLOP/s / SDPA TFLOP/s", "torch SDPA (causal) in the same pass", "higher", "torch SDPA"),
    "simplicial-orders": Suite("TFLOP/s / streamed-order TFLOP/s", "the forward in the streamed loop order (the "
                               "smaller window walked, the larger one streamed in blocks)", "higher", "streamed order"),
    "phalanx": Suite("time / SWA-32 or AAAA", "SWA-32 for the layers, the full-attention model AAAA for the train steps",
                     "lower", "SWA-32 or AAAA"),
}


def suite_info(suite: str) -> Suite:
    """How to read a suite's ratios; a suite this module does not know gets a generic description."""
    return SUITES.get(suite, Suite("the suite's own ratio (its module in swr_tutor.bench says which)",
                                   "the suite's calibration row", "see the module", "calibration"))


_ROW_COLUMNS = (("ms", "ms", ".3g"), ("ratio", "ratio", ".3g"), ("tflops", "TFLOP/s", ".0f"),
                ("gbps", "GB/s", ".0f"), ("max_rel_err", "rel. error", ".1e"))


def book_data_names(data_dir: Path | None = None) -> list[str]:
    """The stored records (file names in book/data), sorted."""
    return sorted(path.name for path in (data_dir or book_data_dir()).glob("*.json"))


def reproduce_command(record: dict, name: str) -> str:
    """The record's own command, writing to book/data/``name``: run it on a GPU to measure the file again."""
    command = record.get("command") or f"python -m swr_tutor.bench {record['suite']}"
    out = f"--out book/data/{name}"
    return re.sub(r"--out\s+\S+", out, command) if "--out" in command else f"{command} {out}"


def _scalar_extras(record: dict) -> list[str]:
    keys = dict.fromkeys(k for row in record["rows"] for k, v in row.extra.items() if isinstance(v, (int, float, str, bool)))
    return list(keys)


def _cell(value, spec: str) -> str:
    if value is None or value == "":
        return ""
    return format(value, spec) if isinstance(value, float) else str(value).replace("|", "\\|")


def rows_table(record: dict) -> str:
    """A Markdown table of every row of any record: shape, name, the numeric fields that some row has, the
    scalar extras and the note. Needs nothing but the record format, so a new suite shows without new code."""
    rows = record["rows"]
    numeric = [(field, title, spec) for field, title, spec in _ROW_COLUMNS
               if any(getattr(row, field) is not None for row in rows)]
    extras = _scalar_extras(record)
    with_shape = any(row.shape for row in rows)
    titles = (["shape"] if with_shape else []) + ["name"] + [t for _, t, _ in numeric] + extras + ["note"]
    lines = ["| " + " | ".join(titles) + " |", "|" + "|".join(":---" if t in ("shape", "name", "note") else "---:"
                                                           for t in titles) + "|"]
    for row in rows:
        cells = ([" ".join(shape_words(row.shape))] if with_shape else []) + [_cell(row.name, "")]
        cells += [_cell(getattr(row, field), spec) for field, _, spec in numeric]
        cells += [_cell(row.extra.get(key), ".3g") for key in extras] + [_cell(row.note, "")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _plot_notebook_runs(record: dict, ax) -> None:
    rows = record["rows"]
    seconds = [row.extra.get("seconds", 0.0) for row in rows]
    colors = [COLORS["kernel"] if row.extra.get("passed") else COLORS["highlight"] for row in rows]
    ax.barh(range(len(rows)), seconds, color=colors)
    ax.set_yticks(range(len(rows)), [row.name for row in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds, top to bottom (green: passed, red: failed)")


def plot_record(record: dict):
    """The figure of a stored record by its suite, or None for a suite without one (its table says it all)."""
    import matplotlib.pyplot as plt

    from .plotting import subplots

    suite = record["suite"]
    if suite == "b2p-tuning":
        fig, axes = subplots(ncols=2, width=3.6, height=3.2)
        plot_tuning(record, axes)
    elif suite == "notebook_runs":
        fig, ax = subplots(width=6.0, height=0.3 * len(record["rows"]) + 1.0)
        _plot_notebook_runs(record, ax)
    elif suite in SUITES and any(row.ratio is not None for row in record["rows"]):
        info = SUITES[suite]
        fig, ax = subplots(width=7.0, height=3.6)
        plot_ratios(record, ax, calibration=info.legend, ratio_label=info.ratio)
    else:
        return None
    fig.suptitle(environment_summary(record), fontsize=8)
    plt.close(fig)
    return fig
