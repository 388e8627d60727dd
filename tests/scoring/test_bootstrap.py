"""The bootstrap: CI width and coverage on a known answer, determinism, pairing, seeds, quantile maths."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stats_records import bernoulli, record, write_accuracy_record

from harness.report.compare import compare_tables
from harness.results.store import ResultsStore
from harness.scoring.bootstrap import (
    Estimate,
    bootstrap_score,
    example_weights,
    seed_counts,
    stable_seed,
    weighted_quantiles,
)
from harness.scoring.cells import _CACHE
from harness.scoring.stats_tables import score_table


def normal_width(p: float, n: int) -> float:
    return 2 * 1.96 * math.sqrt(p * (1 - p) / n)


def test_bernoulli_ci_has_the_normal_width() -> None:
    rng = np.random.default_rng(1)
    for p, n in ((0.3, 2000), (0.8, 500)):
        correct = bernoulli(p, n, rng)
        est = bootstrap_score(correct, np.ones(n), key=("w", p), n_boot=2000)
        p_hat = correct.mean()
        assert est.value == pytest.approx(p_hat)
        assert est.high - est.low == pytest.approx(normal_width(p_hat, n), rel=0.12)


def test_coverage_over_repeated_draws() -> None:
    """~200 samples of Bernoulli(0.7) of size 300: the 95 % CI holds the true p about 95 % of the time."""
    rng = np.random.default_rng(7)
    p, n, hits = 0.7, 300, 0
    repeats = 200
    for i in range(repeats):
        correct = bernoulli(p, n, rng)
        est = bootstrap_score(correct, np.ones(n), key=("coverage", i), n_boot=500)
        hits += est.low <= p <= est.high
    assert 0.90 <= hits / repeats <= 0.99


def test_store_ci_matches_the_known_answer(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    store = ResultsStore(tmp_path)
    write_accuracy_record(store, record("mmlu-en", "t", "test", "en", 0), bernoulli(0.6, 1500, rng))
    table = score_table(store, store.records(), n_boot=1000)
    row = table.iloc[0]
    assert row["n_examples"] == 1500 and row["n_seeds"] == 1
    assert row["high"] - row["low"] == pytest.approx(normal_width(row["score"], 1500), rel=0.15)
    assert row["low"] <= row["score"] <= row["high"]


def test_identical_inputs_give_identical_cis(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    store = ResultsStore(tmp_path)
    for lang in ("en", "de"):
        for seed in (1, 2):
            rec = record("mmlu-de", "t", "test", lang, 0, seed=seed)
            write_accuracy_record(store, rec, bernoulli(0.5, 100, rng))
    first = score_table(store, store.records(), n_boot=300)
    _CACHE.clear()
    second = score_table(ResultsStore(tmp_path), ResultsStore(tmp_path).records(), n_boot=300)
    assert first.equals(second)
    assert stable_seed("a", 1) == stable_seed("a", 1) != stable_seed("a", 2)


def test_a_checkpoint_against_itself_is_exactly_zero_with_p_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    store = ResultsStore(tmp_path)
    correct = bernoulli(0.7, 200, rng)
    for condition in ("mmlu-en", "mmlu-de"):  # two checkpoints with the very same predictions
        write_accuracy_record(store, record(condition, "t", "test", "en", 0), correct)
    write_accuracy_record(store, record("none", "t", "test", "en", 0), bernoulli(0.5, 200, rng))
    for a, b in (("m+mmlu-en", "m+mmlu-en"), ("m+mmlu-de", "m+mmlu-en")):
        rows, tasks = compare_tables(store, store.records(), a, b, n_boot=500)
        for frame in (rows, tasks):
            assert (
                (frame["diff"] == 0).all()
                and (frame["diff_low"] == 0).all()
                and (frame["diff_high"] == 0).all()
            )
            assert (frame["p_value"] == 1).all()
    rows, _ = compare_tables(store, store.records(), "m+mmlu-en", "m+none", n_boot=500)
    assert rows["p_value"].iloc[0] < 0.05 and rows["diff_low"].iloc[0] > 0


def test_pairing_narrows_the_ci_of_a_difference(tmp_path: Path) -> None:
    """B = A with 10 of 400 answers flipped: the paired CI of A − B is far narrower than an unpaired one."""
    rng = np.random.default_rng(6)
    store = ResultsStore(tmp_path)
    a = bernoulli(0.6, 400, rng)
    b = a.copy()
    flips = rng.choice(400, 10, replace=False)
    b[flips] = 1 - b[flips]
    write_accuracy_record(store, record("mmlu-en", "t", "test", "en", 0), a)
    write_accuracy_record(store, record("mmlu-de", "t", "test", "en", 0), b)
    rows, _ = compare_tables(store, store.records(), "m+mmlu-de", "m+mmlu-en", n_boot=1000)
    paired = rows["diff_high"].iloc[0] - rows["diff_low"].iloc[0]
    unpaired = math.sqrt(2) * normal_width(0.6, 400)
    assert paired < unpaired / 4
    assert rows["diff"].iloc[0] == pytest.approx(b.mean() - a.mean())


@settings(max_examples=40, deadline=None)
@given(st.integers(20, 300), st.floats(0.05, 0.95), st.integers(0, 2**31))
def test_ci_contains_the_point_estimate(n: int, p: float, seed: int) -> None:
    correct = bernoulli(p, n, np.random.default_rng(seed))
    est = bootstrap_score(correct, np.ones(n), key=("contains", seed), n_boot=300)
    assert est.low <= est.value <= est.high


def test_invariant_under_example_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    correct = bernoulli(0.55, 150, rng)
    tables = []
    for k, order in enumerate((np.arange(150), rng.permutation(150), rng.permutation(150))):
        store = ResultsStore(tmp_path / str(k))
        rec = write_accuracy_record(store, record("mmlu-en", "t", "test", "en", 0), correct)
        rows = [
            {"id": f"ex{i:05d}", "prediction": correct[i], "label": 1, "correct": correct[i]} for i in order
        ]
        store.write(rec, rows, store.root / rec.predictions.replace(".predictions.jsonl", ".json"))
        tables.append(score_table(store, store.records(), n_boot=400)[["score", "low", "high"]])
    assert tables[0].equals(tables[1]) and tables[0].equals(tables[2])


def test_seed_level_cis_without_predictions() -> None:
    """No per-example files: one seed → no CI; three seeds → the t-interval of the seeds."""
    one = [record("mmlu-en", "t", "test", "en", 0.7)]
    row = score_table(None, one, n_boot=500).iloc[0]
    assert row["score"] == 0.7 and math.isnan(row["low"]) and math.isnan(row["high"])
    three = [record("mmlu-en", "t", "test", "en", s, seed=i) for i, s in enumerate((0.6, 0.7, 0.8))]
    row = score_table(None, three, n_boot=500).iloc[0]
    assert row["n_seeds"] == 3 and row["score"] == pytest.approx(0.7)
    # a t-interval on 3 seeds (df 2), not the [min, max] a percentile bootstrap of 3 numbers gives
    half = 4.302653 * 0.1 / math.sqrt(3)
    assert row["low"] == pytest.approx(0.7 - half, abs=1e-6) and row["high"] == pytest.approx(
        0.7 + half, abs=1e-6
    )


def test_hierarchical_ci_is_wider_with_seed_spread(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    tight, spread = ResultsStore(tmp_path / "tight"), ResultsStore(tmp_path / "spread")
    base = bernoulli(0.6, 300, rng)
    for seed in (1, 2, 3):
        write_accuracy_record(tight, record("mmlu-en", "t", "test", "en", 0, seed=seed), base)
        shifted = base.copy()
        shifted[: 40 * seed] = seed % 2  # seeds differ by up to 12 points
        write_accuracy_record(spread, record("mmlu-en", "t", "test", "en", 0, seed=seed), shifted)
    width = {}
    for name, store in (("tight", tight), ("spread", spread)):
        row = score_table(store, store.records(), n_boot=1000).iloc[0]
        width[name] = row["high"] - row["low"]
    assert width["spread"] > width["tight"] * 1.2


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(2, 40), st.integers(0, 2**31))
def test_weighted_quantiles_equal_quantiles_of_the_expanded_draws(n_seeds: int, rows: int, seed: int) -> None:
    """Quantiles over distinct seed-count patterns, weighted by their counts, equal those of all draws."""
    n_boot = 200
    scores = np.random.default_rng(seed).random((rows, n_seeds))
    counts = seed_counts(n_seeds, n_boot)
    full = scores @ counts.T / n_seeds
    patterns, weights = np.unique(counts, axis=0, return_counts=True)
    compact = scores @ patterns.T / n_seeds
    qs = (0.025, 0.5, 0.975)
    np.testing.assert_allclose(
        weighted_quantiles(compact, weights.astype(float), qs), np.quantile(full, qs, axis=1), atol=1e-12
    )


def test_example_weights_are_multinomial_counts() -> None:
    w = example_weights(50, 400, 11)
    assert w.shape == (400, 50) and (w.sum(axis=1) == 50).all()
    assert w.mean() == pytest.approx(1.0) and w.var() == pytest.approx(1 - 1 / 50, rel=0.1)
    assert np.array_equal(w, example_weights(50, 400, 11))
    assert example_weights(0, 7, 11).shape == (7, 0)  # a group without items: no columns, no error


def test_estimate_json_has_no_nan() -> None:
    assert Estimate(0.5, float("nan"), 0.6).to_json() == {"value": 0.5, "low": None, "high": 0.6}
