"""Per-example metrics of the exported lm-eval tasks (``process_results: !function xh_metrics.<fn>``).

This file is copied as it is into every exported task folder, which must run with only lm-eval installed:
it imports the standard library and nothing else (no harness, no numpy). The harness's own scores come
from ``harness.scoring.qa``; a property test holds the two to the same per-example numbers.

- ``multiple_choice``: ``acc`` (the choice with the highest log-likelihood, the first on ties, is the
  gold one), as lm-eval's own multiple-choice accuracy; ``xh_main`` repeats it.
- ``qa_squad`` / ``qa_mlqa``: ``exact_match`` and ``f1`` (0..1, the best over the gold answers) after the
  official SQuAD v1.1 normalisation, or MLQA's normalisation for the document's ``language`` (lower case,
  Unicode punctuation out, the language's articles out, Chinese split per ideograph);
  ``em_f1_mean`` = ``xh_main`` = their mean (the harness's QA task score, per example).
"""

from __future__ import annotations

import re
import string
import sys
import unicodedata
from collections import Counter

_ASCII_PUNCT = frozenset(string.punctuation)
_EN_ARTICLES = re.compile(r"\b(a|an|the)\b")
_MLQA_ARTICLES = {
    "en": _EN_ARTICLES,
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "hi": None,
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    # MLQA's pattern "\\sال^|ال" can only ever match its second branch: every "ال" goes, inside words too
    "ar": re.compile("ال"),
    "zh": None,
}
_IDEOGRAPH = re.compile("[\u4e00-\u9fa5]")
_PUNCT_CACHE: list[frozenset[str]] = []


def _unicode_punct() -> frozenset[str]:
    if not _PUNCT_CACHE:
        marks = {chr(c) for c in range(sys.maxunicode) if unicodedata.category(chr(c)).startswith("P")}
        _PUNCT_CACHE.append(frozenset(marks) | _ASCII_PUNCT)
    return _PUNCT_CACHE[0]


def normalize_squad(text: str) -> str:
    kept = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCT)
    return " ".join(_EN_ARTICLES.sub(" ", kept).split())


def _segment_mixed(text: str, punct: frozenset[str]) -> list[str]:
    out: list[str] = []
    pending = ""
    for ch in text:
        if _IDEOGRAPH.match(ch) or ch in punct:
            out.extend(pending.split())
            pending = ""
            out.append(ch)
        else:
            pending += ch
    out.extend(pending.split())
    return out


def normalize_mlqa(text: str, language: str) -> str:
    if language not in _MLQA_ARTICLES:
        raise ValueError(f"MLQA normalisation has no language {language!r}")
    punct = _unicode_punct()
    kept = "".join(ch for ch in text.lower() if ch not in punct)
    articles = _MLQA_ARTICLES[language]
    if articles is not None:
        kept = articles.sub(" ", kept)
    pieces = _segment_mixed(kept, punct) if language == "zh" else kept.split()
    return " ".join(p for p in pieces if p.strip())


def _f1(pred: list[str], gold: list[str]) -> float:
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def best_em_f1(normalized_pred: str, normalized_golds: list[str]) -> tuple[float, float]:
    if not normalized_golds:
        raise ValueError("a question without gold answers cannot be scored")
    exact = max(float(normalized_pred == g) for g in normalized_golds)
    f1 = max(_f1(normalized_pred.split(), g.split()) for g in normalized_golds)
    return exact, f1


def _qa(exact: float, f1: float) -> dict[str, float]:
    mean = (exact + f1) / 2
    return {"exact_match": exact, "f1": f1, "em_f1_mean": mean, "xh_main": mean}


def _generated(results: list) -> str:
    out = results[0] if results else ""
    return out if isinstance(out, str) else str(out)


def qa_squad(doc: dict, results: list) -> dict[str, float]:
    pred = normalize_squad(_generated(results))
    return _qa(*best_em_f1(pred, [normalize_squad(a) for a in doc["answers"]]))


def qa_mlqa(doc: dict, results: list) -> dict[str, float]:
    language = doc["language"]
    pred = normalize_mlqa(_generated(results), language)
    return _qa(*best_em_f1(pred, [normalize_mlqa(a, language) for a in doc["answers"]]))


def multiple_choice(doc: dict, results: list) -> dict[str, float]:
    scores = [r[0] for r in results]
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    acc = float(best == int(doc["label"]))
    return {"acc": acc, "xh_main": acc}
