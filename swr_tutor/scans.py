"""Parallel scans of h_t = a_t h_{t-1} + x_t: the operator, the classic networks with counted work and depth,
the block (chunked) scan, a model of their global-memory traffic, and the Triton kernel's launcher.

Each step of the recurrence is the affine map h -> a h + x, stored as the pair (a, x). Doing one step and then
another is the associative operator (the earlier step on the left), with identity (1, 0):

    (a1, x1) o (a2, x2) = (a1 a2, a2 x1 + x2).

The prefix (a_0, x_0) o ... o (a_t, x_t) = (a_0 ... a_t, h_t), in any bracketing. A scan algorithm is a
``Network``: levels of operations on the slots of a state array, every operation of a level reading the state
the previous level left, so the operations of a level can run at once. Counting convention:

    work  = the number of combines (applications of o),
    depth = the number of levels that contain a combine (moving data is free).

Shapes: decays ``a (..., T)``; inputs ``x (..., T)`` or ``x (..., T, D)`` (D channels sharing a decay).
"""
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import triton

from . import validate
from .device import INTERPRETING, ON_GPU
from .kernels.triton import scan as scan_kernels

IDENTITY = (1.0, 0.0)


def combine(earlier, later):
    """(a1, x1) o (a2, x2) = (a1 a2, a2 x1 + x2): the step ``earlier``, then the step ``later``.

    Works on numbers, numpy arrays and tensors (elementwise)."""
    (a1, x1), (a2, x2) = earlier, later
    return a1 * a2, a2 * x1 + x2


@dataclass(frozen=True)
class Level:
    """One parallel step. Every operation reads the state as the previous level left it.

    combines: (out, left, right): slot out <- slot left o slot right (left holds the earlier span)
    copies:   (out, src):         slot out <- slot src
    clears:   out:                slot out <- the identity (1, 0)
    """
    combines: tuple[tuple[int, int, int], ...] = ()
    copies: tuple[tuple[int, int], ...] = ()
    clears: tuple[int, ...] = ()

    def reads(self) -> set[int]:
        return {s for _, left, right in self.combines for s in (left, right)} | {src for _, src in self.copies}

    def writes(self) -> list[int]:  # with repeats, so that writing a slot twice can be caught
        return [c[0] for c in self.combines] + [c[0] for c in self.copies] + list(self.clears)


@dataclass(frozen=True)
class Network:
    """A scan of n positions as levels of operations on ``slots`` slots (n, or more for padding and totals).

    The inclusive scan is read from slots first_output, ..., first_output + n - 1."""
    name: str
    n: int
    slots: int
    levels: tuple[Level, ...]
    first_output: int = 0

    def __post_init__(self):
        for number, level in enumerate(self.levels):
            writes = level.writes()
            if len(set(writes)) != len(writes):
                raise ValueError(f"{self.name}: level {number} writes a slot twice")
            if not set(writes) | level.reads() <= set(range(self.slots)):
                raise ValueError(f"{self.name}: level {number} touches a slot outside 0..{self.slots - 1}")

    @property
    def work(self) -> int:
        return sum(len(level.combines) for level in self.levels)

    @property
    def depth(self) -> int:
        return sum(1 for level in self.levels if level.combines)


def _combine_level(ops) -> Level:
    return Level(combines=tuple(ops))


def _network(name: str, n: int, levels, slots: int | None = None, first_output: int = 0) -> Network:
    kept = tuple(level for level in levels if level.combines or level.copies or level.clears)
    return Network(name, n, slots or n, kept, first_output)


def _builder(build: Callable[[int], Network]) -> Callable[[int], Network]:
    """A network builder that checks n (an int >= 1) first."""
    @functools.wraps(build)
    def checked(n: int) -> Network:
        return build(validate.positive_int(build.__name__, "n", n))

    return checked


def _strides(limit: int):
    """2, 4, 8, ... up to and including the largest power of two <= limit."""
    stride = 2
    while stride <= limit:
        yield stride
        stride *= 2


def _next_power_of_two(n: int) -> int:
    return 1 << (n - 1).bit_length()


@_builder
def serial(n: int) -> Network:
    """The loop itself as a network: one combine per level, slot t takes in slot t - 1."""
    return _network("serial loop", n, (_combine_level([(t, t - 1, t)]) for t in range(1, n)))


