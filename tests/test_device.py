import os

import torch

import swr_tutor
from swr_tutor import device


def test_scaled_follows_the_machine():
    expected = "gpu" if (device.ON_GPU and not device.INTERPRETING) else "cpu"
    assert device.scaled(cpu="cpu", gpu="gpu") == expected


def test_interpreter_is_on_without_a_gpu():
    if not torch.cuda.is_available():
        assert os.environ["TRITON_INTERPRET"] == "1"
        assert swr_tutor.INTERPRETING and swr_tutor.DEVICE.type == "cpu"
        assert device.low_precision_dtype() == torch.float16  # the interpreter mishandles bf16
        assert device.device_name() == "cpu"


def test_kernels_import_from_the_package():
    import swr_tutor.kernels

    assert (swr_tutor.kernels.CUDA_DIR.parent / "triton" / "__init__.py").is_file()


def test_a_t4_gets_fp16_and_an_ampere_or_later_gpu_bf16(monkeypatch):
    monkeypatch.setattr(device, "ON_GPU", True)
    for capability, expected in [((7, 5), torch.float16), ((8, 0), torch.bfloat16), ((9, 0), torch.bfloat16)]:
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *args, c=capability: c)
        assert device.low_precision_dtype() == expected, capability

