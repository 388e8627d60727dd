"""Bootstrap building blocks: resampling weights paired by key, ratio replicates, intervals, p-values.

Every score the harness reports is a *ratio of sums* over examples: ``sum(num) / sum(den)`` (accuracy:
``(correct, 1)``; seqeval or BUCC F1: ``(2·tp, n_pred + n_gold)``; QA: ``((EM + F1) / 2, 1)``; see
``harness.scoring.example_stats``). The bootstrap resamples examples with multinomial weights
``W`` (``n_boot × n``) so one replicate of a seed's score is ``(W @ num) / (W @ den)``, all replicates
in one matrix product.

Pairing. ``W`` is seeded from a hash of what is resampled (``stable_seed``), so two checkpoints scored
on the same examples are resampled with the SAME draws: replicate ``b`` of checkpoint A and replicate
``b`` of checkpoint B see the same examples, and their difference is a paired bootstrap of the
difference.

Who uses what. The statistics engine (``harness.scoring.cells``) draws the item replicates of each
alignment group with ``example_weights`` and reports ``t_interval``: the paired seeds' spread plus the
items' bootstrap variance (``shared_item_variance``), Welch–Satterthwaite degrees of freedom and a
two-sided p-value; the ranking reads ``one_sided_p``, the contrast tables ``holm``. ``bootstrap_score``
is one sample's score with its percentile CI (dev scores, ``harness.training.learning``).
``seed_counts`` and weighted ``percentile_interval`` are the former engine's hierarchical seed
bootstrap, kept for ``benchmarks/null_calibration.py``, which compares the two engines' coverage.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_BOOT = 1000
DEFAULT_LEVEL = 0.95
MAX_WEIGHT_FLOATS = 8_000_000  # floats in one block of resampling weights (bounded memory for large n)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval; NaN bounds when there is no CI."""

    value: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def to_json(self) -> dict[str, float | None]:
        return {
            "value": _json_float(self.value),
            "low": _json_float(self.low),
            "high": _json_float(self.high),
        }


def _json_float(x: float) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def stable_seed(*parts: Any) -> int:
    """A 64-bit seed from the identity of what is resampled (never Python's randomised ``hash``)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def example_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """Multinomial resampling counts, ``n_boot × n`` float64: row ``b`` says how often each example is
    drawn (``n`` uniform draws with replacement, counted; the same law as ``rng.multinomial``, faster)."""
    rng = np.random.default_rng(seed)
    if n == 0:
        return np.zeros((n_boot, 0))
    draws = rng.integers(0, n, size=(n_boot, n)) + (np.arange(n_boot) * n)[:, None]
    return np.bincount(draws.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)


def ratio_replicates(weights: np.ndarray, num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``(W @ num) / (W @ den)`` for stat columns ``num``/``den`` (``n × m``): ``n_boot × m`` replicates.

    A replicate whose denominator is 0 scores 0, as the metrics do (no chunk at all → F1 0).
    """
    n_boot, n = weights.shape
    step = max(1, MAX_WEIGHT_FLOATS // max(n, 1))
    top = np.empty((n_boot, num.shape[1]))
    bottom = np.empty_like(top)
    for start in range(0, n_boot, step):
        block = weights[start : start + step]
        top[start : start + step] = block @ num
        bottom[start : start + step] = block @ den
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), 0.0)


def ratio(num: np.ndarray, den: np.ndarray) -> float:
    total = float(np.sum(den))
    return float(np.sum(num)) / total if total > 0 else 0.0


def seed_counts(n_seeds: int, n_boot: int) -> np.ndarray:
    """How often each of ``n_seeds`` seeds is drawn in each replicate: ``n_boot × n_seeds`` counts.

    Depends only on ``n_seeds`` and ``n_boot``, so seed index ``j`` is resampled together everywhere.
    """
    rng = np.random.default_rng(stable_seed("seeds", n_seeds, n_boot))
    draws = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    return (draws[:, :, None] == np.arange(n_seeds)[None, None, :]).sum(axis=1).astype(np.float64)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray | None, qs: tuple[float, ...]) -> np.ndarray:
    """Row-wise quantiles (``len(qs) × rows``) of replicates ``values`` (``rows × U``).

    ``weights`` (integer counts summing to ``n_boot``) say how many of the ``n_boot`` draws each column
    stands for; the result equals ``np.quantile`` (linear interpolation) over the expanded draws.
    Rows with a non-finite replicate give NaN.
    """
    rows = values.shape[0]
    out = np.full((len(qs), rows), np.nan)
    if rows == 0 or values.shape[1] == 0:
        return out
    finite = np.isfinite(values).all(axis=1)
    good = values[finite]
    if not len(good):
        return out
    if weights is None:
        out[:, finite] = np.quantile(good, qs, axis=1)
        return out
    total = int(round(float(weights.sum())))
    order = np.argsort(good, axis=1, kind="stable")
    ordered = np.take_along_axis(good, order, axis=1)
    cumulative = np.cumsum(weights[order], axis=1)
    for i, q in enumerate(qs):
        h = q * (total - 1)
        lo = math.floor(h)
        frac = h - lo
        lo_pos = (cumulative > lo).argmax(axis=1)
        hi_pos = (cumulative > min(lo + 1, total - 1)).argmax(axis=1)
        lo_val = np.take_along_axis(ordered, lo_pos[:, None], axis=1)[:, 0]
        hi_val = np.take_along_axis(ordered, hi_pos[:, None], axis=1)[:, 0]
        out[i, finite] = lo_val + frac * (hi_val - lo_val)
    return out


