"""Constructed result records (and their per-example predictions) for the statistics tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.results.schema import BaselineInfo, CheckpointInfo, LineageStep, Record, SplitInfo, TaskInfo
from harness.results.store import ResultsStore

CONDITIONS = {
    # condition: (intermediate task, source language, source type, matched_with)
    "none": (None, None, "none", None),
    "mmlu-en": ("mmlu_parallel", "en", "english", None),
    "mmlu-de": ("mmlu_parallel", "de", "translated", "mmlu-en"),
    "mmlu-sw": ("mmlu_parallel", "sw", "native", None),
    "other-fr": ("other_task", "fr", "translated", None),
    "mmlu-en2": ("mmlu_parallel", "en", "english", None),
    "mmlu-de2": ("mmlu_parallel", "de", "translated", "mmlu-en2"),
}


def seed_records(
    condition: str,
    task: str,
    split: str,
    languages: Sequence[str],
    scores: Sequence[float],
    **kwargs: object,
) -> list[Record]:
    """One record per language and seed (no per-example predictions): seed i scores ``scores[i]``."""
    return [
        record(condition, task, split, lang, float(s), seed=i + 1, **kwargs)  # type: ignore[arg-type]
        for lang in languages
        for i, s in enumerate(scores)
    ]


def checkpoint(condition: str, model: str = "m") -> CheckpointInfo:
    task, lang, kind, matched = CONDITIONS[condition]
    return CheckpointInfo(
        name=f"{model}+{condition}",
        key=f"key-{model}-{condition}",
        model=model,
        model_source="embedded:test",
        condition=condition,
        intermediate_task=task,
        source_lang=lang,
        source_type=kind,
        intermediate_size=160 if task else None,
        matched_with=matched,
        lineage=[LineageStep(phase="base", key="base", name=model)],
    )


def record(
    condition: str,
    task: str,
    split: str,
    language: str,
    score: float,
    *,
    seed: int = 1,
    in_domain: bool = True,
    domain: str = "wiki",
    model: str = "m",
    kind: str = "classification",
    metric: str = "accuracy",
    n_examples: int = 100,
) -> Record:
    ck = checkpoint(condition, model)
    key = f"{ck.name}-{task}-{split}-{language}-{seed}"
    return Record(
        job_key=key,
        grid="test",
        checkpoint=ck,
        seed=seed,
        task=TaskInfo(name=task, version=1, kind=kind),
        split=SplitInfo(name=split, domain=domain, in_domain=in_domain),
        language=language,
        n_examples=n_examples,
        scores={metric: score},
        main_metric=metric,
        main_score=score,
        baseline=BaselineInfo(name="majority label", scores={metric: 0.25}),
        provenance={"created": "2026-01-01T00:00:00"},
        predictions=f"records/{ck.name}/{task}.{split}.{language}.{seed}.predictions.jsonl",
    )


def write_accuracy_record(store: ResultsStore, rec: Record, correct: Sequence[float]) -> Record:
    """Store ``rec`` with per-example predictions whose accuracy is its main score."""
    correct = [float(c) for c in correct]
    score = float(np.mean(correct)) if correct else 0.0
    rec = rec.model_copy(
        update={"main_score": score, "scores": {rec.main_metric: score}, "n_examples": len(correct)}
    )
    rows = [{"id": f"ex{i:05d}", "prediction": c, "label": 1, "correct": c} for i, c in enumerate(correct)]
    path = store.root / rec.predictions.replace(".predictions.jsonl", ".json")
    store.write(rec, rows, Path(path))
    return rec


def bernoulli(p: float, n: int, rng: np.random.Generator) -> np.ndarray:
    return (rng.random(n) < p).astype(float)


def kind_record(task, scores: dict[str, float], condition: str = "mmlu-en", language: str = "en") -> Record:
    """A record for a real kind's scores on ``task`` (a TaskSpec), as the runner would store it."""
    metric = task.metric
    ck = checkpoint(condition)
    return Record(
        job_key=f"{ck.name}-{task.name}-{language}",
        grid="test",
        checkpoint=ck,
        seed=1,
        task=TaskInfo(name=task.name, version=task.version, kind=task.kind),
        split=SplitInfo(name="test", domain="synthetic", in_domain=True),
        language=language,
        n_examples=0,
        scores=scores,
        main_metric=metric,
        main_score=scores[metric],
        provenance={"created": "2026-01-01T00:00:00"},
        predictions=f"records/{ck.name}/{task.name}.test.{language}.predictions.jsonl",
    )
