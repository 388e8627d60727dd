"""Plan-time leakage check: no training, intermediate-training or selection set may contain a scored item.

Every text of a set (the kind's input fields; NFKC, casefolded, whitespace collapsed; shorter than
``MIN_CHARS`` ignored: short phrases recur without being the same item) is hashed, and so is every item
key of a task that declares aligned items (``items: by_id`` / ``by_index``): a translation of a scored
item *is* that item when both sets come from the same dataset (same path template or hub id). A job
whose sets share texts or items with a scored split is refused with one line (which sets, how many, an
example) unless the grid lists the pair in ``allow_overlap``; allowed rows are badged ``not zero-shot``.
Intermediate data declared ``translate_train_of`` a target, in a non-English source language, is badged
``translate-train`` on that target.

Only data on this machine is read (local files, builtin sources, BUCC folders); hub-only data is
skipped with a note. Intermediate sets are checked whole (``size`` picks rows from them at run time).
Hashes are cached by data fingerprint under ``$HARNESS_CACHE/leakage/``, so an unchanged grid costs
one small file read per set.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harness.catalogue.loader import Catalogue
from harness.catalogue.schema import DatasetSpec, EvalSplit, GridSpec, IntermediateSpec, TaskSpec
from harness.errors import HarnessError

ZeroShot = Literal["zero-shot", "translate-train", "not zero-shot"]
ZERO_SHOT: ZeroShot = "zero-shot"
TRANSLATE_TRAIN: ZeroShot = "translate-train"
NOT_ZERO_SHOT: ZeroShot = "not zero-shot"

MIN_CHARS = 20
TEXT_FIELDS = ("text", "text_pair", "question", "context", "choices", "tokens", "source", "target")
ALIGNED = ("by_id", "by_index")
HASH_VERSION = "1"  # bump when normalisation or hashing changes: old cache files are then never read


def normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _hash(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8"), digest_size=8).digest(), "little")


def row_texts(rows: Any) -> Iterator[str]:
    """The normalised input texts of every row (lists such as tokens or choices joined by spaces)."""
    for name in TEXT_FIELDS:
        if name not in rows.column_names:
            continue
        for value in rows[name]:
            if isinstance(value, list):
                value = " ".join(str(v) for v in value)
            if isinstance(value, str):
                text = normalise(value)
                if len(text) >= MIN_CHARS:
                    yield text


# ---- the sets a grid reads ------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DataRef:
    """One set of rows: a task's split in one language, as the runner would read it."""

    task: TaskSpec
    split: str
    language: str
    role: str  # "train", "dev", "scored"
    dataset: DatasetSpec | None = None
    limit: int | None = None
    view: EvalSplit | None = None

    @property
    def name(self) -> str:
        return self.view.name if self.view is not None else self.split

    @property
    def label(self) -> str:
        return f"{self.task.name} {self.role} {self.name}/{self.language}"

    @property
    def key(self) -> tuple[Any, ...]:
        data = self.dataset.model_dump_json() if self.dataset is not None else None
        return (self.task.name, self.role, self.split, self.name, self.language, self.limit, data)

    @property
    def effective_dataset(self) -> DatasetSpec:
        return self.dataset or (self.view.dataset if self.view is not None else None) or self.task.dataset

    @property
    def items(self) -> str:
        value = getattr(self.task, "items", "independent")
        return value if value in ALIGNED else "independent"

    @property
    def family(self) -> str:
        """Sets of one family share item ids: the dataset's path template or hub id, not its language."""
        data = self.effective_dataset
        return data.hub.path if data.hub is not None else f"{data.format}:{data.path or data.builtin}"


@dataclass
class Hashes:
    texts: np.ndarray  # sorted unique uint64
    items: np.ndarray  # sorted unique uint64 (empty unless the task aligns its items)


@dataclass(frozen=True)
class Overlap:
    train: DataRef
    scored: DataRef
    n_texts: int
    n_items: int
    example: str

    def describe(self) -> str:
        what = []
        if self.n_texts:
            what.append(f"{self.n_texts} text(s)")
        if self.n_items:
            what.append(f"{self.n_items} aligned item id(s)")
        return (
            f"{self.train.label} shares {' and '.join(what)} with {self.scored.label} (e.g. {self.example!r})"
        )


@dataclass
class LeakageReport:
    # (condition, target, split, language) -> zero-shot label of the rows that job scores
    labels: dict[tuple[str, str, str, str], ZeroShot] = field(default_factory=dict)
    allowed: list[Overlap] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # "leakage not checked: …"

    def label(self, condition: str, target: str, split: str, language: str) -> ZeroShot:
        return self.labels.get((condition, target, split, language), ZERO_SHOT)


