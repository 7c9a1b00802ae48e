"""The Triton kernels compiled for a T4 (sm_75, fp16: Colab's default GPU) on this CPU machine, from the launches
the launchers make (recorded on meta tensors by tests/_kernels_on_target.py): shared memory per program against the
T4's 64 KiB. Compiling needs no GPU; a T4 has not run them here. Compiling for sm_75 is slow without Triton's cache,
so the shapes are few and the last test compiles one kernel."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
T4_SHARED_MEMORY = 64 * 1024


def _compiled_for_t4(suite: str, *shapes, only: tuple[str, ...] = ()) -> list[dict]:
    env = dict(os.environ, TRITON_INTERPRET="0", PYTHONPATH=str(ROOT))
    args = [",".join(map(str, shape)) for shape in shapes] + (["--only", *only] if only else [])
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "_kernels_on_target.py"), "75", "fp16", suite, *args],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def _too_big(rows: list[dict]) -> list[dict]:
    return [row for row in rows if row["shared"] > T4_SHARED_MEMORY]


@pytest.mark.slow
def test_b2p_kernels_fit_a_t4():
    rows = _compiled_for_t4("b2p", (2, 4, 1024, 16), (1, 2, 300, 64), (1, 1, 17, 5))
    assert {row["kernel"] for row in rows} == {"b2p_forward_kernel", "b2p_backward_kernel"}
    assert not _too_big(rows)


@pytest.mark.slow
def test_simplicial_kernels_fit_a_t4_at_the_chapters_shapes():
    rows = _compiled_for_t4("simplicial", (1, 512, 4, 2, 16, 128, 32), (1, 512, 4, 1, 8, 128, 32))  # chapters 8, 9
    assert {row["kernel"] for row in rows} == {"forward_kernel", "rows_backward_kernel", "inner_backward_kernel",
                                               "row_dot_kernel"}
    assert not _too_big(rows)


@pytest.mark.slow
def test_simplicial_backward_fits_a_t4_up_to_d_64_not_above():
    """Above D = 64 the tiles are 128 columns wide: the backward's operands and the accumulators' layout changes
    take 80-96 KiB. The launchers turn Triton's error into one that says so (tests/test_simplicial.py)."""
    rows = _compiled_for_t4("simplicial", (1, 256, 64, 1, 64, 128, 32), (2, 256, 8, 8, 96, 128, 32),
                            only=("inner_backward_kernel",))
    assert {row["constants"]["HEAD_DIM"] for row in _too_big(rows)} == {"96"}
    assert {row["constants"]["HEAD_DIM"] for row in rows} == {"64", "96"}
