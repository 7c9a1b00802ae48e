"""The phalanx benchmark suite, run end to end at tiny shapes on the CPU (its timings mean nothing there)."""
import pytest

from swr_tutor.bench import __main__ as bench_main
from swr_tutor.bench import phalanx


@pytest.fixture
def tiny_suite(monkeypatch):
    monkeypatch.setattr(phalanx, "median_ms", lambda step: step() or 1.0)
    monkeypatch.setattr(phalanx, "TOKENS", 64)
    monkeypatch.setattr(phalanx, "QUICK_CONTEXTS", (32,))
    monkeypatch.setattr(phalanx, "D_MODEL", 32)
    monkeypatch.setattr(phalanx, "ATTENTION_HEADS", 2)
    monkeypatch.setattr(phalanx, "VOCAB", 16)


def test_suite_rows(tiny_suite):
    rows = phalanx.run_phalanx(quick=True)
    assert [row.name.split(":")[0] for row in rows] == ["layer fwd+bwd"] * 2 + ["train step"] * 3
    assert all(row.ms == 1.0 and row.shape == {"B": 2, "T": 32, "C": 32} for row in rows), [r.note for r in rows]
    assert rows[0].max_rel_err < 1e-2 and rows[1].ratio == 1.0 and rows[-1].ratio == 1.0
    assert all(row.extra["tokens_per_s"] == 64_000 for row in rows[2:])


def test_suite_is_registered():
    assert bench_main.SUITES["phalanx"] == ("swr_tutor.bench.phalanx", "run_phalanx")
