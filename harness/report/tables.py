"""The report's tables: pure functions from result records to pandas frames.

Scores stay fractions (0..1) here; the summary and the site format them as percentages with ``pct``.
Every table is sorted, so the same records always give the same rows in the same order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from harness.results.schema import Record

DEMO_PROTOCOL = "demo split"

RECORD_COLUMNS = [
    "checkpoint",
    "task",
    "split",
    "domain",
    "in_domain",
    "protocol",
    "language",
    "seed",
    "main_metric",
    "score",
    "n_examples",
    "baseline_name",
    "baseline",
]

PER_LANGUAGE_COLUMNS = [
    "checkpoint",
    "task",
    "split",
    "domain",
    "in_domain",
    "protocol",
    "language",
    "main_metric",
    "score",
    "n_seeds",
    "n_examples",
    "baseline_name",
    "baseline",
]

PER_TASK_COLUMNS = [
    "checkpoint",
    "task",
    "split",
    "domain",
    "in_domain",
    "protocol",
    "demo_split",
    "main_metric",
    "score",
    "n_seeds",
    "n_languages",
    "baseline_name",
    "baseline",
]

LEADERBOARD_INFO_COLUMNS = [
    "checkpoint",
    "model",
    "intermediate_task",
    "source_lang",
    "source_type",
    "frozen_embeddings",
]
LEADERBOARD_TAIL_COLUMNS = ["average", "n_targets"]


# ---- formatting helpers shared by the summary and the site -------------------------------------
def pct(value: float | None) -> str:
    """A fraction as a percentage with one decimal; a dash when there is no value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{100.0 * float(value):.1f}"


def language_key(language: str) -> tuple[bool, str]:
    """Sort key: English first (the source language of the XTREME targets), then alphabetically."""
    return (language != "en", language)


def language_order(languages: Iterable[str]) -> list[str]:
    return sorted({str(lang) for lang in languages}, key=language_key)


def baseline_score(record: Record) -> float:
    """The trivial baseline's score on the record's main metric (NaN when there is none)."""
    if record.baseline is None:
        return math.nan
    return float(record.baseline.scores.get(record.main_metric, math.nan))


def _join_unique(values: pd.Series) -> str | None:
    names = sorted({str(v) for v in values.dropna()})
    return " / ".join(names) if names else None


# ---- the tables --------------------------------------------------------------------------------
def _record_row(record: Record) -> dict[str, Any]:
    return {
        "checkpoint": record.checkpoint.name,
        "task": record.task.name,
        "split": record.split.name,
        "domain": record.split.domain,
        "in_domain": bool(record.split.in_domain),
        "protocol": record.task.protocol,
        "language": record.language,
        "seed": record.seed,
        "main_metric": record.main_metric,
        "score": float(record.main_score),
        "n_examples": int(record.n_examples),
        "baseline_name": record.baseline.name if record.baseline is not None else None,
        "baseline": baseline_score(record),
    }


def records_frame(records: Sequence[Record]) -> pd.DataFrame:
    """One row per record, with the fields the other tables group on."""
    frame = pd.DataFrame([_record_row(r) for r in records], columns=RECORD_COLUMNS)
    return frame.sort_values(["checkpoint", "task", "split", "language", "seed"], kind="mergesort")


def per_language(records: Sequence[Record]) -> pd.DataFrame:
    """One row per (checkpoint, task, split, language): the main score's mean over seeds."""
    frame = records_frame(records)
    if frame.empty:
        return pd.DataFrame(columns=PER_LANGUAGE_COLUMNS)
    table = (
        frame.groupby(["checkpoint", "task", "split", "language"], sort=True)
        .agg(
            domain=("domain", "first"),
            in_domain=("in_domain", "first"),
            protocol=("protocol", "first"),
            main_metric=("main_metric", "first"),
            score=("score", "mean"),
            n_seeds=("seed", "nunique"),
            n_examples=("n_examples", "max"),
            baseline_name=("baseline_name", _join_unique),
            baseline=("baseline", "mean"),
        )
        .reset_index()
    )
    return table[PER_LANGUAGE_COLUMNS].reset_index(drop=True)


