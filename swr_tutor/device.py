"""Where the code runs: a CUDA GPU when there is one, else the CPU with Triton's interpreter.

Importing this module decides ``TRITON_INTERPRET`` before any kernel is defined, so the same
Triton source runs on a GPU and, through the interpreter, on a laptop CPU.
"""
import os

import torch

ON_GPU: bool = torch.cuda.is_available()
if not ON_GPU:
    os.environ.setdefault("TRITON_INTERPRET", "1")

INTERPRETING: bool = os.environ.get("TRITON_INTERPRET", "0") == "1"
DEVICE = torch.device("cuda" if ON_GPU else "cpu")


def scaled(cpu, gpu):
    """Pick a problem size for the machine: ``cpu`` under the interpreter, ``gpu`` on a GPU.

    Every notebook sizes its experiments through this one helper, never by hand, so a chapter
    runs in seconds on a laptop and at realistic shapes on a GPU.
    """
    return cpu if (INTERPRETING or not ON_GPU) else gpu


def low_precision_dtype() -> torch.dtype:
    """The 16-bit input dtype this machine handles well: bf16 on sm_80+, else fp16 (T4, CPU)."""
    if ON_GPU and torch.cuda.get_device_capability()[0] >= 8:
        return torch.bfloat16
    return torch.float16


def device_name() -> str:
    return torch.cuda.get_device_name() if ON_GPU else "cpu"
