import pytest
import torch

from swr_tutor import warp_model
from swr_tutor.exercises import ExerciseError
from swr_tutor.exercises.ch06 import check_a_entry, check_carry_block, check_warp_scan
from swr_tutor.recurrence import transfer_operator


def test_a_entry(capsys):
    def a_entry(lane, register, half):
        g, q = lane // 4, lane % 4
        return g + 8 * (register & 1), 2 * q + 8 * (register >> 1) + half

    def swapped_roles(lane, register, half):
        q, g = lane // 4, lane % 4
        return g + 8 * (register & 1), 2 * q + 8 * (register >> 1) + half

    def no_column_shift(lane, register, half):
        return [float(lane // 4 + 8 * (register & 1)), float(2 * (lane % 4) + half)]

    check_a_entry(a_entry)
    assert "✓ a_entry: all 6 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="other way round"):
        check_a_entry(swapped_roles)
    with pytest.raises(ExerciseError, match="moves the columns by 8"):
        check_a_entry(no_column_shift)


def test_warp_scan(capsys):
    def warp_scan(values):
        prefix, offset = values.clone(), 1
        while offset < 32:
            prefix = torch.where(warp_model.LANE >= offset, prefix + warp_model.shfl_up(prefix, offset), prefix)
            offset *= 2
        return prefix

    def every_lane_adds(values):
        prefix, offset = values.clone(), 1
        while offset < 32:
            prefix = prefix + warp_model.shfl_up(prefix, offset)
            offset *= 2
        return prefix

    check_warp_scan(warp_scan)
    assert "✓ warp_scan: all 3 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="their OWN value"):
        check_warp_scan(every_lane_adds)
    with pytest.raises(ExerciseError, match="exclusive prefix"):
        check_warp_scan(lambda v: v.cumsum(0) - v)


def test_carry_block(capsys):
    def carry_block(a_previous, a_own):
        g = a_own.cumprod(0)                                            # a_start ... a_t
        r = torch.cat([a_previous[1:].flip(0).cumprod(0).flip(0), torch.ones(1, dtype=a_own.dtype)])
        return g[:, None] * r[None, :]

    check_carry_block(carry_block)
    assert "✓ carry_block: all 4 cases pass" in capsys.readouterr().out
    check_carry_block(lambda p, o: transfer_operator(torch.cat([p, o]))[16:, :16])
    with pytest.raises(ExerciseError, match="starts at a_"):
        check_carry_block(lambda p, o: o.cumprod(0)[:, None] * p.flip(0).cumprod(0).flip(0)[None, :])
