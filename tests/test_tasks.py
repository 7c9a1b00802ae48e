"""swr_tutor.tasks: the recall sequences hold what they claim; the corpus encodes, splits and batches."""
import math

import pytest
import torch

from swr_tutor.tasks import IGNORE, RecallTask, accuracy_by_distance, stdlib_corpus


@pytest.fixture(scope="module")
def corpus():
    return stdlib_corpus()


def test_recall_sequences_hold_what_they_claim():
    task = RecallTask(seq_len=64, n_pairs=6, n_keys=10, n_values=5, n_queries=20)
    inputs, targets, distances = task.sample(50, seed=3)
    assert inputs.shape == targets.shape == distances.shape == (50, 64)
    assert inputs.min() >= 0 and inputs.max() < task.vocab_size == 16
    keys, values = inputs[:, 0:12:2], inputs[:, 1:12:2]
    assert ((keys >= 1) & (keys <= 10)).all() and ((values >= 11) & (values <= 15)).all()
    assert all(len(set(row.tolist())) == 6 for row in keys)                   # distinct keys
    queries = targets != IGNORE
    assert (queries.sum(1) == 20).all() and not queries[:, :12].any()
    assert ((inputs[:, 12:] == task.FILLER) == ~queries[:, 12:]).all()         # the rest is filler
    for n, t in queries.nonzero().tolist():
        pair = (keys[n] == inputs[n, t]).nonzero().item()                     # the query repeats a key
        assert targets[n, t] == values[n, pair] and distances[n, t] == t - 2 * pair
    assert (distances[~queries] == 0).all()
    assert torch.equal(task.sample(50, seed=3).inputs, inputs)
    assert not torch.equal(task.sample(50, seed=4).inputs, inputs)
    assert task.chance == 1 / 5


def test_recall_distances_reach_past_a_window():
    distances = RecallTask().sample(200, seed=0).distances
    assert distances.max() > 100 and distances[distances > 0].min() < 16


@pytest.mark.parametrize("settings, match", [
    (dict(n_pairs=9, n_keys=8), "n_keys >= n_pairs"),
    (dict(seq_len=40, n_pairs=8, n_queries=32), r"seq_len must hold the pairs and the queries, >= 2 \* n_pairs"),
    (dict(n_values=0), "n_values must be >= 1"),
])
def test_recall_task_checks_its_settings(settings, match):
    with pytest.raises(ValueError, match=match):
        RecallTask(**settings)


def test_accuracy_by_distance():
    task = RecallTask()
    batch = task.sample(20, seed=1)
    edges = [0, 32, 64, 128]
    accuracy, count = accuracy_by_distance(batch.targets, batch, edges)
    assert accuracy.tolist() == [1.0, 1.0, 1.0] and count.sum() == 20 * task.n_queries
    far = batch.distances >= 64
    accuracy, _ = accuracy_by_distance(torch.where(far, -1, batch.targets), batch, edges)
    assert accuracy.tolist() == [1.0, 1.0, 0.0]


def test_corpus_encodes_and_splits(corpus):
    assert corpus.vocab == "".join(sorted(set(corpus.vocab))) and corpus.vocab_size == len(corpus.vocab)
    text = corpus.decode(corpus.train[:500])
    assert torch.equal(corpus.encode(text), corpus.train[:500])
    assert text == open(corpus.files[0], encoding="utf-8").read()[:500]
    total = len(corpus.train) + len(corpus.val)
    assert len(corpus.val) == math.ceil(0.1 * total) and total > 100_000
    assert len(corpus.files) == 9 and all(path.endswith(".py") for path in corpus.files)


def test_corpus_batches_are_shifted_windows(corpus):
    inputs, targets = corpus.batch("val", 4, 32, torch.Generator().manual_seed(0))
    assert inputs.shape == targets.shape == (4, 32)
    assert torch.equal(inputs[:, 1:], targets[:, :-1])
    with pytest.raises(ValueError, match="split must be 'train' or 'val'"):
        corpus.batch("test", 4, 32, torch.Generator())
    with pytest.raises(ValueError, match="seq_len must be below the val length"):
        corpus.batch("val", 4, len(corpus.val), torch.Generator())


def test_unigram_loss_is_below_a_uniform_guess(corpus):
    assert 2.0 < corpus.unigram_loss() < math.log(corpus.vocab_size)


def test_the_gpu_corpus_is_read_from_this_interpreter():
    from swr_tutor.tasks import LARGE_STDLIB_MODULES

    corpus = stdlib_corpus(LARGE_STDLIB_MODULES)
    assert len(corpus.files) == len(LARGE_STDLIB_MODULES) and len(corpus.train) > 3_000_000
