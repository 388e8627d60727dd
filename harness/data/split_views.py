"""Domain-shifted splits as views of a dataset, declared in a task's ``splits``.

* *filter*: a subset chosen by a metadata column or an id pattern (XNLI ``genre``, PUD ``sent_id``
  ``n``/``w``, EWT's sub-genre in its ``sent_id``, GUM's ``# meta::genre``);
* *mapped*: another dataset scored with the task's head through a ``label_map`` (MasakhaNER DATE→O,
  CoNLL MISC→O, UD v1 tags onto v2);
* *parallel*: retrieval pairs joined from two languages of one dataset (FLORES sentences in SIB-200).

Bad input is one ``HarnessError`` naming the data file and the split's field: a filter that keeps no
row, a label the map leaves unmapped, a language the dataset does not have. ``availability`` says, without
loading anything, whether a split's data is on this machine and what would provide it if not.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import itertools
import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import datasets

from harness.catalogue.schema import DatasetSpec, EvalSplit, LabelMap, ParallelJoin, RowFilter, TaskSpec
from harness.errors import HarnessError
from harness.kinds.registry import kind_info

OUTSIDE = "O"
_DIST = re.compile(r"\{dist:([A-Za-z0-9_.-]+)\}")
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


# ---- identity -------------------------------------------------------------------------------------


def view_identity(split: EvalSplit) -> str:
    """What a split's view does, canonically: part of the data fingerprint ('' for a plain split)."""
    if not split.has_view:
        return ""
    parts = split.model_dump(include={"filter", "label_map", "parallel"}, mode="json")
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def fill_distributions(template: str) -> str:
    """``{dist:NAME}`` → the install root of distribution NAME (its wheel's files sit below it)."""

    def root(match: re.Match[str]) -> str:
        try:
            return str(importlib.metadata.distribution(match.group(1)).locate_file(""))
        except importlib.metadata.PackageNotFoundError:
            return f"<{match.group(1)} not installed>"

    return _DIST.sub(root, template)


def _fill(text: str, language: str, code: str) -> str:
    return text.replace("{lang}", language).replace("{code}", code)


# ---- applying a view ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Where:
    """Where an error points: the data file(s) and the split's field."""

    file: str | None
    field: str

    @classmethod
    def of(cls, split: EvalSplit, origin: str) -> Where:
        kind, _, rest = origin.partition(":")
        return cls(rest if kind == "local" else origin, f"splits.{split.name}")


def apply_view(
    task: TaskSpec,
    split: EvalSplit,
    rows: datasets.Dataset,
    *,
    language: str,
    code: str,
    origin: str,
    load_language: Callable[[str], datasets.Dataset],
) -> datasets.Dataset:
    """The split's rows: filtered, joined with the target language, labels mapped and checked."""
    where = Where.of(split, origin)
    if split.filter:
        rows = apply_filters(rows, split.filter, language=language, code=code, where=where)
    if split.parallel is not None:
        other = load_language(split.parallel.target_language)
        rows = join_parallel(rows, other, split.parallel, where=where)
    if kind_info(task.kind).needs_labels and task.labels and (split.label_map or split.dataset is not None):
        rows = map_labels(rows, task, split.label_map, where=where)
    return rows


def apply_filters(
    rows: datasets.Dataset, filters: list[RowFilter], *, language: str, code: str, where: Where
) -> datasets.Dataset:
    """Rows for which every filter holds; a filter that leaves no row is an error."""
    for i, row_filter in enumerate(filters):
        field = f"{where.field}.filter.{i}"
        if row_filter.column not in rows.column_names:
            raise HarnessError(
                f"filter column {row_filter.column!r} is not in the data",
                file=where.file,
                field=f"{field}.column",
                allowed=rows.column_names,
            )
        values = rows[row_filter.column]
        if row_filter.values is not None:
            wanted = {_fill(v, language, code) for v in row_filter.values}
            keep = [i for i, v in enumerate(values) if str(v) in wanted]
            test = f"{row_filter.column} in {sorted(wanted)}"
        else:
            pattern = re.compile(_fill(row_filter.pattern or "", language, code))
            keep = [i for i, v in enumerate(values) if pattern.search(str(v))]
            test = f"{row_filter.column} ~ /{pattern.pattern}/"
        if not keep:
            seen = sorted({str(v) for v in values})
            raise HarnessError(
                f"filter {test} matches no example of {len(values)} rows in language {language!r}",
                file=where.file,
                field=field,
                allowed=seen if len(seen) <= 25 else None,
            )
        rows = rows.select(keep)
    return rows


