"""Triton kernels. Import them after TRITON_INTERPRET is decided (swr_tutor.device does it)."""
