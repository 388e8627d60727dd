"""Per-example statistics reduce to the stored main score, for every kind, on records the real kinds made.

Classification and retrieval records come from the tiny grid run end to end (tests/runner); multiple
choice, tagging, extractive QA and mining records from the kinds' own predict/score on the tiny BERT.
"""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path
from typing import Any

import datasets
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics.sequence_labeling import get_entities
from stats_records import kind_record

from harness import api
from harness.catalogue.loader import Catalogue
from harness.catalogue.schema import DatasetSpec, TaskSpec
from harness.kinds.base import Prediction
from harness.kinds.registry import get_kind
from harness.models.loading import load_tokenizer
from harness.results.schema import Record
from harness.results.store import ResultsStore
from harness.scoring.example_stats import chunks, record_stats, stats_from_rows
from harness.scoring.stats_tables import score_table

WORDS = [f"w{i}" for i in range(60)]
NER = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
UPOS = ["NOUN", "VERB", "ADJ", "SCONJ", "CCONJ", "INTJ", "PUNCT", "DET"]


@pytest.fixture(scope="module")
def grid_store(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> ResultsStore:
    """The tiny grid (classification + retrieval targets, English and German intermediate tasks)."""
    from tiny_fixtures import write_tiny_tasks

    root = tmp_path_factory.mktemp("grid")
    tasks = write_tiny_tasks(root, tiny_model)
    results = root / "results"
    api.run(
        tasks / "grids" / "tiny.yaml",
        results=results,
        lock=root / "checkpoints.lock",
        tasks=Catalogue.load(tasks),
    )
    return ResultsStore(results)


@pytest.mark.parametrize("kind", ["classification", "retrieval"])
def test_grid_records_reduce_to_their_main_score(grid_store: ResultsStore, kind: str) -> None:
    records = [r for r in grid_store.records() if r.task.kind == kind]
    assert records
    for rec in records:
        stats = record_stats(grid_store.root, rec)
        assert stats is not None and stats.n == rec.n_examples
        assert stats.score() == pytest.approx(rec.main_score, abs=1e-12)
    table = score_table(grid_store, grid_store.records(), n_boot=200)
    mine = table[table["task"] == records[0].task.name]
    assert (mine["low"] <= mine["score"]).all() and (mine["score"] <= mine["high"]).all()
    # example-level CIs exist with one seed (a perfect or null score has a zero-width one)
    varies = ~mine["score"].isin([0.0, 1.0])
    assert (mine.loc[varies, "high"] > mine.loc[varies, "low"]).all()
    assert mine["high"].notna().all()


def _store_kind_record(
    root: Path, task: TaskSpec, predictions: list[Prediction]
) -> tuple[ResultsStore, Record]:
    """A record with the kind's own scores and its predictions, written the way the runner writes them."""
    scores = get_kind(task.kind).score(predictions, task)
    store = ResultsStore(root / "results")
    rec = kind_record(task, scores)
    store.write(
        rec,
        (p.to_json() for p in predictions),
        store.root / rec.predictions.replace(".predictions.jsonl", ".json"),
    )
    return store, rec


def _check(root: Path, task: TaskSpec, predictions: list[Prediction]) -> None:
    store, rec = _store_kind_record(root, task, predictions)
    stats = record_stats(store.root, rec)
    assert stats is not None
    assert stats.score() == pytest.approx(rec.main_score, abs=1e-12)
    assert 0 < rec.main_score < 1 or task.kind == "mining"


def test_tagging_records_reduce_to_seqeval_f1(tmp_path: Path, tiny_model: Path) -> None:
    rng = random.Random(0)
    tokenizer = load_tokenizer(str(tiny_model))
    for labels in (NER, UPOS):
        sentences = [[rng.choice(WORDS) for _ in range(rng.randrange(2, 20))] for _ in range(30)]
        tags = [[rng.choice(labels) for _ in s] for s in sentences]
        rows = datasets.Dataset.from_dict(
            {"id": [f"s{i}" for i in range(30)], "tokens": sentences, "tags": tags}
        )
        task = _task("tagging", labels=labels, main_metric="f1")
        kind = get_kind("tagging")
        model = kind.load_model(str(tiny_model), task)
        features = kind.features(rows, tokenizer, task, 16)
        predictions = kind.predict(model, features, rows, task, tokenizer, 8, "fp32")
        _check(tmp_path / labels[0], task, predictions)


def test_multiple_choice_records_reduce_to_accuracy(tmp_path: Path, tiny_model: Path) -> None:
    rng = random.Random(1)
    rows = datasets.Dataset.from_list(
        [
            {
                "id": f"q{i}",
                "question": " ".join(rng.sample(WORDS, 3)),
                "choices": [" ".join(rng.sample(WORDS, 2)) for _ in range(3)],
                "label": rng.randrange(3),
            }
            for i in range(40)
        ]
    )
    task = _task("multiple_choice", main_metric="accuracy")
    kind = get_kind("multiple_choice")
    tokenizer = load_tokenizer(str(tiny_model))
    model = kind.load_model(str(tiny_model), task)
    predictions = kind.predict(
        model, kind.features(rows, tokenizer, task, 32), rows, task, tokenizer, 8, "fp32"
    )
    _check(tmp_path, task, predictions)


def test_extractive_qa_records_reduce_to_em_f1_mean(tmp_path: Path, tiny_model: Path) -> None:
    rng = random.Random(3)
    rows = []
    for i in range(24):
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 30))]
        first = rng.randrange(len(words) - 2)
        start = len(" ".join(words[:first])) + (1 if first else 0)
        answer = " ".join(words[first : first + 2])
        rows.append(
            {
                "id": f"q{i}",
                "title": "t",
                "context": " ".join(words),
                "question": " ".join(rng.sample(WORDS, 3)),
                "answers": {"text": [answer], "answer_start": [start]},
            }
        )
    rows_ds = datasets.Dataset.from_list(rows)
    task = _task("extractive_qa", main_metric="em_f1_mean", params={"doc_stride": 8, "max_query_length": 6})
    kind = get_kind("extractive_qa")
    tokenizer = load_tokenizer(str(tiny_model))
    model = kind.load_model(str(tiny_model), task)
    features = kind.features(rows_ds, tokenizer, task, 32)
    predictions = kind.predict(model, features, rows_ds, task, tokenizer, 8, "fp32")
    # a few gold answers make EM and F1 differ from 0 whatever the untrained head predicts
    for p in predictions[:5]:
        p.prediction, p.correct, p.extra["f1"] = p.label[0], 1.0, 1.0
    _check(tmp_path, task, predictions)
    for metric in ("exact_match", "f1"):
        rows_json = [p.to_json() for p in predictions]
        stats = stats_from_rows("extractive_qa", metric, rows_json)
        assert stats is not None
        assert stats.score() == pytest.approx(kind.score(predictions, task)[metric], abs=1e-12)


