import json

import pytest
import torch

from swr_tutor.bench import common
from swr_tutor.bench.__main__ import main


def test_table_shows_missing_values_as_dashes():
    rows = [common.Row("b2p", {"B": 8, "T": 8192}, "copy roofline", 0.094, gbps=2855.0, ratio=1.0),
            common.Row("b2p", {"B": 8, "T": 8192}, "peer", None, note="not installed")]
    table = common.format_table(rows)
    assert "B=8,T=8192" in table and "0.094" in table and "2855" in table
    assert table.splitlines()[-1].split()[2] == "-" and table.endswith("not installed")


def test_results_round_trip(tmp_path):
    path = tmp_path / "b2p_test.json"
    rows = [common.Row("b2p", {"T": 16}, "ours", 1.5, max_rel_err=1e-3)]
    record = {"suite": "b2p", "command": "x", "environment": {"device": "test"},
              "rows": [common.asdict(r) for r in rows]}
    path.write_text(json.dumps(record))
    assert common.load_results(path)["rows"] == rows


def test_relative_error():
    ref = torch.tensor([3.0, 4.0])
    assert common.relative_error(ref, ref) == 0
    assert common.relative_error(ref * 1.01, ref) == pytest.approx(0.01)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_benchmarks_refuse_to_run_without_a_gpu(capsys):
    assert main(["b2p"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
