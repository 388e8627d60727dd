"""Extractive QA on the tiny BERT: doc-stride windows, offsets round trip, decoding, metric, training."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from harness.catalogue.schema import DatasetSpec, Hyperparameters, TaskSpec
from harness.errors import HarnessError
from harness.kinds.base import Prediction
from harness.kinds.extractive_qa import (
    KIND,
    QAParams,
    Window,
    best_span,
    first_sentence,
    gold_answers,
    row_normalizers,
    score_example,
    span_text,
    token_span,
)
from harness.kinds.registry import get_kind
from harness.scoring.qa import mlqa_evaluate, rows_to_articles, squad_evaluate
from harness.training.finetune import finetune

MAX_LENGTH = 32
WORDS = [f"w{i}" for i in range(60)]


def make_task(**params: Any) -> TaskSpec:
    return TaskSpec(
        name="tiny_qa",
        kind="extractive_qa",
        version=1,
        dataset=DatasetSpec(format="squad_json", path="unused.json"),
        languages=["en", "de"],
        params={"doc_stride": 8, "max_query_length": 6, **params},
    )


def make_rows() -> datasets.Dataset:
    """SQuAD-style rows over the tiny vocabulary; one context (90 words) needs many windows."""
    rng = random.Random(3)
    rows = []
    for i in range(8):
        n_words = 90 if i == 0 else rng.randint(6, 20)
        words = [rng.choice(WORDS) for _ in range(n_words)]
        context = " ".join(words)
        answers: dict[str, list] = {"text": [], "answer_start": []}
        # answers at the start, the end, and in the middle; row 0 gets three (two beyond the first window)
        spans = (
            [(n_words - 3, 3), (40, 2), (1, 1)]
            if i == 0
            else [(rng.randrange(n_words - 2), rng.randint(1, 2))]
        )
        for first, length in spans:
            start_char = len(" ".join(words[:first])) + (1 if first else 0)
            answers["text"].append(" ".join(words[first : first + length]))
            answers["answer_start"].append(start_char)
        question = " ".join(["alpha", "beta", *rng.sample(WORDS, 6 if i == 1 else 2)])  # row 1: over the cut
        rows.append(
            {"id": f"q{i}", "title": "t", "context": context, "question": question, "answers": answers}
        )
    rows.append(
        {
            "id": "q-first",
            "title": "t",
            "context": "yes no maybe . gamma beta alpha",
            "question": "gamma",
            "answers": {"text": ["yes no maybe ."], "answer_start": [0]},
        }
    )
    return datasets.Dataset.from_list(rows)


@pytest.fixture(scope="module")
def tokenizer(tiny_model: Path) -> Any:
    return AutoTokenizer.from_pretrained(tiny_model)


@pytest.fixture(scope="module")
def rows() -> datasets.Dataset:
    return make_rows()


@pytest.fixture(scope="module")
def features(rows: datasets.Dataset, tokenizer: Any) -> datasets.Dataset:
    return KIND.features(rows, tokenizer, make_task(), MAX_LENGTH)


def windows_of(features: datasets.Dataset, index: int) -> list[dict[str, Any]]:
    return [f for f in features if f["example_index"] == index]


def test_registry_returns_this_kind() -> None:
    assert get_kind("extractive_qa") is KIND


def test_rows_become_gold_answers(rows: datasets.Dataset) -> None:
    for row in rows:
        for text, start in gold_answers(row["answers"]):
            assert row["context"][start : start + len(text)] == text


def test_long_context_is_split_into_overlapping_windows(features: datasets.Dataset, tokenizer: Any) -> None:
    windows = windows_of(features, 0)
    assert len(windows) >= 5
    assert all(f["length"] <= MAX_LENGTH for f in features)
    assert [w["doc_start"] for w in windows] == [8 * k for k in range(len(windows))]


def test_doc_start_is_the_position_in_the_whole_context(
    rows: datasets.Dataset, features: datasets.Dataset, tokenizer: Any
) -> None:
    """Window k's context tokens are tokens k × doc_stride … of the context tokenised alone."""
    for index, row in enumerate(rows):
        whole = tokenizer(row["context"], add_special_tokens=False, return_offsets_mapping=True)[
            "offset_mapping"
        ]
        covered = set()
        for window in windows_of(features, index):
            context = [o for o in window["offset_mapping"] if o[0] >= 0]
            start = window["doc_start"]
            assert [list(o) for o in whole[start : start + len(context)]] == context
            covered.update(range(start, start + len(context)))
        assert covered == set(range(len(whole)))  # no context token is lost


def test_question_is_cut_to_max_query_length(features: datasets.Dataset, tokenizer: Any) -> None:
    for window in windows_of(features, 1):
        first_sep = window["input_ids"].index(tokenizer.sep_token_id)
        assert first_sep - 1 == 6  # [CLS] + 6 question tokens, then [SEP]