@_builder
def hillis_steele(n: int) -> Network:
    """Kogge-Stone / Hillis-Steele: at distance d = 1, 2, 4, ... every slot t >= d takes in slot t - d."""
    distances = (stride // 2 for stride in _strides(2 * n - 2))
    levels = (_combine_level((t, t - d, t) for t in range(d, n)) for d in distances)
    return _network("Kogge-Stone / Hillis-Steele", n, levels)


@_builder
def sklansky(n: int) -> Network:
    """Divide and conquer: in blocks of 2, 4, 8, ... slots, the upper half takes in the lower half's last slot."""
    def level(block: int) -> Level:
        half = block // 2
        return _combine_level((t, t - t % block + half - 1, t) for t in range(n) if t % block >= half)

    return _network("Sklansky", n, (level(block) for block in _strides(2 * n - 2)))


def up_sweep(n: int) -> list[Level]:
    """Reduce tree: at stride s = 2, 4, ..., slot t = s-1, 2s-1, ... takes in slot t - s/2 (a span of s)."""
    return [_combine_level((t, t - s // 2, t) for t in range(s - 1, n, s)) for s in _strides(n)]


@_builder
def brent_kung(n: int) -> Network:
    """Reduce tree up, then a second tree down: at stride s = ..., 4, 2 slot t = 3s/2 - 1, 5s/2 - 1, ...
    (a span of s/2) takes in slot t - s/2, which already holds a whole prefix."""
    down = [_combine_level((t, t - s // 2, t) for t in range(s + s // 2 - 1, n, s)) for s in _strides(n)]
    return _network("Brent-Kung", n, up_sweep(n) + down[::-1])


@_builder
def blelloch(n: int) -> Network:
    """Work-efficient exclusive scan on n padded to a power of two m: the up-sweep, then one level that saves
    the total in slot m and clears the root, then a down-sweep in which every node hands its prefix to its left
    child and prefix o (left child's span) to its right child. Slots 0..m-1 end with the exclusive scan, so the
    inclusive scan is slots 1..n."""
    m = _next_power_of_two(n)
    root = Level(copies=((m, m - 1),), clears=(m - 1,))

    def down(s: int) -> Level:
        rights = range(s - 1, m, s)
        return Level(combines=tuple((r, r, r - s // 2) for r in rights), copies=tuple((r - s // 2, r) for r in rights))

    levels = up_sweep(m) + [root] + [down(s) for s in reversed(list(_strides(m)))]
    return _network("Blelloch", n, levels, slots=m + 1, first_output=1)


NETWORKS: tuple[Callable[[int], Network], ...] = (hillis_steele, sklansky, brent_kung, blelloch)


class ScanResult(NamedTuple):
    """The prefix pairs: ``decay`` (..., T) = a_0 ... a_t and ``h`` (shape of x); the network's work and depth."""
    decay: torch.Tensor
    h: torch.Tensor
    work: int
    depth: int


class _Rows(NamedTuple):
    a: torch.Tensor                                  # (R, T)
    x: torch.Tensor                                  # (R, T)
    as_x: Callable[[torch.Tensor], torch.Tensor]     # (R, T) -> the shape of x
    as_a: Callable[[torch.Tensor], torch.Tensor]     # (R, T) -> the shape of a (rows that share a decay agree)


def _rows(fn: str, a, x) -> _Rows:
    """a and x as rows (R, T) of equal shape; D channels sharing a decay become D rows with a copy of it each."""
    a, x = validate.decays_and_inputs(fn, a, x)
    T = a.shape[-1]
    if x.dim() == a.dim():
        return _Rows(a.reshape(-1, T), x.reshape(-1, T), lambda h: h.reshape(x.shape), lambda d: d.reshape(a.shape))
    channels_first = x.movedim(-1, -2)  # (..., D, T)

    def as_x(h):
        return h.reshape(channels_first.shape).movedim(-2, -1)

    a_rows = a.unsqueeze(-2).expand(channels_first.shape).reshape(-1, T)
    return _Rows(a_rows, channels_first.reshape(-1, T), as_x, lambda d: as_x(d)[..., 0])


def apply_level(level: Level, A: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One level on the slot-major state A, X (slots, R): every operation reads the old state."""
    new_A, new_X = A.copy(), X.copy()
    if level.combines:
        out, left, right = np.array(level.combines).T
        new_A[out], new_X[out] = combine((A[left], X[left]), (A[right], X[right]))
    if level.copies:
        out, src = np.array(level.copies).T
        new_A[out], new_X[out] = A[src], X[src]
    if level.clears:
        new_A[list(level.clears)], new_X[list(level.clears)] = IDENTITY
    return new_A, new_X


def run_network(network: Network, a: torch.Tensor, x: torch.Tensor) -> ScanResult:
    """Run any scan network on (a, x) in float64 numpy, along the last axis of a (T = network.n)."""
    rows = _rows("run_network", a, x)
    R, T = rows.a.shape
    if T != network.n:
        raise ValueError(f"run_network: the network scans n = {network.n} positions but a has T = {T}")
    A, X = np.ones((network.slots, R)), np.zeros((network.slots, R))
    A[:T], X[:T] = rows.a.double().T.cpu().numpy(), rows.x.double().T.cpu().numpy()
    for level in network.levels:
        A, X = apply_level(level, A, X)
    outputs = slice(network.first_output, network.first_output + T)
    decay, h = (torch.from_numpy(np.ascontiguousarray(S[outputs].T)) for S in (A, X))
    return ScanResult(rows.as_a(decay), rows.as_x(h), network.work, network.depth)


def fix_up(carry_h: torch.Tensor, local_decay: torch.Tensor, local_h: torch.Tensor) -> torch.Tensor:
    """The states of every chunk from its local scan and the state carried in: (1, carry) o (decay, local h).

    carry_h (..., K): the state before chunk k; local_decay, local_h (..., K, C): the chunks' own scans."""
    _, h = combine((1.0, carry_h.unsqueeze(-1)), (local_decay, local_h))
    return h


def chunked_scan(a: torch.Tensor, x: torch.Tensor, chunk: int,
                 network: Callable[[int], Network] = hillis_steele) -> torch.Tensor:
    """h (float64, shape of x) by the block scan: scan inside chunks of ``chunk`` positions, scan the chunk
    totals, fix every chunk up with the state carried in. Both scans use ``network``; T is padded with the
    identity to a multiple of ``chunk``."""
    rows = _rows("chunked_scan", a, x)
    chunk = validate.positive_int("chunked_scan", "chunk", chunk)
    T = rows.a.shape[-1]
    padding = -T % chunk
    a_chunks = torch.nn.functional.pad(rows.a.double(), (0, padding), value=1.0).unflatten(-1, (-1, chunk))
    x_chunks = torch.nn.functional.pad(rows.x.double(), (0, padding)).unflatten(-1, (-1, chunk))
    local = run_network(network(chunk), a_chunks, x_chunks)
    totals = run_network(network(a_chunks.shape[-2]), local.decay[..., -1], local.h[..., -1])
    carry_h = torch.nn.functional.pad(totals.h[..., :-1], (1, 0))  # the state before each chunk; 0 before the first
    h = fix_up(carry_h, local.decay, local.h).flatten(-2)[..., :T]
    return rows.as_x(h)


@dataclass(frozen=True)
class TrafficModel:
    """A model of global-memory traffic, not a measurement. a and x live in two arrays of ``value_bytes`` each;
    memory moves whole sectors of ``sector_bytes``; nothing stays on chip between kernel passes."""
    value_bytes: int = 4
    sector_bytes: int = 32

    def sectors(self, slots) -> int:
        return len({slot * self.value_bytes // self.sector_bytes for slot in slots})

    def contiguous(self, values: int) -> int:
        return -(-values * self.value_bytes // self.sector_bytes) * self.sector_bytes


class Traffic(NamedTuple):
    passes: int       # kernel launches over the data
    bytes: int        # bytes read from and written to global memory, per row


def flat_traffic(network: Network, model: TrafficModel = TrafficModel()) -> Traffic:
    """Every level is a kernel pass that reads the sectors holding the slots it reads and writes the sectors
    holding the slots it writes, for both a and x (a lower bound: double buffering would copy the rest too)."""
    sectors = sum(model.sectors(level.reads()) + model.sectors(level.writes()) for level in network.levels)
    return Traffic(len(network.levels), 2 * sectors * model.sector_bytes)


def chunked_traffic(T: int, chunk: int, one_pass: bool, model: TrafficModel = TrafficModel()) -> Traffic:
    """The block scan of one row of T positions.

    one pass (carry kept on chip, as in kernels/triton/scan.py): read a and x once, write h once.
    three passes (reduce, then scan the chunk totals, then scan again with the carry): read a and x, write the
    chunk totals (a, x); read and write the totals; read a, x and the carries, write h."""
    validate.positive_int("chunked_traffic", "T", T)
    validate.positive_int("chunked_traffic", "chunk", chunk)
    sequence, totals = model.contiguous(T), model.contiguous(-(-T // chunk))
    if one_pass:
        return Traffic(1, 2 * sequence + sequence)
    reduce = 2 * sequence + 2 * totals        # read a, x; write every chunk's total (a, x)
    scan_totals = 2 * totals + totals         # read the totals; write the carries (h before every chunk)
    rescan = 2 * sequence + totals + sequence  # read a, x and the carries; write h
    return Traffic(3, reduce + scan_totals + rescan)


def _kernel_dtypes() -> tuple[torch.dtype, ...]:
    # The interpreter multiplies bf16 raw bits; on a GPU bf16 is upcast right after loading.
    return (torch.float16, torch.float32) if INTERPRETING else (torch.float16, torch.bfloat16, torch.float32)


def _block_t(T: int, block_t) -> int:
    if block_t is None:
        return min(triton.next_power_of_2(T), 1024)
    validate.positive_int("triton_scan", "block_t", block_t)
    if block_t & (block_t - 1) or block_t > 2**16:
        raise ValueError(f"triton_scan: block_t must be a power of two between 1 and 65536, got {block_t}")
    return block_t


def triton_scan(a: torch.Tensor, x: torch.Tensor, block_t: int | None = None) -> torch.Tensor:
    """h (fp32, shape of x) for a (..., T) and x (..., T) or (..., T, D) by the Triton kernel
    kernels/triton/scan.py: one program per row, ``block_t`` positions at a time (default: T rounded up to a
    power of two, at most 1024), fp32 accumulation. Inputs fp16 or fp32 (and bf16 on a GPU)."""
    rows = _rows("triton_scan", a, x)
    for name, value in (("a", a), ("x", x)):
        validate.tensor("triton_scan", name, value, dtypes=_kernel_dtypes(), finite=False)
    expected_device = "cuda" if ON_GPU and not INTERPRETING else "cpu"
    if a.device.type != expected_device:
        raise ValueError(f"triton_scan: a and x must be on {expected_device}, got {a.device}")
    R, T = rows.a.shape
    BLOCK_T = _block_t(T, block_t)
    h = torch.empty((R, T), dtype=torch.float32, device=a.device)
    if R:
        scan_kernels.linear_scan_rows[(R,)](rows.a.contiguous(), rows.x.contiguous(), h, T, BLOCK_T=BLOCK_T)
    return rows.as_x(h)


def draw_network(ax, network: Network) -> None:
    """Slots left to right, levels top to bottom. A combine is a dot at (out, level) fed by an edge from the
    slot of its other operand one level up; a copy is a dashed edge, a clear an open circle."""
    from matplotlib.ticker import MaxNLocator

    from .plotting import COLORS

    ax.vlines(range(network.slots), 0, len(network.levels), colors="lightgray", lw=0.8, zorder=0)
    for row, level in enumerate(network.levels, 1):
        for out, left, right in level.combines:
            other = left if right == out else right
            ax.plot([other, out], [row - 1, row], color=COLORS["kernel"], lw=1)
            ax.plot(out, row, "o", color=COLORS["kernel"], ms=3)
        for out, src in level.copies:
            ax.plot([src, out], [row - 1, row], ls="--", color=COLORS["peer"], lw=1)
        for out in level.clears:
            ax.plot(out, row, "o", mfc="white", mec=COLORS["highlight"], ms=4)
    if network.first_output:
        ax.text(network.slots - 1, -0.3, "total", ha="center", fontsize=8, color=COLORS["peer"])
    ax.set_ylim(len(network.levels) + 0.5, -0.8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("position")
    ax.set_ylabel("level")
    ax.grid(False)
    ax.set_title(f"{network.name}\nwork {network.work}, depth {network.depth}")
