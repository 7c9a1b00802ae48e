"""A small training loop for chapter 7's models, and the GPU run behind its long language-model curves.

    python -m swr_tutor.train [--steps N] [--out FILE] [--quick]

trains the three models of the chapter ("PAPA", "SASA", "AAAA") on the standard-library corpus at a GPU size
and writes their curves to book/data/phalanx_lm_<device>.json, in the benchmark harness's format (one row per
model; the curves in its ``extra``).
"""
import argparse
import math
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import validate
from .device import DEVICE, low_precision_dtype
from .phalanx import build_model
from .tasks import IGNORE, LARGE_STDLIB_MODULES, CharCorpus, stdlib_corpus

SCHEDULES = ("cosine", "constant")
Batch = tuple[torch.Tensor, torch.Tensor]


def loss_of(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the model's next-token logits over the targets that are not IGNORE."""
    logits = model(inputs)
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE)


def learning_rate(step: int, steps: int, peak: float, schedule: str, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then constant or a cosine down to a tenth of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    if schedule == "constant":
        return peak
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with weight decay on the matrices only (not on norms and biases); fused on a GPU."""
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    others = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": matrices, "weight_decay": weight_decay}, {"params": others, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), fused=matrices[0].is_cuda)


def train(model: nn.Module, next_batch: Callable[[int], Batch], *, steps: int, lr: float = 3e-3,
          weight_decay: float = 0.1, schedule: str = "cosine", warmup: int | None = None,
          evaluate: Callable[[nn.Module], float] | None = None, eval_every: int = 50,
          autocast_dtype: torch.dtype | None = None, desc: str | None = None) -> dict:
    """Train ``model`` in place on ``next_batch(step) -> (inputs, targets)`` for ``steps`` steps.

    ``evaluate(model)`` (a validation loss, run in eval mode without gradients) every ``eval_every`` steps and
    after the last. ``autocast_dtype``: e.g. torch.bfloat16 for mixed precision on a GPU. Returns the history
    {"step", "loss", "eval_step", "val_loss", "seconds", "tokens"}: the training loss of every step, the
    evaluations, the wall time and the number of target tokens seen.
    """
    validate.positive_int("train", "steps", steps)
    validate.positive_int("train", "eval_every", eval_every)
    if schedule not in SCHEDULES:
        raise ValueError(f"train: schedule must be one of {SCHEDULES}, got {schedule!r}")
    warmup = min(100, steps // 10) if warmup is None else warmup
    optimizer = _optimizer(model, lr, weight_decay)
    device_type = next(model.parameters()).device.type
    history = {"step": [], "loss": [], "eval_step": [], "val_loss": [], "seconds": 0.0, "tokens": 0}
    start = time.perf_counter()
    with tqdm(range(steps), desc=desc, mininterval=0.5) as progress:
        for step in progress:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, steps, lr, schedule, warmup)
            inputs, targets = next_batch(step)
            with torch.autocast(device_type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                loss = loss_of(model, inputs, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            history["step"].append(step)
            history["loss"].append(loss.item())
            history["tokens"] += int((targets != IGNORE).sum())
            if evaluate is not None and ((step + 1) % eval_every == 0 or step + 1 == steps):
                history["eval_step"].append(step + 1)
                history["val_loss"].append(_evaluated(model, evaluate, device_type, autocast_dtype))
                progress.set_postfix(loss=f"{loss.item():.3f}", val=f"{history['val_loss'][-1]:.3f}")
    history["seconds"] = time.perf_counter() - start
    return history


def _evaluated(model: nn.Module, evaluate: Callable[[nn.Module], float], device_type: str, autocast_dtype) -> float:
    model.eval()
    with torch.no_grad(), torch.autocast(device_type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        value = evaluate(model)
    model.train()
    return float(value)


def corpus_batches(corpus: CharCorpus, split: str, batch_size: int, seq_len: int, seed: int) -> Callable[[int], Batch]:
    """next_batch(step) for ``train``: random windows of the corpus, on DEVICE, reproducible from ``seed``."""
    generator = torch.Generator().manual_seed(seed)

    def next_batch(step: int) -> Batch:
        inputs, targets = corpus.batch(split, batch_size, seq_len, generator)
        return inputs.to(DEVICE), targets.to(DEVICE)

    return next_batch


def validation_loss(corpus: CharCorpus, batches: int, batch_size: int, seq_len: int) -> Callable[[nn.Module], float]:
    """evaluate(model) for ``train``: the mean loss on the same ``batches`` random windows of the validation split."""
    fixed = [corpus_batches(corpus, "val", batch_size, seq_len, seed=10_000)(i) for i in range(batches)]
    return lambda model: sum(loss_of(model, *batch).item() for batch in fixed) / len(fixed)


# ---- the GPU run ---------------------------------------------------------------------------------------------

PATTERNS = ("PAPA", "SASA", "AAAA")
GPU_RUN = dict(d_model=256, n_heads=4, seq_len=512, batch_size=32, steps=1500, lr=2e-3, eval_every=50)
QUICK_RUN = dict(d_model=32, n_heads=2, seq_len=64, batch_size=4, steps=4, lr=2e-3, eval_every=2)


def language_model_rows(run: dict, corpus: CharCorpus, autocast_dtype) -> list:
    """Train each pattern on ``corpus`` with the settings ``run``; one benchmark Row per model."""
    from .bench.common import Row

    rows = []
    for pattern in PATTERNS:
        torch.manual_seed(0)
        model = build_model(pattern, corpus.vocab_size, run["d_model"], run["n_heads"]).to(DEVICE)
        history = train(model, corpus_batches(corpus, "train", run["batch_size"], run["seq_len"], seed=1),
                        steps=run["steps"], lr=run["lr"], eval_every=run["eval_every"], autocast_dtype=autocast_dtype,
                        evaluate=validation_loss(corpus, 8, run["batch_size"], run["seq_len"]), desc=pattern)
        shape = {key: run[key] for key in ("d_model", "n_heads", "seq_len", "batch_size")}
        shape["train_chars"] = len(corpus.train)
        rows.append(Row("phalanx-lm", shape, pattern, 1e3 * history["seconds"] / run["steps"],
                        note="ms per training step",
                        extra={**stored_curves(history), "params": sum(p.numel() for p in model.parameters())}))
    return rows


def stored_curves(history: dict) -> dict:
    """The history without its per-step lists: the training loss averaged over each evaluation interval."""
    starts = [0] + history["eval_step"][:-1]
    train_loss = [sum(history["loss"][a:b]) / (b - a) for a, b in zip(starts, history["eval_step"])]
    kept = {key: history[key] for key in ("eval_step", "val_loss", "seconds", "tokens")}
    return {**kept, "train_loss": train_loss}


def main(argv: list[str] | None = None) -> int:
    from .bench.common import ROOT, device_slug, format_table, write_json

    parser = argparse.ArgumentParser(prog="python -m swr_tutor.train", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, help=f"training steps per model (default {GPU_RUN['steps']})")
    parser.add_argument("--out", type=Path, help="JSON file (default: book/data/phalanx_lm_<device>.json)")
    parser.add_argument("--quick", action="store_true",
                        help="a few steps of tiny models, for a smoke test (writes no file on a CPU)")
    args = parser.parse_args(argv)
    if not args.quick and DEVICE.type != "cuda":
        print("python -m swr_tutor.train needs a CUDA GPU for its full run (use --quick on a CPU).", file=sys.stderr)
        return 2
    run = dict(QUICK_RUN if args.quick else GPU_RUN, **({"steps": args.steps} if args.steps else {}))
    autocast_dtype = torch.bfloat16 if low_precision_dtype() == torch.bfloat16 else None  # fp32 on a T4: no bf16
    corpus = stdlib_corpus() if args.quick else stdlib_corpus(LARGE_STDLIB_MODULES)
    rows = language_model_rows(run, corpus, autocast_dtype)
    print(format_table(rows))
    if DEVICE.type == "cuda":
        out = args.out or ROOT / "book" / "data" / f"phalanx_lm_{device_slug()}.json"
        command = "python -m swr_tutor.train " + " ".join(map(shlex.quote, argv or sys.argv[1:]))
        write_json(out, "phalanx-lm", rows, command)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