# ---- hashing with a cache -------------------------------------------------------------------------


class Hasher:
    def __init__(self, catalogue: Catalogue, cache_dir: Path | None) -> None:
        self.catalogue = catalogue
        self.cache_dir = cache_dir
        self.memo: dict[tuple[Any, ...], Hashes | None] = {}
        self.skipped: dict[tuple[str, str], list[str]] = {}  # (set without language, why) -> languages

    def skip(self, ref: DataRef, why: str) -> None:
        languages = self.skipped.setdefault((f"{ref.task.name} {ref.role} {ref.name}", why), [])
        if ref.language not in languages:
            languages.append(ref.language)

    @property
    def notes(self) -> list[str]:
        return [
            f"leakage not checked: {what} ({' '.join(langs)}): {why}"
            for (what, why), langs in self.skipped.items()
        ]

    def base_dir(self, task: TaskSpec) -> Path:
        return self.catalogue.task_path(task.name).parent

    def local_identity(self, ref: DataRef) -> str | None:
        """The data fingerprint when the set is on this machine; else None and a note."""
        from harness.data.loaders import data_identity, plan_source

        base = self.base_dir(ref.task)
        try:
            source = plan_source(ref.effective_dataset, ref.split, ref.language, base, ref.task)
            if source.origin == "hub":
                self.skip(ref, "hub only, not read at plan time")
                return None
            return data_identity(
                ref.task, ref.split, ref.language, base, dataset=ref.dataset, limit=ref.limit, view=ref.view
            )
        except HarnessError:
            self.skip(ref, "no data on this machine")
            return None

    def rows(self, ref: DataRef) -> Any:
        from harness.data.loaders import load_rows

        return load_rows(
            ref.task,
            split=ref.split,
            language=ref.language,
            base_dir=self.base_dir(ref.task),
            dataset=ref.dataset,
            limit=ref.limit,
            view=ref.view,
        ).rows

    def item_keys(self, ref: DataRef, rows: Any) -> list[str]:
        if ref.items == "by_id":
            return [str(i) for i in rows["id"]]
        if ref.items == "by_index":
            return [str(i) for i in range(len(rows))]
        return []

    def hashes(self, ref: DataRef) -> Hashes | None:
        if ref.key not in self.memo:
            self.memo[ref.key] = self._hashes(ref)
        return self.memo[ref.key]

    def _hashes(self, ref: DataRef) -> Hashes | None:
        ident = self.local_identity(ref)
        if ident is None:
            return None
        key = hashlib.sha256(f"{HASH_VERSION}|{ident}|{ref.items}|{ref.family}".encode()).hexdigest()
        path = self.cache_dir / f"{key}.npz" if self.cache_dir is not None else None
        if path is not None and path.is_file():
            with contextlib.suppress(OSError, ValueError, KeyError), np.load(path) as stored:
                return Hashes(stored["texts"], stored["items"])
        try:
            rows = self.rows(ref)
        except HarnessError as exc:
            self.skip(ref, f"could not be read: {exc.message}")
            return None
        out = Hashes(
            _sorted_hashes(row_texts(rows)),
            _sorted_hashes(f"{ref.family}\x1f{k}" for k in self.item_keys(ref, rows)),
        )
        if path is not None:
            from harness.results.atomic import atomic_write_bytes

            buffer = io.BytesIO()
            np.savez(buffer, texts=out.texts, items=out.items)
            with contextlib.suppress(OSError):  # a read-only cache only costs hashing again
                atomic_write_bytes(path, buffer.getvalue())
        return out

    def example(self, ref: DataRef, texts: np.ndarray, items: np.ndarray) -> str:
        """A shared text (or item id) of ``ref``, read again only to write the error message."""
        rows = self.rows(ref)
        wanted = set(texts.tolist())
        for text in row_texts(rows):
            if _hash(text) in wanted:
                return text[:80]
        wanted = set(items.tolist())
        for item in self.item_keys(ref, rows):
            if _hash(f"{ref.family}\x1f{item}") in wanted:
                return f"item {item}"
        return "?"


def _sorted_hashes(values: Iterable[str]) -> np.ndarray:
    return np.unique(np.fromiter((_hash(v) for v in values), dtype=np.uint64))


# ---- the grid ---------------------------------------------------------------------------------------


