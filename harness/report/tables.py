"""The report's tables: pure functions from result records to pandas frames.

Scores stay fractions (0..1) here; the summary and the site format them as percentages with ``pct``.
Every table is sorted, so the same records always give the same rows in the same order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any, Literal

import numpy as np
import pandas as pd

from harness.catalogue.schema import GroupSpec
from harness.results.schema import Record
from harness.scoring.record_arrays import baseline_scores, shared_objects
from harness.scoring.stats_tables import OVERALL, grid_group

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


def joined_names(frame: pd.DataFrame, keys: list[str], column: str) -> pd.Series:
    """Per group of ``keys``, the distinct non-null values of ``column`` joined by " / " (None when
    there are none) — vectorised: only the rare groups with several names go through Python."""
    pairs = frame[[*keys, column]].dropna(subset=[column]).drop_duplicates()
    pairs = pairs.assign(**{column: pairs[column].astype(str)}).sort_values([*keys, column], kind="mergesort")
    several = pairs.duplicated(keys, keep=False)
    single = pairs[~several].set_index(keys)[column]
    if several.any():
        multi = pairs[several].groupby(keys, sort=True)[column].agg(" / ".join)
        single = pd.concat([single, multi]).sort_index()
    out = single.reindex(frame[keys].drop_duplicates().set_index(keys).index).astype(object)
    return out.where(out.notna(), None)


# ---- the tables --------------------------------------------------------------------------------
# Extra per-record fields the site needs beside RECORD_COLUMNS (one flat frame, built in one pass).
SITE_COLUMNS = [
    "model",
    "intermediate_task",
    "source_lang",
    "source_type",
    "matched_with",
    "frozen_embeddings",
    "kind",
    "version",
    "selection_rule",
    "predictions",
    "created",
    "wall_time_s",
    "record_index",
    "trained",  # the record's checkpoint was fine-tuned on the target (its lineage has a target step)
]


def _spread(index: np.ndarray, values: Sequence[Any], dtype: Any = object) -> np.ndarray:
    """Per-distinct-object ``values`` spread back to one entry per record."""
    table = np.empty(len(values), dtype=dtype)
    table[:] = list(values) if dtype is object else np.asarray(values, dtype=dtype)
    return table[index]


def _selection_rule(settings: dict[str, Any]) -> str:
    return str(settings.get("selection_rule") or "not recorded")


def flat_frame(records: Sequence[Record]) -> pd.DataFrame:
    """One row per record (RECORD_COLUMNS + SITE_COLUMNS), sorted by checkpoint, task, split, language, seed.

    Built column-wise: the fields of the few distinct checkpoint / task / split / baseline / settings /
    provenance objects are read once each and spread by index, the per-record scalars in one C-level
    ``map`` per field (a per-record Python loop over 26 fields costs seconds at 648,000 records).
    ``record_index`` is the record's position in ``records``, so a page can go back to the few records
    it needs in full (lineage, settings) without looping over all of them again.
    """
    if not len(records):
        return pd.DataFrame({name: pd.Series(dtype=object) for name in RECORD_COLUMNS + SITE_COLUMNS})
    n = len(records)
    ck_i, cks = shared_objects(list(map(attrgetter("checkpoint"), records)))
    task_i, tasks = shared_objects(list(map(attrgetter("task"), records)))
    split_i, splits = shared_objects(list(map(attrgetter("split"), records)))
    language = np.array(list(map(attrgetter("language"), records)), dtype=object)
    seed = np.fromiter(map(attrgetter("seed"), records), dtype=np.int64, count=n)
    keys = [
        _sorted_codes([c.name for c in cks])[ck_i],
        _sorted_codes([t.name for t in tasks])[task_i],
        _sorted_codes([s.name for s in splits])[split_i],
        pd.factorize(language, sort=True)[0],
    ]
    order = np.lexsort((seed, *reversed(keys)))
    del keys
    ck_i, task_i, split_i = ck_i[order], task_i[order], split_i[order]
    set_i, settings = shared_objects(list(map(attrgetter("settings"), records)))
    prov_i, provs = shared_objects(list(map(attrgetter("provenance"), records)))
    base_i, bases = shared_objects(list(map(attrgetter("baseline"), records)))
    set_i, prov_i, base_i = set_i[order], prov_i[order], base_i[order]
    metric = np.array(list(map(attrgetter("main_metric"), records)), dtype=object)[order]
    score = np.fromiter(map(float, map(attrgetter("main_score"), records)), dtype=np.float64, count=n)
    columns: dict[str, Any] = {
        "checkpoint": _spread(ck_i, [c.name for c in cks]),
        "task": _spread(task_i, [t.name for t in tasks]),
        "split": _spread(split_i, [s.name for s in splits]),
        "domain": _spread(split_i, [s.domain for s in splits]),
        "in_domain": _spread(split_i, [bool(s.in_domain) for s in splits], bool),
        "protocol": _spread(task_i, [t.protocol for t in tasks]),
        "language": language[order],
        "seed": seed[order],
        "main_metric": metric,
        "score": score[order],
        "n_examples": np.fromiter(map(attrgetter("n_examples"), records), dtype=np.int64, count=n)[order],
        "baseline_name": _spread(base_i, [b.name if b is not None else None for b in bases]),
        "baseline": baseline_scores(base_i, bases, metric),
        "model": _spread(ck_i, [c.model for c in cks]),
        "intermediate_task": _spread(ck_i, [c.intermediate_task for c in cks]),
        "source_lang": _spread(ck_i, [c.source_lang for c in cks]),
        "source_type": _spread(ck_i, [c.source_type for c in cks]),
        "matched_with": _spread(ck_i, [c.matched_with for c in cks]),
        "frozen_embeddings": _spread(ck_i, [bool(c.frozen_embeddings) for c in cks], bool),
        "kind": _spread(task_i, [t.kind for t in tasks]),
        "version": _spread(task_i, [t.version for t in tasks], np.int64),
        "selection_rule": _spread(set_i, [_selection_rule(s) for s in settings]),
        "predictions": np.array(list(map(attrgetter("predictions"), records)), dtype=object)[order],
        "created": _spread(prov_i, [str(p.get("created") or "") for p in provs]),
        "wall_time_s": _spread(prov_i, [float(p.get("wall_time_s") or 0.0) for p in provs], np.float64),
        "record_index": order.astype(np.int64),
        "trained": _spread(ck_i, [any(step.phase == "target" for step in c.lineage) for c in cks], bool),
    }
    # object columns: the pages iterate them in Python, which is slow over pandas' arrow strings;
    # copy=False keeps one block per column (consolidating 27 columns of 648,000 rows is a copy)
    return pd.DataFrame(
        {
            name: pd.Series(values, dtype=object if values.dtype == object else values.dtype, copy=False)
            for name, values in columns.items()
        },
        copy=False,
    )


def record_badges(records: Sequence[Record]) -> dict[str, str]:
    """Per prompted checkpoint, its badge ("prompted, 5-shot"); {} when every record is fine-tuned.
    Read once per distinct checkpoint object."""
    _, cks = shared_objects(list(map(attrgetter("checkpoint"), records)))
    return {c.name: c.badge for c in cks if c.badge is not None}


def _sorted_codes(names: list[str]) -> np.ndarray:
    """Per distinct object, the rank of its name among the distinct names (sorts like the names)."""
    distinct = sorted(set(names))
    rank = {name: k for k, name in enumerate(distinct)}
    return np.asarray([rank[name] for name in names], dtype=np.int64)


def records_frame(records: Sequence[Record]) -> pd.DataFrame:
    """One row per record, with the fields the other tables group on."""
    frame = flat_frame(records)
    if frame.empty:
        return pd.DataFrame(columns=RECORD_COLUMNS)
    return frame[RECORD_COLUMNS]


def per_language(records: Sequence[Record]) -> pd.DataFrame:
    """One row per (checkpoint, task, split, language): the main score's mean over seeds."""
    return per_language_of(records_frame(records))


