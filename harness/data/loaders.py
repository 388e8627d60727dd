"""Rows of a task split in one language, through ``datasets``: local files offline, hub ids online.

Every loader returns a ``RowSet``: a ``datasets.Dataset`` whose columns carry the kind's field names
(the task's ``columns`` mapping applied), an ``id`` column, and a fingerprint of the exact data read.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import datasets

from harness.catalogue.loader import default_data_dir
from harness.catalogue.schema import DatasetSpec, EvalSplit, TaskSpec
from harness.data import formats, split_views
from harness.data.file_checks import check_data_file
from harness.errors import HarnessError
from harness.models.lockfile import sha256_files


@dataclass(frozen=True)
class SourcePlan:
    """Where a split's rows will come from, decided without reading them."""

    origin: str  # "local" | "hub" | "builtin"
    files: tuple[Path, ...] = ()
    identity: str = ""


@dataclass
class RowSet:
    task: str
    split: str
    language: str
    rows: datasets.Dataset
    fingerprint: str
    origin: str

    def __len__(self) -> int:
        return len(self.rows)


def _fill(template: str, dataset: DatasetSpec, split: str, language: str, *, hub: bool = False) -> str:
    names = dataset.hub.split_names if (hub and dataset.hub) else dataset.split_names
    return split_views.fill_distributions(template).format(
        data_dir=str(default_data_dir()),
        lang=language,
        code=dataset.code_for(language),
        split=names.get(split, split),
    )


def plan_source(
    dataset: DatasetSpec, split: str, language: str, base_dir: Path, task: TaskSpec | None = None
) -> SourcePlan:
    """Choose local files if present, else the hub; raise a clear error when neither can serve."""
    if dataset.format == "bucc" and task is not None:
        from harness.data.bucc import bucc_source_files

        files = bucc_source_files(task, split=split, language=language, base_dir=base_dir, dataset=dataset)
        return SourcePlan("bucc", files, hashlib.sha256(sha256_files(files).encode()).hexdigest())
    if dataset.format == "builtin":
        from harness.extras import builtin_provenance

        version = builtin_provenance(dataset.builtin or "")
        ident = hashlib.sha256(f"{dataset.builtin}|{version}|{split}|{language}".encode()).hexdigest()
        return SourcePlan("builtin", identity=ident)
    if dataset.path is not None:
        written = [Path(_fill(dataset.path, dataset, split, language))]
        if dataset.target_path:
            written.append(Path(_fill(dataset.target_path, dataset, split, language)))
        paths = tuple(f if f.is_absolute() else (base_dir / f) for f in written)
        missing = [f for f in paths if not f.is_file()]
        if not missing:
            options = json.dumps(dataset.model_dump(exclude={"hub", "license", "citation"}), sort_keys=True)
            ident = hashlib.sha256((sha256_files(paths) + options).encode()).hexdigest()
            return SourcePlan("local", paths, ident)
        if dataset.hub is None:
            raise HarnessError(
                f"dataset file not found: {missing[0]} (set HARNESS_DATA_DIR or add a 'hub:' source)",
                field="dataset.path",
            )
    hub = dataset.hub
    assert hub is not None
    name = _fill(hub.name or "", dataset, split, language, hub=True)
    ident = f"hub:{hub.path}|{name}|{_fill(hub.split, dataset, split, language, hub=True)}|{hub.revision}"
    return SourcePlan("hub", identity=hashlib.sha256(ident.encode()).hexdigest())


def _load_local(dataset: DatasetSpec, files: tuple[Path, ...], language: str) -> datasets.Dataset:
    fmt = dataset.format
    for file in files:  # one line for a 0-byte, blank or non-UTF-8 file, not IndexError/StopIteration
        check_data_file(file, fmt)
    path = files[0]
    if fmt in ("tsv", "csv"):
        return _load_delimited(dataset, path)
    if fmt == "jsonl":
        return datasets.load_dataset("json", data_files=str(path), split="train")
    if fmt == "squad_json":
        return datasets.Dataset.from_list(formats.read_squad_json(path))
    if fmt == "conllu":
        return datasets.Dataset.from_list(formats.read_conllu(path, metadata=True))
    if fmt == "conll_tags":
        prefix = dataset.token_prefix.format(lang=language) if dataset.token_prefix else None
        return datasets.Dataset.from_list(formats.read_conll_tags(path, dataset.delimiter, prefix))
    if fmt == "parallel_text":
        if len(files) != 2:
            raise HarnessError(
                "format 'parallel_text' needs 'path' and 'target_path'", field="dataset.target_path"
            )
        return datasets.Dataset.from_list(formats.read_parallel_text(files[0], files[1]))
    raise HarnessError(f"format {fmt!r} cannot be read from local files", field="dataset.format")


