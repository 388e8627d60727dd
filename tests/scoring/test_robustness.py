"""Robustness metrics on constructed records: gap sign, relative drop, worst domain, averaging, CIs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from stats_records import bernoulli, record, seed_records, write_accuracy_record

from harness.results.store import ResultsStore
from harness.scoring.robustness import (
    ROBUSTNESS_COLUMNS,
    SUMMARY_COLUMNS,
    robustness_summary,
    robustness_table,
)

TIGHT = (-0.01, 0.0, 0.01)  # three seeds a point apart: CIs are narrow but exist


def around(value: float) -> list[float]:
    return [value + d for d in TIGHT]


def against(value: float) -> list[float]:
    """Seeds that move against ``around``'s: the gap varies from seed to seed."""
    return [value - d for d in TIGHT]


def constructed() -> list:
    """pos: in-domain 0.80; news 0.70 (gap −0.10), web 0.50 (gap −0.30); yo only shifted (no gap).
    ner: in-domain 0.60, shifted 0.66 (a positive gap)."""
    records = []
    records += seed_records("mmlu-en", "pos", "test", ["en", "de"], around(0.80), domain="wiki")
    records += seed_records(
        "mmlu-en", "pos", "news", ["en", "de"], against(0.70), domain="news", in_domain=False
    )
    records += seed_records(
        "mmlu-en", "pos", "web", ["en", "de"], against(0.50), domain="web", in_domain=False
    )
    records += seed_records("mmlu-en", "pos", "extra", ["yo"], around(0.40), domain="africa", in_domain=False)
    records += seed_records("mmlu-en", "ner", "test", ["en"], around(0.60), domain="wiki")
    records += seed_records("mmlu-en", "ner", "news", ["en"], against(0.66), domain="news", in_domain=False)
    return records


def test_gap_sign_and_relative_drop() -> None:
    table = robustness_table(None, constructed(), n_boot=500)
    assert list(table.columns) == ROBUSTNESS_COLUMNS
    row = table[
        (table["task"] == "pos") & (table["language"] == "de") & (table["shifted_split"] == "news")
    ].iloc[0]
    assert row["in_domain_split"] == "test" and row["domain"] == "news" and row["n_seeds"] == 3
    assert row["in_domain_score"] == pytest.approx(0.80) and row["shifted_score"] == pytest.approx(0.70)
    assert row["gap"] == pytest.approx(-0.10)  # shifted − in-domain: a loss is negative
    assert row["relative_drop"] == pytest.approx(0.125)
    assert row["gap_low"] <= row["gap"] <= row["gap_high"] < 0
    assert row["rel_low"] <= row["relative_drop"] <= row["rel_high"]
    ner = table[table["task"] == "ner"].iloc[0]
    assert ner["gap"] == pytest.approx(0.06) and ner["relative_drop"] == pytest.approx(-0.1)
    assert ner["gap_low"] > 0
    # a shifted language with no in-domain score keeps its score and has no gap (never a made-up 0)
    yo = table[table["language"] == "yo"].iloc[0]
    assert yo["shifted_score"] == pytest.approx(0.40)
    assert math.isnan(yo["gap"]) and math.isnan(yo["in_domain_score"]) and pd.isna(yo["in_domain_split"])


def test_summary_worst_domain_and_means() -> None:
    table = robustness_table(None, constructed(), n_boot=500)
    summary = robustness_summary(table)
    assert list(summary.columns) == SUMMARY_COLUMNS
    pos = summary[summary["task"] == "pos"].iloc[0]
    assert pos["mean_gap"] == pytest.approx(-0.20)  # mean over languages, then over the two domains
    assert pos["gap_low"] <= pos["mean_gap"] <= pos["gap_high"] < 0
    assert pos["worst_domain"] == "web" and pos["worst_gap"] == pytest.approx(-0.30)
    assert pos["n_languages"] == 2 and pos["n_domains"] == 2  # yo (no gap) is not counted
    assert pos["mean_relative_drop"] == pytest.approx((0.125 + 0.375) / 2)
    overall = summary[summary["task"] == "all"].iloc[0]
    assert overall["mean_gap"] == pytest.approx((-0.20 + 0.06) / 2)  # mean over targets
    assert overall["worst_domain"] == "pos:web" and overall["worst_gap"] == pytest.approx(-0.30)
    assert list(summary["task"]) == ["ner", "pos", "all"]


def test_filtered_table_falls_back_to_conservative_bounds() -> None:
    table = robustness_table(None, constructed(), n_boot=500)
    exact = robustness_summary(table)
    only_en = table[table["language"] == "en"]
    fallback = robustness_summary(only_en)
    pos = fallback[fallback["task"] == "pos"].iloc[0]
    rows = only_en[(only_en["task"] == "pos")]
    assert pos["mean_gap"] == pytest.approx(rows["gap"].mean())
    assert pos["gap_low"] == pytest.approx(rows["gap_low"].mean())
    assert pos["gap_high"] == pytest.approx(rows["gap_high"].mean())
    # the bootstrap summary is never wider than the conservative mean of per-row bounds
    exact_pos = exact[exact["task"] == "pos"].iloc[0]
    all_pos = table[table["task"] == "pos"].dropna(subset=["gap"])
    conservative = all_pos["gap_high"].mean() - all_pos["gap_low"].mean()
    assert 0 < exact_pos["gap_high"] - exact_pos["gap_low"] <= conservative + 1e-12


def test_seeds_are_resampled_as_whole_runs() -> None:
    """A seed that scores high in-domain and high shifted (the same run) leaves the gap unchanged: the
    gap's CI is then zero-width although both scores vary by seed."""
    records = seed_records("mmlu-en", "pos", "test", ["en"], around(0.8))
    records += seed_records("mmlu-en", "pos", "news", ["en"], around(0.7), domain="news", in_domain=False)
    row = robustness_table(None, records, n_boot=500).iloc[0]
    assert row["in_high"] - row["in_low"] > 0.01
    assert row["gap_high"] - row["gap_low"] == pytest.approx(0, abs=1e-12)


def test_example_level_gap_ci_with_one_seed(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    store = ResultsStore(tmp_path)
    write_accuracy_record(store, record("mmlu-en", "pos", "test", "en", 0), bernoulli(0.8, 800, rng))
    shifted = record("mmlu-en", "pos", "news", "en", 0, in_domain=False, domain="news")
    write_accuracy_record(store, shifted, bernoulli(0.6, 800, rng))
    table = robustness_table(store, store.records(), n_boot=1000)
    row = table.iloc[0]
    # two independent samples: the gap's CI is about sqrt(2) × a single score's
    single = 2 * 1.96 * math.sqrt(0.7 * 0.3 / 800)
    assert row["gap_high"] - row["gap_low"] == pytest.approx(math.sqrt(2) * single, rel=0.2)
    assert row["gap_high"] < 0


def test_one_seed_without_predictions_has_no_ci() -> None:
    records = [
        record("mmlu-en", "pos", "test", "en", 0.8),
        record("mmlu-en", "pos", "news", "en", 0.7, in_domain=False, domain="news"),
    ]
    row = robustness_table(None, records, n_boot=200).iloc[0]
    assert row["gap"] == pytest.approx(-0.1) and math.isnan(row["gap_low"]) and math.isnan(row["gap_high"])


def test_no_shifted_split_gives_empty_frames() -> None:
    table = robustness_table(None, seed_records("mmlu-en", "pos", "test", ["en"], around(0.8)), n_boot=100)
    assert table.empty and list(table.columns) == ROBUSTNESS_COLUMNS
    assert robustness_summary(table).empty
