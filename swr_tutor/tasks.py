"""Data for chapter 7: a synthetic associative-recall task, and a character-level corpus of Python source.

Both are made on the spot, with no download: the recall sequences by a seeded generator, the corpus from a
fixed list of standard-library modules read from the running interpreter.
"""
import importlib
import inspect
import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from . import validate

IGNORE = -100  # the target of a position that carries no loss (F.cross_entropy's default ignore_index)


class RecallBatch(NamedTuple):
    """``inputs`` (N, T) tokens; ``targets`` (N, T) the value to recall at each query, IGNORE elsewhere;
    ``distances`` (N, T) how many positions back the queried key stands (0 where there is no query)."""

    inputs: torch.Tensor
    targets: torch.Tensor
    distances: torch.Tensor


@dataclass(frozen=True)
class RecallTask:
    """Multi-query associative recall.

    A sequence of ``seq_len`` tokens opens with ``n_pairs`` key-value pairs, ``k v k v ...`` (distinct keys
    out of ``n_keys``, values drawn independently out of ``n_values``); the rest is filler, except for
    ``n_queries`` random positions that repeat a key of a random pair. At a query the model must output the
    value that followed the key (queries are not followed by their answers: a value appears only once). The
    distance of a query is its position minus the position of its key, so a model that sees only the last w
    tokens cannot know the answer to a query of distance > w: it is at chance, 1 / n_values, there.

    Tokens: 0 filler, 1 .. n_keys the keys, then the values.
    """

    seq_len: int = 128
    n_pairs: int = 8
    n_keys: int = 16
    n_values: int = 16
    n_queries: int = 32

    FILLER = 0

    def __post_init__(self):
        for name in ("seq_len", "n_pairs", "n_keys", "n_values", "n_queries"):
            validate.positive_int("RecallTask", name, getattr(self, name))
        if self.n_pairs > self.n_keys:
            raise ValueError(f"RecallTask: n_pairs = {self.n_pairs} distinct keys need n_keys >= n_pairs, "
                             f"got n_keys = {self.n_keys}")
        if self.seq_len < 2 * self.n_pairs + self.n_queries:
            raise ValueError(f"RecallTask: seq_len must hold the pairs and the queries, >= 2 * n_pairs + n_queries "
                             f"= {2 * self.n_pairs + self.n_queries}, got {self.seq_len}")

    @property
    def vocab_size(self) -> int:
        return 1 + self.n_keys + self.n_values

    @property
    def chance(self) -> float:
        """The accuracy of a guess: values are independent and uniform."""
        return 1 / self.n_values

    def key_token(self, key: torch.Tensor) -> torch.Tensor:
        return 1 + key

    def value_token(self, value: torch.Tensor) -> torch.Tensor:
        return 1 + self.n_keys + value

    def sample(self, n: int, seed: int) -> RecallBatch:
        """n sequences, reproducible from ``seed``."""
        validate.positive_int("RecallTask.sample", "n", n)
        generator = torch.Generator().manual_seed(seed)
        P, T = self.n_pairs, self.seq_len
        keys = self.key_token(torch.rand(n, self.n_keys, generator=generator).argsort(-1)[:, :P])    # (n, P)
        values = self.value_token(torch.randint(self.n_values, (n, P), generator=generator))          # (n, P)
        inputs = torch.full((n, T), self.FILLER, dtype=torch.long)
        inputs[:, 0 : 2 * P : 2], inputs[:, 1 : 2 * P : 2] = keys, values
        Q = self.n_queries
        query_slots = torch.rand(n, T - 2 * P, generator=generator).argsort(-1)[:, :Q] + 2 * P        # (n, Q)
        asked = torch.randint(P, (n, Q), generator=generator)          # the pair each query asks about
        rows = torch.arange(n)[:, None]
        inputs[rows, query_slots] = keys.gather(1, asked)
        targets = torch.full((n, T), IGNORE, dtype=torch.long)
        targets[rows, query_slots] = values.gather(1, asked)
        distances = torch.zeros((n, T), dtype=torch.long)
        distances[rows, query_slots] = query_slots - 2 * asked
        return RecallBatch(inputs, targets, distances)


