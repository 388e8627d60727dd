"""``harness compare A B``: the paired comparison of two checkpoints, per task × split × language.

``diff`` = A − B on the examples both were scored on (the same bootstrap draws for both: paired CI and
two-sided paired bootstrap p-value), then per (task, split) the mean over their shared languages.

A prompted checkpoint (a decoder LM given k examples, imported from lm-eval) may be compared with a
fine-tuned one, but never silently: ``protocol_line`` says the protocols differ, both sides badged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from harness.errors import HarnessError, did_you_mean
from harness.results.schema import Record
from harness.results.store import ResultsStore
from harness.scoring.bootstrap import DEFAULT_BOOT
from harness.scoring.cells import Linear, evaluate
from harness.scoring.stats_tables import cells_of

KEYS = ["task", "split", "language"]
ROW_COLUMNS = [
    "task",
    "split",
    "domain",
    "in_domain",
    "language",
    "a_score",
    "b_score",
    "diff",
    "diff_low",
    "diff_high",
    "p_value",
    "n_examples",
    "n_seeds",
]
TASK_COLUMNS = [
    "task",
    "split",
    "domain",
    "in_domain",
    "a_score",
    "b_score",
    "diff",
    "diff_low",
    "diff_high",
    "p_value",
    "n_languages",
]


def _check_names(known: list[str], names: Sequence[str]) -> None:
    for name in names:
        if name not in known:
            raise HarnessError(
                f"unknown checkpoint {name!r}{did_you_mean(name, known)}; known checkpoints: {', '.join(known)}",
                field="checkpoint",
            )


def checkpoint_label(records: Sequence[Record], name: str) -> str:
    """``name`` with its badge, ``name (prompted, 5-shot)``; a fine-tuned checkpoint's name as it is."""
    badge = next((r.checkpoint.badge for r in records if r.checkpoint.name == name), None)
    return f"{name} ({badge})" if badge else name


def protocol_line(records: Sequence[Record], a: str, b: str) -> str | None:
    """The line ``harness compare`` prints when A and B were scored under different protocols (one
    prompted, the other fine-tuned, or prompted with different numbers of shots); None when alike."""
    badges: dict[str, str | None] = {}
    for record in records:
        if record.checkpoint.name in (a, b):
            badges.setdefault(record.checkpoint.name, record.checkpoint.badge)
    if badges.get(a) == badges.get(b):
        return None

    def described(name: str) -> str:
        badge = badges.get(name)
        return f"{name} ({badge})" if badge else f"{name} (fine-tuned, zero-shot transfer)"

    return (
        f"Protocols differ: A = {described(a)}, B = {described(b)}; the difference mixes the models "
        "with the way they were scored (prompted k-shot vs fine-tuned zero-shot transfer)."
    )


def _stats(parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"a": parts["a"], "b": parts["b"], "diff": parts["a"] - parts["b"]}


def compare_tables(
    store: ResultsStore | None, records: Sequence[Record], a: str, b: str, n_boot: int = DEFAULT_BOOT
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per task × split × language, per task × split) paired comparisons of checkpoints ``a`` and ``b``."""
    cs = cells_of(store, records, n_boot)
    frame = cs.frame
    _check_names(sorted(set(frame["checkpoint"])), [a, b])
    mine = frame[frame["checkpoint"] == a].reset_index()
    theirs = frame[frame["checkpoint"] == b].reset_index()
    joined = mine.merge(theirs, on=KEYS, suffixes=("", "_b")).sort_values(KEYS, kind="mergesort")
    if joined.empty:
        return pd.DataFrame(columns=ROW_COLUMNS), pd.DataFrame(columns=TASK_COLUMNS)
    parts = {"a": Linear.pick(joined["index"].to_numpy()), "b": Linear.pick(joined["index_b"].to_numpy())}
    stats = evaluate(cs, parts, _stats, p_values=["diff"])
    rows = joined[["task", "split", "domain", "in_domain", "language", "n_examples"]].copy()
    rows["n_seeds"] = np.minimum(joined["n_seeds"].to_numpy(), joined["n_seeds_b"].to_numpy())
    rows["a_score"], rows["b_score"] = stats["a"], stats["b"]
    rows["diff"], rows["diff_low"], rows["diff_high"] = stats["diff"], stats["diff_low"], stats["diff_high"]
    rows["p_value"] = stats["diff_p"]
    rows = rows[ROW_COLUMNS].reset_index(drop=True)

    group = joined.groupby(["task", "split"], sort=True).ngroup().to_numpy()
    n_tasks = int(group.max()) + 1
    task_parts = {
        "a": Linear.mean(group, joined["index"].to_numpy(), n_tasks),
        "b": Linear.mean(group, joined["index_b"].to_numpy(), n_tasks),
    }
    task_stats = evaluate(cs, task_parts, _stats, p_values=["diff"])
    tasks = (
        joined.groupby(["task", "split"], sort=True)
        .agg(
            domain=("domain", "first"), in_domain=("in_domain", "first"), n_languages=("language", "nunique")
        )
        .reset_index()
    )
    tasks["a_score"], tasks["b_score"] = task_stats["a"], task_stats["b"]
    tasks["diff"], tasks["diff_low"], tasks["diff_high"] = (
        task_stats["diff"],
        task_stats["diff_low"],
        task_stats["diff_high"],
    )
    tasks["p_value"] = task_stats["diff_p"]
    return rows, tasks[TASK_COLUMNS].reset_index(drop=True)
