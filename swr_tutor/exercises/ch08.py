"""Checkers for chapter 08, 2-simplicial attention: the triples a query sees, the forward pass by hand, and the
logit block of one token's GQA query heads.

As in the earlier chapters, a checker first names a known mistake when the reader's answer reproduces it, then
runs the cases.
"""
import math
from collections.abc import Callable

import torch

from .. import simplicial as S
from . import Case, converted, name_the_mistake, run_cases

F64 = torch.float64


def _randn(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _as_int(value):
    """A whole number (int, integral float or one-element tensor) as an int; anything else unchanged."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# ---- exercise 1: the triples a query sees -------------------------------------------------------------------

def check_visible_triples(fn: Callable) -> None:
    """``fn(T, w1, w2)`` must count the (i, j, k) with i - w1 < j <= i and i - w2 < k <= i, 0 <= j, k."""
    exercise = "visible_triples"
    fn = converted(fn, _as_int)
    T, w1, w2 = 10, 4, 3
    name_the_mistake(exercise, fn, (T, w1, w2), S.visible_triples(T, w1, w2), [
        (T * w1 * w2, "T * w1 * w2 counts full windows for every query; the first queries see fewer keys "
                      "(query i sees min(i + 1, w1) of the first set: there is nothing before position 0)"),
        (sum(min(i, w1) * min(i, w2) for i in range(T)),
         "query i sees itself too (j = i and k = i are in the windows): min(i + 1, w), not min(i, w)"),
        (sum(min(i + 1, w1 + 1) * min(i + 1, w2 + 1) for i in range(T)),
         "a window of w keys holds i - w < j <= i, that is w positions, not w + 1"),
        (sum(min(i + 1, w1) + min(i + 1, w2) for i in range(T)),
         "a query sees PAIRS (j, k): multiply the two windows' sizes, do not add them"),
    ])
    cases = [((1, 1, 1), "one query, one pair: (0, 0, 0)"), ((5, 1, 1), "w1 = w2 = 1: each query sees (i, i) only"),
             ((10, 4, 3), ""), ((6, 8, 8), "windows wider than T: query i sees (i + 1)^2 pairs"),
             ((1000, 512, 32), ""), ((300, 128, 128), "")]
    run_cases(exercise, fn, [Case(args, S.visible_triples(*args), hint=hint) for args, hint in cases])


# ---- exercise 2: the forward pass by hand ---------------------------------------------------------------------

def _one_head(x: torch.Tensor) -> torch.Tensor:
    return x[None, :, None]  # (T, D) -> (1, T, 1, D)


def by_hand_reference(q, k1, k2, v1, v2, w1: int, w2: int) -> torch.Tensor:
    """out (T, D) of one head from the library's dense reference."""
    return S.dense_reference(*(_one_head(x) for x in (q, k1, k2, v1, v2)), w1, w2)[0, :, 0]


def _wrong_forward(q, k1, k2, v1, v2, w1, w2, *, scale=None, factorised=False, add_values=False):
    T, D = q.shape
    logits = torch.einsum("id,jd,kd->ijk", q, k1, k2) * (1 / math.sqrt(D) if scale is None else scale)
    logits = logits.masked_fill(~S.window_mask(T, w1, w2), float("-inf"))
    if factorised:  # one softmax over j and another over k
        p = torch.softmax(logits, dim=1) * torch.softmax(logits, dim=2)
        p = torch.nan_to_num(p)
    else:
        p = torch.softmax(logits.flatten(1), dim=-1).view_as(logits)
    if add_values:
        return torch.einsum("ijk,jd->id", p, v1) + torch.einsum("ijk,kd->id", p, v2)
    return torch.einsum("ijk,jd,kd->id", p, v1, v2)


def check_simplicial_by_hand(fn: Callable) -> None:
    """``fn(q, k1, k2, v1, v2, w1, w2)`` with (T, D) float64 tensors must return out (T, D) of one head."""
    exercise = "simplicial_by_hand"
    T, D, w1, w2 = 7, 4, 4, 3
    x = [_randn(T, D, seed=s) for s in range(5)]
    args = (*x, w1, w2)
    name_the_mistake(exercise, fn, args, by_hand_reference(*args), [
        (_wrong_forward(*args, scale=1.0), "the logits are scaled by 1/sqrt(D), as in pairwise attention"),
        (_wrong_forward(*args, scale=1 / D), "the scale is 1/sqrt(D), not 1/D"),
        (_wrong_forward(*args, factorised=True),
         "one softmax runs over all PAIRS (j, k) of a query together (flatten the two key axes), not one over j "
         "times one over k"),
        (_wrong_forward(*args, add_values=True),
         "a pair (j, k) carries the elementwise PRODUCT v1_j * v2_k, not the sum"),
        (_wrong_forward(*args[:5], T, T), "mask the pairs outside the windows: i - w1 < j <= i and i - w2 < k <= i"),
    ])
    cases = []
    for seed, (T, D, w1, w2), hint in [(10, (7, 4, 4, 3), ""), (20, (1, 3, 2, 2), "T = 1: only (0, 0, 0)"),
                                       (30, (9, 5, 1, 1), "w1 = w2 = 1: out_i = v1_i * v2_i"),
                                       (40, (8, 6, 10, 2), "w1 wider than T"), (50, (12, 2, 3, 5), "")]:
        x = [_randn(T, D, seed=seed + s) for s in range(5)]
        cases.append(Case((*x, w1, w2), by_hand_reference(*x, w1, w2), hint=hint))
    run_cases(exercise, fn, cases, atol=1e-10, rtol=1e-8)


# ---- exercise 3: the logit block of one token's GQA heads ------------------------------------------------------

def gqa_block_reference(q_heads: torch.Tensor, k1_j: torch.Tensor, k2_window: torch.Tensor) -> torch.Tensor:
    """(G, w) scaled logits <q_h ⊙ k1_j, k2_k> / sqrt(D) for the G query heads of one token (rows) and the keys
    k of k2_window (columns)."""
    return (q_heads * k1_j) @ k2_window.T / math.sqrt(q_heads.shape[-1])


def check_gqa_block(fn: Callable) -> None:
    """``fn(q_heads (G, D), k1_j (D,), k2_window (w, D))`` must return the (G, w) block of scaled logits."""
    exercise = "gqa_block"
    G, D, w = 4, 8, 5
    q, k1, k2 = _randn(G, D, seed=1), _randn(D, seed=2), _randn(w, D, seed=3)
    expected = gqa_block_reference(q, k1, k2)
    name_the_mistake(exercise, fn, (q, k1, k2), expected, [
        (expected * math.sqrt(D), "scale the logits by 1/sqrt(D)"),
        (q @ k2.T / math.sqrt(D), "the outer key k1_j enters too: multiply the query heads by it elementwise first"),
        (expected.T, "rows are the query heads, columns the keys: return the (G, w) block, not its transpose"),
    ])
    cases = []
    for seed, (G, D, w), hint in [(10, (4, 8, 5), ""), (20, (1, 3, 1), "one head, one key"),
                                  (30, (64, 16, 32), "a full GQA group of 64 heads: the MMA's 64 rows"),
                                  (40, (3, 5, 7), "")]:
        q, k1, k2 = _randn(G, D, seed=seed), _randn(D, seed=seed + 1), _randn(w, D, seed=seed + 2)
        cases.append(Case((q, k1, k2), gqa_block_reference(q, k1, k2), hint=hint))
    run_cases(exercise, fn, cases, atol=1e-10, rtol=1e-8)
