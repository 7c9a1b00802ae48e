"""The CUDA kernels of kernels/cuda/b2p.cu: built by torch on first use (JIT, cached on disk), launched from here.

The sources ship inside the package (swr_tutor/kernels/cuda in a wheel, kernels/cuda in a checkout), so the same
loader works from both. Building needs a CUDA GPU and nvcc; ``unsupported_reason`` says when the kernels cannot
run on some inputs, and the op ``swr(..., backend="cuda")`` (in swr_tutor.swr) raises it as a ValueError.
"""
import functools
import shutil
import subprocess
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from .kernels import CUDA_DIR

SOURCES = ("b2p.cu", "b2p_binding.cpp")
CHANNEL_MULTIPLE = 16  # the kernel works on pairs of 8-channel MMA blocks; other D are padded with zeros
SLICE = 64             # channels per thread block (kernels/cuda/b2p.h)
# Where backend="auto" picks the CUDA kernels, from book/data/b2p_h100.json: on an H100 (compute capability
# 9.0) they beat the Triton ones at every shape with D = 64 (forward, and forward + backward), while with D = 16
# the Triton forward is faster; shapes in between were not measured and stay with Triton.
FASTEST_ON = {(9, 0)}
MIN_CHANNELS_FASTEST = 64


def source_paths() -> list:
    return [CUDA_DIR / name for name in SOURCES]


def compiler_available() -> bool:
    """A CUDA GPU and a CUDA toolkit (nvcc) that torch can build extensions with."""
    from torch.utils.cpp_extension import CUDA_HOME

    return torch.cuda.is_available() and CUDA_HOME is not None


@functools.cache
def extension():
    """The compiled module (forward, backward). The first call builds it (about a minute); later calls and
    later sessions load it from torch's extension cache, which rebuilds only when the sources change."""
    from torch.utils.cpp_extension import load

    return load(name="swr_tutor_b2p", sources=[str(p) for p in source_paths()],
                extra_include_paths=[str(CUDA_DIR)], extra_cflags=["-O3"],
                extra_cuda_cflags=["-O3", "-std=c++17", "-lineinfo"])


def unsupported_reason(x: torch.Tensor) -> str | None:
    """Why the CUDA kernels cannot take x (B, H, T, D), or None when they can."""
    if not x.is_cuda:
        return f"needs CUDA tensors (x is on {x.device})"
    if x.dtype not in (torch.float16, torch.bfloat16):
        return (f"runs the tensor-core kernel on float16 or bfloat16 x, got {x.dtype}; use backend='triton' "
                "for float32 and float64")
    capability = torch.cuda.get_device_capability(x.device)
    if capability < (7, 5):
        return f"needs a GPU of compute capability 7.5 or newer, this one has {capability}"
    if x.dtype == torch.bfloat16 and capability < (8, 0):
        return f"needs compute capability 8.0 or newer for bfloat16 (this GPU has {capability}); use float16"
    if not compiler_available():
        return "needs nvcc (a CUDA toolkit) to build the kernel; torch found none (CUDA_HOME is unset)"
    return None


@functools.cache
def _builds() -> bool:
    try:
        extension()
    except Exception as e:  # a broken toolkit must not break backend="auto": it falls back to Triton
        warnings.warn(f"swr_tutor: the CUDA kernel did not build ({type(e).__name__}: {e}); using Triton")
        return False
    return True


def preferred(x: torch.Tensor) -> bool:
    """Whether backend="auto" runs x on the CUDA kernels: supported, on a GPU where they are the fastest."""
    return (unsupported_reason(x) is None and x.shape[-1] % CHANNEL_MULTIPLE == 0
            and x.shape[-1] >= MIN_CHANNELS_FASTEST
            and torch.cuda.get_device_capability(x.device) in FASTEST_ON and _builds())


def _kernel_rows(t: torch.Tensor, channels: int | None = None) -> torch.Tensor:
    """t (B, H, T[, D]) as contiguous, 16-byte aligned rows (B*H, T[, channels]), channels zero-padded."""
    if channels is not None and channels != t.shape[-1]:
        t = F.pad(t, (0, channels - t.shape[-1]))
    t = t.reshape(-1, *t.shape[2:]).contiguous()
    return t.clone() if t.data_ptr() % 16 else t


