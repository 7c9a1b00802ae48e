"""swr_tutor.benchplots: lookups, tables and pictures of stored benchmark records (no measuring)."""
import math

import matplotlib
import numpy as np
import pytest

from swr_tutor import benchplots, plotting
from swr_tutor.bench.common import ROOT, Row, load_results

matplotlib.use("Agg")

SHAPE_A, SHAPE_B = {"B": 1, "T": 16}, {"B": 2, "T": 32}


def _record(rows=None) -> dict:
    rows = rows or [
        Row("b2p", SHAPE_A, "copy roofline (read x, write y)", 1.0, ratio=1.0),
        Row("b2p", SHAPE_A, "ours: Triton forward", 1.5, ratio=1.5),
        Row("b2p", SHAPE_A, "peer", None, note="not installed (peer)"),
        Row("b2p", SHAPE_B, "copy roofline (read x, write y)", 2.0, ratio=1.0),
        Row("b2p", SHAPE_B, "ours: Triton forward", 2.2, ratio=1.1),
        Row("b2p", SHAPE_B, "peer", 6.0, ratio=3.0),
    ]
    env = {"device": "NVIDIA Test GPU", "capability": "9.0", "torch": "2.0", "cuda": "13.0", "triton": "3.6.0",
           "date": "2026-01-02T03:04:05+00:00"}
    return {"suite": "b2p", "command": "x", "environment": env, "rows": rows}


def test_shapes_and_names_keep_the_measured_order():
    record = _record()
    assert benchplots.shapes(record) == [SHAPE_A, SHAPE_B]
    assert benchplots.names(record) == ["ours: Triton forward", "peer"]
    assert benchplots.names(record, calibration=True)[0].startswith("copy roofline")


def test_find_by_dict_or_tuple_and_a_clear_error():
    record = _record()
    assert benchplots.find(record, "peer", SHAPE_B).ratio == 3.0
    assert benchplots.find(record, "peer", (2, 32)).ms == 6.0
    assert benchplots.find(record, "ours: Triton forward").ms == 1.5  # first shape when none is given
    with pytest.raises(KeyError, match=r"no row named 'missing'.*\(B, T\) = \(1, 16\)"):
        benchplots.find(record, "missing", SHAPE_A)


def test_labels():
    assert benchplots.shape_label({"B": 8, "T": 65536}) == "(B, T) = (8, 65536)"
    assert benchplots.shape_label((8, 16)) == "(8, 16)"
    summary = benchplots.environment_summary(_record())
    assert summary == "NVIDIA Test GPU (sm 9.0), torch 2.0, CUDA 13.0, Triton 3.6.0, measured 2026-01-02"


def test_markdown_table_has_a_line_per_name_and_marks_missing_values():
    table = benchplots.markdown_table(_record()).splitlines()
    assert table[0] == "| | B=1 T=16 | B=2 T=32 |"
    assert table[2] == "| copy roofline (read x, write y) | 1.00 | 1.00 |"
    assert table[-1] == "| peer | n/a | 3.00 |"
    assert benchplots.markdown_table(_record(), value="ms", names_shown=["peer"], spec=".1f").splitlines()[-1] \
        == "| peer | n/a | 6.0 |"
    with pytest.raises(ValueError, match="numeric Row field"):
        benchplots.markdown_table(_record(), value="note")


def test_plot_ratios_draws_a_bar_per_measured_row():
    fig, ax = plotting.subplots()
    bars = benchplots.plot_ratios(_record(), ax)
    assert [bar is None for bar in bars["peer"]] == [True, False]
    assert math.isclose(bars["peer"][1].get_height(), 3.0)
    assert bars["ours: Triton forward"][0].get_facecolor()[:3] == matplotlib.colors.to_rgb(plotting.COLORS["kernel"])
    assert ax.get_yscale() == "log"
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[-1] == "x: did not run (see the row's note)" and "copy roofline (1)" in labels
    assert labels.count("peer") == 1  # labelled by its bar at the second shape
    with pytest.raises(ValueError, match="'ratio' or 'ms'"):
        benchplots.plot_ratios(_record(), ax, value="gbps")
    matplotlib.pyplot.close(fig)


