import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before any kernel module is imported


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` are skipped, with the reason said, on a machine without a CUDA GPU."""
    if torch.cuda.is_available():
        return
    import pytest

    needs_gpu = pytest.mark.skip(reason="marked gpu: needs a CUDA GPU (run `pytest -m gpu` on the GPU machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(needs_gpu)
