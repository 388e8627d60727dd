"""Calibration of the contrast statistics on simulated stores (``harness.scoring.simulate``).

Prints, for 3 and 5 seeds: the coverage of the 95 % interval of a language-mean difference with a
known truth, and the A/A false-positive rate of the primary endpoint's verdict. Baseline in the same
process: the OLD method (examples resampled independently per language, seeds resampled with
replacement on top, percentile interval) on the same simulated data.

    HF_HUB_OFFLINE=1 python benchmarks/null_calibration.py [--grids 1000]
"""

from __future__ import annotations

import argparse

import numpy as np

from harness.report.verdict import primary_verdict
from harness.scoring.bootstrap import percentile_interval, seed_counts
from harness.scoring.cells import CellSet, Linear, evaluate
from harness.scoring.simulate import Design, simulate, truth


def _rows(cs: CellSet, grids: int) -> tuple[Linear, Linear]:
    grid = cs.frame["model"].str[1:].astype(int).to_numpy()
    a = (cs.frame["source_lang"] == "de").to_numpy()
    return Linear.mean(grid[a], np.flatnonzero(a), grids), Linear.mean(grid[~a], np.flatnonzero(~a), grids)


def old_interval(cs: CellSet, weights: dict[str, Linear]) -> tuple[np.ndarray, np.ndarray]:
    """The old engine: per replicate, each cell's seeds resampled with replacement over its
    example-level replicates; percentile interval of the difference."""
    signed = {"a": 1.0, "b": -1.0}
    total = None
    for name, part in weights.items():
        s = int(cs.n_seeds[0])
        counts = seed_counts(s, cs.n_boot)  # (n_boot, s)
        reps = np.stack([cs.example_reps[int(c)] for c in part.cell])  # (k, s, B)
        cell_reps = np.einsum("bs,ksb->kb", counts, reps) / s
        rows = np.zeros((part.n_rows, cs.n_boot))
        np.add.at(rows, part.row, part.weight[:, None] * cell_reps)
        total = signed[name] * rows if total is None else total + signed[name] * rows
    return percentile_interval(total)


def coverage(seeds: int, grids: int) -> tuple[float, float]:
    new_design = Design(grids=grids, seeds=seeds, effect=0.2, seed_sd=0.3)
    old_design = Design(grids=grids, seeds=seeds, effect=0.2, seed_sd=0.3, aligned=False)
    true = truth(new_design)
    cs = simulate(new_design, 100 + seeds)
    a, b = _rows(cs, grids)
    new = evaluate(cs, {"a": a, "b": b}, lambda p: {"d": p["a"] - p["b"]})
    cs_old = simulate(old_design, 100 + seeds)
    low, high = old_interval(cs_old, dict(zip("ab", _rows(cs_old, grids), strict=True)))
    return (
        float(np.mean((new["d_low"] <= true) & (true <= new["d_high"]))),
        float(np.mean((low <= true) & (true <= high))),
    )


def false_positives(seeds: int, grids: int) -> tuple[float, float]:
    design = Design(grids=grids, seeds=seeds, effect=0.0, shifted=True, seed_sd=0.3, items=80)
    cs = simulate(design, 11 + seeds)
    verdicts = primary_verdict(cs, by="model")
    new = float(np.mean([v.claim.endswith("more-robust") for v in verdicts]))
    old_cs = simulate(Design(**{**design.__dict__, "aligned": False}), 11 + seeds)
    grid = old_cs.frame["model"].str[1:].astype(int).to_numpy()
    de = (old_cs.frame["source_lang"] == "de").to_numpy()
    shifted = ~old_cs.frame["in_domain"].to_numpy(dtype=bool)
    parts = {}
    for name, mask, sign in (
        ("a", de & shifted, 1),
        ("b", de & ~shifted, -1),
        ("c", ~de & shifted, -1),
        ("d", ~de & ~shifted, 1),
    ):
        parts[name] = (Linear.mean(grid[mask], np.flatnonzero(mask), grids), sign)
    s = seeds
    counts = seed_counts(s, old_cs.n_boot)
    total = np.zeros((grids, old_cs.n_boot))
    for part, sign in parts.values():
        reps = np.stack([old_cs.example_reps[int(c)] for c in part.cell])
        cell_reps = np.einsum("bs,ksb->kb", counts, reps) / s
        np.add.at(total, part.row, sign * part.weight[:, None] * cell_reps)
    low, high = percentile_interval(total)
    old = float(np.mean((low > 0) | (high < 0)))
    return new, old


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grids", type=int, default=1000)
    args = parser.parse_args()
    print("seeds  coverage new  coverage old  A/A effects new  A/A effects old")
    for seeds in (3, 5):
        cov_new, cov_old = coverage(seeds, args.grids)
        fp_new, fp_old = false_positives(seeds, args.grids)
        print(f"{seeds:>5}  {cov_new:>12.3f}  {cov_old:>12.3f}  {fp_new:>15.3f}  {fp_old:>15.3f}")


if __name__ == "__main__":
    main()