def _tuning_record() -> dict:
    rows = [Row("b2p-tuning", SHAPE_A, "copy roofline (read x, write y)", 1.0, ratio=1.0)]
    for block_t, warps, forward, backward in [(16, 1, 1.1, 2.3), (16, 2, 1.5, 3.3), (32, 1, 1.2, None)]:
        extra = dict(block_t=block_t, num_warps=warps)
        rows.append(Row("b2p-tuning", SHAPE_A, f"forward block_t={block_t} num_warps={warps}", forward,
                        ratio=forward, extra=extra))
        rows.append(Row("b2p-tuning", SHAPE_A, f"backward block_t={block_t} num_warps={warps}", backward,
                        ratio=backward))  # no extra: the settings are read from the name
    return _record(rows)


def test_tuning_grid():
    block_ts, warps, grid = benchplots.tuning_grid(_tuning_record(), "forward")
    assert (block_ts, warps) == ([16, 32], [1, 2])
    np.testing.assert_array_equal(grid, [[1.1, 1.5], [1.2, np.nan]])
    assert np.isnan(benchplots.tuning_grid(_tuning_record(), "backward")[2][1, 0])
    with pytest.raises(ValueError, match="no rows for the pass 'sideways'"):
        benchplots.tuning_grid(_tuning_record(), "sideways")


def test_plot_tuning_writes_every_value_in():
    fig, axes = plotting.subplots(ncols=2)
    benchplots.plot_tuning(_tuning_record(), axes)
    texts = [t.get_text() for t in axes[1].texts]
    assert texts == ["2.30", "3.30", "n/a", "n/a"]
    matplotlib.pyplot.close(fig)


@pytest.mark.parametrize("name", ["b2p_h100.json", "b2p_tuning_h100.json"])
def test_the_stored_records_plot(name):
    record = load_results(ROOT / "book" / "data" / name)
    fig, ax = plotting.subplots(ncols=2)
    if record["suite"] == "b2p-tuning":
        benchplots.plot_tuning(record, ax)
        assert benchplots.tuning_grid(record, "backward")[2].shape == (3, 3)
    else:
        benchplots.plot_ratios(record, ax[0])
        assert len(benchplots.markdown_table(record).splitlines()) == 2 + len(benchplots.names(record, calibration=True))
    matplotlib.pyplot.close(fig)


def test_load_book_data_reads_the_repository_copy():
    record = benchplots.load_book_data("b2p_h100.json")
    assert record["suite"] == "b2p" and isinstance(record["rows"][0], Row)


def test_load_book_data_fetches_what_is_not_there(tmp_path, monkeypatch):
    stored = (ROOT / "book" / "data" / "b2p_tuning_h100.json").read_bytes()
    asked = []

    class Response:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return stored

    def fake_urlopen(url, timeout):
        asked.append(url)
        if not url.endswith("b2p_tuning_h100.json"):
            raise OSError("404")
        return Response()

    monkeypatch.setattr(benchplots.urllib.request, "urlopen", fake_urlopen)
    monkeypatch.setattr(benchplots.Path, "home", lambda: tmp_path)
    record = benchplots.load_book_data("b2p_tuning_h100.json", data_dir=tmp_path / "nothing")
    assert asked == [benchplots.DATA_URL + "b2p_tuning_h100.json"] and record["suite"] == "b2p-tuning"
    with pytest.raises(FileNotFoundError, match="neither in .* nor at .*missing.json"):
        benchplots.load_book_data("missing.json", data_dir=tmp_path / "nothing")


def test_data_url_is_the_books_repository():
    from swr_tutor import chapters

    config = chapters.book_config()
    repo = config["repository"]["url"].removeprefix("https://github.com/")
    assert benchplots.DATA_URL == f"https://raw.githubusercontent.com/{repo}/{config['repository']['branch']}/book/data/"


