"""Per-example statistics reducers a kind declares (``KindInfo.example_stats``); numpy only.

A reducer turns the rows of a predictions file into per-example ``(num, den)`` lists so that
``sum(num) / sum(den)`` over all examples is exactly the kind's score for ``metric``; it returns
None for a metric it cannot reduce (the caller then falls back to seed-level uncertainty):

- ``accuracy_stats`` (classification, multiple choice, retrieval, masked LM): mean ``correct`` →
  ``(correct, 1)``;
- ``qa_stats`` (extractive QA): ``correct`` is the example's EM and ``f1`` its F1 → exact_match
  ``(EM, 1)``, f1 ``(F1, 1)``, em_f1_mean ``((EM + F1) / 2, 1)``;
- ``tagging_stats``: seqeval chunks of each sentence (seqeval never lets a chunk cross a sentence end,
  so corpus counts are sums of sentence counts) → f1 ``(2·tp, n_pred + n_gold)``, precision
  ``(tp, n_pred)``, recall ``(tp, n_gold)``, token accuracy ``(right words, words)``;
- ``pair_stats`` (mining, BUCC): one row per pair in (mined ∪ gold) with ``prediction``/``label`` in
  {0, 1} → the same counts over pairs. Resampling pairs treats each candidate pair as an example (an
  approximation: mined pairs compete for sentences).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

Row = dict[str, Any]
Fractions = tuple[list[float], list[float]]
Reducer = Callable[[Sequence[Row], str], Fractions | None]
"""(prediction rows, metric) → per-example (numerators, denominators), or None for an unknown metric."""


def accuracy_stats(rows: Sequence[Row], metric: str) -> Fractions | None:
    if metric != "accuracy":
        return None
    return [float(r["correct"]) for r in rows], [1.0] * len(rows)


def qa_stats(rows: Sequence[Row], metric: str) -> Fractions | None:
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


def tagging_stats(rows: Sequence[Row], metric: str) -> Fractions | None:
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


def pair_stats(rows: Sequence[Row], metric: str) -> Fractions | None:
    num, den = [], []
    for r in rows:
        mined, gold = int(r["prediction"]) == 1, int(r["label"]) == 1
        pair = _counts(float(mined and gold), float(mined), float(gold), metric)
        if pair is None:
            return None
        num.append(pair[0])
        den.append(pair[1])
    return num, den
