"""``harness pack``: a compact copy of a results store that every reading command accepts.

A packed store keeps what the numbers and the site need, small enough to commit:

- every record JSON, unchanged but for ``example_stats``: the path of its checkpoint's statistics file;
- ``stats/<checkpoint>.json``, per checkpoint folder of ``records/``: the per-example sufficient
  statistics (harness.scoring.example_stats) of each record, for every metric of its record that its
  kind reduces, as exact JSON numbers::

      {"version": 1,
       "ids": [[example ids], ...],                      # each distinct id list once
       "records": {"<the record's predictions path>":
                   {"ids": <index into ids>, "metrics": {"<metric>": {"num": [...], "den": [...] | d}}}}}

  (``den`` is one number where every example has the same denominator, e.g. 1 for accuracy);
- ``checkpoints.lock``, ``unavailable.json`` and each checkpoint folder's ``training.json``;
- ``derived/``, recomputed from the packed store itself, so that reading commands rewrite it with the
  same bytes (a committed pack stays unchanged);
- ``.harness-pack.json``: the marker a re-pack looks for before it replaces the folder.

It drops the predictions JSONL, checkpoint weights and tokenizers, and ``cache/``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.results.atomic import atomic_write_json, atomic_write_text
from harness.results.locate import require_store
from harness.results.reading import read_json
from harness.results.schema import Record
from harness.results.store import ResultsStore, read_record
from harness.scoring.derived import write_derived
from harness.scoring.example_stats import (
    ExampleStats,
    packed_record_stats,
    read_prediction_rows,
    stats_from_rows,
)

PACK_VERSION = 1
MARKER = ".harness-pack.json"
STATS_DIR = "stats"
KEPT_FILES = ("checkpoints.lock", "unavailable.json")
TRAINING_FILE = "training.json"


@dataclass(frozen=True)
class PackSummary:
    records: int
    with_stats: int
    stats_files: int
    training_files: int
    bytes: int


def is_packed(root: Path) -> bool:
    """Whether ``root`` is a store written by ``harness pack`` (it keeps no predictions)."""
    return (Path(root) / MARKER).is_file()


def pack_store(source: Path, out: Path) -> PackSummary:
    """Write the packed copy of the store at ``source`` to ``out``, replacing an earlier pack there.

    Built in a temp folder beside ``out`` and renamed into place: a failure leaves ``out`` as it was."""
    store = ResultsStore(require_store(source))
    out = Path(out)
    _check_target(store.root, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{out.name}.pack-", dir=out.parent))
    try:
        build.chmod(0o755)  # mkdtemp's 0700 would hide a published pack from other users
        summary = _write_pack(store, build)
        _swap_into_place(build, out)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return summary


def _check_target(source: Path, out: Path) -> None:
    src, dst = source.resolve(), out.resolve()
    if dst == src or dst.is_relative_to(src) or src.is_relative_to(dst):
        raise HarnessError(
            "must be a folder outside the results store being packed (and not holding it)",
            file=out,
            field="--out",
        )
    if not out.exists():
        return
    if not out.is_dir():
        raise HarnessError("is a file; give a new folder or an earlier pack", file=out, field="--out")
    if not any(out.iterdir()) or _marker(out) is not None:
        return
    raise HarnessError(
        f"exists and is not an earlier pack (no {MARKER}); give a new folder or an earlier pack",
        file=out,
        field="--out",
    )


def _marker(folder: Path) -> dict[str, Any] | None:
    path = folder / MARKER
    if not path.is_file():
        return None
    try:
        document = read_json(path)
    except HarnessError:
        return None
    return document if isinstance(document, dict) and "version" in document else None


def _write_pack(store: ResultsStore, build: Path) -> PackSummary:
    n_records = n_with_stats = n_stats_files = 0
    for folder, paths in _record_folders(store):
        stats_name = f"{STATS_DIR}/{folder}.json"
        document = _StatsDocument()
        for path in paths:
            raw = read_json(path, "not a valid result record")
            record = read_record(path)
            if document.add(record, _metric_stats(store, record)):
                raw["example_stats"] = stats_name
                n_with_stats += 1
            else:
                raw.pop("example_stats", None)
            atomic_write_json(build / path.relative_to(store.root), raw)
            n_records += 1
        if document.records:
            atomic_write_text(build / stats_name, document.text())
            n_stats_files += 1
    for name in KEPT_FILES:
        if (store.root / name).is_file():
            shutil.copyfile(store.root / name, build / name)
    n_training = _copy_training(store, build)
    if n_records:
        write_derived(ResultsStore(build))
    marker = {
        "version": PACK_VERSION,
        "records": n_records,
        "records_with_stats": n_with_stats,
        "stats_files": n_stats_files,
        "training_files": n_training,
        "kept": ["records", STATS_DIR, *KEPT_FILES, f"checkpoints/*/{TRAINING_FILE}", "derived"],
        "dropped": ["predictions", "checkpoint weights and tokenizers", "cache"],
    }
    atomic_write_json(build / MARKER, marker)
    size = sum(p.stat().st_size for p in build.rglob("*") if p.is_file())
    return PackSummary(n_records, n_with_stats, n_stats_files, n_training, size)


def _record_folders(store: ResultsStore) -> Iterator[tuple[str, list[Path]]]:
    """Each folder of ``records/`` (relative, posix) with its record files, in a stable order."""
    by_folder: dict[str, list[Path]] = {}
    if store.records_dir.is_dir():
        for path in sorted(store.records_dir.rglob("*.json")):
            folder = path.parent.relative_to(store.records_dir).as_posix()
            by_folder.setdefault("_top" if folder == "." else folder, []).append(path)
    yield from sorted(by_folder.items())


def _metric_stats(store: ResultsStore, record: Record) -> dict[str, ExampleStats]:
    """The record's statistics per metric it reports, from its predictions (or an earlier pack's)."""
    metrics = sorted(set(record.scores) | {record.main_metric})
    path = store.root / record.predictions
    if not path.resolve().is_relative_to(store.root.resolve()):
        raise HarnessError("resolves outside the results folder", file=path, field="predictions")
    try:
        rows = read_prediction_rows(path)
    except (OSError, ValueError):
        return {}
    if rows is None:  # packing a packed store: carry its statistics over
        found = {
            m: packed_record_stats(store.root, record.model_copy(update={"main_metric": m})) for m in metrics
        }
        return {m: s for m, s in found.items() if s is not None}
    found = {m: stats_from_rows(record.task.kind, m, rows) for m in metrics}
    return {m: s for m, s in found.items() if s is not None}


def _number(value: float) -> int | float:
    """Integral values as JSON integers (shorter, and read back to the same float64)."""
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _numbers(values: Any) -> list[int | float]:
    return [_number(float(v)) for v in values]


class _StatsDocument:
    """One checkpoint folder's statistics file, each distinct id list stored once."""

    def __init__(self) -> None:
        self.id_lists: list[tuple[str, ...]] = []
        self.id_index: dict[tuple[str, ...], int] = {}
        self.records: dict[str, dict[str, Any]] = {}

    def add(self, record: Record, by_metric: dict[str, ExampleStats]) -> bool:
        if not by_metric:
            return False
        ids = next(iter(by_metric.values())).ids
        if any(s.ids != ids for s in by_metric.values()):
            raise HarnessError("metrics disagree on the examples", file=record.predictions)
        if ids not in self.id_index:
            self.id_index[ids] = len(self.id_lists)
            self.id_lists.append(ids)
        metrics = {}
        for name, stats in sorted(by_metric.items()):
            den = _numbers(stats.den)
            metrics[name] = {"num": _numbers(stats.num), "den": den[0] if len(set(den)) == 1 else den}
        self.records[record.predictions] = {"ids": self.id_index[ids], "metrics": metrics}
        return True

    def text(self) -> str:
        document = {"version": PACK_VERSION, "ids": [list(i) for i in self.id_lists], "records": self.records}
        return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


def _copy_training(store: ResultsStore, build: Path) -> int:
    copied = 0
    if not store.checkpoints_dir.is_dir():
        return 0
    for path in sorted(store.checkpoints_dir.glob(f"*/{TRAINING_FILE}")):
        target = build / path.relative_to(store.root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        copied += 1
    return copied


def _swap_into_place(build: Path, out: Path) -> None:
    """Rename ``build`` to ``out``; an earlier pack (or empty folder) there is moved aside first and
    removed after, or moved back if the rename fails."""
    if not out.exists():
        build.rename(out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    old.rmdir()
    out.rename(old)
    try:
        build.rename(out)
    except BaseException:
        old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)
