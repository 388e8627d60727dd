"""Tagging metrics exactly as XTREME's official ``evaluate.py`` computes them (UD-POS and PAN-X).

The official scorer calls seqeval's ``f1_score``, ``precision_score`` and ``recall_score`` with their
default settings (micro average, conlleval-compatible chunking, no strict scheme) on lists of tag lists
and multiplies by 100. It does this for PAN-X (BIO entities) *and* for UD-POS. seqeval reads the first
character of a tag as its chunk prefix and the rest (after an optional ``-``) as its type, so a bare UPOS
tag such as ``NOUN`` is read as prefix ``N``, type ``OUN``: a run of identical neighbouring tags becomes
one "chunk", and the UD-POS "F1" is an F1 over maximal runs of equal tags, not token accuracy (the tags
starting with ``S``/``I`` - SCONJ, SYM, INTJ - follow seqeval's singleton/inside rules, and CCONJ/SCONJ
share the type ``CONJ``). We reproduce that number as it is, because it is the number XTREME reports.

An input with no chunk at all (e.g. every tag ``O``) scores 0 for precision, recall and F1: seqeval's
default ``zero_division="warn"`` returns 0 there, and so does the official scorer.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

from seqeval.metrics import f1_score, precision_score, recall_score

from harness.errors import HarnessError


def _as_lists(sentences: Sequence[Sequence[str]]) -> list[list[str]]:
    """Plain lists of strings: seqeval only splits sentences apart when they are ``list`` objects."""
    return [[str(tag) for tag in sentence] for sentence in sentences]


def _check_aligned(labels: list[list[str]], predictions: list[list[str]]) -> None:
    if len(labels) != len(predictions):
        raise HarnessError(
            f"{len(predictions)} predicted sentences but {len(labels)} gold sentences; they must align"
        )
    for index, (gold, pred) in enumerate(zip(labels, predictions, strict=True)):
        if len(gold) != len(pred):
            raise HarnessError(
                f"sentence {index}: {len(pred)} predicted tags but {len(gold)} gold tags; they must align"
            )


def seqeval_scores(labels: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]]) -> dict[str, float]:
    """``{"f1", "precision", "recall"}`` in percent, as XTREME's ``evaluate.py`` computes them.

    ``labels`` and ``predictions`` are one list of tags per sentence, aligned word by word.
    """
    gold, pred = _as_lists(labels), _as_lists(predictions)
    _check_aligned(gold, pred)
    with warnings.catch_warnings():
        # "NOUN seems not to be NE tag" for every UPOS tag, and UndefinedMetricWarning when there is
        # no chunk: both are expected here and do not change the numbers.
        warnings.simplefilter("ignore")
        f1 = f1_score(gold, pred)
        precision = precision_score(gold, pred)
        recall = recall_score(gold, pred)
    return {"f1": float(f1) * 100, "precision": float(precision) * 100, "recall": float(recall) * 100}


def read_tag_file(path: str | Path) -> list[list[str]]:
    """A submission or gold file in XTREME's tagging format, read as the official ``read_tag`` does.

    One tag per line, a blank (whitespace-only) line ends a sentence; every blank line ends one, so two
    blank lines in a row give an empty sentence; a last sentence without a blank line after it is kept.
    Lines are stripped of surrounding whitespace.
    """
    sentences: list[list[str]] = []
    current: list[str] = []
    with Path(path).open(encoding="utf-8") as handle:
        for raw in handle:
            line = raw.strip()
            if line:
                current.append(line)
            else:
                sentences.append(current)
                current = []
    if current:
        sentences.append(current)
    return sentences


def write_tag_file(path: str | Path, sentences: Sequence[Sequence[str]]) -> None:
    """The inverse of :func:`read_tag_file`: one tag per line, a blank line after every sentence."""
    lines: list[str] = []
    for sentence in sentences:
        lines.extend(str(tag) for tag in sentence)
        lines.append("")
    Path(path).write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
