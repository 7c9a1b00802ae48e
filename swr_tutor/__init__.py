"""swr_tutor: the library every chapter of the book imports.

The kernel sources live in the top-level folder ``kernels/`` of the repository and install as
``swr_tutor.kernels`` (see pyproject.toml). When the package runs from a source tree instead
(``PYTHONPATH=repo``, as on the GPU machine), the same import path is pointed at that folder here.
"""
import importlib.util
import sys
from pathlib import Path

from .device import DEVICE, ON_GPU, INTERPRETING, scaled  # noqa: F401  (sets TRITON_INTERPRET first)


def _alias_source_kernels() -> None:
    package_dir = Path(__file__).resolve().parent
    if (package_dir / "kernels").is_dir():
        return  # installed wheel: swr_tutor/kernels is a real subpackage
    source = package_dir.parent / "kernels"
    if not (source / "__init__.py").is_file():
        return
    spec = importlib.util.spec_from_file_location(
        "swr_tutor.kernels", source / "__init__.py", submodule_search_locations=[str(source)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["swr_tutor.kernels"] = module
    spec.loader.exec_module(module)
    globals()["kernels"] = module


if "swr_tutor.kernels" not in sys.modules:
    _alias_source_kernels()

from .checking import check, tolerance  # noqa: E402,F401

__version__ = "0.1.0"
