"""Simulated stores with a known truth, for the calibration tests and ``benchmarks/null_calibration.py``.

The generative model is the one the intervals must survive (logit scale, per-example binary outcome):

    logit P(correct) = μ_split + lang_ℓ + item_i + item×lang_iℓ + cond_c + seed_cs + noise_csiℓ

- ``item_i``: an item's difficulty, shared by all its translations (the clustering across languages);
- ``item×lang``: how well the item survived translation, shared by every checkpoint and seed;
- ``seed_cs``: one fine-tuning run's effect, shared by every item and language of (checkpoint, seed);
- ``noise``: item×seed noise; then a Bernoulli draw per example.

Many simulated grids are batched into ONE CellSet (one task, hence one alignment group, per grid), so
the real engine (``cells_from_arrays`` → ``evaluate``) runs once over all of them. The truth (the
population difference of expected accuracies) is computed by Gauss–Hermite quadrature, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.scoring.cells import CellSet, cells_from_arrays
from harness.scoring.example_stats import ExampleStats


@dataclass(frozen=True)
class Design:
    grids: int = 1000
    languages: int = 5
    items: int = 100
    seeds: int = 3
    effect: float = 0.2  # logit shift of condition A over B (0: A/A)
    item_sd: float = 1.0
    item_lang_sd: float = 0.5
    seed_sd: float = 0.15
    noise_sd: float = 0.5
    shift: float = -0.6  # the shifted split's offset (when ``shifted``)
    shift_effect: float = 0.0  # extra logit shift of condition A on the shifted split only
    shifted: bool = False  # an in-domain and a shifted split per grid (the gap endpoint)
    aligned: bool = True  # record the task's items as aligned (False: the old per-language resampling)
    n_boot: int = 200


LANG_EFFECTS = (0.3, 0.0, -0.2, -0.4, 0.1, -0.1, 0.2, -0.3)


def _lang_effects(n: int) -> np.ndarray:
    return np.resize(np.asarray(LANG_EFFECTS), n)


def expected_accuracy(location: np.ndarray, sd: float) -> np.ndarray:
    """E[sigmoid(location + sd·Z)], Z standard normal (Gauss–Hermite, 64 nodes)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(64)
    values = 1 / (1 + np.exp(-(np.asarray(location)[..., None] + sd * nodes)))
    return (values * weights).sum(axis=-1) / np.sqrt(2 * np.pi)


def truth(design: Design) -> float:
    """The population value of the statistic the engine estimates: the language-mean accuracy
    difference A − B (or, with ``shifted``, the difference of the shifted-minus-in-domain gaps)."""
    sd = float(np.sqrt(design.item_sd**2 + design.item_lang_sd**2 + design.seed_sd**2 + design.noise_sd**2))
    lang = _lang_effects(design.languages)

    def acc(offset: float, cond: float) -> float:
        return float(expected_accuracy(0.5 + offset + lang + cond, sd).mean())

    if not design.shifted:
        return acc(0.0, design.effect) - acc(0.0, 0.0)
    gap_a = acc(design.shift, design.effect + design.shift_effect) - acc(0.0, design.effect)
    gap_b = acc(design.shift, 0.0) - acc(0.0, 0.0)
    return gap_a - gap_b


def _outcomes(design: Design, rng: np.random.Generator, offset: float, extra: float) -> np.ndarray:
    """Binary outcomes ``(grids, 2 conditions, seeds, languages, items)`` of one split."""
    g, s, n_l, n = design.grids, design.seeds, design.languages, design.items
    item = rng.normal(0, design.item_sd, (g, 1, 1, 1, n))
    item_lang = rng.normal(0, design.item_lang_sd, (g, 1, 1, n_l, n))
    seed = rng.normal(0, design.seed_sd, (g, 2, s, 1, 1))
    noise = rng.normal(0, design.noise_sd, (g, 2, s, n_l, n))
    cond = np.array([design.effect + extra, 0.0]).reshape(1, 2, 1, 1, 1)
    lang = _lang_effects(n_l).reshape(1, 1, 1, n_l, 1)
    logit = 0.5 + offset + lang + item + item_lang + cond + seed + noise
    return (rng.random(logit.shape) < 1 / (1 + np.exp(-logit))).astype(np.float64)


CONDITIONS = (("de", "translated"), ("en", "english"))


def simulate(design: Design, seed: int) -> CellSet:
    """One CellSet holding ``design.grids`` simulated grids: model ``m<g>``, checkpoints ``m<g>+de``
    (condition A, non-English source) and ``m<g>+en`` (B), task ``t<g>``."""
    rng = np.random.default_rng(seed)
    splits = [("test", True, 0.0, 0.0)]
    if design.shifted:
        splits.append(("shifted", False, design.shift, design.shift_effect))
    ids = tuple(f"i{k}" for k in range(design.items))
    den = np.ones(design.items)
    rows: list[dict[str, Any]] = []
    seeds: list[list[int]] = []
    scores: list[list[float]] = []
    stats: dict[int, list[ExampleStats]] = {}
    seed_numbers = list(range(1, design.seeds + 1))
    for split, in_domain, offset, extra in splits:
        outcome = _outcomes(design, rng, offset, extra)
        split_ids = ids if split == "test" else tuple(f"s{k}" for k in range(design.items))
        for g in range(design.grids):
            for c, (lang, source_type) in enumerate(CONDITIONS):
                for ell in range(design.languages):
                    cell = len(rows)
                    rows.append(
                        {
                            "checkpoint": f"m{g}+{lang}",
                            "model": f"m{g}",
                            "condition": lang,
                            "intermediate_task": "sim",
                            "source_lang": lang,
                            "source_type": source_type,
                            "intermediate_size": None,
                            "matched_with": None,
                            "frozen_embeddings": False,
                            "learning_status": "learned",
                            "task": f"t{g}",
                            "split": split,
                            "domain": split,
                            "in_domain": in_domain,
                            "language": f"l{ell}",
                            "items": "by_id" if design.aligned else "independent",
                            "n_examples": design.items,
                        }
                    )
                    values = outcome[g, c, :, ell, :]
                    seeds.append(seed_numbers)
                    scores.append(values.mean(axis=1).tolist())
                    stats[cell] = [ExampleStats(split_ids, values[k], den) for k in range(design.seeds)]
    frame = pd.DataFrame(rows)
    return cells_from_arrays(frame, seeds, scores, stats, design.n_boot)
