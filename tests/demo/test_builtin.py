"""Builtin data sources: real multilingual data read from installed wheels (lm-eval, django). Offline."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from harness.demo.builtin import (
    BUILTIN_SOURCES,
    ChoiceItem,
    builtin_languages,
    iso_languages,
    load_builtin,
    pair_id,
    parse_cot_prompt,
)
from harness.errors import HarnessError

MMLU_TRANSLATIONS = ["de", "es", "fr", "hi", "it", "pt", "th"]
ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
PLACEHOLDER = re.compile(r"%\(\w+\)[a-z]|%[sdrif]\b|\{\w*\}")
TAG = re.compile(r"</?[a-zA-Z][^<>]*>")


# ------------------------------------------------------------------------------------------------
# mmlu_parallel


@pytest.fixture(scope="module")
def mmlu() -> dict[str, list[dict]]:
    return {lang: load_builtin("mmlu_parallel", lang, "train") for lang in builtin_languages("mmlu_parallel")}


def test_mmlu_languages_are_english_plus_the_seven_translations() -> None:
    assert builtin_languages("mmlu_parallel") == ["en", *MMLU_TRANSLATIONS]


def test_mmlu_ids_are_identical_in_every_language(mmlu: dict[str, list[dict]]) -> None:
    english_ids = [row["id"] for row in mmlu["en"]]
    assert len(english_ids) > 200
    assert len(set(english_ids)) == len(english_ids)
    assert english_ids == sorted(english_ids)
    for lang in MMLU_TRANSLATIONS:
        assert [row["id"] for row in mmlu[lang]] == english_ids, lang
        assert len(mmlu[lang]) == len(mmlu["en"])


def test_mmlu_labels_agree_across_languages_for_every_id(mmlu: dict[str, list[dict]]) -> None:
    labels = {row["id"]: row["label"] for row in mmlu["en"]}
    for lang in MMLU_TRANSLATIONS:
        disagreeing = [row["id"] for row in mmlu[lang] if row["label"] != labels[row["id"]]]
        assert disagreeing == [], lang


def test_mmlu_rows_have_four_nonempty_choices_and_a_label(mmlu: dict[str, list[dict]]) -> None:
    for lang, rows in mmlu.items():
        for row in rows:
            assert set(row) == {"id", "subject", "question", "choices", "label"}
            assert row["id"].startswith(row["subject"] + "/")
            assert row["question"].strip() == row["question"] != ""
            assert len(row["choices"]) == 4, (lang, row["id"])
            assert all(isinstance(c, str) and c.strip() for c in row["choices"]), (lang, row["id"])
            assert row["label"] in (0, 1, 2, 3)


def test_mmlu_french_has_no_html_entities_left(mmlu: dict[str, list[dict]]) -> None:
    texts = [text for row in mmlu["fr"] for text in (row["question"], *row["choices"])]
    assert not [t for t in texts if "&amp;" in t or "&#" in t or ENTITY.search(t)]
    assert any("'" in t for t in texts)  # the source writes every apostrophe as &#39;


def test_mmlu_no_language_has_html_entities(mmlu: dict[str, list[dict]]) -> None:
    for lang, rows in mmlu.items():
        assert not [r["id"] for r in rows for t in (r["question"], *r["choices"]) if ENTITY.search(t)], lang


def test_mmlu_translations_are_translated(mmlu: dict[str, list[dict]]) -> None:
    english = {row["id"]: row["question"] for row in mmlu["en"]}
    for lang in MMLU_TRANSLATIONS:
        same = sum(row["question"] == english[row["id"]] for row in mmlu[lang])
        assert same < len(english) * 0.05, lang


def test_mmlu_alignment_keeps_the_numbers_of_each_question(mmlu: dict[str, list[dict]]) -> None:
    """Independent of the answer letters: numbers survive translation, so a matched pair shares them."""

    def numbers(row: dict) -> set[str]:
        return set(re.findall(r"\d{2,}", " ".join([row["question"], *row["choices"]])))

    english = {row["id"]: numbers(row) for row in mmlu["en"]}
    for lang in ["de", "es", "fr", "it", "pt"]:
        checked = [(english[r["id"]], numbers(r)) for r in mmlu[lang] if english[r["id"]]]
        agreeing = sum(len(en & tr) * 2 >= len(en) for en, tr in checked)
        assert len(checked) > 50 and agreeing >= 0.95 * len(checked), lang


def test_mmlu_is_deterministic_and_returns_fresh_copies() -> None:
    first = load_builtin("mmlu_parallel", "de", "train")
    first[0]["choices"].append("mutated")
    first[0]["question"] = "mutated"
    second = load_builtin("mmlu_parallel", "de", "train")
    assert second[0]["question"] != "mutated" and len(second[0]["choices"]) == 4
    assert second[1:] == first[1:]


def test_mmlu_source_info() -> None:
    info = BUILTIN_SOURCES["mmlu_parallel"]
    assert (info.name, info.kind, info.splits) == ("mmlu_parallel", "multiple_choice", ("train",))
    assert info.languages == builtin_languages("mmlu_parallel")
    assert "MIT" in info.license
    assert "lm-eval" in info.provenance and "_cot_prompts.json" in info.provenance
    assert str(len(load_builtin("mmlu_parallel", "en", "train"))) in info.provenance


# ------------------------------------------------------------------------------------------------
# the CoT prompt parser

COT_HEADER = "The following are multiple choice questions (with answers) about testing.\n\n"


def render_cot_example(question: str, choices: list[str], label: int, reasoning: str, sep: str = " ") -> str:
    options = sep.join(f"({letter}) {choice}" for letter, choice in zip("ABCD", choices, strict=True))
    return f"Q: {question}\n{options}\nA: Let's think step by step. {reasoning} The answer is ({'ABCD'[label]}).\n\n"


def test_parse_cot_prompt_reads_a_real_style_prompt() -> None:
    prompt = COT_HEADER + render_cot_example(
        "Which of the following is the body cavity that contains the pituitary gland?",
        ["Abdominal", "Cranial", "Pleural", "Spinal"],
        1,
        "The pituitary gland is in the Cranial cavity; (A) is wrong.",
    )
    assert parse_cot_prompt(prompt) == [
        ChoiceItem(
            "Which of the following is the body cavity that contains the pituitary gland?",
            ("Abdominal", "Cranial", "Pleural", "Spinal"),
            1,
        )
    ]


def test_parse_cot_prompt_rejects_five_choices_and_unescapes_entities() -> None:
    five = "Q: Predict the number of lines.\n(A) 4 (B) 3 (C) 6 (D) 24 (E) 8\nA: Two times four. The answer is (E).\n\n"
    entity = render_cot_example("Tom &amp; Jerry&#39;s show?", ["a &lt; b", "b", "c", "d"], 0, "Because.")
    assert parse_cot_prompt(COT_HEADER + five + entity) == [
        None,
        ChoiceItem("Tom & Jerry's show?", ("a < b", "b", "c", "d"), 0),
    ]


_text_chars = st.characters(
    blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Zs"), blacklist_characters="()&\x85"
) | st.just(" ")
_line = st.text(_text_chars, min_size=1, max_size=40).map(str.strip).filter(bool)
_question = st.lists(_line, min_size=1, max_size=3).map("\n".join)
_reasoning = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)
_example = st.tuples(
    _question,
    st.lists(_line, min_size=4, max_size=4),
    st.integers(0, 3),
    _reasoning,
    st.sampled_from([" ", "\n"]),
)


@given(st.lists(_example, min_size=1, max_size=5))
def test_parse_cot_prompt_round_trips_rendered_examples(examples: list[tuple]) -> None:
    for question, _choices, _label, reasoning, _sep in examples:
        assume("\nA: " not in question and "\n\nQ: " not in reasoning)
    prompt = COT_HEADER + "".join(render_cot_example(q, c, lab, r, sep) for q, c, lab, r, sep in examples)
    assert parse_cot_prompt(prompt) == [ChoiceItem(q, tuple(c), lab) for q, c, lab, _r, _s in examples]


# ------------------------------------------------------------------------------------------------
# django_ui


@pytest.fixture(scope="module")
def django_de() -> list[dict]:
    return load_builtin("django_ui", "de", "test")


@pytest.mark.parametrize("lang", ["de", "zh", "ru", "ar"])
def test_django_major_languages_have_enough_pairs(lang: str) -> None:
    # The brief asked for >= 150; with its own filters (>= 4 words, no placeholders or tags) Django 5.2.19
    # ships at most 147 such strings per language (de 140, ar 144, ru 147, zh 147). 130 still catches a
    # filter or a locale mapping that loses strings.
    assert len(load_builtin("django_ui", lang, "test")) >= 130


def test_django_pairs_are_natural_text() -> None:
    for lang in builtin_languages("django_ui"):
        for row in load_builtin("django_ui", lang, "test"):
            assert set(row) == {"id", "source", "target"}
            for text in (row["source"], row["target"]):
                assert not PLACEHOLDER.search(text), (lang, text)
                assert not TAG.search(text), (lang, text)
                assert not ENTITY.search(text), (lang, text)
                assert text == " ".join(text.split()) != ""
            assert len(row["target"].split()) >= 4, (lang, row["target"])
            assert row["source"] != row["target"]


def test_django_ids_are_unique_sorted_and_deterministic(django_de: list[dict]) -> None:
    ids = [row["id"] for row in django_de]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(re.fullmatch(r"[0-9a-f]{12}", i) for i in ids)
    assert load_builtin("django_ui", "de", "test") == django_de
    assert len({row["source"] for row in django_de}) == len({row["target"] for row in django_de}) == len(ids)


def test_django_ids_name_the_same_english_string_in_every_language() -> None:
    target_of: dict[str, str] = {}
    for lang in ["de", "zh", "ru", "ar", "fr", "ja"]:
        for row in load_builtin("django_ui", lang, "test"):
            assert target_of.setdefault(row["id"], row["target"]) == row["target"], lang


def test_django_chinese_is_simplified_chinese() -> None:
    sources = " ".join(row["source"] for row in load_builtin("django_ui", "zh", "test"))
    assert re.search(r"[\u4e00-\u9fff]", sources)
    assert "码" in sources and "碼" not in sources  # simplified, not traditional (zh_Hant)


def test_django_languages_have_at_least_100_pairs_and_exclude_english() -> None:
    languages = builtin_languages("django_ui")
    assert "en" not in languages and "pt" in languages and "zh" in languages and "nb" in languages
    assert all(re.fullmatch(r"[a-z]{2}", lang) for lang in languages)
    assert all(len(load_builtin("django_ui", lang, "test")) >= 100 for lang in languages)


def test_iso_languages_prefers_the_bare_locale() -> None:
    locales = ["pt", "pt_BR", "zh_Hans", "zh_Hant", "nb", "en", "en_GB", "ast", "sr", "sr_Latn", "es_AR"]
    assert iso_languages(locales) == {"es": "es_AR", "nb": "nb", "pt": "pt", "sr": "sr", "zh": "zh_Hans"}


def test_pair_id_is_a_short_sha1_of_context_and_msgid() -> None:
    assert (
        pair_id("", "Save and continue editing")
        == hashlib.sha1(b"Save and continue editing").hexdigest()[:12]
    )
    assert pair_id("month", "May") != pair_id("", "May")


def test_django_source_info() -> None:
    info = BUILTIN_SOURCES["django_ui"]
    assert (info.kind, info.splits, info.license) == ("retrieval", ("test",), "BSD-3-Clause (Django)")
    assert "django.po" in info.provenance and "polib" in info.provenance


# ------------------------------------------------------------------------------------------------
# errors


def test_unknown_source_lists_the_sources() -> None:
    with pytest.raises(HarnessError) as caught:
        load_builtin("mmlu_paralel", "de", "train")
    assert caught.value.allowed == sorted(BUILTIN_SOURCES)
    assert "mmlu_parallel" in str(caught.value)
    with pytest.raises(HarnessError):
        builtin_languages("xnli")


def test_unknown_language_lists_the_languages() -> None:
    with pytest.raises(HarnessError) as caught:
        load_builtin("mmlu_parallel", "sw", "train")
    assert caught.value.allowed == builtin_languages("mmlu_parallel")
    assert caught.value.field == "language"
    with pytest.raises(HarnessError) as caught:
        load_builtin("django_ui", "xx", "test")
    assert "de" in (caught.value.allowed or [])


def test_unknown_split_lists_the_splits() -> None:
    with pytest.raises(HarnessError) as caught:
        load_builtin("mmlu_parallel", "de", "test")
    assert caught.value.allowed == ["train"] and caught.value.field == "split"
    with pytest.raises(HarnessError) as caught:
        load_builtin("django_ui", "de", "train")
    assert caught.value.allowed == ["test"]


def test_django_english_is_the_target_side() -> None:
    with pytest.raises(HarnessError) as caught:
        load_builtin("django_ui", "en", "test")
    assert "target" in str(caught.value) and "de" in (caught.value.allowed or [])


def test_parsed_tables_are_kept_on_disk_and_a_damaged_copy_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import dataclass

    from harness.demo import builtin

    @dataclass(frozen=True)
    class Table:
        rows: dict[str, list[dict]]
        count: int

    builds: list[int] = []

    def build() -> Table:
        builds.append(1)
        return Table(rows={"en": [{"id": "a/0", "choices": ["x", "y"]}]}, count=1)

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    first = builtin._on_disk("demo", "pyyaml", build, lambda d: Table(**d))
    again = builtin._on_disk("demo", "pyyaml", build, lambda d: Table(**d))
    assert first == again and len(builds) == 1
    (cached,) = (tmp_path / "builtin").glob("demo-*.json")
    cached.write_text("{not json", encoding="utf-8")
    assert builtin._on_disk("demo", "pyyaml", build, lambda d: Table(**d)) == first and len(builds) == 2


def test_the_disk_copy_returns_exactly_what_a_fresh_parse_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Order included: a demo run fills the cache, and a later `make test` must see the same tables."""
    from dataclasses import asdict

    from harness.demo import builtin

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    for name, distribution, parse, table_type in (
        ("mmlu_parallel", "lm-eval", builtin._parse_mmlu_table, builtin._MmluTable),
        ("django_ui", "django", builtin._parse_django_table, builtin._DjangoTable),
    ):
        fresh = parse()
        builtin._on_disk(name, distribution, parse, lambda d, t=table_type: t(**d))  # writes the copy
        revived = builtin._on_disk(name, distribution, lambda: None, lambda d, t=table_type: t(**d))
        assert revived == fresh
        assert [list(v) if isinstance(v, dict) else v for v in asdict(revived).values()] == [
            list(v) if isinstance(v, dict) else v for v in asdict(fresh).values()
        ]


