"""Training that shows whether it learned: loss curves, dev scores with CIs beside the trivial baseline,
and the learning status every record carries for its intermediate phase."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from learning_fixtures import run_grid_runner as _runner
from learning_fixtures import trainings as _trainings
from learning_fixtures import write_learning_tasks

from harness.data.loaders import RowSet
from harness.results.store import ResultsStore
from harness.runner.work import select_by_size
from harness.training.dev_split import held_out_dev
from harness.training.learning import (
    LEARNING_KEYS,
    DevScore,
    dev_estimate,
    learning_summary,
    status_of,
    windowed_losses,
    worst_of,
)


@pytest.fixture
def learn_tasks(tiny_tasks: Path, tiny_model: Path) -> Path:
    return write_learning_tasks(tiny_tasks, tiny_model)


def test_intermediate_jobs_record_curve_dev_and_status(learn_tasks: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    runner = _runner(learn_tasks, results, "learn")
    keys_before = [c.key for c in runner.plan.jobs]
    runner.run()
    trainings = _trainings(results)
    by_condition = {label.split("+")[1].split("/")[0]: t for label, t in trainings.items()}

    keyword = by_condition["kw-en"]
    curve = keyword["training"]["loss_curve"]
    assert len(curve) >= 10 and {"step", "epoch", "loss"} <= set(curve[0])
    assert curve[-1]["loss"] < curve[0]["loss"]  # it learned: the loss fell
    assert keyword["training"]["final_loss"] == curve[-1]["loss"]
    history = keyword["training"]["dev_history"]
    assert [round(h["epoch"]) for h in history] == [1, 2, 3, 4, 5, 6]
    assert all(h["baseline"] == keyword["dev"]["baseline"] for h in history)
    assert keyword["dev"]["origin"].startswith("declared split 'dev'") and keyword["dev"]["n"] == 32
    assert keyword["training"]["selection_rule"] == "last step"
    assert keyword["learning"]["status"] == "learned"
    assert keyword["learning"]["dev_low"] > keyword["learning"]["baseline"]
    assert by_condition["kw-de"]["dev"]["language"] == "de"  # scored in the language it trains on

    noise = by_condition["noise-en"]
    assert noise["dev"]["origin"].startswith("held out: 32")
    assert noise["learning"]["status"] == "did-not-learn"
    assert noise["learning"]["dev_low"] <= noise["learning"]["baseline"]

    records = ResultsStore(results).records()
    statuses = {r.checkpoint.condition: r.checkpoint.learning for r in records}
    assert all(set(s) == set(LEARNING_KEYS) for s in statuses.values())
    assert statuses["none"]["status"] == "not-trained"
    assert statuses["kw-en"] == keyword["learning"]
    assert statuses["noise-en"]["status"] == "did-not-learn"
    # what training.json holds is output, not input: the jobs' keys did not move
    assert [c.key for c in _runner(learn_tasks, results, "learn").plan.jobs] == keys_before


def test_target_jobs_record_curve_and_chosen_epoch(tiny_tasks: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    runner = _runner(tiny_tasks, results, "tiny")
    runner.plan.jobs = [c for c in runner.plan.jobs if c.condition == "none"]
    runner.run()
    (target,) = [t for label, t in _trainings(results).items() if "target:" in label]
    training = target["training"]
    assert len(training["loss_curve"]) == training["steps"]  # short runs log every step
    assert training["selection_rule"] == "best English-dev epoch"
    chosen = [h for h in training["dev_history"] if h["epoch"] == training["best_epoch"]]
    assert chosen and chosen[0]["dev_score"] == max(h["dev_score"] for h in training["dev_history"])
    assert f"epoch {training['best_epoch']:g}" in training["selection_reason"]
    assert target["dev"]["baseline_name"] == "majority label"


def test_mixture_records_learning_per_task(learn_tasks: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    _runner(learn_tasks, results, "mix").run()
    (training,) = [t for label, t in _trainings(results).items() if "intermediate" in label]
    per_task = {m["task"]: m for m in training["mixture"]}
    assert per_task["keyword"]["learning"]["status"] == "learned"
    assert per_task["noise"]["learning"]["status"] == "did-not-learn"
    assert per_task["noise"]["loss_curve"] and training["training"]["loss_curve"]
    assert training["learning"]["status"] == "did-not-learn"  # a mixture learned only if all its tasks did
    record = ResultsStore(results).records()[0]
    assert record.checkpoint.learning == training["learning"]


# ---- units -----------------------------------------------------------------------------------
def test_status_needs_the_ci_above_the_baseline() -> None:
    assert status_of(DevScore(0.9, 0.8, 0.95, 50), 0.5) == "learned"
    assert status_of(DevScore(0.6, 0.45, 0.7, 50), 0.5) == "did-not-learn"
    assert status_of(DevScore(0.6, 0.5, 0.7, 50), 0.5) == "did-not-learn"  # touching is not beating
    assert status_of(DevScore(0.9, None, None, 50), 0.5) == "unknown"
    assert status_of(None, 0.5) == "unknown"
    summary = learning_summary("t", "accuracy", DevScore(0.9, 0.8, 0.95, 50), 0.5)
    assert tuple(summary) == LEARNING_KEYS


def test_worst_of_a_mixture_ignores_unknown_tasks() -> None:
    learned = learning_summary("a", "accuracy", DevScore(0.9, 0.8, 1.0, 9), 0.5)
    unknown = learning_summary("b", None, None, None)
    failed = learning_summary("c", "accuracy", DevScore(0.5, 0.3, 0.7, 9), 0.5)
    assert worst_of([unknown, learned])["task"] == "a"
    assert worst_of([learned, failed, unknown])["task"] == "c"
    assert worst_of([unknown])["status"] == "unknown"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.booleans(), min_size=2, max_size=60))
def test_dev_ci_brackets_the_accuracy(correct: list[bool]) -> None:
    rows = [{"id": str(i), "correct": float(c), "prediction": 0, "label": 0} for i, c in enumerate(correct)]
    score = float(np.mean(correct))
    dev = dev_estimate("classification", "accuracy", score, rows, ("t",))
    assert dev.low is not None and dev.high is not None
    assert 0.0 <= dev.low <= score <= dev.high <= 1.0
    assert dev.n == len(correct)


def test_windowed_losses_average_each_window() -> None:
    steps = [(i + 1, float(i)) for i in range(5)]
    points = windowed_losses(steps, 2, lambda s: s / 5)
    assert [p["step"] for p in points] == [2, 4, 5]
    assert [p["loss"] for p in points] == [0.5, 2.5, 4.0]
    assert points[-1]["epoch"] == 1.0


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 40), data=st.data())
def test_held_out_items_are_never_trained_on_and_shared_across_languages(n: int, data: st.DataObject) -> None:
    size = data.draw(st.integers(1, n - 1))
    held = {}
    for lang in ("en", "de"):
        rows = datasets.Dataset.from_dict(
            {"id": [f"train-{lang}-{i}" for i in range(n)], "text": [f"{lang} {i}" for i in range(n)]}
        )

        def select(r: datasets.Dataset, k: int, lang: str = lang) -> datasets.Dataset:
            return select_by_size(r, k, "t", auto_id_prefix=f"train-{lang}-")

        train = RowSet("t", "train", lang, rows, "fp", "here")
        selected = select(rows, size)
        dev = held_out_dev(train, selected, select)
        assert dev is not None
        assert not set(dev.rows.rows["id"]) & set(selected["id"])
        assert len(dev.rows) == min(n - size, 500)
        held[lang] = sorted(i.rsplit("-", 1)[1] for i in dev.rows.rows["id"])
    assert held["en"] == held["de"]


def test_a_dev_split_changes_the_intermediate_key(learn_tasks: Path, tmp_path: Path) -> None:
    """Dev items are scored, never trained on, but they decide the learning status the checkpoint's
    training.json and every record below it carry: the job holds them, so its key moves."""
    keys = _runner(learn_tasks, tmp_path / "a", "learn").plan.jobs
    path = learn_tasks / "intermediate" / "keyword.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("dev: {split: dev}", ""), encoding="utf-8")
    assert "dev:" not in path.read_text(encoding="utf-8")
    again = _runner(learn_tasks, tmp_path / "b", "learn").plan.jobs
    keyword = {c.key for c in keys if c.phase == "intermediate" and c.task == "keyword"}
    assert keyword and keyword.isdisjoint(c.key for c in again)
