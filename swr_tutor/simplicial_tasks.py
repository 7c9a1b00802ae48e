"""Chapter 8's small experiment: a task that one layer of 2-simplicial attention learns and one layer of pairwise
attention cannot.

The task (an "induction" task): a sequence of ``seq_len`` tokens, all distinct except the last one, which repeats
the token at a random earlier position a (0 <= a <= seq_len - 3). The answer is the token that FOLLOWED that earlier
copy, the one at position a + 1. Finding it takes two matches at once: a key k whose token equals the query's, and
a key j = k + 1 right after it. Pairwise attention compares the query with one key at a time, so it needs a first
layer that copies each token's predecessor into it and a second that matches; a 2-simplicial layer compares the
query with a pair (j, k) and can do both in one logit.

The models are tiny (one head, width 32, no MLP): token and learned position embeddings, ``layers`` residual
attention layers (pre-LayerNorm), and a linear read-out of the last position. The 2-simplicial layer runs
``two_simplicial_attention`` with ``backend="torch"`` (the windowed reference, with autograd) and windows as
wide as the sequence. Everything runs on the CPU in a few seconds per model.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import validate
from .simplicial import two_simplicial_attention

KINDS = ("pairwise", "simplicial")


@dataclass(frozen=True)
class InductionTask:
    """Sequences of ``seq_len`` tokens out of ``vocab``; see the module's docstring."""

    seq_len: int = 10
    vocab: int = 16

    def __post_init__(self):
        validate.positive_int("InductionTask", "seq_len", self.seq_len)
        validate.positive_int("InductionTask", "vocab", self.vocab)
        if self.seq_len < 3:
            raise ValueError(f"InductionTask: seq_len must be >= 3 (a token, its successor and the query), "
                             f"got {self.seq_len}")
        if self.vocab < self.seq_len - 1:
            raise ValueError(f"InductionTask: the first seq_len - 1 = {self.seq_len - 1} tokens are distinct, so "
                             f"vocab must be >= seq_len - 1, got vocab = {self.vocab}")

    def sample(self, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(tokens (n, seq_len), targets (n,), positions a (n,) of the earlier copy), reproducible from ``seed``."""
        validate.positive_int("InductionTask.sample", "n", n)
        generator = torch.Generator().manual_seed(seed)
        T = self.seq_len
        context = torch.rand(n, self.vocab, generator=generator).argsort(-1)[:, :T - 1]   # distinct tokens
        a = torch.randint(0, T - 2, (n,), generator=generator)
        tokens = torch.cat([context, context.gather(1, a[:, None])], dim=1)
        return tokens, context.gather(1, (a + 1)[:, None])[:, 0], a

    @property
    def chance(self) -> float:
        """The accuracy of a guess out of the whole vocabulary."""
        return 1 / self.vocab

    @property
    def context_guess(self) -> float:
        """The accuracy of the best guess that knows which tokens are in the context but not which one follows
        the earlier copy: uniform over the positions 1 .. seq_len - 2 that can hold the answer, less position a
        (its token is the query's). 1 / (seq_len - 2) candidates when a = 0, 1 / (seq_len - 3) otherwise."""
        T = self.seq_len
        if T == 3:
            return 1.0
        return (1 / (T - 2)) * (1 / (T - 2)) + ((T - 3) / (T - 2)) * (1 / (T - 3))


class PairwiseAttention(nn.Module):
    """Causal softmax attention, one residual layer: x + W_o attention(LayerNorm(x))."""

    def __init__(self, dim: int, heads: int = 1):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(self.norm(x)).view(B, T, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)               # (B, H, T, C / H)
        return x + self.out(y.transpose(1, 2).reshape(B, T, C))


class SimplicialAttention(nn.Module):
    """2-simplicial attention, one residual layer: five projections q, k1, k2, v1, v2 of LayerNorm(x), windows
    (w1, w2) (default: the whole sequence), ``two_simplicial_attention`` with the given backend."""

    def __init__(self, dim: int, heads: int = 1, windows: tuple[int, int] | None = None, backend: str = "torch"):
        super().__init__()
        self.heads, self.windows, self.backend = heads, windows, backend
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, 5 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k1, k2, v1, v2 = self.proj(self.norm(x)).view(B, T, 5, self.heads, C // self.heads).unbind(2)
        w1, w2 = self.windows or (T, T)
        y = two_simplicial_attention(q, k1, k2, v1, v2, w1, w2, backend=self.backend)  # (B, T, H, C / H)
        return x + self.out(y.reshape(B, T, C))


class TinyModel(nn.Module):
    """Embeddings (token + learned position, both of unit scale), attention layers, a read-out of the last
    position: logits (B, vocab)."""

    def __init__(self, task: InductionTask, layers: list[nn.Module], dim: int):
        super().__init__()
        self.embed = nn.Embedding(task.vocab, dim)
        self.position = nn.Parameter(torch.randn(task.seq_len, dim))
        self.layers = nn.ModuleList(layers)
        self.norm = nn.LayerNorm(dim)
        self.readout = nn.Linear(dim, task.vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.embed(tokens) + self.position[:tokens.shape[1]]
        for layer in self.layers:
            h = layer(h)
        return self.readout(self.norm(h[:, -1]))


def build_model(task: InductionTask, kind: str, layers: int, dim: int = 32, seed: int = 0) -> TinyModel:
    """A TinyModel with ``layers`` layers of ``kind`` ("pairwise" or "simplicial"), initialised from ``seed``."""
    if kind not in KINDS:
        raise ValueError(f"build_model: kind must be one of {KINDS}, got {kind!r}")
    validate.positive_int("build_model", "layers", layers)
    torch.manual_seed(seed)
    layer = PairwiseAttention if kind == "pairwise" else SimplicialAttention
    return TinyModel(task, [layer(dim) for _ in range(layers)], dim)


def train_model(model: TinyModel, task: InductionTask, steps: int = 700, batch: int = 64, lr: float = 1e-2,
                seed: int = 100) -> list[float]:
    """Adam on fresh batches (one per step, from ``seed + step``) with the cross-entropy of the answer; returns
    the loss of every step. Runs on one CPU thread (for tensors this small, more threads only add overhead)."""
    validate.positive_int("train_model", "steps", steps)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for step in range(steps):
            tokens, targets, _ = task.sample(batch, seed=seed + step)
            loss = F.cross_entropy(model(tokens), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    finally:
        torch.set_num_threads(threads)
    return losses


@torch.no_grad()
def accuracy(model: TinyModel, task: InductionTask, n: int = 2000, seed: int = 999) -> float:
    """The fraction of ``n`` held-out sequences (from ``seed``, not used in training) answered right."""
    model.eval()
    tokens, targets, _ = task.sample(n, seed=seed)
    return (model(tokens).argmax(-1) == targets).float().mean().item()


def smoothed(values: list[float], width: int = 25) -> list[float]:
    """The running mean over the last ``width`` values (for plotting noisy losses)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= width:
            total -= values[i - width]
        out.append(total / min(i + 1, width))
    return out