def test_every_gold_answer_is_recoverable_from_some_window(
    rows: datasets.Dataset, features: datasets.Dataset
) -> None:
    for index, row in enumerate(rows):
        windows = windows_of(features, index)
        for text, start in gold_answers(row["answers"]):
            recovered = []
            for window in windows:
                span = token_span(window["offset_mapping"], start, start + len(text))
                if span is not None:
                    recovered.append(span_text(row["context"], window["offset_mapping"], *span))
            assert recovered and all(r == text for r in recovered), (row["id"], text)


def test_training_labels_point_at_the_first_answer_or_cls(
    rows: datasets.Dataset, features: datasets.Dataset
) -> None:
    for index, row in enumerate(rows):
        text = row["answers"]["text"][0]
        labelled = 0
        for window in windows_of(features, index):
            start, end = window["start_positions"], window["end_positions"]
            if start == 0:
                assert end == 0  # CLS: the answer is not wholly in this window
                continue
            labelled += 1
            assert span_text(row["context"], window["offset_mapping"], start, end) == text
        assert labelled >= 1


def test_collator_pads_and_drops_bookkeeping(features: datasets.Dataset, tokenizer: Any) -> None:
    items = features.select(range(4)).to_list()
    batch = KIND.collator(tokenizer)(items)
    assert set(batch) <= {"input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions"}
    assert {"start_positions", "end_positions"} <= set(batch)
    assert batch["input_ids"].shape == (4, max(len(i["input_ids"]) for i in items))
    inference = KIND.collator(tokenizer, keep_labels=False)(items)
    assert "start_positions" not in inference and "offset_mapping" not in inference


def test_best_span_rules() -> None:
    """Only context tokens, end ≥ start, at most max_answer_length tokens, best start + end logit."""
    context = "aa bb cc dd ee"
    offsets = [[-1, -1], [-1, -1], [0, 2], [3, 5], [6, 8], [9, 11], [12, 14], [-1, -1]]
    start = np.array([9.0, 9.0, 0.0, 3.0, 0.0, 0.0, 0.0, 9.0])  # question/special tokens score high
    end = np.array([9.0, 9.0, 0.0, 0.0, 1.0, 2.0, 0.0, 9.0])
    windows = [Window(offsets, start, end, 0)]
    params = QAParams(max_answer_length=30)
    assert best_span(context, windows, params) == "bb cc dd"
    assert best_span(context, windows, QAParams(max_answer_length=2)) == "bb cc"
    backwards = [Window(offsets, end, start, 0)]  # best start after best end: next best pair wins
    assert best_span(context, backwards, params) != ""
    assert best_span(context, [Window([[-1, -1]], np.zeros(1), np.zeros(1), 0)], params) == ""


def test_best_span_keeps_a_start_only_in_its_max_context_window() -> None:
    context = "aa bb cc dd"
    # window 0 holds tokens 0-2 (aa bb cc), window 1 tokens 1-3 (bb cc dd); "bb" has its max context in
    # window 0 (min(1, 1) vs min(0, 2)), "cc" in window 1
    w0 = Window([[0, 2], [3, 5], [6, 8]], np.array([0.0, 5.0, 0.0]), np.array([0.0, 5.0, 0.0]), 0)
    w1 = Window([[3, 5], [6, 8], [9, 11]], np.array([9.0, 0.0, 0.0]), np.array([0.0, 0.0, 9.0]), 1)
    # without the rule w1's "bb cc dd" (9 + 9) would win; its start "bb" has more context in w0
    assert best_span(context, [w0, w1], QAParams()) == "bb"


def test_predict_and_score_match_the_official_evaluate(
    tiny_model: Path, rows: datasets.Dataset, features: datasets.Dataset, tokenizer: Any
) -> None:
    task = make_task()
    torch.manual_seed(0)
    model = KIND.load_model(str(tiny_model), task)
    predictions = KIND.predict(model, features, rows, task, tokenizer, 4, "fp32")
    assert [p.id for p in predictions] == rows["id"]
    for prediction, row in zip(predictions, rows, strict=True):
        assert prediction.prediction in row["context"]
        assert prediction.label == row["answers"]["text"]
        assert prediction.correct in (0.0, 1.0) and 0.0 <= prediction.extra["f1"] <= 1.0
    scores = KIND.score(predictions, task)
    official = squad_evaluate(rows_to_articles(rows), {p.id: p.prediction for p in predictions})
    assert scores["exact_match"] == pytest.approx(official["exact_match"] / 100)
    assert scores["f1"] == pytest.approx(official["f1"] / 100)
    assert scores["em_f1_mean"] == pytest.approx((scores["exact_match"] + scores["f1"]) / 2)


