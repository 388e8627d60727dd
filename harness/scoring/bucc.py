"""BUCC 2018 bitext-mining metrics, as XTREME computes them.

``bucc_scores`` is the official ``evaluate.py::bucc_f1``: gold and predicted lines (``xx-id<TAB>en-id``)
become *sets* of tab-split tuples, so a repeated line counts once; precision, recall and F1 are
percentages and all three are 0 when nothing is correct. Lines are ``strip()``-ed first, as the
official ``read_label`` does when it reads the two files (a blank line therefore stays a line, ``('',)``,
exactly as in the official scorer).

``best_threshold`` is XTREME's ``utils_retrieve.bucc_optimize``: walk the candidates from the highest
margin down and keep the cut with the best F1 against the gold pairs; the threshold is the midpoint
between the last kept and the first dropped score, and pairs are then extracted with ``score >= threshold``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

import numpy as np


def pair_line(src_id: str, tgt_id: str) -> str:
    """One submission line (without the newline): ``xx-id<TAB>en-id``."""
    return f"{src_id}\t{tgt_id}"


def _pair_set(lines: Iterable[str]) -> set[tuple[str, ...]]:
    return {tuple(line.strip().split("\t")) for line in lines}


def prf(ncorrect: float, npredicted: int, ngold: int) -> tuple[float, float, float]:
    """(precision, recall, F1) as fractions; all zero when nothing is correct (``ncorrect`` may be expected)."""
    if ncorrect <= 0:
        return 0.0, 0.0, 0.0
    precision = ncorrect / npredicted
    recall = ncorrect / ngold
    return precision, recall, 2 * precision * recall / (precision + recall)


def bucc_scores(gold_lines: list[str], pred_lines: list[str]) -> dict[str, float]:
    """``{"f1", "precision", "recall"}`` in percent, exactly as the official ``bucc_f1``."""
    gold = _pair_set(gold_lines)
    predicted = _pair_set(pred_lines)
    precision, recall, f1 = prf(len(gold & predicted), len(predicted), len(gold))
    return {"f1": f1 * 100, "precision": precision * 100, "recall": recall * 100}


def best_threshold(
    scores: Sequence[float],
    candidate_pairs: Sequence[tuple[str, str]],
    gold_pairs: Collection[tuple[str, str]],
) -> tuple[float, float]:
    """The F1-maximising threshold over scored candidate pairs, and that F1 in percent.

    Candidates are ranked by descending score; every cut between two *distinct* scores is tried (the
    official loop also tries cuts inside a run of equal scores, which ``score >= threshold`` can never
    realise; on untied scores the two agree). The first cut reaching the best F1 wins, and the
    threshold is the midpoint between the lowest kept score and the next one (the lowest kept score
    itself when everything is kept). With no correct candidate at all the threshold is 0.0 and the
    F1 0.0, as in the official code. Recall is over *all* gold pairs, reachable or not.
    """
    if len(scores) != len(candidate_pairs):
        raise ValueError(f"{len(scores)} scores for {len(candidate_pairs)} candidate pairs")
    gold = {tuple(p) for p in gold_pairs}
    if not len(scores) or not gold:
        return 0.0, 0.0
    values = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-values, kind="stable")
    ranked = values[order]
    hits = np.fromiter((tuple(candidate_pairs[i]) in gold for i in order), dtype=bool, count=len(order))
    ncorrect = np.cumsum(hits)
    nextract = np.arange(1, len(ranked) + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(ncorrect > 0, 2 * ncorrect / (nextract + len(gold)), 0.0)
    cut_allowed = np.append(ranked[1:] < ranked[:-1], True)  # last of a run of equal scores
    f1 = np.where(cut_allowed, f1, -1.0)
    best = int(np.argmax(f1))
    if f1[best] <= 0:
        return 0.0, 0.0
    threshold = ranked[best] if best == len(ranked) - 1 else (ranked[best] + ranked[best + 1]) / 2
    return float(threshold), float(f1[best] * 100)
