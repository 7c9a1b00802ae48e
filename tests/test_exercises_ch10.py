import pytest

from swr_tutor.blocked import TILE
from swr_tutor.exercises import ExerciseError
from swr_tutor.distributed import halo_pieces
from swr_tutor.exercises.ch10 import check_halo_bytes, check_halo_pieces, check_halo_start


def test_halo_start(capsys):
    check_halo_start(lambda start: max(0, (start // TILE - 1) * TILE))
    assert "✓ halo_start: all 7 cases pass" in capsys.readouterr().out
    for wrong, message in ((lambda s: max(0, s - TILE), "fixed grid"), (lambda s: s // TILE * TILE, "own tile"),
                           (lambda s: max(0, s - 2 * TILE + 1), "not 9")):
        with pytest.raises(ExerciseError, match=message):
            check_halo_start(wrong)


def test_halo_bytes(capsys):
    def halo(start):
        return start - max(0, (start // TILE - 1) * TILE)

    check_halo_bytes(lambda B, H, D, start, size: halo(start) * B * H * (D + 1) * size)
    assert "✓ halo_bytes: all 4 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="the decays a travel too"):
        check_halo_bytes(lambda B, H, D, start, size: halo(start) * B * H * D * size)
    with pytest.raises(ExerciseError, match="off the tile grid"):
        check_halo_bytes(lambda B, H, D, start, size: min(start, TILE) * B * H * (D + 1) * size)


def test_halo_pieces(capsys):
    check_halo_pieces(halo_pieces)
    assert "✓ halo_pieces: all 6 cases pass" in capsys.readouterr().out

    def previous_only(lengths, receiver):
        return [piece for piece in halo_pieces(lengths, receiver) if piece[0] == receiver - 1]

    def into_own_shard(lengths, receiver):
        start = sum(lengths[:receiver])
        return halo_pieces(lengths, receiver) + ([(receiver, start, (start // TILE + 1) * TILE)] if receiver else [])

    with pytest.raises(ExerciseError, match="shorter than the halo"):
        check_halo_pieces(previous_only)
    with pytest.raises(ExerciseError, match="own positions"):
        check_halo_pieces(into_own_shard)