def test_mining_records_reduce_to_bucc_f1(tmp_path: Path, tiny_model: Path) -> None:
    from harness.data.bucc import bucc_files, load_bucc_rows

    rng = random.Random(5)
    for split in ("sample", "training"):
        sentences = [" ".join(rng.sample(WORDS, 6)) for _ in range(14)]
        files = bucc_files(tmp_path, "de", split)
        files.source.write_text("".join(f"de-{i}\t{s}\n" for i, s in enumerate(sentences)), encoding="utf-8")
        # half the English side is a noisy copy, so some pairs are mined wrongly or missed
        english = [s if i % 2 else " ".join(rng.sample(WORDS, 6)) for i, s in enumerate(sentences[:12])]
        files.target.write_text("".join(f"en-{i}\t{s}\n" for i, s in enumerate(english)), encoding="utf-8")
        files.gold.write_text("".join(f"de-{i}\ten-{i}\n" for i in range(12)), encoding="utf-8")
    task = TaskSpec.model_validate(
        {
            "name": "tiny-bucc",
            "kind": "mining",
            "version": 1,
            "dataset": {
                "format": "tsv",
                "path": str(tmp_path),
                "split_names": {"dev": "sample", "test": "training"},
            },
            "languages": ["de"],
            "splits": [{"name": "test", "domain": "synthetic"}],
            "main_metric": "f1",
            "params": {"layer": -1, "pooling": "mean"},
        }
    )
    rows = load_bucc_rows(task, split="test", language="de", base_dir=tmp_path)
    kind = get_kind("mining")
    tokenizer = load_tokenizer(str(tiny_model))
    model = kind.load_model(str(tiny_model), task)
    predictions = kind.predict(
        model, kind.features(rows, tokenizer, task, 32), rows, task, tokenizer, 8, "fp32"
    )
    store, rec = _store_kind_record(tmp_path, task, predictions)
    assert 0 < rec.main_score < 1
    stats = record_stats(store.root, rec)
    assert stats is not None and stats.score() == pytest.approx(rec.main_score, abs=1e-12)


