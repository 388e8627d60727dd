"""How an exported task is put to a prompted model: the prompt and the choices (or the generation) per family.

Where lm-eval 0.4 has its own formulation of a family, the export follows it word for word so numbers are
comparable with lm-eval's own tasks (the words below are lm-eval's, per language; a test renders lm-eval's
installed YAMLs and compares):

- ``xnli``: no prompt; choice i is ``premise + ", <right>? <Yes|Also|No>, " + hypothesis`` in the
  language's words (lm-eval ``xnli_<lang>``);
- ``pawsx``: choice i is ``s1 + ", <right>? <No|Yes>, " + s2`` after lm-eval's clean-up of the pair
  (detokenised, final . , ; of the first sentence dropped, the second's first letter lower-cased), target
  delimiter "" (lm-eval ``paws_<lang>``); English words for PAWS-QQP;
- ``sib200``: AfroBench's SIB prompt 1 (``Given the categories ...; what category does the text: '...'
  belong to:``), the seven category names as choices (lm-eval ``sib_<lang>_prompt_1``);
- extractive QA: ``Context: ...\\n\\nQuestion: ...\\n\\nAnswer:``, greedy until a newline (lm-eval
  ``xquad_<lang>`` / ``mlqa_<lang>_<lang>``), scored by ``xh_metrics`` with the official normalisation.

Every other classification or multiple-choice target gets a plain harness formulation (said so in its
metadata). Rendering happens at export time: each document carries its ``prompt`` and ``choices``, so the
task YAMLs hold no language-specific template.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

HARNESS_PLAIN = "harness (no lm-eval prompt for this family)"

# lm-eval xnli/utils.py LANGUAGES: question word, then the entailment / neutral / contradiction words
XNLI_WORDS: dict[str, tuple[str, str, str, str]] = {
    "ar": ("صحيح", "نعم", "لذا", "رقم"),
    "bg": ("правилно", "да", "така", "не"),
    "de": ("richtig", "Ja", "Auch", "Nein"),
    "el": ("σωστός", "Ναί", "Έτσι", "όχι"),
    "en": ("right", "Yes", "Also", "No"),
    "es": ("correcto", "Sí", "Asi que", "No"),
    "fr": ("correct", "Oui", "Aussi", "Non"),
    "hi": ("सही", "हाँ", "इसलिए", "नहीं"),
    "ru": ("правильно", "Да", "Так", "Нет"),
    "sw": ("sahihi", "Ndiyo", "Hivyo", "Hapana"),
    "th": ("ถูกต้อง", "ใช่", "ดังนั้น", "ไม่"),
    "tr": ("doğru", "Evet", "Böylece", "Hayır"),
    "ur": ("صحیح", "جی ہاں", "اس لئے", "نہیں"),
    "vi": ("đúng", "Vâng", "Vì vậy", "Không"),
    "zh": ("正确", "是的", "所以", "不是的"),
}

# lm-eval paws-x: question word, then the "not a paraphrase" / "paraphrase" words
PAWSX_WORDS: dict[str, tuple[str, str, str]] = {
    "de": ("richtig", "Nein", "Ja"),
    "en": ("right", "No", "Yes"),
    "es": ("verdad", "No", "Sí"),
    "fr": ("n'est-ce pas", "Non", "Oui"),
    "ja": ("ですね", "いいえ", "はい"),
    "ko": ("맞죠", "아니요", "예"),
    "zh": ("对吧", "不是", "是"),
}

SIB_LABELS = ["science/technology", "travel", "politics", "sports", "health", "entertainment", "geography"]
SIB_PROMPT = (
    "Given the categories science/technology, travel, politics, sports, health, entertainment, or "
    "geography; what category does the text: '{text}' belong to: \n\n"
)


@dataclass(frozen=True)
class Formulation:
    """``render(row, language)`` → the document's prompt fields (``prompt`` and, for choices, ``choices``)."""

    name: str  # said in HarnessMeta.formulation and the manifest
    output_type: str  # "multiple_choice" | "generate_until"
    target_delimiter: str
    render: Callable[[Mapping[str, Any], str], dict[str, Any]]


