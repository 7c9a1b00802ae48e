"""swr_tutor.distributed: SWR of a sequence split over P gloo processes equals SWR of the whole sequence.

Each spawn of P processes costs seconds, so one spawn per P checks several splits: uneven, shards shorter than a
tile, shards of one token, boundaries on and off the tile grid.
"""
import pytest
import torch
import torch.distributed as dist

from swr_tutor.blocked import TILE
from swr_tutor.distributed import (halo_pieces, halo_start, run_processes, shard_bounds, sharded_versus_whole,
                                   swr_context_parallel)

SPLITS = {
    2: [[40, 24], [1, 63], [17, 1], [16, 16]],
    3: [[16, 16, 16], [5, 3, 50], [33, 30, 2]],
    4: [[5, 3, 50, 1], [1, 1, 1, 1], [100, 7, 33, 2]],
}


@pytest.mark.parametrize("world", sorted(SPLITS))
def test_sharded_forward_and_backward_equal_the_whole_sequence(world):
    results = run_processes(sharded_versus_whole, world, SPLITS[world])
    for rank, per_split in enumerate(results):
        for lengths, errors in zip(SPLITS[world], per_split):
            assert max(errors.values()) < 1e-12, (lengths, rank, errors)


def test_the_halo_is_the_tile_before_the_shards_tile():
    assert [halo_start(s) for s in (0, 5, 16, 17, 31, 32, 40)] == [0, 0, 0, 0, 0, 16, 16]
    assert all(s - halo_start(s) < 2 * TILE for s in range(200))


def test_halo_pieces_come_from_every_earlier_shard_that_holds_them():
    lengths = [5, 3, 50, 1]                                    # shards [0,5) [5,8) [8,58) [58,59)
    assert shard_bounds(lengths) == [(0, 5), (5, 8), (8, 58), (58, 59)]
    assert halo_pieces(lengths, 0) == []
    assert halo_pieces(lengths, 2) == [(0, 0, 5), (1, 5, 8)]   # position 8 reads the tile [0, 16) from its start
    assert halo_pieces(lengths, 3) == [(2, 32, 58)]            # position 58 reads the tiles [32, 48) and [48, 64)


def test_without_an_initialised_group_the_error_says_what_to_do():
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="init_process_group"):
        swr_context_parallel(torch.rand(1, 1, 4), torch.randn(1, 1, 4, 2))


def test_run_processes_checks_the_world_size():
    with pytest.raises(ValueError, match="world must be >= 1"):
        run_processes(sharded_versus_whole, 0, [])


def _error_for_wrong_lengths(rank: int, world: int) -> str:
    try:
        swr_context_parallel(torch.rand(1, 1, 4), torch.randn(1, 1, 4, 2), lengths=[4, 4, 4])
    except ValueError as e:
        return str(e)
    return "no error"


def test_lengths_that_do_not_match_the_group_are_refused():
    messages = run_processes(_error_for_wrong_lengths, 2)
    assert all("lengths must hold each of the 2 processes' T_local" in m for m in messages), messages


def _input_checks_of_one_call(rank: int, world: int) -> list[str]:
    import swr_tutor.distributed
    import swr_tutor.swr

    checked, original = [], swr_tutor.swr._checked_inputs

    def counting(fn, a, x):
        checked.append(fn)
        return original(fn, a, x)

    swr_tutor.distributed._checked_inputs = swr_tutor.swr._checked_inputs = counting
    swr_context_parallel(torch.rand(1, 2, 40), torch.randn(1, 2, 40, 3), lengths=[40, 40])
    return checked


def test_inputs_are_checked_once_per_call_not_again_for_the_head_and_body():
    """Each check of x (finite) and a (in [0, 1]) costs a device sync on a GPU."""
    assert run_processes(_input_checks_of_one_call, 2) == [["swr_context_parallel"]] * 2


def test_the_benchmark_runs_under_torchrun_and_merges_its_rows(tmp_path):
    import json
    import subprocess
    import sys

    out = tmp_path / "cp.json"
    for P in (1, 2):
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(P), "-m",
                   "swr_tutor.bench.context_parallel", "--T", "100", "--H", "2", "--D", "4", "--repeats", "2",
                   "--out", str(out)]
        subprocess.run(command, check=True, capture_output=True, timeout=120)
    rows = json.loads(out.read_text())["rows"]
    assert sorted((r["shape"]["P"], r["name"]) for r in rows) == [
        (1, "one shard alone fwd+bwd"), (1, "sharded fwd+bwd"), (2, "one shard alone fwd+bwd"), (2, "sharded fwd+bwd")]
    assert all(r["ms"] > 0 for r in rows)