def _padded(D: int) -> int:
    return D + (-D % CHANNEL_MULTIPLE)


def b2p_forward(a: torch.Tensor, x: torch.Tensor, out_dtype: torch.dtype) -> torch.Tensor:
    """y (B, H, T, D) in out_dtype by the CUDA forward kernel (no autograd; swr adds it). fp64 output is
    computed in fp32 and converted."""
    B, H, T, D = x.shape
    kernel_dtype = out_dtype if out_dtype in (torch.float16, torch.bfloat16) else torch.float32
    x_rows = _kernel_rows(x, _padded(D))
    y = torch.empty(x_rows.shape, dtype=kernel_dtype, device=x.device)
    extension().forward(_kernel_rows(a.float()), x_rows, y)
    return y[..., :D].reshape(B, H, T, D).to(out_dtype).contiguous()


def b2p_backward(a: torch.Tensor, x: torch.Tensor, dy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(da in a's dtype, dx in x's dtype) for y = b2p_forward(a, x) and its gradient dy, by the CUDA backward
    kernel. dy is read in x's dtype or in fp32 (other dtypes are converted to fp32 first)."""
    B, H, T, D = x.shape
    if dy.dtype not in (x.dtype, torch.float32):
        dy = dy.float()
    x_rows = _kernel_rows(x, _padded(D))
    dx = torch.empty_like(x_rows)
    da_per_slice = torch.empty(-(-x_rows.shape[-1] // SLICE), B * H, T, dtype=torch.float32, device=x.device)
    extension().backward(_kernel_rows(a.float()), x_rows, _kernel_rows(dy, _padded(D)), dx, da_per_slice)
    da = da_per_slice[0] if len(da_per_slice) == 1 else da_per_slice.sum(0)
    return da.reshape(B, H, T).to(a.dtype), dx[..., :D].reshape(B, H, T, D).contiguous()


# ---- compiling without torch: what CI and the chapter show on a machine without a GPU ----------------------

def nvcc_path() -> str | None:
    return shutil.which("nvcc")


def cuobjdump_path() -> str | None:
    """cuobjdump from the CUDA toolkit, or the copy that ships inside Triton."""
    import triton

    bundled = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    return shutil.which("cuobjdump") or (str(bundled) if bundled.is_file() else None)


def compile_cubin(arch: str, directory) -> tuple:
    """Compile kernels/cuda/b2p.cu for ``arch`` (e.g. "sm_90") with nvcc into directory/b2p_<arch>.cubin.
    Returns (path, ptxas report): registers, shared memory and spills of every kernel."""
    if nvcc_path() is None:
        raise RuntimeError("compile_cubin: nvcc is not on the PATH")
    cubin = Path(directory) / f"b2p_{arch}.cubin"
    done = subprocess.run([nvcc_path(), "-cubin", f"-arch={arch}", "-O3", "-std=c++17", "-Xptxas", "-v",
                           "-o", str(cubin), str(CUDA_DIR / "b2p.cu")], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"nvcc failed for {arch}:\n{done.stderr}")
    return cubin, done.stderr


def sass(cubin) -> str:
    """The machine code (SASS) of a cubin, by cuobjdump -sass."""
    if cuobjdump_path() is None:
        raise RuntimeError("sass: no cuobjdump found (CUDA toolkit or Triton's copy)")
    return subprocess.run([cuobjdump_path(), "-sass", str(cubin)], capture_output=True, text=True,
                          check=True).stdout


# ---- the listing, section by section (chapter 06 shows it from the file) ---------------------------------

def source_section(heading: str, file: str = "b2p.cu") -> str:
    """The lines of kernels/cuda/``file`` from the section rule ``// ---- <heading>`` to the next rule;
    heading "" gives the file's opening comment (everything before the first #include)."""
    lines = (CUDA_DIR / file).read_text().splitlines()
    if heading == "":
        return "\n".join(lines[:next(i for i, line in enumerate(lines) if line.startswith("#include"))]).rstrip()
    starts = [i for i, line in enumerate(lines) if line.startswith(f"// ---- {heading}")]
    if not starts:
        raise ValueError(f"source_section: no section '// ---- {heading}' in {file}")
    end = next((i for i in range(starts[0] + 1, len(lines)) if lines[i].startswith("// ---- ")), len(lines))
    return "\n".join(lines[starts[0]:end]).rstrip()
