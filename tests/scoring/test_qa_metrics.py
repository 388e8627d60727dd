"""The official SQuAD v1.1 and MLQA metrics: hand-computed cases, the scripts' quirks, properties."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.scoring.qa import (
    MLQA_LANGUAGES,
    mlqa_evaluate,
    mlqa_exact,
    mlqa_f1,
    normalize_mlqa,
    normalize_squad,
    rows_to_articles,
    squad_evaluate,
    squad_exact,
    squad_f1,
)


def articles(*qas: tuple[str, list[str]]) -> list[dict]:
    """One article per question: (id, gold answer texts)."""
    return [
        {
            "title": "t",
            "paragraphs": [{"context": "", "qas": [{"id": qid, "answers": [{"text": g} for g in golds]}]}],
        }
        for qid, golds in qas
    ]


# ---- SQuAD -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("The Cat, an apple!", "cat apple"),
        ("a banana and an ant", "banana and ant"),  # whole words only
        ("  THE   end.  ", "end"),
        ("the-end", "theend"),  # punctuation goes first, so "the" is no longer a word
        ("Ça coûte 5 €", "ça coûte 5 €"),  # ASCII punctuation only; no accent stripping
        ("“北京”", "“北京”"),  # CJK quotes are not ASCII punctuation
    ],
)
def test_normalize_squad(text: str, normalised: str) -> None:
    assert normalize_squad(text) == normalised


def test_squad_pair_scores() -> None:
    assert squad_exact("The Eiffel Tower.", "eiffel tower") == 1.0
    assert squad_exact("Eiffel Tower in Paris", "eiffel tower") == 0.0
    # pred {cat, sat} vs gold {cat, sat, down}: P 1, R 2/3 → F1 0.8
    assert squad_f1("the cat sat", "cat sat down") == pytest.approx(0.8)
    # articles go first: "b" vs "b b" → common 1, P 1, R 1/2 → F1 2/3
    assert squad_f1("a a b", "a b b") == pytest.approx(2 / 3)
    assert squad_f1("x x y", "x y y") == pytest.approx(2 / 3)  # common {x: 1, y: 1}: P 2/3, R 2/3
    assert squad_f1("nothing shared", "other words") == 0.0


def test_both_sides_normalising_to_nothing_is_exact_but_zero_f1() -> None:
    """The official quirk: EM compares the empty strings (equal), F1 finds no common token (0)."""
    assert squad_exact("the", "A!") == 1.0
    assert squad_f1("the", "A!") == 0.0


def test_squad_evaluate_max_over_golds_missing_and_extra_ids() -> None:
    data = articles(
        ("q1", ["Paris", "the city of Paris"]),  # EM via the second gold
        ("q2", ["Paris", "Lyon"]),  # "Paris France": F1 2/3 against "Paris"
        ("q3", ["Berlin"]),  # unanswered: 0, but counted
    )
    predictions = {"q1": "City of Paris", "q2": "Paris France", "extra": "ignored"}
    result = squad_evaluate(data, predictions)
    assert result["exact_match"] == pytest.approx(100 * 1 / 3)
    assert result["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)
    assert set(result) == {"exact_match", "f1"}


def test_squad_evaluate_reads_the_official_nesting() -> None:
    data = [
        {
            "title": "a",
            "paragraphs": [
                {
                    "context": "c1",
                    "qas": [{"id": "1", "answers": [{"text": "x"}]}, {"id": "2", "answers": [{"text": "y"}]}],
                },
                {"context": "c2", "qas": [{"id": "3", "answers": [{"text": "z"}]}]},
            ],
        },
        {"title": "b", "paragraphs": [{"context": "c3", "qas": [{"id": "4", "answers": [{"text": "w"}]}]}]},
    ]
    assert squad_evaluate(data, {"1": "x", "2": "y", "3": "z", "4": "nope"}) == {
        "exact_match": 75.0,
        "f1": 75.0,
    }


def test_degenerate_inputs_are_errors() -> None:
    with pytest.raises(ValueError, match="no gold answers"):
        squad_evaluate(articles(("q", [])), {"q": "x"})
    with pytest.raises(ValueError, match="no questions"):
        squad_evaluate([], {})


def test_rows_to_articles_matches_read_squad_json_rows() -> None:
    rows = [{"id": "a", "context": "x y", "question": "q", "answers": {"text": ["y"], "answer_start": [2]}}]
    data = rows_to_articles(rows)
    assert data[0]["paragraphs"][0]["qas"][0]["answers"] == [{"text": "y", "answer_start": 2}]
    assert squad_evaluate(data, {"a": "y"}) == {"exact_match": 100.0, "f1": 100.0}


# ---- MLQA ------------------------------------------------------------------------------------------


def test_chinese_mixed_segmentation_changes_f1() -> None:
    # SQuAD sees one token each ("北京市" vs "北京"): nothing shared. MLQA splits ideographs:
    # {北, 京, 市} vs {北, 京} → P 2/3, R 1, F1 0.8.
    assert squad_f1("北京市", "北京") == 0.0
    assert mlqa_f1("北京市", "北京", "zh") == pytest.approx(0.8)
    assert normalize_mlqa("iPhone手机 XS", "zh") == "iphone 手 机 xs"
    # Unicode punctuation goes under MLQA, not under SQuAD
    assert mlqa_exact("“北京”。", "北京", "zh") == 1.0
    assert squad_exact("“北京”。", "北京") == 0.0


def test_mixed_segmentation_uses_the_official_ideograph_range_only() -> None:
    assert normalize_mlqa("中国", "zh") == "中 国"  # U+4E2D, U+56FD: inside U+4E00–U+9FA5
    assert normalize_mlqa("㐀㐁", "zh") == "㐀㐁"  # Extension A (U+3400…): not split


def test_german_article_removed_only_under_german() -> None:
    assert normalize_mlqa("Der Hund", "de") == "hund"
    assert normalize_mlqa("Der Hund", "en") == "der hund"
    assert normalize_squad("Der Hund") == "der hund"
    assert mlqa_exact("der Hund", "Hund", "de") == 1.0
    assert mlqa_exact("der Hund", "Hund", "en") == 0.0
    assert mlqa_f1("der Hund", "Hund", "en") == pytest.approx(2 / 3)


def test_other_languages_articles() -> None:
    assert normalize_mlqa("La casa de los abuelos", "es") == "casa de abuelos"
    assert normalize_mlqa("The house", "hi") == "the house"  # Hindi: no articles removed
    assert normalize_mlqa("những con mèo", "vi") == "con mèo"


def test_arabic_article_removed_everywhere_as_the_official_pattern_does() -> None:
    # "الجمال": the prefix and the in-word "ال" both become spaces → "جم"
    assert normalize_mlqa("الجمال", "ar") == "جم"
    assert normalize_mlqa("الكتاب", "ar") == "كتاب"


def test_unknown_mlqa_language_is_an_error() -> None:
    with pytest.raises(ValueError, match="ko"):
        normalize_mlqa("x", "ko")
    with pytest.raises(ValueError):
        mlqa_evaluate(articles(("q", ["x"])), {"q": "x"}, "th")


def test_mlqa_evaluate() -> None:
    data = articles(("q1", ["北京"]), ("q2", ["上海"]), ("q3", ["广州"]))
    result = mlqa_evaluate(data, {"q1": "北京。", "q2": "上海市", "zz": "x"}, "zh")
    assert result["exact_match"] == pytest.approx(100 / 3)
    assert result["f1"] == pytest.approx(100 * (1 + 0.8) / 3)


# ---- properties ------------------------------------------------------------------------------------

PIECES = ["the", "a", "an", "der", "die", "la", "ال", "cat", "Hund", "北京", "中", "国", "市", "1985", "é"]
PUNCT = [".", ",", "!", "?", "-", "'", "“", "”", "。", "，", "、", "(", ")"]
texts = st.lists(st.sampled_from(PIECES + PUNCT + [" ", "  "]), max_size=8).map("".join)
languages = st.sampled_from(MLQA_LANGUAGES)


@given(pred=texts, gold=texts)
def test_squad_em_at_most_f1_unless_gold_normalises_to_nothing(pred: str, gold: str) -> None:
    em, f1 = squad_exact(pred, gold), squad_f1(pred, gold)
    assert 0.0 <= f1 <= 1.0 and em in (0.0, 1.0)
    if normalize_squad(gold):
        assert em <= f1
    else:
        assert f1 == 0.0  # the official quirk: nothing to share


@given(pred=texts, gold=texts, lang=languages)
def test_mlqa_em_at_most_f1_unless_gold_normalises_to_nothing(pred: str, gold: str, lang: str) -> None:
    em, f1 = mlqa_exact(pred, gold, lang), mlqa_f1(pred, gold, lang)
    assert 0.0 <= f1 <= 1.0 and em in (0.0, 1.0)
    if normalize_mlqa(gold, lang):
        assert em <= f1


qa_sets = st.lists(
    st.tuples(st.lists(texts, min_size=1, max_size=3), st.one_of(st.none(), texts)), min_size=1, max_size=8
)


@settings(max_examples=60)
@given(items=qa_sets, lang=languages, seed=st.integers(0, 1000))
def test_evaluate_bounds_and_key_order(items: list, lang: str, seed: int) -> None:
    data = articles(*((f"q{i}", golds) for i, (golds, _) in enumerate(items)))
    preds = {f"q{i}": pred for i, (_, pred) in enumerate(items) if pred is not None}
    shuffled_keys = list(preds)
    random.Random(seed).shuffle(shuffled_keys)
    shuffled = {k: preds[k] for k in shuffled_keys}
    for evaluate in (squad_evaluate, lambda d, p: mlqa_evaluate(d, p, lang)):
        result = evaluate(data, preds)
        assert 0.0 <= result["exact_match"] <= 100.0
        assert 0.0 <= result["f1"] <= 100.0
        assert evaluate(data, shuffled) == result


@settings(max_examples=60)
@given(golds=st.lists(st.lists(texts, min_size=1, max_size=3), min_size=1, max_size=6), lang=languages)
def test_a_gold_answer_as_prediction_scores_100(golds: list[list[str]], lang: str) -> None:
    data = articles(*((f"q{i}", g) for i, g in enumerate(golds)))
    # predict, for each question, one of its golds that survives normalisation (else the quirk applies)
    usable = [[g for g in gs if normalize_squad(g) and normalize_mlqa(g, lang)] for gs in golds]
    if not all(usable):
        return
    preds = {f"q{i}": gs[-1] for i, gs in enumerate(usable)}
    assert squad_evaluate(data, preds) == {"exact_match": 100.0, "f1": 100.0}
    assert mlqa_evaluate(data, preds, lang) == {"exact_match": 100.0, "f1": 100.0}
