"""The metric names each kind declares (what main_metric may be) are exactly the keys its scorer returns."""

from __future__ import annotations

import pytest

from harness.kinds.base import Prediction
from harness.kinds.registry import KINDS, get_kind


@pytest.mark.parametrize("kind", ["classification", "multiple_choice", "retrieval", "masked_lm"])
def test_accuracy_kinds_score_what_they_declare(kind: str) -> None:
    predictions = [Prediction("a", 1, 1, 1.0), Prediction("b", 0, 1, 0.0)]
    assert set(get_kind(kind).score(predictions, None)) == set(KINDS[kind].metrics)  # type: ignore[arg-type]


def test_tagging_qa_and_mining_scorers_return_what_they_declare() -> None:
    from harness.kinds.extractive_qa import mean_scores
    from harness.kinds.tagging import tagging_scores
    from harness.scoring.bucc import bucc_scores

    assert set(tagging_scores([["B-PER", "O"]], [["B-PER", "O"]])) == set(KINDS["tagging"].metrics)
    assert set(mean_scores([1.0], [0.5])) == set(KINDS["extractive_qa"].metrics)
    assert set(bucc_scores(["a\tb"], ["a\tb"])) == set(KINDS["mining"].metrics)
