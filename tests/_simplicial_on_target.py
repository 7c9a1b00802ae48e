"""Compile the 2-simplicial kernels that the launcher would start for given shapes, for a GPU this machine may not
have: ``python tests/_simplicial_on_target.py CAPABILITY DTYPE 'B,T,Hq,Hkv,D,w1,w2' ...`` prints one JSON line per
distinct kernel: its name, constants and shared memory in bytes. Run with TRITON_INTERPRET=0 (compiling needs no GPU).
The launches are recorded on meta tensors with the tiles ``default_config`` picks for that capability."""
import json
import sys
from unittest import mock

import torch
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource, compile as compile_kernel

from swr_tutor import simplicial as S
from swr_tutor.kernels.triton import simplicial as kernels

POINTER_TYPES = {torch.float16: "*fp16", torch.bfloat16: "*bf16", torch.float32: "*fp32"}


def recorded_launches(shapes, dtype, capability):
    launches = []

    class Recorder:
        def __init__(self, fn):
            self.fn = fn

        def __getitem__(self, grid):
            return lambda *args, **kwargs: launches.append((self.fn, args, kwargs))

    names = ("forward_kernel", "rows_backward_kernel", "inner_backward_kernel", "row_dot_kernel")
    patches = [mock.patch.object(kernels, name, Recorder(getattr(kernels, name))) for name in names]
    patches.append(mock.patch("torch.cuda.get_device_capability", lambda device=None: (capability // 10, capability % 10)))
    for patch in patches:
        patch.start()
    cuda = torch.device("cuda")
    for B, T, Hq, Hkv, D, w1, w2 in shapes:
        x = [torch.empty(B, T, Hq, D, dtype=dtype, device="meta")]
        x += [torch.empty(B, T, Hkv, D, dtype=dtype, device="meta") for _ in range(4)]
        for determinant in (False, True):
            config = S.default_config(cuda, Hq // Hkv, (w1, w2), determinant)
            out, lse = S.triton_forward(*x, w1, w2, determinant, config=config)
            S.triton_backward(*x, out, lse, torch.empty_like(out), w1, w2, determinant, config=config)
    for patch in patches:
        patch.stop()
    return launches


def compiled(fn, args, kwargs, capability):
    options = {key: kwargs.pop(key) for key in ("num_warps", "num_stages") if key in kwargs}
    signature, constants = {}, {}
    for name, value in list(zip(fn.arg_names, args)) + list(kwargs.items()):
        if name in kwargs or value is None:
            signature[name] = "constexpr"
            constants[(fn.arg_names.index(name),)] = value
        elif isinstance(value, torch.Tensor):
            signature[name] = POINTER_TYPES[value.dtype]
        else:
            signature[name] = "i32" if isinstance(value, int) else "fp32"
    kernel = compile_kernel(ASTSource(fn, signature, constants), target=GPUTarget("cuda", capability, 32),
                            options=options)
    shown = {k: str(v) for k, v in kwargs.items() if k in ("GRAD_OF", "GROUP", "HEAD_DIM", "CHUNKED_DIMS", "TMA")}
    return dict(kernel=fn.__name__, constants=shown, shared=kernel.metadata.shared)


if __name__ == "__main__":
    capability, dtype = int(sys.argv[1]), {"fp16": torch.float16, "bf16": torch.bfloat16}[sys.argv[2]]
    shapes = [tuple(int(n) for n in arg.split(",")) for arg in sys.argv[3:]]
    seen = set()
    for fn, args, kwargs in recorded_launches(shapes, dtype, capability):
        key = repr((fn.__name__, [type(a).__name__ if isinstance(a, torch.Tensor) else a for a in args[-9:]],
                    sorted(kwargs.items(), key=lambda kv: kv[0])))
        if key not in seen:
            seen.add(key)
            print(json.dumps(compiled(fn, args, dict(kwargs), capability)), flush=True)
