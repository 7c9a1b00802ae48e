"""Compile the Triton kernels that the launchers would start for given shapes, for a GPU this machine may not have:

    python tests/_kernels_on_target.py CAPABILITY DTYPE simplicial 'B,T,Hq,Hkv,D,w1,w2' ... [--only KERNEL ...]
    python tests/_kernels_on_target.py CAPABILITY DTYPE b2p 'B,H,T,D' ... [--only KERNEL ...]

prints one JSON line per distinct kernel: its name, some constants and its shared memory in bytes. Run with
TRITON_INTERPRET=0 (compiling needs no GPU). The launches are recorded on meta tensors, with the tiles that
``default_config`` picks for that capability (2-simplicial attention) or the launchers' defaults (B2P). Compiling
for sm_75 takes seconds to minutes per kernel without Triton's cache: ``--only`` compiles just the kernels named."""
import argparse
import json
from contextlib import ExitStack
from unittest import mock

import torch
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource, compile as compile_kernel

from swr_tutor import simplicial, swr
from swr_tutor.kernels.triton import b2p as b2p_kernels, simplicial as simplicial_kernels

POINTER_TYPES = {torch.float16: "*fp16", torch.bfloat16: "*bf16", torch.float32: "*fp32"}
SHOWN = ("GRAD_OF", "GROUP", "HEAD_DIM", "CHUNKED_DIMS", "TMA", "BLOCK_T", "BLOCK_D")


def _simplicial_launches(shape, dtype):
    B, T, Hq, Hkv, D, w1, w2 = shape
    x = [torch.empty(B, T, Hq, D, dtype=dtype, device="meta")]
    x += [torch.empty(B, T, Hkv, D, dtype=dtype, device="meta") for _ in range(4)]
    for determinant in (False, True):
        config = simplicial.default_config(torch.device("cuda"), Hq // Hkv, (w1, w2), determinant)
        out, lse = simplicial.triton_forward(*x, w1, w2, determinant, config=config)
        simplicial.triton_backward(*x, out, lse, torch.empty_like(out), w1, w2, determinant, config=config)


def _b2p_launches(shape, dtype):
    B, H, T, D = shape
    a, x = torch.empty(B, H, T, dtype=dtype, device="meta"), torch.empty(B, H, T, D, dtype=dtype, device="meta")
    swr.b2p_forward(a, x)
    swr.b2p_backward(a, x, torch.empty_like(x))


SUITES = {"simplicial": (simplicial_kernels, _simplicial_launches), "b2p": (b2p_kernels, _b2p_launches)}


def recorded_launches(suite, shapes, dtype, capability):
    module, launch_all = SUITES[suite]
    launches = []

    class Recorder:
        def __init__(self, fn):
            self.fn = fn

        def __getitem__(self, grid):
            return lambda *args, **kwargs: launches.append((self.fn, args, kwargs))

    with ExitStack() as patches:
        for name in [n for n in vars(module) if n.endswith("_kernel")]:
            patches.enter_context(mock.patch.object(module, name, Recorder(getattr(module, name))))
        patches.enter_context(mock.patch("torch.cuda.get_device_capability",
                                         lambda device=None: (capability // 10, capability % 10)))
        for shape in shapes:
            launch_all(shape, dtype)
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
    return dict(kernel=fn.__name__, constants={k: str(v) for k, v in kwargs.items() if k in SHOWN},
                shared=kernel.metadata.shared)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("capability", type=int)
    parser.add_argument("dtype", choices=["fp16", "bf16"])
    parser.add_argument("suite", choices=sorted(SUITES))
    parser.add_argument("shapes", nargs="+", type=lambda arg: tuple(int(n) for n in arg.split(",")))
    parser.add_argument("--only", nargs="+", metavar="KERNEL")
    options = parser.parse_args()
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[options.dtype]
    seen = set()
    for fn, args, kwargs in recorded_launches(options.suite, options.shapes, dtype, options.capability):
        if options.only and fn.__name__ not in options.only:
            continue
        key = repr((fn.__name__, [str(a.dtype) if isinstance(a, torch.Tensor) else type(a).__name__ for a in args],
                    sorted(kwargs.items(), key=lambda kv: kv[0])))
        if key not in seen:
            seen.add(key)
            print(json.dumps(compiled(fn, args, dict(kwargs), options.capability)), flush=True)
