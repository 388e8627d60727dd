"""Task kinds by name. Light on purpose: the catalogue validates against it without importing torch."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.kinds.base import TaskKind


@dataclass(frozen=True)
class KindInfo:
    name: str
    module: str
    required_columns: tuple[str, ...]
    needs_labels: bool
    trains: bool
    description: str
    metrics: tuple[str, ...] = ("accuracy",)  # the keys its ``score`` returns: allowed main_metric/metrics


KINDS: dict[str, KindInfo] = {
    info.name: info
    for info in (
        KindInfo(
            "classification",
            "harness.kinds.classification",
            ("text", "label"),
            needs_labels=True,
            trains=True,
            description="sequence or sequence-pair classification (columns text[, text_pair], label)",
        ),
        KindInfo(
            "multiple_choice",
            "harness.kinds.multiple_choice",
            ("question", "choices", "label"),
            needs_labels=False,
            trains=True,
            description="one question, N choices, one correct (columns question, choices, label)",
        ),
        KindInfo(
            "tagging",
            "harness.kinds.tagging",
            ("tokens", "tags"),
            needs_labels=True,
            trains=True,
            description="token tagging, first sub-token labelled, long sentences windowed (columns tokens, tags)",
            metrics=("f1", "precision", "recall", "accuracy"),
        ),
        KindInfo(
            "extractive_qa",
            "harness.kinds.extractive_qa",
            ("context", "question", "answers"),
            needs_labels=False,
            trains=True,
            description="extractive QA over doc-stride windows, n-best spans (columns context, question, answers)",
            metrics=("exact_match", "f1", "em_f1_mean"),
        ),
        KindInfo(
            "mining",
            "harness.kinds.mining",
            ("source", "target"),
            needs_labels=False,
            trains=False,
            description="bitext mining (BUCC): ratio-margin scores, threshold chosen on gold dev pairs",
            metrics=("f1", "precision", "recall"),
        ),
        KindInfo(
            "masked_lm",
            "harness.kinds.masked_lm",
            ("text",),
            needs_labels=False,
            trains=True,
            description="masked-LM on unlabelled text (column text): an intermediate objective, masked-token accuracy",
        ),
        KindInfo(
            "retrieval",
            "harness.kinds.retrieval",
            ("source", "target"),
            needs_labels=False,
            trains=False,
            description="parallel sentence retrieval xx→en by pooled hidden states (columns source, target)",
        ),
    )
}


def kind_info(name: str) -> KindInfo:
    try:
        return KINDS[name]
    except KeyError:
        raise HarnessError(f"unknown task kind {name!r}", field="kind", allowed=sorted(KINDS)) from None


def get_kind(name: str) -> TaskKind:
    """The kind's implementation (imports torch and transformers)."""
    module = importlib.import_module(kind_info(name).module)
    return module.KIND
