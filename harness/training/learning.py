"""Did a training run learn? The loss curve, dev scores with a CI, the trivial baseline beside them.

A training job records (in its checkpoint's ``training.json``): the loss per logging step, the dev
score of every epoch with its 95 % bootstrap CI over dev examples, the kind's trivial baseline on the
same dev examples, and which epoch was kept and why. From the kept epoch's dev score it derives the
``learning`` status that every evaluation record carries for its intermediate phase:

- ``learned``: the CI's lower bound is above the baseline's dev score;
- ``did-not-learn``: it is not (the model cannot be told apart from the trivial baseline);
- ``unknown``: no dev split, or no CI (a metric without per-example statistics);
- ``not-trained``: the condition has no intermediate training.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from transformers import TrainerCallback

from harness.scoring.bootstrap import bootstrap_score
from harness.scoring.example_stats import stats_from_rows

Status = Literal["learned", "did-not-learn", "not-trained", "unknown"]
LEARNING_KEYS = ("status", "task", "metric", "dev_score", "dev_low", "dev_high", "baseline", "n_dev")
MAX_LOSS_POINTS = 100  # logging steps per run: enough for a curve, cheap to log and store


@dataclass(frozen=True)
class DevScore:
    """A dev score with its 95 % CI over dev examples (None bounds: no CI for this metric)."""

    score: float
    low: float | None
    high: float | None
    n: int


DevScorer = Callable[[torch.nn.Module], DevScore]


def logging_interval(total_steps: int) -> int:
    """Steps between two loss points: every step for short runs, at most MAX_LOSS_POINTS points."""
    return max(1, math.ceil(total_steps / MAX_LOSS_POINTS))


class LossLog(TrainerCallback):
    """The Trainer's logged training loss (the mean over each logging window) as ``step, epoch, loss``."""

    def __init__(self) -> None:
        self.points: list[dict[str, float]] = []

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any
    ) -> None:
        if logs and "loss" in logs:
            self.points.append(
                {
                    "step": int(state.global_step),
                    "epoch": round(float(state.epoch or 0.0), 4),
                    "loss": float(logs["loss"]),
                }
            )


def windowed_losses(
    steps: Sequence[tuple[int, float]], interval: int, epoch_of: Callable[[int], float]
) -> list:
    """Loss points from per-step losses (the multi-task loop): the mean over each ``interval`` steps."""
    points = []
    for start in range(0, len(steps), interval):
        window = steps[start : start + interval]
        last = window[-1][0]
        points.append(
            {
                "step": last,
                "epoch": round(epoch_of(last), 4),
                "loss": float(np.mean([loss for _, loss in window])),
            }
        )
    return points


def dev_estimate(
    kind: str, metric: str, score: float, rows: Sequence[dict[str, Any]], key: tuple
) -> DevScore:
    """``score`` (the kind's own metric) with a percentile-bootstrap CI over the dev examples."""
    stats = stats_from_rows(kind, metric, rows)
    if stats is not None:
        num, den = stats.num, stats.den
    elif metric == "accuracy" and rows and all("correct" in r for r in rows):
        num, den = np.asarray([float(r["correct"]) for r in rows]), np.ones(len(rows))
    else:
        return DevScore(score, None, None, len(rows))
    if len(num) < 2:
        return DevScore(score, None, None, len(rows))
    estimate = bootstrap_score(num, den, key=("dev", *key))
    return DevScore(score, float(estimate.low), float(estimate.high), len(rows))


def status_of(dev: DevScore | None, baseline: float | None) -> Status:
    if dev is None or dev.low is None or baseline is None or not math.isfinite(dev.low):
        return "unknown"
    return "learned" if dev.low > baseline else "did-not-learn"


def learning_summary(
    task: str | None,
    metric: str | None,
    dev: DevScore | None,
    baseline: float | None,
    status: Status | None = None,
) -> dict[str, Any]:
    """The ``learning`` dict every record carries for its intermediate phase (exactly LEARNING_KEYS)."""
    return {
        "status": status or status_of(dev, baseline),
        "task": task,
        "metric": metric,
        "dev_score": dev.score if dev else None,
        "dev_low": dev.low if dev else None,
        "dev_high": dev.high if dev else None,
        "baseline": baseline,
        "n_dev": dev.n if dev else 0,
    }


def not_trained() -> dict[str, Any]:
    return learning_summary(None, None, None, None, "not-trained")


def history_row(epoch: float, step: int, dev: DevScore, baseline: float | None) -> dict[str, Any]:
    return {
        "epoch": round(epoch, 4),
        "step": step,
        "dev_score": dev.score,
        "dev_low": dev.low,
        "dev_high": dev.high,
        "n_dev": dev.n,
        "baseline": baseline,
    }


def selection_reason(rule: str, history: Sequence[dict[str, Any]], chosen: float | None, metric: str) -> str:
    """Why the kept weights are the kept weights, in one sentence with the dev scores."""
    scores = ", ".join(f"{h['epoch']:g}: {h['dev_score']:.3f}" for h in history)
    if chosen is not None and history:
        best = max(h["dev_score"] for h in history)
        return f"{rule}: epoch {chosen:g} has the highest dev {metric} ({best:.3f}; per epoch {scores})"
    if history:
        return f"{rule}: the weights after the last step are kept; dev {metric} per epoch {scores}"
    return f"{rule}: the weights after the last step are kept; no dev split scored"


def dev_scorer(
    kind: Any,
    task: Any,
    dev_rows: Any,
    dev_features: Any,
    tokenizer: Any,
    batch_size: int,
    language: str | None,
    key: tuple,
) -> DevScorer:
    """Scores a model on the dev split with the kind's own metric and adds the bootstrap CI."""

    def score(model: torch.nn.Module) -> DevScore:
        preds = kind.predict(
            model, dev_features, dev_rows, task, tokenizer, batch_size, "fp32", language=language
        )
        value = kind.score(preds, task)[task.metric]
        return dev_estimate(task.kind, task.metric, value, [p.to_json() for p in preds], key)

    return score


def kept_learning(
    task: str, metric: str, history: Sequence[dict[str, Any]], chosen: float | None, baseline: float | None
) -> dict[str, Any]:
    """The learning summary of the kept weights: the chosen epoch's dev row, else the last one."""
    rows = [h for h in history if chosen is not None and h["epoch"] == round(chosen, 4)] or list(history[-1:])
    if not rows:
        return learning_summary(task, metric, None, baseline, "unknown")
    row = rows[0]
    n = int(row.get("n_dev", 0))
    return learning_summary(
        task, metric, DevScore(row["dev_score"], row["dev_low"], row["dev_high"], n), baseline
    )


def worst_of(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A mixture's learning: it learned only if every task with a known status did; the deciding task's
    numbers are shown (the first that did not learn, else the first that learned)."""
    for status in ("did-not-learn", "learned"):
        for summary in summaries:
            if summary["status"] == status:
                return summary
    return summaries[0] if summaries else learning_summary(None, None, None, None, "unknown")