# ---- lm-eval's PAWS-X clean-up, re-implemented --------------------------------------------------------


def _detokenize(text: str) -> str:
    for spaced, joined in ((" n't", "n't"), (" )", ")"), ("( ", "("), ('" ', '"'), (' "', '"')):
        text = text.replace(spaced, joined)
    return re.sub(r" (['.,])", r"\1", text)


def pawsx_pair(first: str, second: str) -> tuple[str, str]:
    """The pair as lm-eval's PAWS-X prompt shows it (an empty side is left as it is)."""
    if not first or not second:
        return first, second
    first, second = _detokenize(first).strip(), _detokenize(second).strip()
    if first.endswith((".", ",", ";")):
        first = first[:-1]
    second = second[:1].lower() + second[1:]
    return first, second


# ---- renderers -----------------------------------------------------------------------------------------


def _xnli(row: Mapping[str, Any], language: str) -> dict[str, Any]:
    question, *answers = XNLI_WORDS[language]
    premise, hypothesis = row["text"], row.get("text_pair") or ""
    return {"prompt": "", "choices": [f"{premise}, {question}? {a}, {hypothesis}" for a in answers]}


def _pawsx(row: Mapping[str, Any], language: str) -> dict[str, Any]:
    question, *answers = PAWSX_WORDS[language]
    first, second = pawsx_pair(row["text"], row.get("text_pair") or "")
    return {"prompt": "", "choices": [f"{first}, {question}? {a}, {second}" for a in answers]}


def _sib(row: Mapping[str, Any], language: str) -> dict[str, Any]:
    return {"prompt": SIB_PROMPT.format(text=row["text"]), "choices": list(SIB_LABELS)}


def _plain_classification(labels: list[str]) -> Callable[[Mapping[str, Any], str], dict[str, Any]]:
    def render(row: Mapping[str, Any], language: str) -> dict[str, Any]:
        pair = row.get("text_pair")
        text = f"Text: {row['text']}\n" + (f"Second text: {pair}\n" if pair else "")
        return {"prompt": f"{text}Label:", "choices": list(labels)}

    return render


def _plain_multiple_choice(row: Mapping[str, Any], language: str) -> dict[str, Any]:
    return {"prompt": f"Question: {row['question']}\nAnswer:", "choices": [str(c) for c in row["choices"]]}


def _qa(row: Mapping[str, Any], language: str) -> dict[str, Any]:
    return {"prompt": f"Context: {row['context']}\n\nQuestion: {row['question']}\n\nAnswer:"}


def formulation_for(task_name: str, kind: str, labels: list[str] | None, languages: list[str]) -> Formulation:
    """The family's lm-eval formulation when it has one for every language exported, else the plain one."""
    if kind == "extractive_qa":
        return Formulation(
            "lm-eval xquad/mlqa prompt; official EM/F1 (xh_metrics)", "generate_until", " ", _qa
        )
    if kind == "multiple_choice":
        return Formulation(HARNESS_PLAIN, "multiple_choice", " ", _plain_multiple_choice)
    assert kind == "classification", kind
    known = set(languages)
    if (
        task_name == "xnli"
        and labels == ["entailment", "neutral", "contradiction"]
        and known <= set(XNLI_WORDS)
    ):
        return Formulation("lm-eval xnli", "multiple_choice", " ", _xnli)
    if task_name == "pawsx" and labels == ["0", "1"] and known <= set(PAWSX_WORDS):
        return Formulation("lm-eval paws-x", "multiple_choice", "", _pawsx)
    if task_name == "sib200" and labels == SIB_LABELS:
        return Formulation("lm-eval afrobench sib prompt_1", "multiple_choice", " ", _sib)
    return Formulation(HARNESS_PLAIN, "multiple_choice", " ", _plain_classification(list(labels or [])))