def accuracy_by_distance(predictions: torch.Tensor, batch: RecallBatch,
                         edges: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(accuracy, count) per bin [edges[i], edges[i+1]) of query distance; predictions (N, T) tokens."""
    queries = batch.targets != IGNORE
    correct = (predictions == batch.targets)[queries].double()
    distance = batch.distances[queries]
    bins = torch.bucketize(distance, torch.tensor(edges), right=True) - 1                # bin i: edges[i] <= d
    inside = (bins >= 0) & (bins < len(edges) - 1)
    count = torch.bincount(bins[inside], minlength=len(edges) - 1)
    hits = torch.bincount(bins[inside], weights=correct[inside], minlength=len(edges) - 1)
    return hits / count.clamp_min(1), count


# ---- the character-level corpus ------------------------------------------------------------------------------

STDLIB_MODULES = ("collections", "functools", "heapq", "json.decoder", "json.encoder", "textwrap", "fractions",
                  "statistics", "string")
# The GPU runs' corpus: about 3.7 MB of source, enough that a 3M-parameter model trains for several epochs
# without learning the text by heart (on the nine modules above it does within a few hundred steps).
LARGE_STDLIB_MODULES = STDLIB_MODULES + (
    "argparse", "ast", "asyncio.base_events", "asyncio.tasks", "calendar", "configparser", "contextlib", "csv",
    "dataclasses", "difflib", "dis", "doctest", "email.message", "email._header_value_parser", "enum", "ftplib",
    "gettext", "http.client", "http.server", "imaplib", "inspect", "ipaddress", "locale", "logging",
    "logging.handlers", "mailbox", "pathlib", "pdb", "pickle", "pickletools", "pprint", "pydoc", "random",
    "shutil", "smtplib", "socket", "subprocess", "tarfile", "tempfile", "threading", "tokenize", "traceback",
    "typing", "unittest.case", "unittest.mock", "urllib.parse", "urllib.request", "uuid", "xml.dom.minidom",
    "zipfile", "_pydecimal", "_pyio")


@dataclass(frozen=True)
class CharCorpus:
    """Text as character ids: ``train`` and ``val`` (N,) int64, the characters ``vocab`` (id = index)."""

    train: torch.Tensor
    val: torch.Tensor
    vocab: str
    files: tuple[str, ...]

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> torch.Tensor:
        index = {c: i for i, c in enumerate(self.vocab)}
        return torch.tensor([index[c] for c in text], dtype=torch.long)

    def decode(self, ids) -> str:
        return "".join(self.vocab[i] for i in torch.as_tensor(ids).tolist())

    def batch(self, split: str, batch_size: int, seq_len: int,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Random windows: inputs (batch_size, seq_len) and the next characters as targets."""
        if split not in ("train", "val"):
            raise ValueError(f"CharCorpus.batch: split must be 'train' or 'val', got {split!r}")
        data = getattr(self, split)
        validate.positive_int("CharCorpus.batch", "seq_len", seq_len)
        if seq_len >= len(data):
            raise ValueError(f"CharCorpus.batch: seq_len must be below the {split} length {len(data)}, got {seq_len}")
        validate.positive_int("CharCorpus.batch", "batch_size", batch_size)
        starts = torch.randint(len(data) - seq_len, (batch_size,), generator=generator)
        windows = starts[:, None] + torch.arange(seq_len + 1)
        return data[windows[:, :-1]], data[windows[:, 1:]]

    def unigram_loss(self) -> float:
        """Cross-entropy (nats per character) of ``val`` under the character frequencies of ``train``
        (add-one smoothed): what a model that ignores context can reach."""
        counts = torch.bincount(self.train, minlength=self.vocab_size).double() + 1
        log_p = (counts / counts.sum()).log()
        return -log_p[self.val].mean().item()


def module_source_path(name: str) -> str:
    return inspect.getsourcefile(importlib.import_module(name))


def stdlib_corpus(modules: tuple[str, ...] = STDLIB_MODULES, val_fraction: float = 0.1) -> CharCorpus:
    """The source of ``modules``, joined; the last ``val_fraction`` of the characters is the validation split.

    The files come from the running interpreter, so their text (and the numbers measured on it) can differ a
    little between Python versions.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"stdlib_corpus: val_fraction must be in (0, 1), got {val_fraction}")
    files = tuple(module_source_path(name) for name in modules)
    text = "\n".join(open(path, encoding="utf-8").read() for path in files)
    vocab = "".join(sorted(set(text)))
    index = {c: i for i, c in enumerate(vocab)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    split = len(ids) - math.ceil(val_fraction * len(ids))
    return CharCorpus(ids[:split], ids[split:], vocab, files)