def test_unknown_metric_or_missing_file_gives_none(tmp_path: Path) -> None:
    rows = [{"id": "a", "prediction": 1, "label": 1, "correct": 1.0}]
    assert stats_from_rows("classification", "macro_f1", rows) is None
    assert stats_from_rows("no_such_kind", "accuracy", rows) is None
    assert stats_from_rows("classification", "accuracy", [{"id": "a"}]) is None
    repeated = stats_from_rows("classification", "accuracy", rows * 3)
    assert repeated is not None and repeated.ids == ("a", "a#1", "a#2")


TAGS = [
    "O",
    "B-PER",
    "I-PER",
    "E-PER",
    "S-LOC",
    "I-LOC",
    "B-LOC",
    "NOUN",
    "SCONJ",
    "CCONJ",
    "INTJ",
    ".",
    "B",
    "I",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TAGS), max_size=14))
def test_chunks_match_seqeval(tags: list[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert chunks(tags) == set(get_entities(tags))


def _task(
    kind: str, *, main_metric: str, labels: list[str] | None = None, params: dict[str, Any] | None = None
) -> TaskSpec:
    return TaskSpec(
        name=f"tiny_{kind}",
        kind=kind,
        version=1,
        dataset=DatasetSpec(format="jsonl", path="unused"),
        labels=labels,
        languages=["en"],
        main_metric=main_metric,
        params=params or {},
    )


def test_json_lines_round_trip(tmp_path: Path) -> None:
    """The one-parse JSONL reader gives what a line-by-line reader gives (blank lines skipped)."""
    from harness.scoring.example_stats import read_prediction_rows

    rows = [{"id": i, "x": [1, 2], "s": "a\\nb"} for i in range(5)]
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n\n", encoding="utf-8")
    assert read_prediction_rows(path) == rows
    assert read_prediction_rows(tmp_path / "absent.jsonl") is None


def test_grid_store_contrast_and_derived_files(grid_store: ResultsStore) -> None:
    """On real records: the German intermediate condition is paired with its English match."""
    from harness.report.contrast import contrast_table, gap_contrast_table, verdict
    from harness.scoring.derived import write_derived

    records = grid_store.records()
    contrast = contrast_table(grid_store, records, n_boot=200)
    assert set(contrast["non_english"]) == {"tiny-bert+mc-de"}
    assert set(contrast["english"]) == {"tiny-bert+mc-en"}
    assert len(contrast) == 4  # tiny_cls en/de + tiny_ret de/fr
    assert (contrast["diff_low"] <= contrast["diff"]).all() and (
        contrast["diff"] <= contrast["diff_high"]
    ).all()
    assert contrast["p_value"].between(0, 1).all()
    sentence = verdict(contrast, gap_contrast_table(grid_store, records, n_boot=200))
    assert "No domain-shifted split was scored for a pair" in sentence
    written = write_derived(grid_store, n_boot=200)
    assert {p.name for p in written} >= {"contrast.json", "robustness.csv", "scores.json"}
