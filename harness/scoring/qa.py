"""The official extractive-QA metrics: SQuAD v1.1 and MLQA exact match and token F1.

Both reproduce the scripts XTREME's ``evaluate.py`` calls (``third_party/evaluate_squad.py`` and
``third_party/evaluate_mlqa.py``), written afresh here. The ``*_evaluate`` functions return PERCENT,
as the official scripts do; the per-pair functions return 0..1.

What the official scripts do, including their quirks, and what this module keeps:

- Normalisation order: lower case → remove punctuation → remove articles → re-join whitespace tokens.
  SQuAD removes ASCII ``string.punctuation`` and the English articles a/an/the. MLQA removes every
  Unicode punctuation character (category P*) plus ASCII punctuation, the articles of the answer's
  language, and for ``zh`` splits every CJK ideograph in U+4E00–U+9FA5 into its own token ("mixed
  segmentation"); the other MLQA languages are split on whitespace. Any other language is an error.
- Arabic articles: the official pattern ``\\sال^|ال`` has a first alternative that can never match
  (``^`` after three characters), so it removes *every* occurrence of "ال", also inside words,
  splitting the word there. Kept as is.
- F1 is 0 when prediction and gold share no token, including when *both* normalise to nothing:
  gold "the" and prediction "a" have EM 1 but F1 0.
- ``evaluate``: every question counts in the total; a question without a prediction scores 0;
  prediction ids that are not questions are ignored; the best score over the gold answers counts.
  A question without gold answers makes the official script crash (``max()`` of nothing), and a
  dataset without questions divides by zero: both are a ``ValueError`` here.
"""

from __future__ import annotations

import re
import string
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

Normalizer = Callable[[str], str]

SQUAD_PUNCTUATION = frozenset(string.punctuation)
SQUAD_ARTICLES = re.compile(r"\b(a|an|the)\b")

MLQA_ARTICLES: dict[str, re.Pattern[str] | None] = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "hi": None,  # no articles
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "ar": re.compile("ال"),  # every occurrence, as the official pattern effectively does (see above)
    "zh": None,  # no articles
}
MLQA_WHITESPACE_LANGUAGES = frozenset({"en", "es", "hi", "vi", "de", "ar"})
MLQA_MIXED_SEGMENTATION_LANGUAGES = frozenset({"zh"})
MLQA_LANGUAGES = tuple(sorted(MLQA_WHITESPACE_LANGUAGES | MLQA_MIXED_SEGMENTATION_LANGUAGES))
CJK_IDEOGRAPH = re.compile("[\u4e00-\u9fa5]")


