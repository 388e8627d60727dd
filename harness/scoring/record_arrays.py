"""The fields of result records the statistics need, as numpy arrays (one entry per record).

Records share few distinct checkpoint, task and split objects; names become integer codes that sort
like the names, so cells are found with one ``lexsort`` instead of a pandas group-by on strings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np
import pandas as pd

from harness.results.schema import Record


def shared_objects(objects: Sequence[Any]) -> tuple[np.ndarray, list[Any]]:
    """Records share few distinct sub-objects (checkpoint, task, split, settings...): the index of each
    entry's object among the distinct ones (by identity, in first-occurrence order; one ``np.unique``
    over the ids, not a Python dict per record)."""
    if not objects:
        return np.zeros(0, dtype=np.int64), []
    ids = np.fromiter(map(id, objects), dtype=np.uint64, count=len(objects))
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[inverse.reshape(-1)], [objects[int(i)] for i in first[order]]


def _codes(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes that sort like the values, and the sorted distinct values (an object array)."""
    raw, uniques = pd.factorize(np.asarray(values, dtype=object))
    uniques = list(uniques)
    order = sorted(range(len(uniques)), key=lambda k: uniques[k])
    rank = np.empty(len(uniques), dtype=np.int64)
    rank[order] = np.arange(len(uniques))
    return rank[raw], np.array([uniques[k] for k in order], dtype=object)


def object_array(values: Sequence[object]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


@dataclass
class RecordArrays:
    """The fields of the records the statistics need, as arrays (one entry per record)."""

    ck_index: np.ndarray  # into ``checkpoints`` (distinct objects)
    task_index: np.ndarray
    split_index: np.ndarray
    checkpoints: list
    tasks: list
    splits: list
    ck_code: np.ndarray  # codes of the checkpoint / task / split names and the language, sort-compatible
    task_code: np.ndarray
    split_code: np.ndarray
    lang_code: np.ndarray
    names: dict[str, np.ndarray]  # the sorted distinct names per code
    seed: np.ndarray
    score: np.ndarray
    n_examples: np.ndarray
    metric: np.ndarray
    baseline_name: np.ndarray
    baseline: np.ndarray

    def fingerprint(self, where: tuple) -> str:
        digest = hashlib.sha1(repr(where).encode())
        for array in (self.ck_code, self.task_code, self.split_code, self.lang_code, self.seed, self.score):
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(self.n_examples.tobytes())
        for values in (*self.names.values(), self.metric, self.baseline_name):
            digest.update("\x1f".join(map(str, values)).encode())
        digest.update(np.nan_to_num(self.baseline, nan=-1.0).tobytes())
        for c in self.checkpoints:
            digest.update(repr((c.name, c.source_lang, c.source_type, c.matched_with, c.model)).encode())
            digest.update(repr((getattr(c, "regime", None), getattr(c, "shots", None))).encode())
        for s in self.splits:
            digest.update(repr((s.name, s.domain, s.in_domain)).encode())
        return digest.hexdigest()


def _baselines(records: Sequence[Record], metric: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per record: its baseline's name and its score on the record's main metric (NaN without one),
    looked up once per distinct (baseline object, metric)."""
    index, baselines = shared_objects(list(map(attrgetter("baseline"), records)))
    names = object_array([b.name if b is not None else None for b in baselines])
    return names[index], baseline_scores(index, baselines, metric)


def baseline_scores(index: np.ndarray, baselines: Sequence[Any], metric: np.ndarray) -> np.ndarray:
    """Each record's baseline score on its main metric (NaN without one), given ``shared_objects``'
    index into the distinct baselines: looked up once per distinct (baseline object, metric) pair."""
    metric_code, metrics = pd.factorize(metric)
    width = max(1, len(metrics))
    pairs, pair_of = np.unique(index * width + metric_code, return_inverse=True)
    scores = [
        np.nan
        if baselines[k // width] is None
        else float(baselines[k // width].scores.get(metrics[k % width], np.nan))
        for k in pairs.tolist()
    ]
    return np.asarray(scores, dtype=np.float64)[pair_of.reshape(-1)]


def record_arrays(records: Sequence[Record]) -> RecordArrays:
    ck_index, cks = shared_objects(list(map(attrgetter("checkpoint"), records)))
    task_index, tasks = shared_objects(list(map(attrgetter("task"), records)))
    split_index, splits = shared_objects(list(map(attrgetter("split"), records)))
    ck_names, ck_uniq = _codes([c.name for c in cks])
    task_names, task_uniq = _codes([t.name for t in tasks])
    split_names, split_uniq = _codes([s.name for s in splits])
    lang_code, lang_uniq = _codes(list(map(attrgetter("language"), records)))
    metric = object_array(list(map(attrgetter("main_metric"), records)))
    n = len(records)
    baseline_name, baseline = _baselines(records, metric) if n else (object_array([]), np.zeros(0))
    return RecordArrays(
        ck_index=ck_index,
        task_index=task_index,
        split_index=split_index,
        checkpoints=cks,
        tasks=tasks,
        splits=splits,
        ck_code=ck_names[ck_index] if n else ck_index,
        task_code=task_names[task_index] if n else task_index,
        split_code=split_names[split_index] if n else split_index,
        lang_code=lang_code,
        names={"checkpoint": ck_uniq, "task": task_uniq, "split": split_uniq, "language": lang_uniq},
        seed=np.fromiter(map(attrgetter("seed"), records), dtype=np.int64, count=n),
        score=np.fromiter(map(attrgetter("main_score"), records), dtype=np.float64, count=n),
        n_examples=np.fromiter(map(attrgetter("n_examples"), records), dtype=np.int64, count=n),
        metric=metric,
        baseline_name=baseline_name,
        baseline=baseline,
    )
