import math

import pytest

from swr_tutor.exercises import ExerciseError
from swr_tutor.exercises.ch03 import check_combine, check_fix_up, check_hillis_steele_work


def test_combine(capsys):
    def combine(earlier, later):
        (a1, x1), (a2, x2) = earlier, later
        return a1 * a2, a2 * x1 + x2

    def wrong_order(earlier, later):
        (a1, x1), (a2, x2) = earlier, later
        return a1 * a2, a1 * x2 + x1

    def one_number(earlier, later):
        return earlier[0] * later[0]

    check_combine(combine)
    assert "✓ combine: all 5 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match=r"case 1: wrong_order.*\n  hint: the earlier state x1 goes through"):
        check_combine(wrong_order)
    with pytest.raises(ExerciseError, match="return the pair"):
        check_combine(one_number)


def test_hillis_steele_work(capsys):
    def hillis_steele_work(n):
        return sum(n - 2**level for level in range(int(math.log2(n))))

    def n_log_n(n):
        return n * int(math.log2(n))

    check_hillis_steele_work(hillis_steele_work)
    assert "✓ hillis_steele_work: all 5 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match=r"case 2: n_log_n\(2\) returned 2, expected 1\n  hint: at distance d"):
        check_hillis_steele_work(n_log_n)


def test_fix_up(capsys):
    def fix_up(carry_h, local_decay, local_h):
        return local_h + local_decay * carry_h[:, None]

    def forgets_the_decay(carry_h, local_decay, local_h):
        return local_h + carry_h[:, None]

    check_fix_up(fix_up)
    assert "✓ fix_up: all 3 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match=r"case 2: forgets_the_decay.*\n  hint: the carry decays"):
        check_fix_up(forgets_the_decay)