def per_task(records: Sequence[Record]) -> pd.DataFrame:
    """One row per (checkpoint, task, split): the mean over the task's languages, English included.

    Each seed's language mean is taken first, then those are averaged over seeds; the baseline the same way.
    """
    frame = records_frame(records)
    if frame.empty:
        return pd.DataFrame(columns=PER_TASK_COLUMNS)
    keys = ["checkpoint", "task", "split"]
    per_seed = (
        frame.groupby([*keys, "seed"], sort=True)
        .agg(score=("score", "mean"), baseline=("baseline", "mean"))
        .reset_index()
    )
    scores = per_seed.groupby(keys, sort=True).agg(
        score=("score", "mean"), baseline=("baseline", "mean"), n_seeds=("seed", "nunique")
    )
    meta = frame.groupby(keys, sort=True).agg(
        domain=("domain", "first"),
        in_domain=("in_domain", "first"),
        protocol=("protocol", _join_unique),
        demo_split=("protocol", lambda s: bool((s == DEMO_PROTOCOL).any())),
        main_metric=("main_metric", "first"),
        n_languages=("language", "nunique"),
        baseline_name=("baseline_name", _join_unique),
    )
    table = meta.join(scores).reset_index()
    return table[PER_TASK_COLUMNS].reset_index(drop=True)


def _checkpoint_info(records: Sequence[Record]) -> pd.DataFrame:
    """The checkpoint's description, from its first record in a fixed order."""
    first: dict[str, Record] = {}
    for rec in sorted(
        records, key=lambda r: (r.checkpoint.name, r.seed, r.task.name, r.split.name, r.language)
    ):
        first.setdefault(rec.checkpoint.name, rec)
    rows = [
        {
            "checkpoint": name,
            "model": rec.checkpoint.model,
            "intermediate_task": rec.checkpoint.intermediate_task,
            "source_lang": rec.checkpoint.source_lang,
            "source_type": rec.checkpoint.source_type,
            "frozen_embeddings": bool(rec.checkpoint.frozen_embeddings),
        }
        for name, rec in sorted(first.items())
    ]
    return pd.DataFrame(rows, columns=LEADERBOARD_INFO_COLUMNS)


def in_domain_targets(tasks: pd.DataFrame) -> list[str]:
    """The target tasks that have an in-domain split, sorted."""
    return sorted({str(t) for t in tasks.loc[tasks["in_domain"].astype(bool), "task"]})


def leaderboard(records: Sequence[Record]) -> pd.DataFrame:
    """One row per checkpoint: its description, one column per target (the in-domain task score),
    ``average`` over the targets it has and ``n_targets``; best average first.

    A target with several in-domain splits scores the mean of their task scores.
    """
    tasks = per_task(records)
    targets = in_domain_targets(tasks)
    clash = set(targets) & set(LEADERBOARD_INFO_COLUMNS + LEADERBOARD_TAIL_COLUMNS)
    if clash:
        raise ValueError(f"task name(s) {sorted(clash)} clash with leaderboard column names")
    board = _checkpoint_info(records)
    in_domain = tasks[tasks["in_domain"].astype(bool)]
    for target in targets:
        scores = in_domain[in_domain["task"] == target].groupby("checkpoint")["score"].mean()
        board[target] = board["checkpoint"].map(scores).astype(float)
    target_frame = board[targets].astype(float)
    board["average"] = target_frame.mean(axis=1, skipna=True) if targets else math.nan
    board["n_targets"] = target_frame.notna().sum(axis=1).astype(int)
    board = board.sort_values(
        ["average", "checkpoint"], ascending=[False, True], na_position="last", kind="mergesort"
    )
    return board[[*LEADERBOARD_INFO_COLUMNS, *targets, *LEADERBOARD_TAIL_COLUMNS]].reset_index(drop=True)


def leaderboard_targets(board: pd.DataFrame) -> list[str]:
    """The per-target score columns of a ``leaderboard`` frame, in order."""
    fixed = set(LEADERBOARD_INFO_COLUMNS + LEADERBOARD_TAIL_COLUMNS)
    return [str(c) for c in board.columns if c not in fixed]


def task_splits(tasks: pd.DataFrame) -> list[tuple[str, str]]:
    """(task, split) pairs: tasks by name, each task's in-domain split(s) first, then the shifted ones."""
    pairs = {(str(r.task), not bool(r.in_domain), str(r.split)) for r in tasks.itertuples(index=False)}
    return [(task, split) for task, _, split in sorted(pairs)]
