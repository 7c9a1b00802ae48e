"""Context-parallel SWR: time of one forward + backward over P processes, and the bytes each one sends.

Launch one run per process count P (NCCL on GPUs, gloo on CPUs):

    torchrun --nproc-per-node P -m swr_tutor.bench.context_parallel --T-local 131072 --out FILE   # weak scaling
    torchrun --nproc-per-node P -m swr_tutor.bench.context_parallel --T 1048576 --out FILE        # strong scaling

Each run adds its rows to FILE (rows of the same P and shape are replaced), so the runs of P = 1, 2, 4, 8
build one file. Rows: the sharded step and, on the same process, ``swr`` of its shard alone (the step without
communication); ratio = sharded / alone.
"""
import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

from ..distributed import halo_pieces, swr_context_parallel
from ..swr import swr
from .common import Row, format_table, load_results, write_json

SUITE = "context-parallel"


def _timed_ms(step, repeats: int) -> float:
    """Median wall time of ``step()`` with every process in step (a barrier and a device sync around each)."""
    times = []
    for _ in range(repeats + 2):
        dist.barrier()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(1e3 * (time.perf_counter() - start))
    return statistics.median(times[2:])


def _step(fn, a, x, dy):
    def step():
        a.grad = x.grad = None
        fn(a, x).backward(dy)
    return step


def measure(B: int, H: int, D: int, lengths: list[int], repeats: int) -> list[Row]:
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", rank % torch.cuda.device_count()) if torch.cuda.is_available() else torch.device("cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if device.type == "cuda":
        torch.cuda.set_device(device)
    T_local = lengths[rank]
    a = torch.rand(B, H, T_local, device=device).requires_grad_()
    x = torch.randn(B, H, T_local, D, device=device, dtype=dtype).requires_grad_()
    dy = torch.randn_like(x)
    sharded = _timed_ms(_step(lambda a, x: swr_context_parallel(a, x, lengths=lengths), a, x, dy), repeats)
    alone = _timed_ms(_step(swr, a, x, dy), repeats)
    halo = sum(hi - lo for receiver in range(world) for _, lo, hi in halo_pieces(lengths, receiver))
    bytes_per_position = B * H * (D + 1) * 4  # a and x packed in fp32 (bf16 x is promoted with fp32 a)
    shape = dict(P=world, B=B, H=H, T=sum(lengths), D=D)
    extra = {"halo_bytes_forward_total": halo * bytes_per_position, "T_local": T_local}
    return [Row(SUITE, shape, "sharded fwd+bwd", sharded, ratio=sharded / alone, extra=extra),
            Row(SUITE, shape, "one shard alone fwd+bwd", alone, ratio=1.0)]


def _merged(path: Path, rows: list[Row]) -> list[Row]:
    """The rows stored in ``path`` (if any) but those of the same shape and name as ``rows``, then ``rows``."""
    replaced = {(json.dumps(r.shape, sort_keys=True), r.name) for r in rows}
    stored = load_results(path)["rows"] if path.exists() else []
    return [r for r in stored if (json.dumps(r.shape, sort_keys=True), r.name) not in replaced] + rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="torchrun ... -m swr_tutor.bench.context_parallel",
                                     description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--T", type=int, help="the whole sequence's length, split evenly (strong scaling)")
    size.add_argument("--T-local", type=int, help="each process's length (weak scaling)")
    parser.add_argument("--B", type=int, default=1)
    parser.add_argument("--H", type=int, default=16)
    parser.add_argument("--D", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, help="JSON file to add the rows to (written by rank 0)")
    args = parser.parse_args(argv)
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        world = dist.get_world_size()
        even = [args.T // world + (r < args.T % world) for r in range(world)] if args.T else None
        lengths = even or [args.T_local] * world
        rows = measure(args.B, args.H, args.D, lengths, args.repeats)
        if dist.get_rank() == 0:
            print(format_table(rows))
            if args.out:
                command = (f"torchrun --nproc-per-node {world} -m swr_tutor.bench.context_parallel "
                           + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv)))
                write_json(args.out, SUITE, _merged(args.out, rows), command)
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