def join_parallel(
    rows: datasets.Dataset, other: datasets.Dataset, join: ParallelJoin, *, where: Where
) -> datasets.Dataset:
    """Retrieval rows ``{id, source, target}``: each row's ``text`` paired with the target language's
    row of the same ``key``. Every source key must exist on the target side."""
    field = f"{where.field}.parallel"
    for side, data in (("source", rows), ("target", other)):
        for column in (join.key, join.text):
            if column not in data.column_names:
                raise HarnessError(
                    f"column {column!r} is not in the {side}-side data",
                    file=where.file,
                    field=field,
                    allowed=data.column_names,
                )
    targets = {str(k): t for k, t in zip(other[join.key], other[join.text], strict=True)}
    keys = [str(k) for k in rows[join.key]]
    missing = [k for k in keys if k not in targets]
    if missing:
        raise HarnessError(
            f"{len(missing)} of {len(keys)} keys have no {join.target_language!r} row (first: {missing[0]!r})",
            file=where.file,
            field=f"{field}.key",
        )
    if len(set(keys)) != len(keys):
        raise HarnessError(f"key column {join.key!r} repeats values", file=where.file, field=f"{field}.key")
    return datasets.Dataset.from_dict(
        {"id": keys, "source": list(rows[join.text]), "target": [targets[k] for k in keys]}
    )


def bucc_gold_pairs(rows: datasets.Dataset, split: str, *, where: Where) -> datasets.Dataset:
    """Retrieval rows from BUCC mining rows: each gold pair of ``split`` as ``{id, source, target}``
    (a Tatoeba-style test over BUCC's parallel sentences; the non-parallel distractors are left out)."""
    english = {
        sid: text
        for sid, text, part in zip(rows["sentence_id"], rows["target"], rows["split"], strict=True)
        if part == split and text is not None
    }
    pairs = [
        (sid, text, english[gold[0]])
        for sid, text, gold, part in zip(
            rows["sentence_id"], rows["source"], rows["gold"], rows["split"], strict=True
        )
        if part == split and text is not None and gold
    ]
    if not pairs:
        raise HarnessError(f"no gold pairs in split {split!r}", file=where.file, field=where.field)
    ids, sources, targets = (list(column) for column in zip(*pairs, strict=True))
    return datasets.Dataset.from_dict({"id": ids, "source": sources, "target": targets})


def label_mapper(task: TaskSpec, label_map: LabelMap | None) -> Callable[[str], str | None]:
    """A function from a data label to the task's label, or None when the label is unmapped."""
    known = set(task.labels or [])
    table = label_map.map if label_map else {}
    bio = label_map is not None and label_map.scheme == "bio"

    def mapped(label: str) -> str | None:
        if label in table and not bio:
            return table[label]
        if bio and label[:2] in ("B-", "I-") and label[2:] in table:
            new_type = table[label[2:]]
            return OUTSIDE if new_type == OUTSIDE else label[:2] + new_type
        if label in known:
            return label
        return None

    return mapped


