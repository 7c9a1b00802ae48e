"""The 2-simplicial kernels compiled for a T4 (sm_75, fp16) on this CPU machine: shared memory per program against
the T4's 64 KiB. Compiling needs no GPU; tests/_simplicial_on_target.py records the launches on meta tensors."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
T4_SHARED_MEMORY = 64 * 1024
KERNELS = {"forward_kernel", "rows_backward_kernel", "inner_backward_kernel", "row_dot_kernel"}


def _compiled_for_t4(*shapes) -> list[dict]:
    env = dict(os.environ, TRITON_INTERPRET="0", PYTHONPATH=str(ROOT))
    args = [",".join(map(str, shape)) for shape in shapes]
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "_simplicial_on_target.py"), "75", "fp16", *args],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.slow
def test_the_chapters_and_moderate_shapes_fit_a_t4():
    rows = _compiled_for_t4((1, 512, 4, 2, 16, 128, 32), (1, 512, 4, 1, 8, 128, 32),   # chapters 8 and 9 on a GPU
                            (2, 256, 8, 8, 64, 128, 32), (1, 256, 16, 2, 64, 128, 128))
    assert {row["kernel"] for row in rows} == KERNELS
    assert all(row["shared"] <= T4_SHARED_MEMORY for row in rows), [r for r in rows if r["shared"] > T4_SHARED_MEMORY]


@pytest.mark.slow
def test_head_dimensions_above_64_overflow_a_t4_in_the_backward():
    """Above D = 64 the tiles are 128 columns wide: the backward's operands and the accumulators' layout changes
    take 80-96 KiB, with or without GQA. The launcher turns Triton's error into one that says so (tests/test_simplicial.py)."""
    rows = _compiled_for_t4((2, 256, 8, 8, 96, 128, 32), (1, 256, 64, 1, 128, 128, 32))
    too_big = {row["kernel"] for row in rows if row["shared"] > T4_SHARED_MEMORY}
    assert too_big == {"rows_backward_kernel", "inner_backward_kernel"}
