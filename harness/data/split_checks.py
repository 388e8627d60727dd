"""Static checks of a task's split views for ``harness tasks validate``: what can be told wrong without
reading any data (the load-time checks in ``harness.data.split_views`` catch the rest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.catalogue.schema import DatasetSpec, EvalSplit, TaskSpec
from harness.catalogue.yaml_lines import line_of, load_with_lines
from harness.data.split_views import OUTSIDE
from harness.errors import HarnessError
from harness.kinds.registry import KINDS

CONLLU_COLUMNS = ("id", "tokens", "tags", "meta", "sent_id", "doc_id", "genre")


def static_problems(task: TaskSpec, path: Path) -> list[HarnessError]:
    """What can be told wrong about a task's split views without reading data: a label map onto labels
    the task does not have, a language the dataset has no code for, a filter on a column the format
    never has, a join on a kind that does not retrieve."""
    try:
        _, lines = load_with_lines(path)
    except HarnessError:
        lines = {}
    problems: list[HarnessError] = []

    def problem(i: int, key: str, message: str, allowed: Any = None) -> None:
        problems.append(
            HarnessError(
                message,
                file=path,
                line=line_of(lines, ("splits", i, key)),
                field=f"splits.{i}.{key}",
                allowed=allowed,
            )
        )

    for i, split in enumerate(task.splits):
        dataset = split.dataset or task.dataset
        for message in _label_map_problems(task, split):
            problem(i, "label_map", message, task.labels)
        if split.parallel is not None and task.kind != "retrieval":
            problem(i, "parallel", f"a parallel join builds retrieval pairs; task kind is {task.kind!r}")
        languages = task.split_languages(split)
        if split.parallel is not None:
            languages = [*languages, split.parallel.target_language]
        uses_code = any("{code}" in t for t in (dataset.path or "", dataset.target_path or ""))
        uses_code |= dataset.hub is not None and "{code}" in (dataset.hub.name or "")
        if dataset.language_codes and uses_code:
            for lang in languages:
                if lang not in dataset.language_codes:
                    problem(
                        i,
                        "languages",
                        f"split {split.name!r} names language {lang!r}, which its dataset has no code for "
                        "(dataset.language_codes)",
                        sorted(dataset.language_codes),
                    )
        if dataset.format == "builtin":
            problems.extend(_builtin_language_problems(split, languages, path, lines, i))
        known = _static_columns(task, dataset)
        for j, row_filter in enumerate(split.filter or []):
            if known is not None and row_filter.column not in known:
                problems.append(
                    HarnessError(
                        f"filter column {row_filter.column!r} is not a column of {dataset.format!r} data",
                        file=path,
                        line=line_of(lines, ("splits", i, "filter", j, "column")),
                        field=f"splits.{i}.filter.{j}.column",
                        allowed=sorted(known),
                    )
                )
    return problems


def _label_map_problems(task: TaskSpec, split: EvalSplit) -> list[str]:
    if split.label_map is None:
        return []
    labelled = sorted(name for name, info in KINDS.items() if info.needs_labels)
    if task.kind not in labelled or not task.labels:
        return [f"label_map needs a kind with a label list ({labelled}); task kind is {task.kind!r}"]
    labels = set(task.labels)
    bad = []
    for source, target in sorted(split.label_map.map.items()):
        if split.label_map.scheme == "bio":
            ok = target == OUTSIDE or {f"B-{target}", f"I-{target}"} <= labels
        else:
            ok = target in labels
        if not ok:
            bad.append(f"{source} → {target}")
    return [f"label_map maps onto labels the task does not have: {', '.join(bad)}"] if bad else []


def _builtin_language_problems(
    split: EvalSplit, languages: list[str], path: Path, lines: dict, i: int
) -> list[HarnessError]:
    from harness.extras import builtin_languages

    dataset = split.dataset
    name = dataset.builtin if dataset is not None else None
    if not name:
        return []
    try:
        known = builtin_languages(name)
    except HarnessError:  # the package is not installed: availability reports it, not validate
        return []
    return [
        HarnessError(
            f"split {split.name!r} names language {lang!r}, which builtin source {name!r} does not have",
            file=path,
            line=line_of(lines, ("splits", i, "languages")),
            field=f"splits.{i}.languages",
            allowed=known,
        )
        for lang in languages
        if lang not in known
    ]


def _static_columns(task: TaskSpec, dataset: DatasetSpec) -> set[str] | None:
    """The columns a format is known to give (after the task's column mapping), else None."""
    if dataset.format == "conllu":
        return set(CONLLU_COLUMNS)
    if dataset.format in ("tsv", "csv") and dataset.fieldnames:
        renamed = {col: fld for fld, col in task.columns.items()}
        return {renamed.get(c, c) for c in dataset.fieldnames} | {"id"}
    return None