def map_labels(
    rows: datasets.Dataset, task: TaskSpec, label_map: LabelMap | None, *, where: Where
) -> datasets.Dataset:
    """Every data label onto the task's label list; an unmapped label, or one mapped outside the
    task's labels, is an error naming them all."""
    info = kind_info(task.kind)
    column = info.label_column
    assert column is not None, f"kind {task.kind!r} has no label column"
    if column not in rows.column_names:
        raise HarnessError(
            f"no {column!r} column to map",
            file=where.file,
            field=f"{where.field}.label_map",
            allowed=rows.column_names,
        )
    values = rows[column]
    seen = set(itertools.chain.from_iterable(values)) if info.label_per_token else set(values)
    mapped = label_mapper(task, label_map)
    table = {str(label): mapped(str(label)) for label in seen}
    unmapped = sorted(label for label, new in table.items() if new is None)
    if unmapped:
        raise HarnessError(
            f"data labels {unmapped} are neither the task's labels nor mapped by label_map",
            file=where.file,
            field=f"{where.field}.label_map",
            allowed=task.labels,
        )
    outside = sorted({new for new in table.values() if new is not None and new not in set(task.labels or [])})
    if outside:
        raise HarnessError(
            f"label_map maps onto {outside}, which are not the task's labels",
            file=where.file,
            field=f"{where.field}.label_map",
            allowed=task.labels,
        )
    if all(label == new for label, new in table.items()):
        return rows
    if info.label_per_token:
        new_values: list[Any] = [[table[str(t)] for t in tags] for tags in values]
    else:
        new_values = [table[str(v)] for v in values]
    return rows.remove_columns(column).add_column(column, new_values)


# ---- availability ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unavailable:
    """A declared (task, split, language) whose data is not on this machine."""

    task: str
    split: str
    domain: str
    in_domain: bool
    language: str
    reason: str
    expected: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in _OFFLINE_VARS)


def expected_sources(dataset: DatasetSpec, split: str, language: str, base_dir: Path) -> list[str]:
    """The local path(s) and hub id that would provide one language of a split."""
    from harness.data.loaders import _fill as fill_path

    out = []
    for template in (dataset.path, dataset.target_path):
        if template:
            path = Path(fill_path(template, dataset, split, language))
            out.append(_shown(path if path.is_absolute() else base_dir / path))
    if dataset.format == "builtin":
        out.append(f"builtin:{dataset.builtin}")
    if dataset.hub is not None:
        name = fill_path(dataset.hub.name, dataset, split, language, hub=True) if dataset.hub.name else ""
        out.append(f"hub:{dataset.hub.path}" + (f" ({name})" if name else ""))
    return out


def _shown(path: Path) -> str:
    """A path relative to the repository when it lies inside it, so the list is the same on every clone."""
    from harness.catalogue.loader import REPO_ROOT

    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def availability(task: TaskSpec, split: EvalSplit, language: str, base_dir: Path) -> Unavailable | None:
    """None when the split's data in ``language`` can be read here, else why not and what would serve it.

    A hub source counts as available unless the hub is switched off (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE).
    A builtin source that lacks the language is bad input (an error), not missing data."""
    dataset = split.dataset or task.dataset
    split_name = split.split or split.name
    languages = [language]
    if split.parallel is not None and split.parallel.target_language != language:
        languages.append(split.parallel.target_language)
    for lang in languages:
        reason = _missing_reason(task, dataset, split, split_name, lang, base_dir)
        if reason is not None:
            expected = expected_sources(dataset, split_name, lang, base_dir)
            return Unavailable(
                task.name, split.name, split.domain, split.in_domain, language, reason, expected
            )
    return None


def _missing_reason(
    task: TaskSpec, dataset: DatasetSpec, split: EvalSplit, split_name: str, language: str, base_dir: Path
) -> str | None:
    from harness.data.loaders import plan_source

    if dataset.format == "builtin":
        from harness.extras import builtin_languages

        try:
            languages = builtin_languages(dataset.builtin or "")
        except HarnessError as exc:
            return exc.message
        if language not in languages:
            raise HarnessError(
                f"split {split.name!r} names language {language!r}, which builtin source "
                f"{dataset.builtin!r} does not have",
                field=f"splits.{split.name}.languages",
                allowed=languages,
            )
        return None
    for template in (dataset.path or "", dataset.target_path or ""):
        for name in _DIST.findall(template):
            try:
                importlib.metadata.distribution(name)
            except importlib.metadata.PackageNotFoundError:
                return f"needs the {name!r} package (pip install {name})"
    try:
        plan = plan_source(dataset, split_name, language, base_dir, task)
    except HarnessError as exc:
        return exc.message
    if plan.origin == "hub" and offline():
        assert dataset.hub is not None
        return f"no local files, and hub dataset {dataset.hub.path!r} cannot load offline (HF_HUB_OFFLINE)"
    return None
