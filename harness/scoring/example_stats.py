"""Per-example sufficient statistics from the stored predictions, per task kind.

Each example contributes ``(num, den)`` so that the record's main score is ``sum(num) / sum(den)``
over ALL its examples, exactly as the kind's ``score`` computes it (tested per kind):

- classification, multiple choice, retrieval: accuracy = mean ``correct`` → ``(correct, 1)``;
- extractive QA: ``correct`` is the example's EM and ``f1`` its F1 → exact_match ``(EM, 1)``, f1
  ``(F1, 1)``, em_f1_mean ``((EM + F1) / 2, 1)``;
- tagging: seqeval chunks of each sentence (seqeval never lets a chunk cross a sentence end, so corpus
  counts are sums of sentence counts) → f1 ``(2·tp, n_pred + n_gold)``, precision ``(tp, n_pred)``,
  recall ``(tp, n_gold)``, token accuracy ``(right words, words)``;
- mining (BUCC): one row per pair in (mined ∪ gold) with ``prediction``/``label`` in {0, 1} → the same
  counts over pairs. Resampling pairs treats each candidate pair as an example (an approximation:
  mined pairs compete for sentences).

An unknown kind or metric, or a missing predictions file, gives ``None``: the caller then falls back
to seed-level uncertainty. A packed store (``harness pack``) keeps no predictions: its records point at
the statistics computed here (``example_stats``), read back by ``packed_record_stats``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.results.schema import Record

Row = dict[str, Any]


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


def _correct(rows: Sequence[Row], metric: str) -> tuple[list[float], list[float]] | None:
    if metric != "accuracy":
        return None
    return [float(r["correct"]) for r in rows], [1.0] * len(rows)


def _qa(rows: Sequence[Row], metric: str) -> tuple[list[float], list[float]] | None:
    if metric == "exact_match":
        num = [float(r["correct"]) for r in rows]
    elif metric == "f1":
        num = [float(r["f1"]) for r in rows]
    elif metric == "em_f1_mean":
        num = [(float(r["correct"]) + float(r["f1"])) / 2 for r in rows]
    else:
        return None
    return num, [1.0] * len(rows)


def _counts(tp: float, n_pred: float, n_gold: float, metric: str) -> tuple[float, float] | None:
    if metric == "f1":
        return 2 * tp, n_pred + n_gold
    if metric == "precision":
        return tp, n_pred
    if metric == "recall":
        return tp, n_gold
    return None


_ENDS_AFTER = {"E", "S"}  # a chunk always ends after these prefixes
_OPEN = {"B", "I"}  # ... and after these when the next prefix is B, S or O
_CLOSES_OPEN = {"B", "S", "O"}
_STARTS_AFTER = {"E", "S", "O"}  # after these, an E or I prefix starts a new chunk
_CONTINUES = {"E", "I"}
_NOT_TYPED = {"O", "."}


def chunks(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """The (type, first, last) chunks of one sentence, by the same rules as seqeval's default
    ``get_entities`` (conlleval: the first character is the prefix, the rest after an optional "-" the
    type; a change of type always closes and opens a chunk). Property-tested against seqeval; written
    out here because seqeval warns once per non-BIO tag, which dominates the time on UD-POS."""
    found = set()
    prev_tag, prev_type, begin = "O", "", 0
    for i, chunk in enumerate([*tags, "O"]):
        tag = chunk[0]
        type_ = chunk[1:].split("-", maxsplit=1)[-1] or "_"
        typed_change = prev_type != type_
        if (
            prev_tag in _ENDS_AFTER
            or (prev_tag in _OPEN and tag in _CLOSES_OPEN)
            or (prev_tag not in _NOT_TYPED and typed_change)
        ):
            found.add((prev_type, begin, i - 1))
        if (
            tag in ("B", "S")
            or (prev_tag in _STARTS_AFTER and tag in _CONTINUES)
            or (tag not in _NOT_TYPED and typed_change)
        ):
            begin = i
        prev_tag, prev_type = tag, type_
    return found


@functools.lru_cache(maxsize=262_144)
def _chunks_of(tags: tuple[str, ...]) -> frozenset[tuple[str, int, int]]:
    return frozenset(chunks(tags))  # gold sentences recur for every checkpoint scored on them


def sentence_chunk_counts(gold: Sequence[str], pred: Sequence[str]) -> tuple[int, int, int]:
    """(tp, n_pred, n_gold) of one sentence, with seqeval's default (conlleval-style) chunking."""
    true_chunks = _chunks_of(tuple(str(t) for t in gold))
    pred_chunks = _chunks_of(tuple(str(t) for t in pred))
    return len(true_chunks & pred_chunks), len(pred_chunks), len(true_chunks)


def _tagging(rows: Sequence[Row], metric: str) -> tuple[list[float], list[float]] | None:
    num, den = [], []
    for r in rows:
        gold, pred = r["label"], r["prediction"]
        if metric == "accuracy":
            num.append(float(sum(g == p for g, p in zip(gold, pred, strict=True))))
            den.append(float(len(gold)))
            continue
        pair = _counts(*sentence_chunk_counts(gold, pred), metric)
        if pair is None:
            return None
        num.append(pair[0])
        den.append(pair[1])
    return num, den


def _mining(rows: Sequence[Row], metric: str) -> tuple[list[float], list[float]] | None:
    num, den = [], []
    for r in rows:
        mined, gold = int(r["prediction"]) == 1, int(r["label"]) == 1
        pair = _counts(float(mined and gold), float(mined), float(gold), metric)
        if pair is None:
            return None
        num.append(pair[0])
        den.append(pair[1])
    return num, den


STAT_BUILDERS: dict[str, Callable[[Sequence[Row], str], tuple[list[float], list[float]] | None]] = {
    "classification": _correct,
    "multiple_choice": _correct,
    "retrieval": _correct,
    "extractive_qa": _qa,
    "tagging": _tagging,
    "mining": _mining,
}


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
    builder = STAT_BUILDERS.get(kind)
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
