"""python -m swr_tutor.bench SUITE [--out FILE] [--quick]"""
import argparse
import importlib
import shlex
import sys
from pathlib import Path

import torch

from .common import ROOT, device_slug, format_table, write_json

# suite name -> (module, function returning the rows)
SUITES = {
    "b2p": ("swr_tutor.bench.b2p", "run"),
    "b2p-tuning": ("swr_tutor.bench.b2p", "run_tuning"),
    "simplicial": ("swr_tutor.bench.simplicial", "run"),
    "simplicial-orders": ("swr_tutor.bench.simplicial", "run_loop_orders"),
    "phalanx": ("swr_tutor.bench.phalanx", "run_phalanx"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m swr_tutor.bench", description=__doc__)
    parser.add_argument("suite", choices=sorted(SUITES))
    parser.add_argument("--out", type=Path, help="JSON file (default: book/data/<suite>_<device>.json)")
    parser.add_argument("--quick", action="store_true", help="one small shape, for a smoke test")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("swr_tutor.bench measures GPU kernels and needs a CUDA GPU; none is present.", file=sys.stderr)
        return 2
    module, function = SUITES[args.suite]
    rows = getattr(importlib.import_module(module), function)(quick=args.quick)
    print(format_table(rows))
    out = args.out or ROOT / "book" / "data" / f"{args.suite.replace('-', '_')}_{device_slug()}.json"
    write_json(out, args.suite, rows, "python -m swr_tutor.bench " + " ".join(map(shlex.quote, argv or sys.argv[1:])))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
