"""The shipped task YAMLs' domain-shifted splits on the real files in ../shared/data."""

from __future__ import annotations

import importlib.metadata
from collections import Counter
from pathlib import Path

import pytest

from harness.catalogue.loader import Catalogue
from harness.data.formats import read_conll_tags
from harness.data.loaders import load_rows
from harness.data.split_views import availability

pytestmark = pytest.mark.real_data
REPO = Path(__file__).resolve().parents[2]


def split_rows(catalogue: Catalogue, task_name: str, split_name: str, language: str):
    task = catalogue.task(task_name)
    split = task.split_named(split_name)
    return load_rows(
        task,
        split=split.split or split.name,
        language=language,
        base_dir=catalogue.task_path(task_name).parent,
        view=split,
    )


@pytest.fixture
def catalogue(shared_data: Path) -> Catalogue:
    return Catalogue.load(REPO / "tasks")


def test_pud_news_and_wikipedia_are_500_each_in_all_16_languages(catalogue: Catalogue) -> None:
    task = catalogue.task("udpos")
    languages = task.split_languages(task.split_named("pud-news"))
    assert len(languages) == 16
    for lang in languages:
        news = split_rows(catalogue, "udpos", "pud-news", lang).rows
        wiki = split_rows(catalogue, "udpos", "pud-wiki", lang).rows
        assert (len(news), len(wiki)) == (500, 500), lang
        assert all(i.startswith("n") for i in news["sent_id"]) and all(
            i.startswith("w") for i in wiki["sent_id"]
        )
        assert not set(news["id"]) & set(wiki["id"])


def test_udpos_demo_views_read_the_full_pud_files_when_pointed_at_them(catalogue: Catalogue) -> None:
    for lang in catalogue.task("udpos_demo").languages:
        sizes = [len(split_rows(catalogue, "udpos_demo", s, lang)) for s in ("pud-news", "pud-wiki")]
        assert sizes == [500, 500], lang


def test_masakhaner_dates_vanish_under_the_map_and_nothing_else_changes(
    catalogue: Catalogue, shared_data: Path
) -> None:
    task = catalogue.task("panx")
    split = task.split_named("masakhaner")
    assert split.dataset is not None
    dates_seen = 0
    for lang in task.split_languages(split):
        code = split.dataset.code_for(lang)
        raw = read_conll_tags(shared_data / "ner" / "masakhaner" / code / "test.txt")
        mapped = split_rows(catalogue, "panx", "masakhaner", lang).rows
        assert mapped["tokens"] == [r["tokens"] for r in raw]
        for before, after in zip((r["tags"] for r in raw), mapped["tags"], strict=True):
            assert after == ["O" if t.endswith("-DATE") else t for t in before]
        dates_seen += sum(t.endswith("-DATE") for r in raw for t in r["tags"])
        assert {t for tags in mapped["tags"] for t in tags} <= set(task.labels or [])
    assert dates_seen > 1000  # the map really had something to drop


def test_ewt_web_subgenres_have_the_documented_sizes(catalogue: Catalogue) -> None:
    sizes = {
        s: len(split_rows(catalogue, "udpos", f"ewt-{s}", "en"))
        for s in ("answers", "email", "newsgroup", "reviews", "weblog")
    }
    assert sizes == {"answers": 438, "email": 606, "newsgroup": 284, "reviews": 535, "weblog": 214}


def test_gum_genre_splits_cover_the_test_file(catalogue: Catalogue) -> None:
    task = catalogue.task("udpos")
    genres = [s.name for s in task.splits if s.name.startswith("gum-")]
    sizes = [len(split_rows(catalogue, "udpos", name, "en")) for name in genres]
    assert len(genres) == 15 and sum(sizes) == 1464 and min(sizes) > 50


def test_xnli_genre_splits(catalogue: Catalogue, shared_data: Path) -> None:
    task = catalogue.task("xnli")
    unseen = ["face-to-face", "letters", "9-11", "oup", "verbatim"]
    genre_file = shared_data / "xnli" / "XNLI-1.0" / "xnli.test.tsv"
    if not genre_file.is_file():
        missing = availability(task, task.split_named("letters"), "de", catalogue.task_path("xnli").parent)
        assert missing is not None and missing.expected == [str(genre_file)]
        pytest.skip(
            f"XNLI-1.0 with its genre column is not in ../shared/data ({genre_file}); declared unavailable"
        )
    for lang in task.languages:
        counts = {name: len(split_rows(catalogue, "xnli", name, lang)) for name in ["seen-genres", *unseen]}
        assert counts["seen-genres"] + sum(counts[g] for g in unseen) == 5010, lang
        assert len({counts[g] for g in unseen}) == 1, counts  # XNLI balances its ten genres


def test_tatoeba_flores_pairs_are_the_sib200_sentences(catalogue: Catalogue, shared_data: Path) -> None:
    rows = split_rows(catalogue, "tatoeba", "flores", "de").rows
    english = {}
    for line in (
        (shared_data / "sib200" / "eng_Latn" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]
    ):
        index, _, text = line.split("\t")
        english[index] = text
    assert len(rows) == 204 and all(english[i] == t for i, t in zip(rows["id"], rows["target"], strict=True))
    assert rows["source"] != rows["target"]


def test_qa_targets_read_each_others_data(catalogue: Catalogue) -> None:
    assert len(split_rows(catalogue, "xquad", "tydiqa", "ru")) == 812
    assert len(split_rows(catalogue, "tydiqa", "xquad", "ar")) == 1190
    assert len(split_rows(catalogue, "mlqa", "xquad", "hi")) == 1190


def test_turkish_web_and_wikipedia_through_the_ud_v1_map(catalogue: Catalogue) -> None:
    importlib.metadata.distribution("turkish-treebanks")  # a project dependency: absent is a failure
    web = split_rows(catalogue, "udpos", "tr-web", "tr").rows
    wiki = split_rows(catalogue, "udpos", "tr-wiki", "tr").rows
    assert (len(web), len(wiki)) == (2541, 2310)
    tags = Counter(t for rows in (web, wiki) for tags in rows["tags"] for t in tags)
    assert not {"CONJ", "PRT", "ONOM", "AFFIX"} & set(tags) and tags["CCONJ"] > 0 and tags["PART"] > 0
