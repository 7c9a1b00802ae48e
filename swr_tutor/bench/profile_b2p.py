"""What Nsight Compute measures of the B2P kernels (CUDA and Triton, forward and backward) at one shape.

On a GPU machine with ncu:

    for shape in "8 16 8192 64" "16 16 4096 16"; do
      ncu --csv --print-units base --clock-control none --metrics "$(python -m swr_tutor.bench.profile_b2p metrics)" \\
          -k regex:b2p_ python -m swr_tutor.bench.profile_b2p run --shape $shape > ncu.csv
      python -m swr_tutor.bench.profile_b2p summarize ncu.csv --shape $shape --out book/data/b2p_ncu_h100.json
    done

``run`` launches each kernel twice (the first launch of a Triton kernel also compiles it); ``summarize`` keeps
the last launch of each kernel and adds its metrics, for that shape, to the JSON file (with the device and
versions), replacing an earlier profile of the same shape.
"""
import argparse
import csv
import io
import json
import sys
from dataclasses import asdict
from pathlib import Path

import torch

SHAPE = (8, 16, 8192, 64)  # the default; --shape B H T D picks another
METRICS = {
    "gpu__time_duration.sum": "time_ns",
    "dram__bytes_read.sum": "dram_bytes_read",
    "dram__bytes_write.sum": "dram_bytes_written",
    "dram__throughput.avg.pct_of_peak_sustained_elapsed": "dram_throughput_pct_of_peak",
    "lts__t_bytes.sum": "l2_bytes",
    "sm__throughput.avg.pct_of_peak_sustained_elapsed": "sm_throughput_pct_of_peak",
    "sm__warps_active.avg.pct_of_peak_sustained_active": "achieved_occupancy_pct",
    "launch__registers_per_thread": "registers_per_thread",
    "launch__shared_mem_per_block_static": "static_shared_bytes_per_block",
    "l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum": "shared_bank_conflicts",
    "smsp__inst_executed.sum": "warp_instructions",
    "smsp__issue_active.avg.pct_of_peak_sustained_active": "issue_slots_busy_pct",
}
KERNELS = {  # a substring of the kernel's (mangled) name -> the name stored
    "swr_b2p::b2p_forward_kernel": "CUDA forward",
    "swr_b2p::b2p_backward_kernel": "CUDA backward",
    "b2p_forward_kernel": "Triton forward",
    "b2p_backward_kernel": "Triton backward",
}


def run(shape: tuple) -> None:
    from .. import cuda_kernels
    from ..swr import b2p_backward, b2p_forward
    from .b2p import DTYPE, inputs

    a, x = inputs(*shape)
    dy = torch.randn_like(x)
    for _ in range(2):
        cuda_kernels.b2p_forward(a, x, DTYPE)
        cuda_kernels.b2p_backward(a, x, dy)
        b2p_forward(a, x, DTYPE)
        b2p_backward(a, x, dy)
    torch.cuda.synchronize()


def _kernel(name: str) -> str | None:
    return next((stored for key, stored in KERNELS.items() if key in name), None)


def summarize(csv_text: str) -> dict:
    """{stored kernel name: {metric: value}} from ncu's CSV, the last launch of each kernel."""
    lines = csv_text[csv_text.index('"ID"'):]
    launches = {}
    for row in csv.DictReader(io.StringIO(lines)):
        kernel, metric = _kernel(row["Kernel Name"]), METRICS.get(row["Metric Name"])
        if kernel and metric:
            launch = launches.setdefault(kernel, {}).setdefault(row["ID"], {})
            launch[metric] = float(row["Metric Value"].replace(",", ""))
    return {kernel: by_id[max(by_id, key=int)] for kernel, by_id in launches.items()}


def _rows(shape: tuple, kernels: dict) -> list[dict]:
    """One benchmark Row per kernel: ms and DRAM GB/s from the counters, every metric in ``extra``."""
    from .common import Row

    return [asdict(Row("b2p-ncu", dict(zip("BHTD", shape)), kernel, m["time_ns"] * 1e-6,
                       gbps=(m["dram_bytes_read"] + m["dram_bytes_written"]) / m["time_ns"], extra=m))
            for kernel, m in kernels.items()]


def _store(path: Path, shape: tuple, kernels: dict) -> None:
    """Add the profile of ``shape`` to the record at ``path`` (the benchmark format), replacing an older one."""
    from .common import environment

    record = json.loads(path.read_text()) if path.is_file() else {
        "suite": "b2p-ncu", "rows": [],
        "command": "ncu --csv --print-units base --clock-control none --metrics <METRICS> -k regex:b2p_ "
                   "python -m swr_tutor.bench.profile_b2p run --shape B H T D (bf16)"}
    record["environment"] = environment()
    named = dict(zip("BHTD", shape))
    record["rows"] = [row for row in record["rows"] if row["shape"] != named] + _rows(shape, kernels)
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(kernels, indent=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m swr_tutor.bench.profile_b2p", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("metrics", "run", "summarize"))
    parser.add_argument("csv", nargs="?", type=Path, help="ncu's CSV output (summarize)")
    parser.add_argument("--shape", type=int, nargs=4, default=SHAPE, metavar=("B", "H", "T", "D"))
    parser.add_argument("--out", type=Path, default=Path("b2p_ncu.json"))
    args = parser.parse_args(argv)
    if args.action == "metrics":
        print(",".join(METRICS))
    elif args.action == "run":
        run(tuple(args.shape))
    else:
        _store(args.out, tuple(args.shape), summarize(args.csv.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