def per_language_of(frame: pd.DataFrame) -> pd.DataFrame:
    """``per_language`` from a records frame (``records_frame`` or ``flat_frame``)."""
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
            baseline=("baseline", "mean"),
            _name=("baseline_name", "first"),
            _names=("baseline_name", "nunique"),
        )
        .reset_index()
    )
    keys = ["checkpoint", "task", "split", "language"]
    # a group's baseline names joined by " / ": almost always one name, so only the others are joined
    names = table["_name"].astype(object).where(table["_names"] > 0, None).to_numpy(dtype=object, copy=True)
    several = (table["_names"] > 1).to_numpy()
    if several.any():
        wanted = table.loc[several, keys]
        chosen = frame.merge(wanted, on=keys) if len(wanted) < len(table) else frame
        joined = joined_names(chosen, keys, "baseline_name")
        names[several] = joined.reindex(pd.MultiIndex.from_frame(wanted)).to_numpy()
    table["baseline_name"] = names
    return table[PER_LANGUAGE_COLUMNS].reset_index(drop=True)


def per_task(records: Sequence[Record]) -> pd.DataFrame:
    """One row per (checkpoint, task, split): the mean over the task's languages, English included.

    Each seed's language mean is taken first, then those are averaged over seeds; the baseline the same way.
    """
    return per_task_of(records_frame(records))