def scored_refs(grid: GridSpec, target: TaskSpec) -> list[DataRef]:
    from harness.runner.plan import eval_limit

    return [
        DataRef(
            target,
            split.split or split.name,
            lang,
            "scored",
            dataset=split.dataset,
            limit=eval_limit(split.limit, grid.eval_limit),
            view=split,
        )
        for split in target.splits
        for lang in target.split_languages(split)
    ]


def own_refs(task: TaskSpec, languages: Iterable[str]) -> list[DataRef]:
    """A task's training split in ``languages`` and its dev (selection) split."""
    refs = []
    if task.train is not None:
        refs += [
            DataRef(task, task.train.split, lang, "train", task.train.dataset, task.train.limit)
            for lang in languages
        ]
    if task.dev is not None:
        refs.append(DataRef(task, task.dev.split, task.dev.language, "dev", task.dev.dataset, task.dev.limit))
    return refs


def intermediate_refs(cond: IntermediateSpec, catalogue: Catalogue) -> list[DataRef]:
    refs: list[DataRef] = []
    if cond.tasks is not None:
        for item in cond.tasks:
            refs += own_refs(catalogue.task(item.task), item.languages)
    elif cond.task is not None and cond.source_lang is not None:
        refs += own_refs(catalogue.task(cond.task), cond.languages)
    return refs


def is_translate_train(cond: IntermediateSpec, target: str, catalogue: Catalogue) -> bool:
    """A non-English source of intermediate data declared to be ``target``'s training set translated."""
    if cond.tasks is not None:
        pairs = [(item.task, lang) for item in cond.tasks for lang in item.languages]
    else:
        pairs = [(cond.task, lang) for lang in cond.languages] if cond.task else []
    return any(lang != "en" and target in catalogue.task(name).translate_train_of for name, lang in pairs)


def is_allowed(grid: GridSpec, train: DataRef, scored: DataRef) -> bool:
    names = {scored.task.name, f"{scored.task.name}/{scored.name}"}
    return any(a.train == train.task.name and a.scored in names for a in grid.allow_overlap)


def default_cache_dir() -> Path:
    from harness.cache_dir import default_cache_dir as harness_cache

    return harness_cache() / "leakage"


def check_leakage(
    grid: GridSpec, grid_path: Path, catalogue: Catalogue, *, cache_dir: Path | None = None
) -> LeakageReport:
    """Labels every (condition, target, split); raises on an overlap the grid does not allow."""
    hasher = Hasher(catalogue, cache_dir if cache_dir is not None else default_cache_dir())
    report = LeakageReport()
    found: dict[tuple[Any, ...], Overlap | None] = {}

    def overlap(train: DataRef, scored: DataRef) -> Overlap | None:
        pair = (train.key, scored.key)
        if pair not in found:
            found[pair] = result = _overlap(hasher, train, scored)
            if result is not None and is_allowed(grid, train, scored):
                report.allowed.append(result)
        return found[pair]

    for target_name in grid.targets:
        target = catalogue.task(target_name)
        scored = scored_refs(grid, target)
        own = own_refs(target, [target.train.language]) if target.train is not None else own_refs(target, [])
        for cond in grid.intermediate:
            sets = own + intermediate_refs(cond, catalogue)
            translated = is_translate_train(cond, target.name, catalogue)
            for ref in scored:
                label = TRANSLATE_TRAIN if translated else ZERO_SHOT
                for train in sets:
                    hit = overlap(train, ref)
                    if hit is None:
                        continue
                    if not is_allowed(grid, train, ref):
                        raise HarnessError(
                            f"leakage: {hit.describe()}; list {{train: {train.task.name}, scored: "
                            f"{target.name}}} under allow_overlap to run it badged 'not zero-shot'",
                            file=grid_path,
                            field=f"intermediate.{cond.name}" if train.task is not target else "targets",
                        )
                    label = NOT_ZERO_SHOT
                report.labels[(cond.name, target.name, ref.name, ref.language)] = label
    report.notes = hasher.notes
    return report


def _overlap(hasher: Hasher, train: DataRef, scored: DataRef) -> Overlap | None:
    a, b = hasher.hashes(train), hasher.hashes(scored)
    if a is None or b is None:
        return None
    texts = np.intersect1d(a.texts, b.texts, assume_unique=True)
    items = np.empty(0, dtype=np.uint64)
    if train.items in ALIGNED and scored.items in ALIGNED and train.family == scored.family:
        items = np.intersect1d(a.items, b.items, assume_unique=True)
    if not len(texts) and not len(items):
        return None
    return Overlap(train, scored, len(texts), len(items), hasher.example(train, texts, items))