@lru_cache(maxsize=1)
def mlqa_punctuation() -> frozenset[str]:
    """Every code point below ``sys.maxunicode`` whose category starts with P, plus ASCII punctuation."""
    unicode_punct = (chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P"))
    return frozenset(unicode_punct) | SQUAD_PUNCTUATION


# ---- SQuAD v1.1 ----------------------------------------------------------------------------------


def normalize_squad(text: str) -> str:
    """Lower case, drop ASCII punctuation, drop a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in SQUAD_PUNCTUATION)
    text = SQUAD_ARTICLES.sub(" ", text)
    return " ".join(text.split())


def squad_exact(pred: str, gold: str) -> float:
    return exact_after(normalize_squad, pred, gold)


def squad_f1(pred: str, gold: str) -> float:
    return f1_after(normalize_squad, pred, gold)


def squad_evaluate(articles: list[dict], predictions: dict[str, str]) -> dict[str, float]:
    """``evaluate_squad.evaluate(dataset, predictions)``: ``{"exact_match", "f1"}`` in percent."""
    return evaluate_with(normalize_squad, articles, predictions)


# ---- MLQA ----------------------------------------------------------------------------------------


def _check_mlqa_language(lang: str) -> None:
    if lang not in MLQA_ARTICLES:
        raise ValueError(
            f"MLQA normalisation knows no language {lang!r} (it knows {', '.join(MLQA_LANGUAGES)})"
        )


def mixed_segmentation(text: str) -> list[str]:
    """Each CJK ideograph (U+4E00–U+9FA5) or punctuation mark is a token; runs of anything else are
    split on whitespace."""
    punctuation = mlqa_punctuation()
    tokens: list[str] = []
    run: list[str] = []
    for ch in text:
        if CJK_IDEOGRAPH.match(ch) or ch in punctuation:
            tokens.extend("".join(run).split())
            run.clear()
            tokens.append(ch)
        else:
            run.append(ch)
    tokens.extend("".join(run).split())
    return tokens


def normalize_mlqa(text: str, lang: str) -> str:
    """MLQA's normalisation for the answer language ``lang`` (one of en es hi vi de ar zh)."""
    _check_mlqa_language(lang)
    punctuation = mlqa_punctuation()
    text = "".join(ch for ch in text.lower() if ch not in punctuation)
    articles = MLQA_ARTICLES[lang]
    if articles is not None:
        text = articles.sub(" ", text)
    tokens = mixed_segmentation(text) if lang in MLQA_MIXED_SEGMENTATION_LANGUAGES else text.split()
    return " ".join(t for t in tokens if t.strip())


def mlqa_exact(pred: str, gold: str, lang: str) -> float:
    return exact_after(mlqa_normalizer(lang), pred, gold)


def mlqa_f1(pred: str, gold: str, lang: str) -> float:
    return f1_after(mlqa_normalizer(lang), pred, gold)


def mlqa_evaluate(articles: list[dict], predictions: dict[str, str], lang: str) -> dict[str, float]:
    """``evaluate_mlqa.evaluate(dataset, predictions, lang)``: ``{"exact_match", "f1"}`` in percent."""
    return evaluate_with(mlqa_normalizer(lang), articles, predictions)


def mlqa_normalizer(lang: str) -> Normalizer:
    _check_mlqa_language(lang)
    return lambda text: normalize_mlqa(text, lang)


# ---- shared --------------------------------------------------------------------------------------


def normalizer_for(style: str, lang: str | None = None) -> Normalizer:
    """``"squad"`` (language-blind) or ``"mlqa"`` (needs the answer language)."""
    if style == "squad":
        return normalize_squad
    if style == "mlqa":
        if not lang:
            raise ValueError("MLQA normalisation needs the answer language")
        return mlqa_normalizer(lang)
    raise ValueError(f"unknown QA metric style {style!r} (squad or mlqa)")


def exact_after(normalize: Normalizer, pred: str, gold: str) -> float:
    return float(normalize(pred) == normalize(gold))


def f1_after(normalize: Normalizer, pred: str, gold: str) -> float:
    return token_f1(normalize(pred).split(), normalize(gold).split())


def token_f1(pred_tokens: Sequence[str], gold_tokens: Sequence[str]) -> float:
    """Bag-of-tokens F1; 0 when nothing is shared (also when both sides are empty)."""
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def best_over_golds(normalize: Normalizer, pred: str, golds: Sequence[str]) -> tuple[float, float]:
    """(EM, F1) of one prediction: each the maximum over the gold answers (taken independently)."""
    if not golds:
        raise ValueError("a question without gold answers cannot be scored")
    norm_pred = normalize(pred)
    pred_tokens = norm_pred.split()
    norm_golds = [normalize(g) for g in golds]
    exact = max(float(norm_pred == g) for g in norm_golds)
    f1 = max(token_f1(pred_tokens, g.split()) for g in norm_golds)
    return exact, f1


def evaluate_with(
    normalize: Normalizer, articles: Iterable[Mapping[str, Any]], predictions: Mapping[str, str]
) -> dict[str, float]:
    exact_sum = f1_sum = 0.0
    total = 0
    for article in articles:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                if qa["id"] not in predictions:
                    continue  # unanswered: scores 0 but still counts
                golds = [answer["text"] for answer in qa["answers"]]
                if not golds:
                    raise ValueError(f"question {qa['id']!r} has no gold answers")
                exact, f1 = best_over_golds(normalize, predictions[qa["id"]], golds)
                exact_sum += exact
                f1_sum += f1
    if total == 0:
        raise ValueError("the dataset has no questions")
    return {"exact_match": 100.0 * exact_sum / total, "f1": 100.0 * f1_sum / total}


def rows_to_articles(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Harness QA rows (``id``, ``context``, ``question``, ``answers{text, answer_start}``) as the
    official ``dataset`` list: one article with one paragraph per row."""
    articles = []
    for row in rows:
        answers = row["answers"]
        if isinstance(answers, Mapping):
            answers = [
                {"text": text, "answer_start": start}
                for text, start in zip(answers["text"], answers["answer_start"], strict=True)
            ]
        qa = {"id": row["id"], "question": row.get("question", ""), "answers": list(answers)}
        articles.append(
            {"title": row.get("title", ""), "paragraphs": [{"context": row["context"], "qas": [qa]}]}
        )
    return articles
