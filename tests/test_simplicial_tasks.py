"""The induction task of chapter 8 and its tiny models."""
import pytest
import torch

from swr_tutor import simplicial_tasks as tasks


def test_sample_has_one_repeat_and_the_answer_after_it():
    task = tasks.InductionTask(seq_len=10, vocab=16)
    tokens, targets, a = task.sample(200, seed=3)
    assert tokens.shape == (200, 10) and targets.shape == (200,) and a.shape == (200,)
    assert (a >= 0).all() and (a <= 7).all()
    for n in range(200):
        context = tokens[n, :-1]
        assert len(set(context.tolist())) == 9                     # distinct tokens before the query
        assert tokens[n, -1] == context[a[n]] and targets[n] == context[a[n] + 1]
    again, _, _ = task.sample(200, seed=3)
    assert torch.equal(tokens, again)


def test_context_guess_is_the_best_uniform_guess_over_the_candidates():
    task = tasks.InductionTask(seq_len=10, vocab=16)
    assert abs(task.context_guess - (1 / 8 * 1 / 8 + 7 / 8 * 1 / 7)) < 1e-12
    assert tasks.InductionTask(seq_len=3, vocab=4).context_guess == 1.0
    assert task.chance == 1 / 16


def test_task_rejects_bad_sizes():
    with pytest.raises(ValueError, match="vocab must be >= seq_len - 1"):
        tasks.InductionTask(seq_len=10, vocab=5)
    with pytest.raises(ValueError, match="seq_len must be >= 3"):
        tasks.InductionTask(seq_len=2, vocab=5)
    with pytest.raises(ValueError, match="kind must be one of"):
        tasks.build_model(tasks.InductionTask(), "linear", 1)


@pytest.mark.parametrize("kind", tasks.KINDS)
def test_models_train_and_restore_the_thread_count(kind):
    task = tasks.InductionTask(seq_len=6, vocab=8)
    model = tasks.build_model(task, kind, layers=2, dim=16, seed=1)
    assert model(task.sample(4, seed=0)[0]).shape == (4, 8)
    threads = torch.get_num_threads()
    losses = tasks.train_model(model, task, steps=30, batch=16)
    assert len(losses) == 30 and all(torch.isfinite(torch.tensor(losses)))
    assert torch.get_num_threads() == threads
    assert 0.0 <= tasks.accuracy(model, task, n=100) <= 1.0


def test_simplicial_layer_is_the_library_op():
    torch.manual_seed(0)
    layer = tasks.SimplicialAttention(8, windows=(3, 2))
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    layer = layer.double()
    q, k1, k2, v1, v2 = layer.proj(layer.norm(x)).view(2, 5, 5, 1, 8).unbind(2)
    from swr_tutor.simplicial import dense_reference
    expected = x + layer.out(dense_reference(q, k1, k2, v1, v2, 3, 2).reshape(2, 5, 8))
    torch.testing.assert_close(layer(x), expected)


def test_smoothed_is_a_running_mean():
    assert tasks.smoothed([1.0, 3.0, 5.0, 7.0], width=2) == [1.0, 2.0, 4.0, 6.0]
