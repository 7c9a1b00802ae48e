"""swr_tutor.notebook_runs: the notebooks run against the built wheel, away from the source tree."""
import json
import os
from pathlib import Path

import pytest

from swr_tutor import notebook_runs
from swr_tutor.bench.common import ROOT, Row


def _notebook(path: Path, *sources: str) -> Path:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
              "source": source} for i, source in enumerate(sources)]
    kernel = {"display_name": "Python 3", "language": "python", "name": "python3"}
    path.write_text(json.dumps({"cells": cells, "metadata": {"kernelspec": kernel}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_the_reader_runs_every_chapter_and_both_appendices():
    names = [p.name for p in notebook_runs.notebooks()]
    assert names[0] == "01_scalar_recurrence.ipynb" and names[-2:] == ["benchmarks.ipynb", "solutions.ipynb"]
    assert [p.stem for p in notebook_runs.notebooks(["02", "solutions"])] == ["02_lower_triangular_system", "solutions"]
    with pytest.raises(SystemExit, match="no notebook starts with"):
        notebook_runs.notebooks(["99"])


def test_reader_environment_leaves_the_repository_off_the_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), "/wheels/site", str(ROOT) + "/"]))
    env = notebook_runs.reader_environment(tmp_path)
    assert env["PYTHONPATH"].split(os.pathsep) == [str(tmp_path), "/wheels/site"]
    assert env["SWR_TUTOR_DATA_URL"] == (ROOT / "book" / "data").as_uri() + "/"


def test_append_keeps_the_rows_of_other_notebooks(tmp_path):
    out = tmp_path / "runs.json"
    rows = [Row("notebook_runs", {}, name, None, extra={"seconds": 1.0, "passed": True})
            for name in ("chapters/01.ipynb", "book/solutions.ipynb", "chapters/02.ipynb")]
    notebook_runs.write(out, rows, {"device": "cpu"}, "python -m swr_tutor.notebook_runs")
    stored = json.loads(out.read_text())
    assert [row["name"] for row in stored["rows"]] == ["chapters/01.ipynb", "chapters/02.ipynb", "book/solutions.ipynb"]
    kept = notebook_runs.earlier_rows(out, {"chapters/02.ipynb"})
    assert [row.name for row in kept] == ["chapters/01.ipynb", "book/solutions.ipynb"]
    assert notebook_runs.earlier_rows(tmp_path / "none.json", set()) == []


@pytest.mark.slow
def test_run_notebook_reports_passes_and_failures(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    good = _notebook(tmp_path / "good.ipynb", "x = 1", "assert x == 1")
    bad = _notebook(tmp_path / "bad.ipynb", "x = 1", "assert x == 2, 'x is not two'")
    passed = notebook_runs.run_notebook(good, scratch, dict(os.environ))
    failed = notebook_runs.run_notebook(bad, scratch, dict(os.environ))
    assert passed.extra["passed"] and passed.extra["cells"] == 2 and "2 passed" in passed.note
    assert not failed.extra["passed"] and failed.extra["cells"] == 2 and "1 failed" in failed.note
    assert failed.name == f"{tmp_path.name}/bad.ipynb" and failed.extra["seconds"] > 0


@pytest.mark.slow
def test_a_chapter_runs_against_the_installed_wheel(tmp_path):
    out = tmp_path / "notebook_runs.json"
    assert notebook_runs.main(["--out", str(out), "--chapters", "02"]) == 0
    record = json.loads(out.read_text())
    assert record["suite"] == "notebook_runs" and record["environment"]["device"]
    assert record["environment"]["wheel"].startswith("swr_tutor-") and record["environment"]["nbval"]
    assert record["environment"]["swr_tutor_imported_from"] == "site/swr_tutor"
    (row,) = record["rows"]
    assert row["name"] == "chapters/02_lower_triangular_system.ipynb" and row["extra"]["passed"]
    assert row["extra"]["cells"] > 10
