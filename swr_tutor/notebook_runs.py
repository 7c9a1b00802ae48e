"""Run the book's notebooks as a Colab reader meets them, and record how it went.

    python -m swr_tutor.notebook_runs [--out book/data/notebook_runs.json] [--chapters 01 05 solutions] [--append]

1. Builds the wheel of this repository (pip wheel, no build isolation: nothing is downloaded).
2. Installs it with ``pip install --target`` into a fresh folder, without dependencies (torch, triton, ... are
   the machine's own, as on Colab).
3. Copies each notebook into a scratch folder away from the repository and runs it top to bottom with nbval
   (``pytest --nbval-lax``), with PYTHONPATH holding the fresh folder and not the repository: the notebooks
   import the installed wheel, as they do on Colab after the setup cell. Stored benchmark records are read
   through ``SWR_TUTOR_DATA_URL`` pointing at this repository's book/data (the machine may have no network).
4. Writes one row per notebook (seconds, passed, the pytest summary) with the device and versions, after every
   notebook, so that a run cut short keeps what it measured; ``--append`` keeps the rows of an earlier file for
   the notebooks not run this time. The exit status is 1 when a notebook failed.

The benchmarks appendix reads the records installed with the wheel (book/data ships as ``swr_tutor/data``).
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .bench.common import ROOT, Row, environment, load_results, write_json
from .chapters import book_path, notebook_paths

SUITE = "notebook_runs"
CELL_TIMEOUT_S = 900


def notebooks(prefixes: list[str] | None = None) -> list[Path]:
    """The chapters and the appendix notebooks a reader runs; only those whose name starts with a prefix if given."""
    found = notebook_paths()
    if not prefixes:
        return found
    chosen = [path for path in found if any(path.stem.startswith(prefix) for prefix in prefixes)]
    if not chosen:
        raise SystemExit(f"notebook_runs: no notebook starts with {prefixes}; there are {[p.stem for p in found]}")
    return chosen


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True, stdout=subprocess.DEVNULL)


def build_wheel(dist: Path, source: Path = ROOT) -> Path:
    """The wheel of ``source`` (this repository) built into ``dist``, without downloading anything."""
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "--quiet", "--wheel-dir", str(dist), str(source))
    return next(dist.glob("swr_tutor-*.whl"))


def install(wheel: Path, target: Path) -> None:
    _pip("install", "--no-deps", "--no-index", "--no-compile", "--quiet", "--target", str(target), str(wheel))


def reader_environment(target: Path) -> dict:
    """os.environ with PYTHONPATH = the install folder + what was there before except the repository."""
    kept = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep)
            if entry and Path(entry).resolve() != ROOT]
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), *kept]),
            "SWR_TUTOR_DATA_URL": (ROOT / "book" / "data").as_uri() + "/", "PYTHONDONTWRITEBYTECODE": "1"}


def imported_from(env: dict, cwd: Path) -> Path:
    """Where ``import swr_tutor`` finds the package under ``env``, run from ``cwd``."""
    out = subprocess.run([sys.executable, "-c", "import swr_tutor; print(swr_tutor.__file__)"], env=env, cwd=cwd,
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip()).parent


def run_notebook(path: Path, scratch: Path, env: dict) -> Row:
    """Run one notebook with nbval in ``scratch``; the row holds seconds, passed and pytest's summary line."""
    copy = scratch / path.name
    shutil.copyfile(path, copy)
    command = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
               "-q", f"--nbval-cell-timeout={CELL_TIMEOUT_S}", copy.name]
    start = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=scratch, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    lines = result.stdout.strip().splitlines()
    summary = lines[-1].strip("= ") if lines else result.stderr.strip()[-200:]
    if result.returncode:
        failures = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
        print(result.stdout[-4000:], result.stderr[-2000:], sep="\n", file=sys.stderr)
        summary = "; ".join([summary, *failures[:2]])
    cells = sum(int(n) for n in re.findall(r"(\d+) (?:passed|failed|error)", summary))
    return Row(SUITE, {}, book_path(path), None, note=summary,
               extra={"seconds": round(seconds, 1), "passed": result.returncode == 0, "cells": cells})


def _versions(wheel: Path, imported: Path) -> dict:
    from importlib.metadata import version

    return {"wheel": wheel.name, "swr_tutor_imported_from": str(imported), "nbval": version("nbval"),
            "pytest": version("pytest")}


def write(out: Path, rows: list[Row], env: dict, command: str) -> None:
    rows = sorted(rows, key=lambda row: (row.name.startswith("book/"), row.name))  # chapters, then appendices
    write_json(out, SUITE, rows, command, env)


def earlier_rows(out: Path, replaced: set[str]) -> list[Row]:
    """The rows of an earlier ``out`` for notebooks not in ``replaced`` (for --append)."""
    if not out.is_file():
        return []
    return [row for row in load_results(out)["rows"] if row.name not in replaced]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m swr_tutor.notebook_runs", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "book" / "data" / "notebook_runs.json")
    parser.add_argument("--chapters", nargs="+", metavar="PREFIX",
                        help="run only the notebooks whose name starts with one of these (01, 05_b2p, solutions)")
    parser.add_argument("--append", action="store_true",
                        help="keep the rows of an existing --out for the notebooks not run this time")
    args = parser.parse_args(argv)
    chosen = notebooks(args.chapters)
    command = "python -m swr_tutor.notebook_runs " + " ".join(map(shlex.quote, argv or sys.argv[1:]))
    with tempfile.TemporaryDirectory(prefix="swr_tutor_reader_") as tmp:
        tmp = Path(tmp)
        wheel = build_wheel(tmp / "dist")
        install(wheel, tmp / "site")
        scratch = tmp / "notebooks"
        scratch.mkdir()
        env = reader_environment(tmp / "site")
        imported = imported_from(env, scratch)
        if imported != tmp / "site" / "swr_tutor":
            raise SystemExit(f"notebook_runs: swr_tutor imports from {imported}, not from the installed wheel")
        record_env = {**environment(), **_versions(wheel, imported.relative_to(tmp))}
        names = {book_path(path) for path in chosen}
        rows = earlier_rows(args.out, names) if args.append else []
        for path in chosen:
            print(f"{path.name} ...", end=" ", flush=True)
            rows.append(run_notebook(path, scratch, env))
            print(f"{rows[-1].extra['seconds']:.0f} s, {rows[-1].note}", flush=True)
            write(args.out, rows, record_env, command)
    print(f"wrote {args.out} ({record_env['device']})")
    return 0 if all(row.extra["passed"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
