"""xquad_parallel: the shipped parallel XQuAD sample, its article split, and its overlap with xquad_demo."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.catalogue.loader import Catalogue
from harness.data.loaders import load_rows

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "xquad_parallel"
DEMO_TEST = REPO / "data" / "xquad_demo" / "test.en.json"
SHARED_XQUAD = REPO.parent / "shared" / "data"
LANGUAGES = ["en", "de", "es", "ru"]
COUNTS = {"train": (40, 960), "dev": (8, 230)}  # articles, questions


def _articles(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["data"]


def _question_ids(articles: list[dict]) -> list[str]:
    return [
        qa["id"] for article in articles for paragraph in article["paragraphs"] for qa in paragraph["qas"]
    ]


def _build_sample() -> ModuleType:
    spec = importlib.util.spec_from_file_location("xquad_parallel_build", SAMPLE / "build_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("split", sorted(COUNTS))
def test_every_language_holds_the_same_articles_and_question_ids(split: str) -> None:
    english = _articles(SAMPLE / f"{split}.en.json")
    assert (len(english), len(_question_ids(english))) == COUNTS[split]
    for lang in LANGUAGES[1:]:
        other = _articles(SAMPLE / f"{split}.{lang}.json")
        assert [a["title"] for a in other] == [a["title"] for a in english], lang
        assert _question_ids(other) == _question_ids(english), lang
        assert other != english  # translations, not copies


def test_train_and_dev_share_no_article_or_question() -> None:
    train, dev = _articles(SAMPLE / "train.en.json"), _articles(SAMPLE / "dev.en.json")
    assert not {a["title"] for a in train} & {a["title"] for a in dev}
    assert not set(_question_ids(train)) & set(_question_ids(dev))
    assert len(set(_question_ids(train))) == len(_question_ids(train))


def test_overlap_with_the_xquad_demo_target_is_exactly_its_whole_test_set_inside_train() -> None:
    # XQuAD has 48 articles: xquad_demo scores the 24 odd-indexed ones, this task trains on 40 of the 48
    # (all but i % 6 == 0, which are even), so every xquad_demo test question is a training question here.
    demo_test = set(_question_ids(_articles(DEMO_TEST)))
    train = set(_question_ids(_articles(SAMPLE / "train.en.json")))
    dev = set(_question_ids(_articles(SAMPLE / "dev.en.json")))
    assert len(demo_test) == 578
    assert demo_test & train == demo_test
    assert not demo_test & dev


def test_the_task_reads_the_dev_split_in_each_source_language() -> None:
    task = Catalogue.load(REPO / "tasks").task("xquad_parallel")
    assert task.languages == LANGUAGES and task.items == "by_id" and task.translate_train_of == ["xquad"]
    rows = load_rows(task, split="dev", language="de", base_dir=REPO / "data").rows
    assert len(rows) == COUNTS["dev"][1]
    assert rows[0]["id"] == _question_ids(_articles(SAMPLE / "dev.en.json"))[0]


@given(st.integers(min_value=0, max_value=60))
def test_the_article_split_partitions_in_source_order(n: int) -> None:
    articles = [{"title": f"a{i}", "paragraphs": []} for i in range(n)]
    parts = _build_sample().split_articles(articles)
    assert len(parts["dev"]) == (n + 5) // 6
    assert sorted(parts["train"] + parts["dev"], key=lambda a: int(a["title"][1:])) == articles
    assert all(int(a["title"][1:]) % 6 == 0 for a in parts["dev"])


@pytest.mark.real_data
@pytest.mark.skipif(not (SHARED_XQUAD / "xquad").is_dir(), reason=f"needs XQuAD at {SHARED_XQUAD}/xquad")
def test_build_sample_reproduces_the_shipped_files(tmp_path: Path) -> None:
    _build_sample().main(SHARED_XQUAD, tmp_path)
    for lang in LANGUAGES:
        for split in COUNTS:
            name = f"{split}.{lang}.json"
            assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name
    assert (tmp_path / "SOURCES.tsv").read_bytes() == (SAMPLE / "SOURCES.tsv").read_bytes()
