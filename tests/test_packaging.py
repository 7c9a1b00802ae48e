"""The package as users get it: same dependencies for pip and conda, kernels inside the wheel."""
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from swr_tutor import notebook_runs

ROOT = Path(__file__).resolve().parent.parent


def _normalise(requirement: str) -> str:
    name, rest = re.match(r"^([A-Za-z0-9_.\-]+)(.*)$", requirement.strip()).groups()
    return re.sub(r"[-_.]+", "-", name).lower() + rest.replace(" ", "")


def test_environment_yml_lists_the_pyproject_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared |= set(extra)
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert {_normalise(r) for r in pip_section} == {_normalise(r) for r in declared}


@pytest.mark.slow
def test_wheel_installs_and_runs_a_triton_kernel(tmp_path):
    source, wheels, target = tmp_path / "source", tmp_path / "wheels", tmp_path / "site"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", "_build", ".git", ".whl", "build", "*.egg-info", "__pycache__", ".hypothesis"))
    notebook_runs.install(notebook_runs.build_wheel(wheels, source), target)
    program = (
        "import torch, swr_tutor, swr_tutor.kernels\n"
        "from swr_tutor.scans import triton_scan\n"
        "from swr_tutor.recurrence import reference_scan\n"
        "assert swr_tutor.__file__.startswith(TARGET), swr_tutor.__file__\n"
        "assert swr_tutor.kernels.__file__.startswith(TARGET), swr_tutor.kernels.__file__\n"
        "import importlib, pkgutil\n"
        "for module in pkgutil.walk_packages(swr_tutor.__path__, 'swr_tutor.'):\n"
        "    importlib.import_module(module.name)\n"
        "a, x = torch.rand(3, 40), torch.randn(3, 40)\n"
        "swr_tutor.check(triton_scan(a, x), reference_scan(a, x), name='kernel from the wheel')\n"
        "from swr_tutor import benchplots\n"
        "assert 'b2p_h100.json' in benchplots.book_data_names(), benchplots.book_data_dir()\n"
        "assert benchplots.load_book_data('b2p_h100.json', url='file:///nowhere/')['rows']\n"
    ).replace("TARGET", repr(str(target)))
    env = dict(os.environ, PYTHONPATH=str(target), TRITON_INTERPRET="1")
    run = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "✓ kernel from the wheel" in run.stdout
