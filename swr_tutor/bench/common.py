"""What every benchmark suite shares: timing, the copy roofline, the environment record, table and JSON."""
import datetime
import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Row:
    """One measured configuration. ``ratio`` relates ``ms`` to the suite's calibration row of the same shape."""

    suite: str
    shape: dict
    name: str
    ms: float | None
    gbps: float | None = None
    tflops: float | None = None
    ratio: float | None = None
    max_rel_err: float | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)


def median_ms(fn, warmup_ms: int = 50, rep_ms: int = 300) -> float:
    """Median time of ``fn()`` in milliseconds over many runs, timed with CUDA events."""
    import triton.testing

    return float(triton.testing.do_bench(fn, warmup=warmup_ms, rep=rep_ms, return_mode="median"))


def copy_roofline_ms(tensor: torch.Tensor) -> float:
    """Time to read ``tensor`` once and write a copy once: the floor of any kernel that moves those bytes."""
    out = torch.empty_like(tensor)
    return median_ms(lambda: out.copy_(tensor))


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """||out - ref|| / ||ref|| in float64."""
    out, ref = out.detach().double(), ref.detach().double()
    return (torch.linalg.vector_norm(out - ref) / torch.linalg.vector_norm(ref).clamp_min(1e-300)).item()


def _git_commit() -> str:
    if os.environ.get("SWR_TUTOR_COMMIT"):  # set by whoever runs a copy of the tree without .git
        return os.environ["SWR_TUTOR_COMMIT"]
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _device() -> dict:
    if not torch.cuda.is_available():
        return {"device": f"CPU ({platform.machine()}, {os.cpu_count()} cores)"}
    properties = torch.cuda.get_device_properties(0)
    return {
        "device": torch.cuda.get_device_name(0),
        "capability": ".".join(map(str, torch.cuda.get_device_capability(0))),
        "multiprocessors": properties.multi_processor_count,
        "memory_gib": round(properties.total_memory / 2**30, 1),
    }


def environment() -> dict:
    """The device and versions a measurement was taken with (a CPU names itself and has no capability)."""
    import triton

    return {
        **_device(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "triton": triton.__version__,
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": _git_commit(),
    }


def device_slug() -> str:
    """'h100' from 'NVIDIA H100 80GB HBM3': names the JSON file of a device."""
    words = torch.cuda.get_device_name(0).lower().replace("nvidia", "").split()
    return words[0] if words else "gpu"


def format_table(rows: list[Row]) -> str:
    header = f"{'shape':<34} {'name':<34} {'ms':>9} {'GB/s':>8} {'TFLOP/s':>8} {'ratio':>7} {'rel err':>9}"
    lines = [header, "-" * len(header)]
    for row in rows:
        shape = ",".join(f"{k}={v}" for k, v in row.shape.items())
        cells = [f"{shape:<34}", f"{row.name:<34}", _number(row.ms, 9, ".3f"), _number(row.gbps, 8, ".0f"),
                 _number(row.tflops, 8, ".1f"), _number(row.ratio, 7, ".2f"), _number(row.max_rel_err, 9, ".1e")]
        lines.append(" ".join(cells) + (f"  {row.note}" if row.note else ""))
    return "\n".join(lines)


def _number(value, width: int, spec: str) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"


def write_json(path: Path, suite: str, rows: list[Row], command: str, env: dict | None = None) -> None:
    """The record {suite, command, environment, rows} as JSON; ``env`` defaults to this machine's environment()."""
    record = {"suite": suite, "command": command, "environment": env or environment(),
              "rows": [asdict(r) for r in rows]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")


def load_results(path: Path) -> dict:
    """A stored result file, for the notebooks' plots."""
    record = json.loads(Path(path).read_text())
    record["rows"] = [Row(**row) for row in record["rows"]]
    return record
