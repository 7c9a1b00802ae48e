"""swr_tutor.train: the learning-rate schedule, a loop that learns, and the GPU entry point's smoke run."""
import math

import pytest
import torch

from swr_tutor import train as training
from swr_tutor.phalanx import build_model
from swr_tutor.tasks import IGNORE


def test_learning_rate_schedule():
    lr = [training.learning_rate(step, 100, 1.0, "cosine", warmup=10) for step in range(100)]
    assert lr[0] == 0.1 and lr[9] == 1.0 and lr[10] == 1.0
    assert all(later <= earlier for earlier, later in zip(lr[10:], lr[11:])) and math.isclose(lr[-1], 0.1, rel_tol=1e-2)
    assert training.learning_rate(50, 100, 1.0, "constant", warmup=10) == 1.0


def test_train_learns_to_copy_the_previous_token():
    torch.manual_seed(0)
    model = build_model("P", vocab_size=8, d_model=32, n_heads=2)

    def next_batch(step):
        tokens = torch.randint(8, (16, 24), generator=torch.Generator().manual_seed(step))
        targets = torch.cat([torch.full((16, 1), IGNORE), tokens[:, :-1]], 1)
        return tokens, targets

    history = training.train(model, next_batch, steps=60, lr=1e-2, evaluate=lambda m: 0.0, eval_every=25)
    assert history["eval_step"] == [25, 50, 60] and len(history["loss"]) == 60
    assert history["tokens"] == 60 * 16 * 23 and history["seconds"] > 0
    assert sum(history["loss"][-10:]) / 10 < 0.5 * math.log(8)


def test_train_checks_its_settings():
    with pytest.raises(ValueError, match="schedule must be one of"):
        training.train(build_model("P"), None, steps=1, schedule="linear")


def test_entry_point_quick_run(capsys):
    assert training.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert all(pattern in out for pattern in training.PATTERNS)


def test_stored_curves_average_the_training_loss_per_interval():
    history = {"step": [0, 1, 2, 3], "loss": [4.0, 2.0, 3.0, 1.0], "eval_step": [2, 4], "val_loss": [2.5, 1.5],
               "seconds": 1.0, "tokens": 8}
    assert training.stored_curves(history) == {"eval_step": [2, 4], "val_loss": [2.5, 1.5], "seconds": 1.0,
                                               "tokens": 8, "train_loss": [3.0, 2.0]}