def _public_view() -> dict[str, tuple]:
    """Everything a caller sees of every builtin source, in the order it is given (retrieval sources pair
    other languages with English, so their 'en' is not loadable on its own)."""
    return {
        name: (
            info.languages,
            info.provenance,
            [
                load_builtin(name, lang, split)
                for split in info.splits
                for lang in info.languages
                if not (info.kind == "retrieval" and lang == "en")
            ],
        )
        for name, info in BUILTIN_SOURCES.items()
    }


def test_every_builtin_source_reads_the_same_from_the_disk_cache_as_from_a_fresh_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All sources through the public functions, languages and rows in order: the README's two commands in
    either order (a demo fills the cache, a later test run reads it) must see the same tables."""
    from harness.demo import builtin

    memoized = [f for f in vars(builtin).values() if callable(getattr(f, "cache_clear", None))]
    assert memoized, "the parsed tables are memoized per process"
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    for f in memoized:
        f.cache_clear()
    fresh = _public_view()
    cached = sorted(p.name.split("-")[0] for p in (tmp_path / "builtin").glob("*.json"))
    assert len(cached) == len(BUILTIN_SOURCES), cached

    def never_parse() -> None:
        raise AssertionError("the second read must come from the disk copy")

    disk_only = builtin._on_disk
    monkeypatch.setattr(
        builtin, "_on_disk", lambda name, dist, build, revive: disk_only(name, dist, never_parse, revive)
    )
    for f in memoized:
        f.cache_clear()
    try:
        revived = _public_view()
    finally:
        for f in memoized:
            f.cache_clear()
    assert list(revived) == list(fresh)
    for name in fresh:
        assert revived[name][0] == fresh[name][0], f"{name}: language order"
        assert revived[name][1] == fresh[name][1], f"{name}: provenance"
        assert revived[name][2] == fresh[name][2], f"{name}: rows"
        assert [list(row) for rows in revived[name][2] for row in rows] == [
            list(row) for rows in fresh[name][2] for row in rows
        ], f"{name}: column order"
