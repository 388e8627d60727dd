"""English vs non-English contrast: pairing rules, paired differences, gap differences, the verdict."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stats_records import bernoulli, record, seed_records, write_accuracy_record

from harness.report.contrast import (
    CONTRAST_COLUMNS,
    GAP_CONTRAST_COLUMNS,
    contrast_table,
    gap_contrast_table,
    per_target,
    verdict,
)
from harness.results.store import ResultsStore

TIGHT = (-0.01, 0.0, 0.01)
CLAIMS = re.compile(r"\b(shrink|widen|improve|higher|lower)", re.IGNORECASE)


def seeds(value: float) -> list[float]:
    return [value + d for d in TIGHT]


def scenario(condition: str, home: float, shifted: float, *, model: str = "m", task: str = "pos") -> list:
    return seed_records(condition, task, "test", ["en", "de"], seeds(home), model=model) + seed_records(
        condition,
        task,
        "news",
        ["en", "de"],
        seeds(shifted)[::-1],
        domain="news",
        in_domain=False,
        model=model,
    )


def test_pairing_rules() -> None:
    records = (
        scenario("mmlu-en", 0.8, 0.6)
        + scenario("mmlu-en2", 0.7, 0.5)
        + scenario("mmlu-de", 0.8, 0.7)  # matched_with: mmlu-en
        + scenario("mmlu-de2", 0.8, 0.7)  # matched_with: mmlu-en2 (over the first by name)
        + scenario("mmlu-sw", 0.8, 0.7)  # no matched_with: same model and intermediate task
        + scenario("other-fr", 0.8, 0.7)  # another intermediate task: no English counterpart
        + scenario("mmlu-de", 0.8, 0.7, model="x")  # another model: no English counterpart
        + scenario("none", 0.6, 0.4)  # no intermediate source language: not a contrast row
    )
    table = contrast_table(None, records, n_boot=200)
    assert list(table.columns) == CONTRAST_COLUMNS
    partner = table.groupby("non_english")["english"].first().to_dict()
    assert partner["m+mmlu-de"] == "m+mmlu-en"
    assert partner["m+mmlu-de2"] == "m+mmlu-en2"
    assert partner["m+mmlu-sw"] == "m+mmlu-en"
    assert pd_isna(partner["m+other-fr"]) and pd_isna(partner["x+mmlu-de"])
    assert "m+none" not in partner and "m+mmlu-en" not in partner
    unpaired = table[table["english"].isna()]
    assert len(unpaired) == 8 and unpaired["diff"].isna().all()  # 2 checkpoints × 2 splits × 2 languages
    sentence = verdict(table, gap_contrast_table(None, records, n_boot=200))
    assert "m+other-fr" in sentence and "x+mmlu-de" in sentence and "Unpaired" in sentence


def pd_isna(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def test_paired_difference_and_gap_difference() -> None:
    records = scenario("mmlu-en", 0.80, 0.60) + scenario("mmlu-de", 0.78, 0.70)
    table = contrast_table(None, records, n_boot=500)
    home = table[table["in_domain"].astype(bool)]
    assert home["diff"].to_numpy() == pytest.approx([-0.02, -0.02])  # non-English − English
    shifted = table[~table["in_domain"].astype(bool)]
    assert shifted["diff"].to_numpy() == pytest.approx([0.10, 0.10])
    gaps = gap_contrast_table(None, records, n_boot=500)
    assert list(gaps.columns) == GAP_CONTRAST_COLUMNS
    # (0.70 − 0.78) − (0.60 − 0.80) = +0.12: the non-English source loses 12 points less
    assert gaps["gap_diff"].to_numpy() == pytest.approx([0.12, 0.12])
    assert (gaps["gap_diff_low"] > 0).all() and (gaps["p_value"] < 0.05).all()
    assert set(gaps["split"]) == {"news"} and set(gaps["in_domain_split"]) == {"test"}
    target = per_target(gaps, "gap_diff").iloc[0]
    assert target["task"] == "pos" and target["value"] == pytest.approx(0.12) and target["n_rows"] == 2


def test_example_level_pairing(tmp_path: Path) -> None:
    """Both sides scored on the same examples: the same draws resample both (a paired CI)."""
    rng = np.random.default_rng(0)
    store = ResultsStore(tmp_path)
    english = bernoulli(0.7, 500, rng)
    other = english.copy()
    other[:25] = 1.0  # 25 examples fixed by the non-English source, nothing else changed
    write_accuracy_record(store, record("mmlu-en", "pos", "test", "en", 0), english)
    write_accuracy_record(store, record("mmlu-de", "pos", "test", "en", 0), other)
    row = contrast_table(store, store.records(), n_boot=1000).iloc[0]
    assert row["diff"] == pytest.approx(other.mean() - english.mean())
    assert row["diff_low"] > 0 and row["p_value"] < 0.05 and row["n_examples"] == 500


def test_verdict_clear_shrink() -> None:
    records = scenario("mmlu-en", 0.80, 0.60) + scenario("mmlu-de", 0.80, 0.70)
    sentence = verdict(contrast_table(None, records, 500), gap_contrast_table(None, records, 500))
    assert sentence.startswith("Primary endpoint, shifted-domain gap difference")
    assert "Exploratory, per target" in sentence
    assert "Non-English sources shrink the shifted-domain gap by 10.0 ± " in sentence
    assert "on 1 of 1 target (pos; CIs exclude 0)" in sentence
    assert "In-domain" in sentence and "within noise" in sentence  # equal in-domain: no claim there


def test_verdict_clear_growth() -> None:
    records = scenario("mmlu-en", 0.80, 0.60) + scenario("mmlu-de", 0.80, 0.50)
    sentence = verdict(contrast_table(None, records, 500), gap_contrast_table(None, records, 500))
    assert "widen the shifted-domain gap by 10.0 ± " in sentence and "shrink" not in sentence


def test_verdict_mixed_targets() -> None:
    records = scenario("mmlu-en", 0.80, 0.60) + scenario("mmlu-de", 0.80, 0.70)
    noisy = [0.55, 0.75, 0.95]  # the second target: seeds far apart, CI contains 0
    records += seed_records("mmlu-en", "ner", "test", ["en"], seeds(0.8))
    records += seed_records("mmlu-en", "ner", "news", ["en"], seeds(0.7), domain="news", in_domain=False)
    records += seed_records("mmlu-de", "ner", "test", ["en"], seeds(0.8))
    records += seed_records("mmlu-de", "ner", "news", ["en"], noisy, domain="news", in_domain=False)
    sentence = verdict(contrast_table(None, records, 500), gap_contrast_table(None, records, 500))
    assert "shrink the shifted-domain gap by 10.0 ± " in sentence and "on 1 of 2 targets (pos;" in sentence
    assert "on the other 1 (ner) the difference is within noise" in sentence


def test_verdict_no_pair() -> None:
    records = scenario("mmlu-en", 0.8, 0.6) + scenario("none", 0.7, 0.5)
    sentence = verdict(contrast_table(None, records, 200), gap_contrast_table(None, records, 200))
    assert sentence.startswith("No comparison") and not CLAIMS.search(sentence)
    records += scenario("other-fr", 0.8, 0.7)
    sentence = verdict(contrast_table(None, records, 200), gap_contrast_table(None, records, 200))
    assert sentence.startswith("No comparison") and "m+other-fr" in sentence and not CLAIMS.search(sentence)


def test_verdict_without_ci_says_so() -> None:
    """One seed and no per-example predictions: no CI, so no claim either way."""
    records = [
        record("mmlu-en", "pos", "test", "en", 0.8),
        record("mmlu-en", "pos", "news", "en", 0.6, in_domain=False, domain="news"),
        record("mmlu-de", "pos", "test", "en", 0.8),
        record("mmlu-de", "pos", "news", "en", 0.75, in_domain=False, domain="news"),
    ]
    sentence = verdict(contrast_table(None, records, 200), gap_contrast_table(None, records, 200))
    assert "not judged: fewer than 2 paired seeds" in sentence and not CLAIMS.search(sentence)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(0.3, 0.9), min_size=3, max_size=3),
    st.lists(st.floats(0.3, 0.9), min_size=3, max_size=3),
    st.floats(0.5, 0.9),
)
def test_verdict_never_claims_what_the_ci_does_not_support(
    english_shifted: list[float], other_shifted: list[float], home: float
) -> None:
    records = seed_records("mmlu-en", "pos", "test", ["en"], seeds(home))
    records += seed_records("mmlu-en", "pos", "news", ["en"], english_shifted, domain="news", in_domain=False)
    records += seed_records("mmlu-de", "pos", "test", ["en"], seeds(home))
    records += seed_records("mmlu-de", "pos", "news", ["en"], other_shifted, domain="news", in_domain=False)
    contrast, gaps = contrast_table(None, records, 300), gap_contrast_table(None, records, 300)
    sentence = verdict(contrast, gaps)
    gap = per_target(gaps, "gap_diff").iloc[0]
    home_diff = per_target(contrast, "diff").iloc[0]
    gap_sentence, home_sentence = sentence.split("Exploratory, per target")[1].split(" In-domain, ")
    if gap["low"] <= 0 <= gap["high"]:
        assert not CLAIMS.search(gap_sentence) and "within noise" in gap_sentence
    else:
        assert ("shrink" in gap_sentence) == (gap["low"] > 0)
        assert ("widen" in gap_sentence) == (gap["high"] < 0)
    if home_diff["low"] <= 0 <= home_diff["high"]:
        assert not CLAIMS.search(home_sentence)
