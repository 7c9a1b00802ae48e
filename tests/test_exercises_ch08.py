import math

import pytest
import torch

from swr_tutor import simplicial as S
from swr_tutor.exercises import ExerciseError
from swr_tutor.exercises.ch08 import check_gqa_block, check_simplicial_by_hand, check_visible_triples


def test_visible_triples(capsys):
    def visible_triples(T, w1, w2):
        return sum(min(i + 1, w1) * min(i + 1, w2) for i in range(T))

    check_visible_triples(visible_triples)
    assert "✓ visible_triples: all 6 cases pass" in capsys.readouterr().out
    check_visible_triples(lambda T, w1, w2: torch.tensor(float(visible_triples(T, w1, w2))))  # a tensor is fine
    with pytest.raises(ExerciseError, match="counts full windows"):
        check_visible_triples(lambda T, w1, w2: T * w1 * w2)
    with pytest.raises(ExerciseError, match="sees itself too"):
        check_visible_triples(lambda T, w1, w2: sum(min(i, w1) * min(i, w2) for i in range(T)))
    with pytest.raises(ExerciseError, match="multiply"):
        check_visible_triples(lambda T, w1, w2: sum(min(i + 1, w1) + min(i + 1, w2) for i in range(T)))


def _by_hand(q, k1, k2, v1, v2, w1, w2, joint=True, scale=None):
    T, D = q.shape
    logits = torch.einsum("id,jd,kd->ijk", q, k1, k2) * (scale or 1 / math.sqrt(D))
    logits = logits.masked_fill(~S.window_mask(T, w1, w2), float("-inf"))
    p = torch.softmax(logits.flatten(1), -1).view_as(logits)
    return torch.einsum("ijk,jd,kd->id", p, v1, v2)


def test_simplicial_by_hand(capsys):
    check_simplicial_by_hand(_by_hand)
    assert "✓ simplicial_by_hand: all 5 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match=r"scaled by 1/sqrt\(D\)"):
        check_simplicial_by_hand(lambda *a: _by_hand(*a, scale=1.0))
    with pytest.raises(ExerciseError, match="mask the pairs"):
        check_simplicial_by_hand(lambda q, k1, k2, v1, v2, w1, w2: _by_hand(q, k1, k2, v1, v2, len(q), len(q)))
    with pytest.raises(ExerciseError, match="PRODUCT"):
        def added(q, k1, k2, v1, v2, w1, w2):
            T, D = q.shape
            logits = torch.einsum("id,jd,kd->ijk", q, k1, k2) / math.sqrt(D)
            p = torch.softmax(logits.masked_fill(~S.window_mask(T, w1, w2), float("-inf")).flatten(1), -1)
            p = p.view_as(logits)
            return torch.einsum("ijk,jd->id", p, v1) + torch.einsum("ijk,kd->id", p, v2)
        check_simplicial_by_hand(added)


def test_gqa_block(capsys):
    def gqa_block(q_heads, k1_j, k2_window):
        return torch.einsum("gd,d,wd->gw", q_heads, k1_j, k2_window) / math.sqrt(q_heads.shape[1])

    check_gqa_block(gqa_block)
    assert "✓ gqa_block: all 4 cases pass" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="1/sqrt"):
        check_gqa_block(lambda q, k1, k2: (q * k1) @ k2.T)
    with pytest.raises(ExerciseError, match="outer key k1_j enters too"):
        check_gqa_block(lambda q, k1, k2: q @ k2.T / math.sqrt(q.shape[1]))
    with pytest.raises(ExerciseError, match="not its transpose"):
        check_gqa_block(lambda q, k1, k2: k2 @ (q * k1).T / math.sqrt(q.shape[1]))