def test_the_books_rows_differ_by_hatching():
    rows = [Row("b2p", SHAPE_A, "copy roofline (read x, write y)", 1.0, ratio=1.0)]
    rows += [Row("b2p", SHAPE_A, f"ours: {name}", 2.0, ratio=2.0) for name in ("forward", "forward+backward", "step")]
    fig, ax = plotting.subplots()
    bars = benchplots.plot_ratios(_record(rows), ax)
    hatches = [bars[f"ours: {name}"][0].get_hatch() for name in ("forward", "forward+backward", "step")]
    assert hatches == [None, "//", ".."]
    matplotlib.pyplot.close(fig)


# ---- the benchmarks appendix: any record, whatever its suite --------------------------------------------------

def test_every_stored_record_has_a_reproducing_command_and_a_table():
    names = benchplots.book_data_names()
    assert "b2p_h100.json" in names
    for name in names:
        record = benchplots.load_book_data(name)
        assert f"--out book/data/{name}" in benchplots.reproduce_command(record, name)
        assert len(benchplots.rows_table(record).splitlines()) == 2 + len(record["rows"])


def test_reproduce_command_replaces_or_adds_the_output_file():
    record = _record()
    record["command"] = "python -m swr_tutor.bench b2p --out /root/out/b2p_h100.json --quick"
    assert benchplots.reproduce_command(record, "b2p_h100.json") == \
        "python -m swr_tutor.bench b2p --out book/data/b2p_h100.json --quick"
    record["command"] = "python -m swr_tutor.bench b2p"
    assert benchplots.reproduce_command(record, "x.json") == "python -m swr_tutor.bench b2p --out book/data/x.json"


def test_rows_table_shows_only_the_fields_a_record_has():
    rows = [Row("new-suite", {}, "thing | one", None, note="did not run", extra={"seconds": 1.5, "nested": {}}),
            Row("new-suite", {}, "thing two", 2.0, extra={"seconds": 3})]
    table = benchplots.rows_table({"suite": "new-suite", "command": "", "environment": {}, "rows": rows})
    assert table.splitlines()[0] == "| name | ms | seconds | note |"
    assert table.splitlines()[2] == "| thing \\| one |  | 1.5 | did not run |"
    assert table.splitlines()[3] == "| thing two | 2 | 3 |  |"


def test_plot_record_draws_the_known_suites_and_leaves_the_rest_to_the_table():
    known = benchplots.plot_record(_record())
    assert [t.get_text() for t in known.axes[0].get_legend().get_texts()].count("copy roofline (1)") == 1
    assert "NVIDIA Test GPU (sm 9.0)" in known._suptitle.get_text()
    assert benchplots.plot_record(dict(_record(), suite="something new")) is None
    runs = [Row("notebook_runs", {}, "chapters/01.ipynb", None, extra={"seconds": 12.0, "passed": True}),
            Row("notebook_runs", {}, "chapters/02.ipynb", None, extra={"seconds": 3.0, "passed": False})]
    figure = benchplots.plot_record(dict(_record(runs), suite="notebook_runs"))
    bars = figure.axes[0].patches
    assert [bar.get_width() for bar in bars] == [12.0, 3.0]
    assert bars[1].get_facecolor()[:3] == matplotlib.colors.to_rgb(plotting.COLORS["highlight"])


def test_suite_info_describes_known_and_unknown_suites():
    assert "torch SDPA" in benchplots.suite_info("simplicial").describe()
    assert "higher is faster" in benchplots.suite_info("simplicial").describe()
    assert "its module in swr_tutor.bench" in benchplots.suite_info("not a suite").describe()


def test_environment_summary_of_a_cpu_record_leaves_out_what_it_lacks():
    record = {"environment": {"device": "CPU (x86_64, 2 cores)", "torch": "2.13", "cuda": None, "triton": "3.9",
                              "date": "2026-01-02T00:00:00"}}
    assert benchplots.environment_summary(record) == "CPU (x86_64, 2 cores), torch 2.13, Triton 3.9, measured 2026-01-02"
