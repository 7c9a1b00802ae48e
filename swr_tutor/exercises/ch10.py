"""Checkers for chapter 10, SWR across devices: where a shard's halo starts, how many bytes it is, and which
processes hold it.

As in the earlier chapters, a checker first names a known mistake when the reader's answer reproduces it, then
runs the cases.
"""
from collections.abc import Callable

from ..blocked import TILE
from ..distributed import halo_pieces, halo_start
from . import Case, name_the_mistake, run_cases


def check_halo_start(fn: Callable) -> None:
    """``fn(start)`` must return the first position whose input the outputs from ``start`` on read."""
    exercise = "halo_start"
    name_the_mistake(exercise, fn, (40,), halo_start(40), [
        (40 - TILE, "the window is not the last 16 positions: the tiles sit on a fixed grid, and position 40 reads "
                    "its own tile [32, 48) from its start and the tile before it, [16, 32)"),
        (32, "that is the start of the shard's own tile; its outputs also read the carry, the previous tile's "
             "local last row, which is built from the previous tile's start"),
        (40 - 2 * TILE + 1, "the window of position 40 reaches back to 16, not 9: count on the tile grid"),
    ])
    run_cases(exercise, fn, [
        Case((0,), 0, hint="the first shard needs no halo"),
        Case((5,), 0, hint="there is no tile before the first: the halo starts at 0"),
        Case((16,), 0),
        Case((17,), 0),
        Case((32,), 16),
        Case((47,), 16),
        Case((1000,), 976),
    ])


def halo_bytes(B: int, H: int, D: int, start: int, bytes_per_value: int) -> int:
    return (start - halo_start(start)) * B * H * (D + 1) * bytes_per_value


def check_halo_bytes(fn: Callable) -> None:
    """``fn(B, H, D, start, bytes_per_value)`` must return the bytes of the halo of the shard starting at ``start``:
    the decays and the inputs of its positions."""
    exercise = "halo_bytes"
    args = (2, 16, 64, 1000, 4)
    name_the_mistake(exercise, fn, args, halo_bytes(*args), [
        ((1000 - halo_start(1000)) * 2 * 16 * 64 * 4, "the decays a travel too: D + 1 values per position and head"),
        (TILE * 2 * 16 * 65 * 4, "a shard that starts off the tile grid needs more than one tile: from the start "
                                 "of the tile before its own"),
    ])
    run_cases(exercise, fn, [
        Case((1, 1, 1, 0, 4), 0, hint="the first shard receives nothing"),
        Case((1, 1, 1, 32, 4), 16 * 2 * 4),
        Case(args, halo_bytes(*args)),
        Case((4, 8, 16, 4100, 2), halo_bytes(4, 8, 16, 4100, 2)),
    ])


def check_halo_pieces(fn: Callable) -> None:
    """``fn(lengths, receiver)`` must return [(sender, lo, hi)]: the global positions [lo, hi) of the receiver's
    halo that each earlier process holds, in order of sender."""
    exercise = "halo_pieces"
    split = [5, 3, 50, 1]
    name_the_mistake(exercise, fn, (split, 2), halo_pieces(split, 2), [
        ([(1, 5, 8)], "a shard can be shorter than the halo: collect the pieces of every earlier process whose "
                      "positions meet [halo_start(s), s), not only the previous one"),
        ([(0, 0, 5), (1, 5, 8), (2, 8, 16)], "the receiver's own positions are not part of its halo: stop at its "
                                             "start s"),
    ])
    run_cases(exercise, fn, [
        Case(([40, 24], 0), [], hint="the first process receives nothing"),
        Case(([40, 24], 1), [(0, 16, 40)]),
        Case((split, 2), halo_pieces(split, 2)),
        Case((split, 3), [(2, 32, 58)]),
        Case(([1, 1, 1, 1], 3), [(0, 0, 1), (1, 1, 2), (2, 2, 3)]),
        Case(([100, 7, 33, 2], 2), [(0, 80, 100), (1, 100, 107)], hint="107 lies in the tile [96, 112)"),
    ])
