"""Local loaders (tsv, jsonl, SQuAD JSON, CoNLL-U, line-aligned text) and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.catalogue.schema import TaskSpec
from harness.data.formats import read_conllu, read_squad_json
from harness.data.loaders import load_rows
from harness.errors import HarnessError


def task_for(path: str, fmt: str = "tsv", **extra) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "name": "t",
            "kind": "classification",
            "version": 1,
            "labels": ["a", "b"],
            "languages": ["en", "de"],
            "dataset": {"format": fmt, "path": path, **extra.pop("dataset", {})},
            **extra,
        }
    )


def test_tsv_with_column_mapping_and_quotes(tmp_path: Path) -> None:
    (tmp_path / "en.tsv").write_text(
        'idx\tsentence\tgold\n1\tsays "hi" there\ta\n2\tNA\tb\n', encoding="utf-8"
    )
    rows = load_rows(
        task_for("{lang}.tsv", columns={"id": "idx", "text": "sentence", "label": "gold"}),
        split="test",
        language="en",
        base_dir=tmp_path,
    )
    assert rows.rows["text"] == ['says "hi" there', "NA"]  # QUOTE_NONE keeps quotes; NA stays text
    assert rows.rows["id"] == ["1", "2"] and len(rows.fingerprint) == 64


def test_fingerprint_changes_with_content(tmp_path: Path) -> None:
    path = tmp_path / "en.tsv"
    path.write_text("text\tlabel\nx\ta\n", encoding="utf-8")
    first = load_rows(task_for("{lang}.tsv"), split="test", language="en", base_dir=tmp_path).fingerprint
    path.write_text("text\tlabel\nx\tb\n", encoding="utf-8")
    assert (
        load_rows(task_for("{lang}.tsv"), split="test", language="en", base_dir=tmp_path).fingerprint != first
    )


def test_missing_file_and_missing_column(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="dataset file not found"):
        load_rows(task_for("{lang}.tsv"), split="test", language="de", base_dir=tmp_path)
    (tmp_path / "en.tsv").write_text("text\tlabel\nx\ta\n", encoding="utf-8")
    with pytest.raises(HarnessError, match="column 'sentence' not in the data"):
        load_rows(
            task_for("{lang}.tsv", columns={"text": "sentence"}),
            split="test",
            language="en",
            base_dir=tmp_path,
        )


def test_ragged_row_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "en.tsv").write_text("text\tlabel\nx\ta\ny\n", encoding="utf-8")
    with pytest.raises(HarnessError, match=r"en.tsv:3: row has 1 fields"):
        load_rows(task_for("{lang}.tsv"), split="test", language="en", base_dir=tmp_path)


def test_headerless_xtreme_layout(tmp_path: Path) -> None:
    (tmp_path / "dev-en.tsv").write_text("p\th\ta\r\n", encoding="utf-8")
    task = task_for(
        "{split}-{lang}.tsv",
        dataset={"header": False, "fieldnames": ["text", "text_pair", "label"], "quoting": "minimal"},
    )
    rows = load_rows(task, split="dev", language="en", base_dir=tmp_path)
    assert rows.rows[0]["text_pair"] == "h" and rows.rows[0]["label"] == "a"


def test_squad_json_and_conllu(tmp_path: Path) -> None:
    squad = {
        "version": "1.1",
        "data": [
            {
                "title": "T",
                "paragraphs": [
                    {
                        "context": "Paris is big.",
                        "qas": [
                            {
                                "id": "q1",
                                "question": "Which?",
                                "answers": [{"text": "Paris", "answer_start": 0}],
                            }
                        ],
                    }
                ],
            }
        ],
    }
    (tmp_path / "s.json").write_text(json.dumps(squad), encoding="utf-8")
    rows = read_squad_json(tmp_path / "s.json")
    assert rows[0]["answers"] == {"text": ["Paris"], "answer_start": [0]}
    conllu = (
        "# sent_id = n01\n1-2\tdu\t_\t_\t_\t_\t_\t_\t_\t_\n1\tde\tde\tADP\t_\t_\t0\t_\t_\t_\n"
        "2\tle\tle\tDET\t_\t_\t1\t_\t_\t_\n\n"
    )
    (tmp_path / "t.conllu").write_text(conllu, encoding="utf-8")
    sent = read_conllu(tmp_path / "t.conllu")
    assert sent == [
        {"id": "n01", "tokens": ["de", "le"], "tags": ["ADP", "DET"], "meta": '{"sent_id": "n01"}'}
    ]


def test_parallel_text_must_align(tmp_path: Path) -> None:
    (tmp_path / "a.de").write_text("x\ny\n", encoding="utf-8")
    (tmp_path / "a.en").write_text("x\n", encoding="utf-8")
    task = TaskSpec.model_validate(
        {
            "name": "r",
            "kind": "retrieval",
            "version": 1,
            "languages": ["de"],
            "dataset": {"format": "parallel_text", "path": "a.{lang}", "target_path": "a.en"},
        }
    )
    with pytest.raises(HarnessError, match="must align"):
        load_rows(task, split="test", language="de", base_dir=tmp_path)


cell = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\t\r\n\x85\u2028\u2029"),
    min_size=1,
    max_size=20,
).filter(lambda s: s.strip() == s and s != "")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(cell, st.sampled_from(["a", "b"])), min_size=1, max_size=8))
def test_tsv_round_trip(tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, str]]) -> None:
    folder = tmp_path_factory.mktemp("tsv")
    body = "".join(f"{text}\t{label}\n" for text, label in rows)
    (folder / "en.tsv").write_text("text\tlabel\n" + body, encoding="utf-8")
    loaded = load_rows(task_for("{lang}.tsv"), split="test", language="en", base_dir=folder)
    assert list(zip(loaded.rows["text"], loaded.rows["label"], strict=True)) == rows


def test_hub_class_labels_become_names_and_unlabelled_rows_are_dropped() -> None:
    import datasets

    from harness.data.loaders import _class_labels_as_names

    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"]),
        }
    )
    rows = datasets.Dataset.from_dict(
        {"text": ["a", "b", "c", "d"], "label": [0, -1, 2, 1]}, features=features
    )
    named = _class_labels_as_names(rows)
    assert named["text"] == ["a", "c", "d"]
    assert named["label"] == ["entailment", "contradiction", "neutral"]