def _load_delimited(dataset: DatasetSpec, path: Path) -> datasets.Dataset:
    delimiter = dataset.delimiter or ("\t" if dataset.format == "tsv" else ",")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(
            handle,
            delimiter=delimiter,
            quoting=csv.QUOTE_NONE if dataset.quoting == "none" else csv.QUOTE_MINIMAL,
        )
        lines = [row for row in reader if row]
    if dataset.header:
        names, lines = lines[0], lines[1:]
    elif dataset.fieldnames:
        names = dataset.fieldnames
    else:
        raise HarnessError(
            "a file without a header needs 'fieldnames'", file=path, field="dataset.fieldnames"
        )
    if dataset.fieldnames and dataset.header:
        names = dataset.fieldnames
    for number, row in enumerate(lines, start=2 if dataset.header else 1):
        if len(row) != len(names):
            raise HarnessError(
                f"row has {len(row)} fields, expected {len(names)} ({names})", file=path, line=number
            )
    columns = {name: [row[i] for row in lines] for i, name in enumerate(names)}
    return datasets.Dataset.from_dict(columns)


POOL_SEPARATOR = "+"  # a hub config name "a+b+c": the rows of configs a, b and c, in that order


def _load_hub(dataset: DatasetSpec, split: str, language: str) -> datasets.Dataset:
    hub = dataset.hub
    assert hub is not None
    name = _fill(hub.name, dataset, split, language, hub=True) if hub.name else None
    hub_split = _fill(hub.split, dataset, split, language, hub=True)
    try:
        if name and POOL_SEPARATOR in name:
            return _load_pooled(hub.path, name.split(POOL_SEPARATOR), hub_split, hub.revision)
        return datasets.load_dataset(hub.path, name, split=hub_split, revision=hub.revision)
    except HarnessError:
        raise
    except Exception as exc:  # the hub raises many types; the user needs one line
        offline = " (offline: HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
        raise HarnessError(
            f"could not load hub dataset {hub.path!r}{offline}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
            field="dataset.hub",
        ) from exc


def _load_pooled(path: str, names: list[str], split: str, revision: str | None) -> datasets.Dataset:
    """Every config that has ``split``, concatenated: XTREME's UD-POS pools all treebanks of a language
    (a test-only treebank such as PUD adds to test only). No config with the split is an error."""
    parts = []
    for name in names:
        try:
            parts.append(datasets.load_dataset(path, name, split=split, revision=revision))
        except ValueError as exc:
            if "split" not in str(exc).lower():
                raise
    if not parts:
        raise HarnessError(
            f"none of the pooled hub configs {names} of {path!r} has split {split!r}", field="dataset.hub"
        )
    return datasets.concatenate_datasets(parts)


def load_rows(
    task: TaskSpec,
    *,
    split: str,
    language: str,
    base_dir: Path,
    dataset: DatasetSpec | None = None,
    limit: int | None = None,
    view: EvalSplit | None = None,
) -> RowSet:
    """Rows of ``split`` in ``language``, with the task's column mapping applied and an ``id`` column.

    ``view``: the evaluation split whose filter / label map / parallel join to apply (before ``limit``)."""
    dataset = dataset or (view.dataset if view is not None else None) or task.dataset
    plan = plan_source(dataset, split, language, base_dir, task)
    if plan.origin == "bucc":
        from harness.data.bucc import load_bucc_rows

        rows = load_bucc_rows(
            task, split=split, language=language, base_dir=base_dir, dataset=dataset, limit=limit
        )
        if task.kind == "retrieval":  # BUCC's gold pairs scored as retrieval (a shifted split of Tatoeba)
            where = split_views.Where(str(plan.files[0].parent), f"splits.{view.name if view else split}")
            rows = split_views.bucc_gold_pairs(rows, split, where=where)
        fingerprint = hashlib.sha256(f"{plan.identity}|{limit}".encode()).hexdigest()
        return RowSet(task.name, split, language, rows, fingerprint, f"local:{plan.files[0].parent}")
    if plan.origin == "builtin":
        from harness.extras import load_builtin

        assert dataset.builtin is not None  # format builtin names its source (schema)
        rows = datasets.Dataset.from_list(load_builtin(dataset.builtin, language, split))
        origin = f"builtin:{dataset.builtin}"
    elif plan.origin == "local":
        rows = _load_local(dataset, plan.files, language)
        origin = "local:" + ",".join(str(f) for f in plan.files)
    else:
        hub = dataset.hub
        assert hub is not None  # plan_source chose the hub: the dataset declares one
        rows = _class_labels_as_names(_load_hub(dataset, split, language))
        if hub.columns:
            rows = rows.rename_columns(hub.columns)
        origin = f"hub:{hub.path}"
    rows = _apply_columns(task, rows, origin)
    if "id" not in rows.column_names:
        rows = rows.add_column("id", [f"{split}-{language}-{i}" for i in range(len(rows))])
    elif rows.features["id"].dtype != "string":
        rows = rows.cast_column("id", datasets.Value("string"))
    if view is not None and (view.has_view or view.dataset is not None):
        rows = split_views.apply_view(
            task,
            view,
            rows,
            language=language,
            code=dataset.code_for(language),
            origin=origin,
            load_language=lambda lang: (
                load_rows(task, split=split, language=lang, base_dir=base_dir, dataset=dataset).rows
            ),
        )
    if limit is not None and len(rows) > limit:
        rows = rows.select(range(limit))
    if len(rows) == 0:
        raise HarnessError(f"no rows for split {split!r} in language {language!r} ({origin})", field="splits")
    fingerprint = hashlib.sha256(
        f"{plan.identity}|{limit}|{sorted(task.columns.items())}".encode()
    ).hexdigest()
    fingerprint = _with_view(fingerprint, view, dataset, split, base_dir, task)
    return RowSet(task.name, split, language, rows, fingerprint, origin)


