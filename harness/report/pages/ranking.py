"""Ranks from paired tests: a row shares the rank of the row above unless a paired one-sided test
separates them (EuroEval's rule), never from overlap of unpaired intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from harness.catalogue.schema import GroupSpec
from harness.report.pages.format import is_number
from harness.scoring.bootstrap import one_sided_p
from harness.scoring.cells import CellSet, Linear, evaluate, regroup
from harness.scoring.stats_tables import OVERALL, group_rows, task_means

ALPHA = 0.05
TIE_RULE = (
    "Rows are ordered by their ranking score (best first). A row shares the rank of the row directly "
    "above it unless a paired one-sided test at α = 0.05 says the row above scores higher: the "
    "difference of the two checkpoints' scores, on the same test items and the same seeds, with its "
    "seed and item-bootstrap variance (a t-test with Welch–Satterthwaite degrees of freedom). "
    "Otherwise its rank is its position (1, 1, 3, …). A pair without an interval (one seed and no "
    "per-example predictions) cannot be separated and shares the rank; a row without a ranking score "
    "comes last, unranked."
)


def paired_ranks(values: Sequence[object], p_above: Sequence[float | None]) -> list[int | None]:
    """Ranks for rows already sorted best first (missing values last). ``p_above[i]``: the one-sided
    p-value that row ``i − 1`` scores higher than row ``i`` (NaN/None: cannot be separated)."""
    ranks: list[int | None] = []
    for position, (value, p) in enumerate(zip(values, p_above, strict=True), start=1):
        if not is_number(value):
            ranks.append(None)
            continue
        separated = p is not None and math.isfinite(float(p)) and float(p) < ALPHA
        ranks.append(ranks[-1] if ranks and ranks[-1] is not None and not separated else position)
    return ranks


def _score_parts(cs: CellSet, ranked_by: str, group: GroupSpec | None) -> tuple[list[str], Linear]:
    """One row per checkpoint: its ranking score (``overall``: the group's aggregate, or the mean over
    its targets) over cells."""
    frame = cs.frame
    ident, linear = task_means(frame, frame["in_domain"].to_numpy(dtype=bool))
    if ranked_by == OVERALL:
        ident, linear = group_rows(ident, linear, group)
        keep = (ident["task"] == OVERALL).to_numpy()
    else:
        keep = np.ones(len(ident), dtype=bool)
    chosen = ident[keep]
    names = sorted(set(chosen["checkpoint"].astype(str)))
    out_rows = np.searchsorted(np.asarray(names, dtype=object), chosen["checkpoint"].astype(str).to_numpy())
    per_checkpoint = np.bincount(out_rows, minlength=len(names)).astype(np.float64)
    source = np.flatnonzero(keep)
    return names, regroup(linear, source, out_rows, 1.0 / per_checkpoint[out_rows], len(names))


def adjacent_p_values(
    cs: CellSet, ranked_by: str, ordered: Sequence[str], group: GroupSpec | None = None
) -> list[float]:
    """For rows in rank order: the one-sided paired p-value that the row above scores higher than the
    row (NaN for the first row and wherever either side has no score). ``group``: whose ``overall``."""
    out = [math.nan] * len(ordered)
    if len(ordered) < 2 or cs.frame.empty:
        return out
    names, scores = _score_parts(cs, ranked_by, group)
    where = {name: i for i, name in enumerate(names)}
    pairs = [
        (i, where[ordered[i - 1]], where[ordered[i]])
        for i in range(1, len(ordered))
        if ordered[i - 1] in where and ordered[i] in where
    ]
    if not pairs:
        return out
    index, above, below = (np.asarray(column, dtype=np.int64) for column in zip(*pairs, strict=True))
    n = len(pairs)
    slots = np.arange(n)
    diff = regroup(scores, np.r_[above, below], np.r_[slots, slots], np.r_[np.ones(n), -np.ones(n)], n)
    stats = evaluate(cs, {"diff": diff}, lambda p: {"diff": p["diff"]})
    p = one_sided_p(stats["diff"], stats["diff_se"], stats["diff_df"])
    for slot, row in enumerate(index.tolist()):
        out[row] = float(p[slot])
    return out