def per_task_of(frame: pd.DataFrame) -> pd.DataFrame:
    """``per_task`` from a records frame (``records_frame`` or ``flat_frame``)."""
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
        main_metric=("main_metric", "first"),
        n_languages=("language", "nunique"),
    )
    meta["protocol"] = joined_names(frame, keys, "protocol").reindex(meta.index)
    meta["demo_split"] = (
        frame.assign(_demo=frame["protocol"] == DEMO_PROTOCOL)
        .groupby(keys, sort=True)["_demo"]
        .any()
        .astype(bool)
    )
    meta["baseline_name"] = joined_names(frame, keys, "baseline_name").reindex(meta.index)
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


def leaderboard(
    records: Sequence[Record], group: GroupSpec | None | Literal["grid"] = "grid"
) -> pd.DataFrame:
    """One row per checkpoint: its description, one column per target (the in-domain task score),
    ``overall`` (the group's aggregate, when there is a group: default the one the records' grid names),
    ``average`` over the targets it has and ``n_targets``; in ranking order (``ranking_key``).

    A target with several in-domain splits scores the mean of their task scores.
    """
    tasks = per_task(records)
    targets = in_domain_targets(tasks)
    chosen = grid_group(records) if group == "grid" else group
    tail = [OVERALL] * (chosen is not None) + LEADERBOARD_TAIL_COLUMNS
    clash = set(targets) & set(LEADERBOARD_INFO_COLUMNS + tail)
    if clash:
        raise ValueError(f"task name(s) {sorted(clash)} clash with leaderboard column names")
    board = _checkpoint_info(records)
    in_domain = tasks[tasks["in_domain"].astype(bool)]
    for target in targets:
        scores = in_domain[in_domain["task"] == target].groupby("checkpoint")["score"].mean()
        board[target] = board["checkpoint"].map(scores).astype(float)
    target_frame = board[targets].astype(float)
    if chosen is not None:
        board[OVERALL] = group_score(target_frame, chosen)
    board["average"] = target_frame.mean(axis=1, skipna=True) if targets else math.nan
    board["n_targets"] = target_frame.notna().sum(axis=1).astype(int)
    key = ranking_key(board)
    board = board.sort_values(
        [key, "checkpoint"], ascending=[False, True], na_position="last", kind="mergesort"
    )
    return board[[*LEADERBOARD_INFO_COLUMNS, *targets, *tail]].reset_index(drop=True)


def group_score(target_frame: pd.DataFrame, group: GroupSpec) -> pd.Series:
    """Per row, the plain mean of the group's task columns: NaN unless all are there (``require_all``),
    else over the ones there."""
    scores = target_frame.reindex(columns=group.tasks).astype(float)
    mean = scores.mean(axis=1, skipna=True)
    return mean.where(scores.notna().all(axis=1)) if group.require_all else mean


def ranking_key(board: pd.DataFrame) -> str:
    """``overall`` (the group's aggregate) when every row has it, else ``average`` — the site's rule."""
    if OVERALL in board.columns and len(board) and board[OVERALL].notna().all():
        return OVERALL
    return "average"


def leaderboard_targets(board: pd.DataFrame) -> list[str]:
    """The per-target score columns of a ``leaderboard`` frame, in order."""
    fixed = {*LEADERBOARD_INFO_COLUMNS, OVERALL, *LEADERBOARD_TAIL_COLUMNS}
    return [str(c) for c in board.columns if c not in fixed]


def task_splits(tasks: pd.DataFrame) -> list[tuple[str, str]]:
    """(task, split) pairs: tasks by name, each task's in-domain split(s) first, then the shifted ones."""
    pairs = {(str(r.task), not bool(r.in_domain), str(r.split)) for r in tasks.itertuples(index=False)}
    return [(task, split) for task, _, split in sorted(pairs)]
