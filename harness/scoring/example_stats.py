"""Per-example sufficient statistics from the stored predictions, by the reducer each kind declares.

Each example contributes ``(num, den)`` so that the record's main score is ``sum(num) / sum(den)``
over ALL its examples, exactly as the kind's ``score`` computes it (tested per kind). The reducers are
part of a kind's declaration (``KindInfo.example_stats``; the built-in ones, and how each kind's
metrics reduce, are in ``harness.kinds.statistics``).

A kind that declares no reducer, a metric its reducer cannot reduce, or a missing predictions file
gives ``None``: the caller then falls back to seed-level uncertainty. A packed store (``harness
pack``) keeps no predictions: its records point at the statistics computed here (``example_stats``),
read back by ``packed_record_stats``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.kinds.registry import KINDS
from harness.kinds.statistics import Row, chunks, sentence_chunk_counts
from harness.results.schema import Record

__all__ = [
    "ExampleStats",
    "chunks",
    "packed_record_stats",
    "read_prediction_rows",
    "record_stats",
    "sentence_chunk_counts",
    "stats_from_rows",
]


@dataclass(frozen=True)
class ExampleStats:
    """Per-example numerator and denominator of a ratio metric, with the examples' ids."""

    ids: tuple[str, ...]
    num: np.ndarray
    den: np.ndarray

    @property
    def n(self) -> int:
        return len(self.ids)

    def score(self) -> float:
        total = float(self.den.sum())
        return float(self.num.sum()) / total if total > 0 else 0.0


def _unique_ids(rows: Sequence[Row]) -> tuple[str, ...]:
    """The examples' ids; a repeated id gets ``#k`` so examples never collapse when aligned."""
    seen: dict[str, int] = {}
    out = []
    for r in rows:
        ident = str(r.get("id"))
        k = seen.get(ident, 0)
        seen[ident] = k + 1
        out.append(ident if k == 0 else f"{ident}#{k}")
    return tuple(out)


def stats_from_rows(kind: str, metric: str, rows: Sequence[Row]) -> ExampleStats | None:
    """The per-example statistics of ``rows`` (the predictions JSONL) for ``kind``'s ``metric``."""
    info = KINDS.get(kind)
    builder = info.example_stats if info is not None else None
    if builder is None:
        return None
    try:
        built = builder(rows, metric)
    except (KeyError, TypeError, ValueError):
        return None
    if built is None:
        return None
    num, den = built
    return ExampleStats(
        _unique_ids(rows), np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    )


def read_prediction_rows(path: Path) -> list[Row] | None:
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    # one parse of the whole file: json.loads per line costs more in call overhead than in parsing
    return json.loads("[" + ",".join(line for line in text.splitlines() if line.strip()) + "]")


def record_stats(root: Path, record: Record) -> ExampleStats | None:
    """The statistics of a stored record, or None when its predictions are absent or not reducible."""
    if not record.predictions:
        return None
    try:
        rows = read_prediction_rows(Path(root) / record.predictions)
    except (OSError, json.JSONDecodeError):
        return None
    if rows is None:
        return packed_record_stats(root, record)
    return stats_from_rows(record.task.kind, record.main_metric, rows)


@functools.lru_cache(maxsize=16)
def _packed_document(path: str, inode: int, mtime_ns: int, size: int) -> dict[str, Any]:
    """One packed statistics file, parsed once per version of it (every record of a checkpoint reads it)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def packed_record_stats(root: Path, record: Record) -> ExampleStats | None:
    """The statistics ``harness pack`` kept for ``record`` (layout: harness/results/pack.py), or None."""
    if record.example_stats is None:
        return None
    path = Path(root) / record.example_stats
    try:
        info = path.stat()
        document = _packed_document(str(path), info.st_ino, info.st_mtime_ns, info.st_size)
        entry = document["records"][record.predictions]
        ids = document["ids"][entry["ids"]]
        metric = entry["metrics"][record.main_metric]
        num = np.asarray(metric["num"], dtype=np.float64)
        den = np.broadcast_to(np.asarray(metric["den"], dtype=np.float64), num.shape).copy()
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    if len(ids) != len(num):
        return None
    return ExampleStats(tuple(ids), num, den)
