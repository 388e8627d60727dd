"""The multilingual-mix rule: every item once, languages balanced, the same items as single sources."""

from __future__ import annotations

import datasets
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.catalogue.schema import IntermediateSpec
from harness.data.loaders import RowSet
from harness.errors import HarnessError
from harness.training.source_mix import assign_languages, mix_rows


def _rows(lang: str, ids: list[str], prefix: str = "") -> RowSet:
    data = datasets.Dataset.from_dict(
        {"id": [f"{prefix}{i}" for i in ids], "text": [f"{lang} {i}" for i in ids], "label": [0] * len(ids)}
    )
    return RowSet("t", "train", lang, data, f"fp-{lang}", f"local:{lang}.tsv")


@given(
    ids=st.sets(st.text(min_size=1, max_size=8), min_size=1, max_size=60),
    languages=st.lists(st.sampled_from(["de", "fr", "ru", "es", "ar"]), min_size=2, max_size=5, unique=True),
)
def test_every_item_once_and_languages_balanced(ids: set[str], languages: list[str]) -> None:
    owner = assign_languages(sorted(ids), languages)
    assert set(owner) == ids
    counts = [sum(1 for lang in owner.values() if lang == code) for code in languages]
    assert max(counts) - min(counts) <= 1
    assert owner == assign_languages(list(reversed(sorted(ids))), languages)  # input order is irrelevant


def test_mix_holds_each_item_once_in_its_language() -> None:
    ids = [str(i) for i in range(30)]
    rows = {lang: _rows(lang, ids, prefix=f"train-{lang}-") for lang in ("de", "fr", "ru")}
    prefixes = {lang: f"train-{lang}-" for lang in rows}
    mixed, counts = mix_rows(rows, prefixes, "mix")
    assert counts == {"de": 10, "fr": 10, "ru": 10}
    assert len(mixed) == 30 and mixed.language == "mul"
    seen = {}
    for row in mixed.rows:
        lang, ident = row["text"].split(" ")
        assert row["language"] == lang
        seen[ident] = lang
    assert seen == assign_languages(ids, ["de", "fr", "ru"])
    assert mixed.fingerprint != mix_rows(dict(reversed(list(rows.items()))), prefixes, "mix")[0].fingerprint


def test_a_language_missing_an_item_is_refused() -> None:
    rows = {"de": _rows("de", ["1", "2", "3"]), "fr": _rows("fr", ["1", "2"])}
    with pytest.raises(HarnessError, match="same items in every language"):
        mix_rows(rows, {}, "mix")


@pytest.mark.parametrize(
    ("source_lang", "message"),
    [(["de"], "two or more"), (["de", "de"], "two or more"), (["de", "xx"], "unknown language")],
)
def test_a_mix_needs_two_known_languages(source_lang: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IntermediateSpec(name="m", task="t", source_lang=source_lang, source_type="translated", size=3)


def test_a_mix_records_mul_and_is_never_english() -> None:
    spec = IntermediateSpec(name="m", task="t", source_lang=["de", "fr"], source_type="translated", size=3)
    assert spec.is_mix and spec.languages == ["de", "fr"] and spec.record_lang == "mul"
    with pytest.raises(ValueError, match="english"):
        IntermediateSpec(name="m", task="t", source_lang=["en", "de"], source_type="english", size=3)
