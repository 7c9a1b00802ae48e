"""SWR across devices: a sequence split along time over P processes, joined by one halo exchange.

The output of SWR at position t reads the inputs of t's own 16-token tile and of the tile before it, nothing
older. A process that holds positions [s, e) of the sequence therefore needs, from the processes before it, only
the inputs at [halo_start(s), s): at most 31 positions, one tile when s is a multiple of 16. It sends its own
last positions to the processes after it, computes the body of its shard while the messages travel, and finishes
the first tile or two once the halo has arrived. The backward sends the halo's gradient back the other way.

    swr_context_parallel(a, x, group)          # a (B, H, T_local), x (B, H, T_local, D): this process's shard

Works with the gloo backend on CPU tensors and NCCL on CUDA tensors; launch with ``torchrun`` or
``run_processes`` (which spawns P CPU processes, for tests and the chapter).
"""
import os
import tempfile
from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from .blocked import TILE
from .swr import _checked_inputs, swr, swr_without_checks


def halo_start(start: int) -> int:
    """The first position whose input the outputs from ``start`` on read: the start of the tile before start's."""
    return max(0, (start // TILE - 1) * TILE)


def shard_bounds(lengths: list[int]) -> list[tuple[int, int]]:
    """[(s, e)] per process for consecutive shards of the given lengths."""
    ends = torch.tensor(lengths).cumsum(0).tolist()
    return [(end - length, end) for length, end in zip(lengths, ends)]


def halo_pieces(lengths: list[int], receiver: int) -> list[tuple[int, int, int]]:
    """(sender, lo, hi): the global positions [lo, hi) of the receiver's halo held by each earlier process."""
    bounds = shard_bounds(lengths)
    start = bounds[receiver][0]
    need = (halo_start(start), start)
    pieces = []
    for sender, (s, e) in enumerate(bounds[:receiver]):
        lo, hi = max(s, need[0]), min(e, need[1])
        if lo < hi:
            pieces.append((sender, lo, hi))
    return pieces


def _exchange(lengths: list[int], rank: int, group, outgoing: Callable, incoming: Callable, forward: bool):
    """Post every send and receive of one halo exchange; returns the requests to wait on.

    forward: the inputs flow to later processes (sender -> receiver); else gradients flow back.
    ``outgoing(peer, lo, hi)`` gives the tensor to send, ``incoming(peer, lo, hi)`` the buffer to fill.
    """
    requests = []
    for receiver in range(len(lengths)):
        for sender, lo, hi in halo_pieces(lengths, receiver):
            source, destination = (sender, receiver) if forward else (receiver, sender)
            if rank == source:
                requests.append(dist.isend(outgoing(destination, lo, hi), _global(group, destination), group=group))
            elif rank == destination:
                requests.append(dist.irecv(incoming(source, lo, hi), _global(group, source), group=group))
    return requests


def _global(group, rank: int) -> int:
    return rank if group is None else dist.get_global_rank(group, rank)


class _Halo(torch.autograd.Function):
    """The received halo as a function of every shard's inputs: backward returns the gradients that later
    processes send back for this shard's last positions, and sends this halo's gradient to its owners."""

    @staticmethod
    def forward(ctx, a, x, a_halo, x_halo, lengths, rank, group):
        ctx.lengths, ctx.rank, ctx.group = lengths, rank, group
        ctx.shapes = a.shape, x.shape
        return a_halo.clone(), x_halo.clone()

    @staticmethod
    def backward(ctx, da_halo, dx_halo):
        (a_shape, x_shape), lengths, rank = ctx.shapes, ctx.lengths, ctx.rank
        packed = torch.promote_types(da_halo.dtype, dx_halo.dtype)
        da, dx = da_halo.new_zeros(a_shape), dx_halo.new_zeros(x_shape)
        start, _ = shard_bounds(lengths)[rank]
        halo_lo = halo_start(start)
        received = []

        def outgoing(peer, lo, hi):  # my halo's gradient, back to its owner
            return torch.cat([da_halo[..., lo - halo_lo:hi - halo_lo, None].to(packed),
                              dx_halo[..., lo - halo_lo:hi - halo_lo, :].to(packed)], dim=-1).contiguous()

        def incoming(peer, lo, hi):  # a later process's gradient for my positions [lo, hi)
            buffer = dx.new_empty(*x_shape[:2], hi - lo, x_shape[-1] + 1, dtype=packed)
            received.append((lo - start, hi - start, buffer))
            return buffer

        for request in _exchange(lengths, rank, ctx.group, outgoing, incoming, forward=False):
            request.wait()
        for lo, hi, buffer in received:
            da[..., lo:hi] += buffer[..., 0].to(da.dtype)
            dx[..., lo:hi, :] += buffer[..., 1:].to(dx.dtype)
        return da, dx, None, None, None, None, None


def _lengths_of_all(T_local: int, device: torch.device, group) -> list[int]:
    gathered = [torch.zeros(1, dtype=torch.long, device=device) for _ in range(dist.get_world_size(group))]
    dist.all_gather(gathered, torch.tensor([T_local], device=device), group=group)
    return [int(t) for t in gathered]


def swr_context_parallel(a: torch.Tensor, x: torch.Tensor, group=None, backend: str = "auto",
                         lengths: list[int] | None = None) -> torch.Tensor:
    """SWR of a sequence split along time over the processes of ``group``; this process holds a shard.

    a (B, H, T_local) and x (B, H, T_local, D) are this process's consecutive positions (process r holds the
    r-th piece; pieces may differ in length and be shorter than a tile). Returns this shard's y (B, H, T_local, D),
    equal to ``swr`` of the whole sequence at these positions; differentiable in a and x.
    ``lengths`` (every process's T_local) saves one all-gather when the caller knows them.
    """
    fn = "swr_context_parallel"
    if not dist.is_initialized():
        raise RuntimeError(f"{fn}: torch.distributed is not initialised; call dist.init_process_group first "
                           "(or launch with torchrun / swr_tutor.distributed.run_processes)")
    a, x = _checked_inputs(fn, a, x)
    rank, world = dist.get_rank(group), dist.get_world_size(group)
    lengths = _lengths_of_all(x.shape[2], x.device, group) if lengths is None else list(lengths)
    if len(lengths) != world or lengths[rank] != x.shape[2] or min(lengths) < 1:
        raise ValueError(f"{fn}: lengths must hold each of the {world} processes' T_local >= 1 with this "
                         f"process's ({x.shape[2]}) at index {rank}, got {lengths}")
    start, end = shard_bounds(lengths)[rank]
    halo_lo = halo_start(start)
    B, H, _, D = x.shape
    packed = torch.promote_types(a.dtype, x.dtype)
    pieces = [x.new_empty(B, H, 0, D + 1, dtype=packed)]         # the halo, in order of position

    def outgoing(peer, lo, hi):  # my positions [lo, hi) for a later process's halo: a and x packed together
        return torch.cat([a[..., lo - start:hi - start, None].to(packed),
                          x[..., lo - start:hi - start, :].to(packed)], dim=-1).detach().contiguous()

    def incoming(peer, lo, hi):
        pieces.append(x.new_empty(B, H, hi - lo, D + 1, dtype=packed))
        return pieces[-1]

    requests = _exchange(lengths, rank, group, outgoing, incoming, forward=True)
    body_start = -start % TILE                           # the first tile boundary inside the shard (local index)
    head_end = min(end - start, body_start + TILE)       # before it, outputs need the halo
    body = swr_without_checks(a[..., body_start:], x[..., body_start:, :], backend) if head_end < end - start else None
    for request in requests:
        request.wait()
    packed_halo = torch.cat(pieces, dim=-2)
    a_halo, x_halo = _Halo.apply(a, x, packed_halo[..., 0].to(a.dtype), packed_halo[..., 1:].to(x.dtype),
                                 lengths, rank, group)
    head = swr_without_checks(torch.cat([a_halo, a[..., :head_end]], -1),  # the halo: checked by its sender
                              torch.cat([x_halo, x[..., :head_end, :]], -2), backend)
    head = head[..., start - halo_lo:, :]
    return head if body is None else torch.cat([head, body[..., TILE:, :]], dim=-2)


# ---- spawning P CPU processes (gloo) -------------------------------------------------------------------------

def _worker(rank: int, world: int, init_file: str, fn: Callable, args: tuple, results):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.set_num_threads(1)
        results.put((rank, fn(rank, world, *args)))
    finally:
        dist.destroy_process_group()


def run_processes(fn: Callable, world: int, *args) -> list:
    """Run ``fn(rank, world, *args)`` in ``world`` spawned CPU processes joined by gloo; their results by rank.

    ``fn`` must be importable (defined in a module, not in a notebook) so that the spawned processes find it.
    """
    if world < 1:
        raise ValueError(f"run_processes: world must be >= 1, got {world}")
    context = mp.get_context("spawn")
    results = context.SimpleQueue()
    with tempfile.TemporaryDirectory() as folder:
        init_file = os.path.join(folder, "rendezvous")
        mp.start_processes(_worker, args=(world, init_file, fn, args, results), nprocs=world, start_method="spawn")
        by_rank = dict(results.get() for _ in range(world))
    return [by_rank[rank] for rank in range(world)]


def sharded_versus_whole(rank: int, world: int, splits: list[list[int]], D: int = 4) -> list[dict]:
    """On each process, for each split of a sequence into ``world`` shard lengths: the largest differences of the
    shard's output and gradients through ``swr_context_parallel`` from ``swr`` of the whole sequence (float64,
    computed on every process from the same seed)."""
    return [_sharded_versus_whole(rank, lengths, seed, D) for seed, lengths in enumerate(splits)]


def _sharded_versus_whole(rank: int, lengths: list[int], seed: int, D: int) -> dict:
    T = sum(lengths)
    generator = torch.Generator().manual_seed(seed)
    a_full = torch.rand(2, 3, T, generator=generator, dtype=torch.float64)
    a_full[..., ::7] = 0.0                                            # decays of 0 and 1 cross the boundaries too
    a_full[..., 3::11] = 1.0
    x_full = torch.randn(2, 3, T, D, generator=generator, dtype=torch.float64)
    dy_full = torch.randn(2, 3, T, D, generator=generator, dtype=torch.float64)
    start, end = shard_bounds(lengths)[rank]

    a_whole, x_whole = a_full.clone().requires_grad_(), x_full.clone().requires_grad_()
    y_whole = swr(a_whole, x_whole, backend="torch")
    y_whole.backward(dy_full)

    a, x = a_full[..., start:end].clone().requires_grad_(), x_full[..., start:end, :].clone().requires_grad_()
    y = swr_context_parallel(a, x, backend="torch", lengths=lengths)
    y.backward(dy_full[..., start:end, :])
    with torch.no_grad():
        return {"y": float((y - y_whole[..., start:end, :]).abs().max()),
                "da": float((a.grad - a_whole.grad[..., start:end]).abs().max()),
                "dx": float((x.grad - x_whole.grad[..., start:end, :]).abs().max())}