def test_gold_predictions_score_one() -> None:
    """Score equals the official script when predictions are exactly right (and partly right)."""
    rows = make_rows()
    task = make_task()
    normalizers = row_normalizers(rows, task, QAParams.from_task(task), None)
    texts = [row["answers"]["text"][0] if i % 2 else row["context"][:5] for i, row in enumerate(rows)]
    predictions = []
    for row, text, normalize in zip(rows, texts, normalizers, strict=True):
        em, f1 = score_example(normalize, text, row["answers"], row["id"])
        predictions.append(Prediction(row["id"], text, row["answers"]["text"], em, {"f1": f1}))
    scores = KIND.score(predictions, task)
    official = squad_evaluate(rows_to_articles(rows), {p.id: p.prediction for p in predictions})
    assert scores["exact_match"] == pytest.approx(official["exact_match"] / 100)
    assert scores["f1"] == pytest.approx(official["f1"] / 100)


def test_mlqa_style_takes_the_language_and_matches_mlqa_evaluate(
    tiny_model: Path, rows: datasets.Dataset, features: datasets.Dataset, tokenizer: Any
) -> None:
    model = KIND.load_model(str(tiny_model), make_task())
    task = make_task(metric_style="mlqa")
    with pytest.raises(HarnessError, match="language"):
        KIND.predict(model, features, rows, task, tokenizer, 4, "fp32")
    by_argument = KIND.predict(model, features, rows, task, tokenizer, 4, "fp32", language="de")
    by_column = KIND.predict(
        model, features, rows.add_column("language", ["de"] * len(rows)), task, tokenizer, 4, "fp32"
    )
    by_params = KIND.predict(
        model, features, rows, make_task(metric_style="mlqa", language="de"), tokenizer, 4, "fp32"
    )
    assert by_argument == by_column == by_params
    scores = KIND.score(by_argument, task)
    official = mlqa_evaluate(rows_to_articles(rows), {p.id: p.prediction for p in by_argument}, "de")
    assert scores["exact_match"] == pytest.approx(official["exact_match"] / 100)
    assert scores["f1"] == pytest.approx(official["f1"] / 100)
    with pytest.raises(HarnessError, match="ko"):
        KIND.predict(model, features, rows, task, tokenizer, 4, "fp32", language="ko")


def test_bad_params_are_named() -> None:
    with pytest.raises(HarnessError, match="doc_stride"):
        QAParams.from_task(make_task(doc_stride=0))
    with pytest.raises(HarnessError, match="metric_style"):
        QAParams.from_task(make_task(metric_style="bleu"))


@pytest.mark.parametrize(
    ("context", "sentence"),
    [
        ("Paris is big. It has 2 million people.", "Paris is big."),
        ("  Leading space! Then more.", "Leading space!"),
        ("北京是首都。上海很大。", "北京是首都。"),
        ("Line one\nline two. Three", "Line one"),
        ("v1.2 is a version number without an end", "v1.2 is a version number witho"),  # 30 chars
        ("", ""),
    ],
)
def test_first_sentence(context: str, sentence: str) -> None:
    assert first_sentence(context) == sentence


def test_baseline_is_the_first_sentence_scored_like_the_model(rows: datasets.Dataset) -> None:
    task = make_task()
    baseline = KIND.baseline(None, rows, task)
    assert baseline.name == "first sentence of the context"
    official = squad_evaluate(rows_to_articles(rows), {r["id"]: first_sentence(r["context"]) for r in rows})
    assert baseline.scores["exact_match"] == pytest.approx(official["exact_match"] / 100)
    assert baseline.scores["f1"] == pytest.approx(official["f1"] / 100)
    assert baseline.scores["exact_match"] > 0  # the "q-first" row is answered by its first sentence


def test_a_tiny_training_run(tiny_model: Path, features: datasets.Dataset, tokenizer: Any) -> None:
    task = make_task()
    model = KIND.load_model(str(tiny_model), task)
    hp = Hyperparameters(learning_rate=1e-3, epochs=1, batch_size=4, max_length=MAX_LENGTH, max_steps=2)
    outcome = finetune(model, features, KIND.collator(tokenizer), hp, seed=1)
    assert outcome.steps == 2


def test_a_parent_trained_as_a_seven_way_classifier_gets_a_start_end_head(
    tiny_model: Path, tmp_path: Path
) -> None:
    """The default grid's SIB-200 intermediate checkpoint has num_labels 7 in its config; a QA head built
    from that config would emit 7 logits per token and fail on the first training batch."""
    from transformers import AutoModelForSequenceClassification

    parent = AutoModelForSequenceClassification.from_pretrained(str(tiny_model), num_labels=7)
    parent.save_pretrained(tmp_path / "parent")
    model = get_kind("extractive_qa").load_model(str(tmp_path / "parent"), make_task())
    assert model.qa_outputs.out_features == 2
    assert model(input_ids=torch.tensor([[1, 2, 3]])).start_logits.shape == (1, 3)
