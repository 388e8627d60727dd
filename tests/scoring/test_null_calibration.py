"""Proof that the statistics hold under the null: coverage, A/A false positives, and the claims a
store with one seed or a condition that did not learn can support. The simulations run the real
engine (``cells_from_arrays`` → ``evaluate`` → ``primary_verdict``) on many grids batched at once."""

from __future__ import annotations

import math

import numpy as np
import pytest
from stats_records import seed_records

from harness.report.verdict import primary_verdict, store_verdict, verdict_words
from harness.scoring.bootstrap import holm, t_interval
from harness.scoring.cells import Linear, evaluate
from harness.scoring.items import item_keys
from harness.scoring.simulate import Design, simulate, truth

N_GRIDS = 1000
MC_ERROR = 2 * math.sqrt(0.05 * 0.95 / N_GRIDS)  # two Monte-Carlo standard errors at 5 %


def _language_mean_difference(design: Design, seed: int) -> dict[str, np.ndarray]:
    cs = simulate(design, seed)
    frame = cs.frame
    grid = frame["model"].str[1:].astype(int).to_numpy()
    a = (frame["source_lang"] == "de").to_numpy()
    parts = {
        "a": Linear.mean(grid[a], np.flatnonzero(a), design.grids),
        "b": Linear.mean(grid[~a], np.flatnonzero(~a), design.grids),
    }
    return evaluate(cs, parts, lambda p: {"diff": p["a"] - p["b"]}, p_values=["diff"])


@pytest.mark.parametrize("seeds", [3, 5])
def test_coverage_with_items_clustered_across_five_languages(seeds: int) -> None:
    design = Design(grids=N_GRIDS, seeds=seeds, effect=0.2, seed_sd=0.3, languages=5, items=100)
    stats = _language_mean_difference(design, seed=100 + seeds)
    true = truth(design)
    covered = (stats["diff_low"] <= true) & (true <= stats["diff_high"])
    assert 0.93 <= covered.mean() <= 0.97
    assert set(stats["unit"]) == {"items across languages"} and set(stats["n_paired_seeds"]) == {seeds}


@pytest.mark.parametrize("seeds", [3, 5])
def test_a_over_a_grids_claim_an_effect_at_most_five_percent_of_the_time(seeds: int) -> None:
    design = Design(grids=N_GRIDS, seeds=seeds, effect=0.0, shifted=True, seed_sd=0.3, items=80)
    verdicts = primary_verdict(simulate(design, seed=11 + seeds), by="model")
    assert isinstance(verdicts, list) and len(verdicts) == N_GRIDS
    effects = np.mean([v.claim.endswith("more-robust") for v in verdicts])
    assert effects <= 0.05 + MC_ERROR


def test_a_real_effect_is_found() -> None:
    design = Design(grids=200, seeds=5, effect=0.0, shift_effect=0.8, shifted=True, seed_sd=0.1, items=200)
    assert truth(design) > 0.05
    verdicts = primary_verdict(simulate(design, seed=5), by="model")
    assert np.mean([v.claim == "non-english-more-robust" for v in verdicts]) > 0.8


def _store(seeds: int, de_learning: str | None) -> list:
    records = []
    for condition, shift in (("mmlu-en", 0.0), ("mmlu-de", 0.05)):
        scores = [0.8 + 0.01 * k for k in range(seeds)]
        records += seed_records(condition, "pawsx", "test", ["de", "fr"], scores)
        records += seed_records(
            condition,
            "pawsx",
            "wiki",
            ["de", "fr"],
            [s - 0.2 + shift for s in scores],
            domain="wiki",
            in_domain=False,
        )
    if de_learning:
        for r in records:
            if r.checkpoint.condition == "mmlu-de":
                r.checkpoint.learning = {"status": de_learning}
    return records


def test_a_condition_that_did_not_learn_is_left_out() -> None:
    verdict = store_verdict(None, _store(3, "did-not-learn"), n_boot=200)
    assert verdict.claim == "did-not-learn" and verdict.estimate is None
    assert verdict.excluded and "m+mmlu-de" in verdict.excluded[0]["pair"]
    assert "did not learn" in verdict_words(verdict)


def test_one_seed_is_never_an_effect() -> None:
    verdict = store_verdict(None, _store(1, None), n_boot=200)
    assert verdict.claim in ("insufficient-seeds", "did-not-learn") and verdict.n_seeds == 1
    learned = store_verdict(None, _store(3, "learned"), n_boot=200)
    assert learned.n_seeds == 3 and learned.estimate == pytest.approx(0.05)
    assert learned.resampling_unit == "seeds only + 3 paired seeds"
    assert learned.claim in ("non-english-more-robust", "no-evidence")


def test_holm_adjustment() -> None:
    adjusted = holm(np.array([0.01, 0.04, np.nan, 0.03]))
    assert adjusted[0] == pytest.approx(0.03) and adjusted[3] == pytest.approx(0.06)
    assert adjusted[1] == pytest.approx(0.06) and math.isnan(adjusted[2])


def test_t_interval_limits() -> None:
    one = t_interval(np.array([0.1]), np.array([0.0]), np.array([1]), np.array([0.0]), np.array([False]))
    assert math.isnan(one.low[0]) and math.isnan(one.p[0])
    normal = t_interval(np.array([0.1]), np.array([0.0]), np.array([1]), np.array([0.0025]), np.array([True]))
    assert normal.high[0] - normal.low[0] == pytest.approx(2 * 1.959964 * 0.05, rel=1e-5)


def test_item_keys_align_generated_ids_across_languages() -> None:
    de = item_keys(["test-de-0", "test-de-1"], "by_index", "de")
    fr = item_keys(["test-fr-0", "test-fr-1"], "by_index", "fr")
    assert de == fr and item_keys(["a", "b"], "by_id", "de") == ["a", "b"]
