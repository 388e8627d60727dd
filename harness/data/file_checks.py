"""Local data files checked before any training: present, not empty, UTF-8, JSON Lines that parse.

Every problem is one ``HarnessError`` naming the file (and line and column for a bad byte), raised when
a grid is planned and again by the readers, instead of ``UnicodeDecodeError``, ``IndexError`` or
``StopIteration`` after checkpoints were trained.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from harness.catalogue.schema import DatasetSpec, GridSpec, SplitRef, TaskSpec
from harness.data.formats import read_utf8
from harness.errors import HarnessError

LOCAL_ORIGINS = ("local",)  # BUCC folders are checked line by line by their own reader


def check_data_file(path: Path, fmt: str) -> None:
    """Raise one line when ``path`` cannot give rows in format ``fmt``; cached while the file is unchanged."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise HarnessError("data file not found", file=path) from None
    if not path.is_file():
        raise HarnessError("is a folder, not a data file", file=path)
    _check_cached(str(path), fmt, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=1024)
def _check_cached(name: str, fmt: str, size: int, mtime_ns: int) -> None:
    path = Path(name)
    if size == 0:
        raise HarnessError("data file is empty (0 bytes)", file=path)
    text = read_utf8(path)
    if not text.strip():
        raise HarnessError("data file holds only blank lines", file=path)
    if fmt == "jsonl":
        _check_json_lines(text, path)


def _check_json_lines(text: str, path: Path) -> None:
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise HarnessError(
                f"not a JSON line: {exc.msg} at column {exc.colno}", file=path, line=number
            ) from None
        if not isinstance(row, dict):
            raise HarnessError(
                f"a JSON line must be an object, got {type(row).__name__}", file=path, line=number
            )


# ---- the files a planned grid will read ------------------------------------------------------------
Need = tuple[TaskSpec, DatasetSpec, str, str]  # task, dataset, split name in the data, language


def _ref_needs(task: TaskSpec, ref: SplitRef | None, languages: list[str]) -> Iterator[Need]:
    if ref is not None:
        for lang in languages:
            yield task, ref.dataset or task.dataset, ref.split, lang


def _target_needs(task: TaskSpec) -> Iterator[Need]:
    if task.train is not None:
        yield from _ref_needs(task, task.train, [task.train.language])
    if task.dev is not None:
        yield from _ref_needs(task, task.dev, [task.dev.language])
    for split in task.splits:
        dataset = split.dataset or task.dataset
        for lang in task.split_languages(split):
            yield task, dataset, split.split or split.name, lang
            if split.parallel is not None:
                yield task, dataset, split.split or split.name, split.parallel.target_language


def grid_needs(grid: GridSpec, catalogue) -> Iterator[tuple[Need, Path]]:  # noqa: ANN001 - Catalogue
    """Every (task, dataset, split, language) the grid's jobs read, with the task file's folder."""
    for name in grid.targets:
        task = catalogue.task(name)
        base = catalogue.task_path(name).parent
        for need in _target_needs(task):
            yield need, base
    for cond in grid.intermediate:
        if not cond.trains:
            continue
        if cond.tasks:
            pairs = [(item.task, item.languages) for item in cond.tasks]
        elif cond.task is not None:
            pairs = [(cond.task, cond.languages or ["en"])]
        else:  # a trained condition names its task or tasks (schema)
            continue
        for name, languages in pairs:
            task = catalogue.task(name)
            base = catalogue.task_path(name).parent
            for need in _ref_needs(task, task.train, languages):
                yield need, base
            if task.dev is not None:
                for need in _ref_needs(task, task.dev, [task.dev.language]):
                    yield need, base


def check_grid_files(grid: GridSpec, catalogue) -> int:  # noqa: ANN001 - Catalogue
    """Check every local file the grid reads; returns how many were checked. Data that is not here at
    all is the planner's business (the split is listed as unavailable, or its jobs blocked)."""
    from harness.data.loaders import plan_source

    checked: set[Path] = set()
    for (task, dataset, split, lang), base in grid_needs(grid, catalogue):
        try:
            source = plan_source(dataset, split, lang, base, task)
        except HarnessError:
            continue
        if source.origin not in LOCAL_ORIGINS:
            continue
        for path in source.files:
            if path not in checked:
                check_data_file(path, dataset.format)
                checked.add(path)
    return len(checked)
