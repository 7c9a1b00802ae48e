"""Kernel sources of swr_tutor: Triton kernels in ``triton/``, CUDA kernels in ``cuda/``.

Imported as ``swr_tutor.kernels`` both from an installed wheel and from a source checkout.
"""
from pathlib import Path

CUDA_DIR = Path(__file__).resolve().parent / "cuda"