def _class_labels_as_names(rows: datasets.Dataset) -> datasets.Dataset:
    """Hub datasets store labels as ClassLabel ints; tasks name them, as local files do."""
    for name, feature in rows.features.items():
        if isinstance(feature, datasets.ClassLabel):
            names = feature.names
            # -1 is "no gold label" on the hub (SNLI's 785 unannotated pairs); as a list index it would
            # silently become the last label name, so those rows are dropped.
            rows = rows.filter(lambda b, n=name: [i >= 0 for i in b[n]], batched=True)
            rows = rows.cast_column(name, datasets.Value("int64"))
            rows = rows.map(lambda b, n=name, ns=names: {n: [ns[i] for i in b[n]]}, batched=True)
        elif isinstance(feature, datasets.Sequence | list) and isinstance(
            getattr(feature, "feature", None) or (feature[0] if isinstance(feature, list) else None),
            datasets.ClassLabel,
        ):
            inner = feature.feature if isinstance(feature, datasets.Sequence) else feature[0]
            names = inner.names
            rows = rows.map(
                lambda b, n=name, ns=names: {n: [[ns[i] for i in seq] for seq in b[n]]},
                batched=True,
                features=None,
            )
    return rows


def _apply_columns(task: TaskSpec, rows: datasets.Dataset, origin: str) -> datasets.Dataset:
    mapping = {col: fld for fld, col in task.columns.items() if col != fld}
    missing = [col for col in mapping if col not in rows.column_names]
    if missing:
        raise HarnessError(
            f"column {missing[0]!r} not in the data ({origin})", field="columns", allowed=rows.column_names
        )
    return rows.rename_columns(mapping) if mapping else rows


def data_identity(
    task: TaskSpec,
    split: str,
    language: str,
    base_dir: Path,
    dataset: DatasetSpec | None = None,
    limit: int | None = None,
    view: EvalSplit | None = None,
) -> str:
    """The fingerprint ``load_rows`` would give, computed without loading (for cache keys)."""
    dataset = dataset or (view.dataset if view is not None else None) or task.dataset
    plan = plan_source(dataset, split, language, base_dir, task)
    if plan.origin == "bucc":
        return hashlib.sha256(f"{plan.identity}|{limit}".encode()).hexdigest()
    plain = hashlib.sha256(f"{plan.identity}|{limit}|{sorted(task.columns.items())}".encode()).hexdigest()
    return _with_view(plain, view, dataset, split, base_dir, task)


def _with_view(
    fingerprint: str, view: EvalSplit | None, dataset: DatasetSpec, split: str, base_dir: Path, task: TaskSpec
) -> str:
    """A view's filter / label map / join changes the fingerprint; a plain split keeps the old one."""
    if view is None or not view.has_view:
        return fingerprint
    parts = [fingerprint, split_views.view_identity(view)]
    if view.parallel is not None:  # the other side of the join is data read, too
        parts.append(plan_source(dataset, split, view.parallel.target_language, base_dir, task).identity)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()