def percentile_interval(
    values: np.ndarray, weights: np.ndarray | None = None, level: float = DEFAULT_LEVEL
) -> tuple[np.ndarray, np.ndarray]:
    """The percentile CI (low, high) of each row of replicates."""
    alpha = (1 - level) / 2
    low, high = weighted_quantiles(values, weights, (alpha, 1 - alpha))
    return low, high


def bootstrap_score(
    num: np.ndarray, den: np.ndarray, *, key: tuple[Any, ...] = (), n_boot: int = DEFAULT_BOOT
) -> Estimate:
    """One sample's score with its example-level percentile CI (a convenience over the matrix code)."""
    num = np.asarray(num, dtype=np.float64).reshape(-1, 1)
    den = np.asarray(den, dtype=np.float64).reshape(-1, 1)
    reps = ratio_replicates(example_weights(len(num), n_boot, stable_seed(*key)), num, den).T
    low, high = percentile_interval(reps)
    return Estimate(ratio(num, den), float(low[0]), float(high[0]))


# ---- seeds × items: the interval every table reports ---------------------------------------------
def shared_item_variance(v_items: np.ndarray, v_per_seed: np.ndarray, n_seeds: np.ndarray) -> np.ndarray:
    """The test-set sampling variance shared by all seeds of a seed-averaged statistic.

    The item bootstrap of the seed average (``v_items``) also holds the item×seed noise (a binary
    outcome's own noise, ``σ²_e / (n·S)``), and so does the seed-to-seed spread ``s²/S``. Counting it
    in both would make a 3-seed interval far too wide; one seed's bootstrap (``v_per_seed``, averaged
    over the seeds) holds ``σ²_a/n + σ²_e/n``, so ``(S·v_items − v̄_seed)/(S − 1)`` is the shared
    ``σ²_a/n`` alone (clipped at 0). With one seed, the whole ``v_items`` (nothing to separate).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        shared = (n_seeds * v_items - v_per_seed) / np.maximum(n_seeds - 1, 1)
    return np.where(n_seeds >= 2, np.maximum(shared, 0.0), v_items)


@dataclass(frozen=True)
class TInterval:
    """``point ± t(df)·se`` with ``se² = s²_seed/S + v_items`` and Welch–Satterthwaite ``df``."""

    low: np.ndarray
    high: np.ndarray
    se: np.ndarray
    df: np.ndarray
    p: np.ndarray  # two-sided p-value of "the statistic is 0"


def t_interval(
    point: np.ndarray,
    seed_var: np.ndarray,
    n_seeds: np.ndarray,
    item_var: np.ndarray,
    has_items: np.ndarray,
    level: float = DEFAULT_LEVEL,
) -> TInterval:
    """The interval of a seed-averaged statistic from its seed spread and its item-level variance.

    ``a = s²/S`` (S ≥ 2 paired seeds; 0 otherwise) and ``b = item_var`` (0 without per-example
    statistics); ``df = (a + b)²·(S − 1)/a²`` treats ``b`` as known (it comes from hundreds of items),
    so with ``b = 0`` it is the plain t-interval on S seeds and with ``a = 0`` the normal interval.
    NaN where neither part exists (one seed, no per-example statistics).
    """
    from scipy import stats

    point = np.asarray(point, dtype=np.float64)
    s = np.asarray(n_seeds, dtype=np.float64)
    a = np.where(s >= 2, np.nan_to_num(seed_var) / np.maximum(s, 1), 0.0)
    b = np.where(has_items, np.nan_to_num(item_var), 0.0)
    known = ((s >= 2) | has_items) & np.isfinite(point)
    se = np.where(known, np.sqrt(a + b), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = np.where(a > 0, (a + b) ** 2 * (s - 1) / np.where(a > 0, a, 1.0) ** 2, np.inf)
        q = stats.t.ppf(1 - (1 - level) / 2, df)
        z = np.abs(point) / se
        p = np.where(se > 0, 2 * stats.t.sf(z, df), np.where(point == 0, 1.0, 0.0))
    p = np.where(known, np.minimum(p, 1.0), np.nan)
    return TInterval(point - q * se, point + q * se, se, np.where(known, df, np.nan), p)


def one_sided_p(point: np.ndarray, se: np.ndarray, df: np.ndarray) -> np.ndarray:
    """P-value of "the statistic is ≤ 0" against "> 0" (t with ``df``); NaN without an interval."""
    from scipy import stats

    point, se = np.asarray(point, dtype=np.float64), np.asarray(se, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(se > 0, stats.t.sf(point / se, df), np.where(point > 0, 0.0, 1.0))
    return np.where(np.isfinite(se) & np.isfinite(point), p, np.nan)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error); NaN entries stay NaN and are not counted."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    known = np.flatnonzero(np.isfinite(p))
    m = len(known)
    if not m:
        return out
    order = known[np.argsort(p[known], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out
