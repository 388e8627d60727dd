"""Cells - one per (checkpoint, task, split, language) - and the engine every statistics table runs on.

A cell holds its seeds' main scores and, when every seed's per-example predictions reduce to its
score, the per-seed item-level bootstrap replicates. A table row is a *linear* combination of cells
(a mean over languages, one split minus another, a checkpoint minus its counterpart) or an
element-wise function of a few such combinations (a relative drop); ``evaluate`` computes each
row's point value and its interval from two layers:

- **seeds**: the row's value per *paired* seed (the same seed number in every cell of the row; a
  one-seed cell counts as a constant) - their spread ``s²`` over ``S`` seeds;
- **items**: the bootstrap over items, drawn ONCE per replicate per alignment group
  (``harness.scoring.items``: a task whose items are translations is one group for all its
  languages, splits and checkpoints; other tasks one group per (task, split, language)), so two
  checkpoints, two languages or two splits that share an item are resampled together.

The interval is a t-interval with Welch–Satterthwaite degrees of freedom
(``harness.scoring.bootstrap.t_interval``); with fewer than 2 paired seeds it covers test-set
sampling only (``n_paired_seeds`` says so), and a row with neither layer has none (NaN).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np
import pandas as pd
from scipy import sparse

from harness.results.schema import Record
from harness.scoring.bootstrap import (
    DEFAULT_LEVEL,
    MAX_WEIGHT_FLOATS,
    example_weights,
    shared_item_variance,
    stable_seed,
    t_interval,
)
from harness.scoring.example_stats import ExampleStats, record_stats
from harness.scoring.items import (
    UNIT_ALIGNED,
    UNIT_EXAMPLES,
    UNIT_SEEDS,
    alignment_group,
    item_keys,
    item_rule,
)
from harness.scoring.record_arrays import RecordArrays, object_array, record_arrays

log = logging.getLogger("harness.stats")

CELL_KEYS = ["checkpoint", "task", "split", "language"]
SCORE_TOLERANCE = 1e-9


@dataclass
class CellSet:
    frame: pd.DataFrame  # one row per cell, sorted by CELL_KEYS, RangeIndex = cell id
    seed_scores: np.ndarray  # (cells, max seeds), NaN-padded; seeds in ascending order
    n_seeds: np.ndarray  # (cells,)
    example_reps: dict[int, np.ndarray]  # cell id -> (seeds, n_boot) item-level replicates
    n_boot: int
    seed_columns: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), np.int64))  # into seed_values
    seed_values: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # distinct seed numbers

    @property
    def seed_matrix(self) -> np.ndarray:
        """``cells × K`` scores on the global seed axis (``seed_values``), NaN where a cell lacks a seed."""
        out = np.full((len(self.frame), len(self.seed_values)), np.nan)
        rows, ordinal = np.nonzero(np.arange(self.seed_scores.shape[1])[None, :] < self.n_seeds[:, None])
        out[rows, self.seed_columns[rows, ordinal]] = self.seed_scores[rows, ordinal]
        return out

    @property
    def aligned(self) -> np.ndarray:
        """Per cell: its task's items are aligned across languages (one draw for the whole task)."""
        return self.frame["items"].isin(["by_id", "by_index"]).to_numpy(dtype=bool)

    @property
    def has_examples(self) -> np.ndarray:
        mask = np.zeros(len(self.frame), dtype=bool)
        mask[list(self.example_reps)] = True
        return mask


@dataclass(frozen=True)
class Linear:
    """``out[row] = Σ weight · cell`` over the triplets (row, cell, weight); a row without any is NaN."""

    row: np.ndarray
    cell: np.ndarray
    weight: np.ndarray
    n_rows: int

    @classmethod
    def mean(cls, row: np.ndarray, cell: np.ndarray, n_rows: int) -> Linear:
        row = np.asarray(row, dtype=np.int64)
        counts = np.bincount(row, minlength=n_rows).astype(np.float64)
        return cls(row, np.asarray(cell, dtype=np.int64), 1.0 / counts[row], n_rows)

    @classmethod
    def pick(cls, cell: np.ndarray) -> Linear:
        """Row i is cell ``cell[i]`` (−1: no cell, NaN)."""
        cell = np.asarray(cell, dtype=np.int64)
        rows = np.flatnonzero(cell >= 0)
        return cls(rows, cell[rows], np.ones(len(rows)), len(cell))


# ---- building the cells ----------------------------------------------------------------------------
_CACHE: dict[str, tuple] = {}


def build_cells(root: Path | None, records: Sequence[Record], n_boot: int) -> CellSet:
    """The cells of ``records``; per-example statistics are read from ``root`` when they are there.

    The last result is cached: by the identity of ``records`` (the same list passed to several
    tables), else by a fingerprint of the records' fields (a fresh ``store.records()`` of one store).
    """
    endpoints = tuple(sorted({declared_endpoint(r) or "" for r in records}))  # not in the fingerprint
    where = (str(root), n_boot, endpoints)
    cached = _CACHE.get("last")
    if cached is not None and cached[0] == where and cached[1] is records and cached[2] == len(records):
        return cached[4]
    arrays = record_arrays(records)
    content = arrays.fingerprint(where)
    if cached is not None and cached[3] == content:
        cells = cached[4]
    else:
        cells = _build(root, records, arrays, n_boot)
    _CACHE["last"] = (where, records, len(records), content, cells)
    return cells


def learning_status(checkpoint: object) -> str:
    """The intermediate phase's learning status (``unknown`` on records that predate it)."""
    learning = getattr(checkpoint, "learning", None)
    status = learning.get("status") if isinstance(learning, dict) else None
    return status if isinstance(status, str) else "unknown"


def regime_of(checkpoint: object) -> str:
    """``fine-tuned`` (every grid run) or ``prompted`` (a decoder LM imported from lm-eval)."""
    regime = getattr(checkpoint, "regime", None)
    return regime if isinstance(regime, str) else "fine-tuned"


def badge_of(checkpoint: object) -> str | None:
    """The badge shown beside a prompted checkpoint's name ("prompted, 5-shot"); None when fine-tuned."""
    badge = getattr(checkpoint, "badge", None)
    return badge if isinstance(badge, str) else None


def checkpoint_badges(frame: pd.DataFrame) -> dict[str, str]:
    """Per prompted checkpoint of a frame with ``checkpoint`` and ``badge`` columns (the cells, or a
    table ``with_badge`` gave one), its badge; {} when every row is fine-tuned."""
    if "badge" not in frame.columns or frame.empty:
        return {}
    badged = frame[frame["badge"].notna()]
    return {str(c): str(b) for c, b in zip(badged["checkpoint"], badged["badge"], strict=True)}


def with_badge(table: pd.DataFrame, badges: Mapping[str, str]) -> pd.DataFrame:
    """``table`` with a ``badge`` column right after ``checkpoint`` ("prompted, 5-shot"; None for a
    fine-tuned row) when some row is prompted; unchanged otherwise, so tables of fine-tuned checkpoints
    keep their columns and bytes."""
    if not badges or "checkpoint" not in table.columns or table.empty:
        return table
    table = table.drop(columns=["badge"], errors="ignore")
    values = object_array([badges.get(str(c)) for c in table["checkpoint"]])
    table.insert(list(table.columns).index("checkpoint") + 1, "badge", values)
    return table


def declared_endpoint(record: Record) -> str | None:
    """The primary endpoint the record's grid declared (None on records that predate the field)."""
    value = record.settings.get("primary_endpoint") if isinstance(record.settings, dict) else None
    return value if isinstance(value, str) else None


def cells_from_arrays(
    frame: pd.DataFrame,
    seeds: Sequence[Sequence[int]],
    seed_scores: Sequence[Sequence[float]],
    stats: Mapping[int, list[ExampleStats]],
    n_boot: int,
) -> CellSet:
    """A CellSet from plain arrays (the simulations and benchmarks run the real engine on it):
    ``frame`` one row per cell (checkpoint, task, split, language, items, …), each cell's seed
    numbers and scores (ascending seeds), and per-example statistics per cell (one per seed)."""
    n_cells = len(frame)
    width = max((len(s) for s in seeds), default=1)
    seed_values = np.unique(
        np.concatenate([np.asarray(s, dtype=np.int64) for s in seeds] or [np.zeros(0, dtype=np.int64)])
    )
    scores = np.full((n_cells, width), np.nan)
    columns = np.zeros((n_cells, width), dtype=np.int64)
    for cell, (numbers, values) in enumerate(zip(seeds, seed_scores, strict=True)):
        scores[cell, : len(values)] = values
        columns[cell, : len(numbers)] = np.searchsorted(seed_values, numbers)
    n_seeds = np.array([len(s) for s in seeds], dtype=np.int64)
    frame = frame.reset_index(drop=True).copy()
    frame["score"] = np.nanmean(scores, axis=1)
    frame["n_seeds"] = n_seeds
    out = CellSet(frame, scores, n_seeds, {}, n_boot, columns, seed_values.astype(np.int64))
    out.example_reps = paired_replicates(frame, dict(stats), n_boot)
    out.frame["has_examples"] = out.has_examples
    return out


def _cell_frame(a: RecordArrays, first: np.ndarray, order: np.ndarray, starts: np.ndarray) -> pd.DataFrame:
    """One row per cell: the identifying fields of its first record, its codes, n_examples, baseline."""
    cks = [a.checkpoints[k] for k in a.ck_index[first]]
    tasks = [a.tasks[k] for k in a.task_index[first]]
    splits = [a.splits[k] for k in a.split_index[first]]
    columns: dict[str, object] = {
        "checkpoint": a.names["checkpoint"][a.ck_code[first]],
        "model": object_array([c.model for c in cks]),
        "condition": object_array([c.condition for c in cks]),
        "intermediate_task": object_array([c.intermediate_task for c in cks]),
        "source_lang": object_array([c.source_lang for c in cks]),
        "source_type": object_array([c.source_type for c in cks]),
        "intermediate_size": object_array([c.intermediate_size for c in cks]),
        "matched_with": object_array([c.matched_with for c in cks]),
        "frozen_embeddings": np.array([bool(c.frozen_embeddings) for c in cks], dtype=bool),
        "learning_status": object_array([learning_status(c) for c in cks]),
        "regime": object_array([regime_of(c) for c in cks]),
        "badge": object_array([badge_of(c) for c in cks]),
        "task": a.names["task"][a.task_code[first]],
        "kind": object_array([t.kind for t in tasks]),
        "protocol": object_array([t.protocol for t in tasks]),
        "items": object_array([item_rule(t) for t in tasks]),
        "split": a.names["split"][a.split_code[first]],
        "domain": object_array([s.domain for s in splits]),
        "in_domain": np.array([bool(s.in_domain) for s in splits], dtype=bool),
        "language": a.names["language"][a.lang_code[first]],
        "main_metric": a.metric[first],
        "baseline_name": a.baseline_name[first],
    }
    frame = pd.DataFrame(
        {k: pd.Series(v, dtype=object if np.asarray(v).dtype == object else None) for k, v in columns.items()}
    )
    counts = np.diff(np.r_[starts, len(order)])
    frame["n_examples"] = np.maximum.reduceat(a.n_examples[order], starts) if len(order) else []
    base = a.baseline[order]
    known = np.add.reduceat(np.isfinite(base).astype(float), starts) if len(order) else np.zeros(0)
    total = np.add.reduceat(np.nan_to_num(base), starts) if len(order) else np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["baseline"] = np.where(known > 0, total / np.maximum(known, 1), np.nan)
    for name, codes in (("ck_code", a.ck_code), ("task_code", a.task_code), ("split_code", a.split_code)):
        frame[name] = codes[first]
    frame["lang_code"] = a.lang_code[first]
    frame["n_records"] = counts
    return frame


def _build(root: Path | None, records: Sequence[Record], a: RecordArrays, n_boot: int) -> CellSet:
    order = np.lexsort((a.seed, a.lang_code, a.split_code, a.task_code, a.ck_code))
    keys = np.stack([a.ck_code, a.task_code, a.split_code, a.lang_code])[:, order]
    change = np.r_[True, (keys[:, 1:] != keys[:, :-1]).any(axis=0)] if len(order) else np.zeros(0, bool)
    starts = np.flatnonzero(change)
    cell_of = np.cumsum(change) - 1  # per sorted record
    n_cells = len(starts)
    ordinal = np.arange(len(order)) - starts[cell_of] if len(order) else np.zeros(0, np.int64)
    width = int(ordinal.max()) + 1 if len(order) else 1
    seed_scores = np.full((n_cells, width), np.nan)
    seed_scores[cell_of, ordinal] = a.score[order]
    seed_values, seed_code = np.unique(a.seed[order], return_inverse=True)
    seed_columns = np.zeros((n_cells, width), dtype=np.int64)
    seed_columns[cell_of, ordinal] = seed_code.reshape(-1)
    n_seeds = np.bincount(cell_of, minlength=n_cells)
    cells = _cell_frame(a, order[starts], order, starts)
    cells["primary_endpoint"] = object_array([declared_endpoint(records[i]) for i in order[starts]])
    cells["score"] = np.nanmean(seed_scores, axis=1) if n_cells else []
    cells["n_seeds"] = n_seeds
    out = CellSet(cells, seed_scores, n_seeds, {}, n_boot, seed_columns, seed_values)
    if root is not None and (Path(root) / "records").is_dir():
        per_cell: list[list[Record]] = [[] for _ in range(n_cells)]
        for cell, rec in zip(cell_of.tolist(), order.tolist(), strict=True):
            per_cell[cell].append(records[rec])
        out.example_reps = _example_replicates(Path(root), cells, per_cell, n_boot)
    out.frame["has_examples"] = out.has_examples
    return out


def _example_replicates(
    root: Path, cells: pd.DataFrame, per_cell: list[list[Record]], n_boot: int
) -> dict[int, np.ndarray]:
    """Per cell whose every seed reduces to its score: ``(seeds, n_boot)`` replicates, paired by key."""
    return paired_replicates(cells, usable_stats(root, per_cell), n_boot)


def usable_stats(root: Path, per_cell: list[list[Record]]) -> dict[int, list[ExampleStats]]:
    """Per cell, its seeds' per-example statistics, when every seed's reduce to its stored score."""
    usable: dict[int, list[ExampleStats]] = {}
    for cell, recs in enumerate(per_cell):
        stats = [record_stats(root, r) for r in recs]
        found = [s for s in stats if s is not None]
        if len(found) == len(stats) and all(
            abs(s.score() - r.main_score) <= SCORE_TOLERANCE for s, r in zip(found, recs, strict=True)
        ):
            usable[cell] = found
        elif found:
            log.warning(
                "%s: per-example statistics do not reproduce the score; seed CIs only", recs[0].job_key
            )
    return usable


def group_replicates(
    key: tuple, n_items: int, num: sparse.csc_matrix, den: sparse.csc_matrix, n_boot: int
) -> np.ndarray:
    """``(W @ num) / (W @ den)`` for one alignment group (``n_items × columns`` sparse statistics):
    ``n_boot × columns``. ``W`` is drawn in blocks of replicates (bounded memory for large groups),
    each seeded from the group's identity, so the same store gives the same replicates."""
    step = max(1, MAX_WEIGHT_FLOATS // max(n_items, 1))
    top = np.empty((n_boot, num.shape[1]))
    bottom = np.empty_like(top)
    for start in range(0, n_boot, step):
        rows = min(step, n_boot - start)
        weights = example_weights(n_items, rows, stable_seed("items", *key, n_items, n_boot, start))
        top[start : start + rows] = np.asarray(num.T @ weights.T).T
        bottom[start : start + rows] = np.asarray(den.T @ weights.T).T
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), 0.0)


def paired_replicates(
    cells: pd.DataFrame, usable: dict[int, list[ExampleStats]], n_boot: int
) -> dict[int, np.ndarray]:
    """The item-level replicates: one draw of item keys per alignment group, shared by its cells."""
    rules = cells["items"].to_numpy() if "items" in cells.columns else np.full(len(cells), "independent")
    tasks, splits, languages = (cells[c].to_numpy() for c in ("task", "split", "language"))
    by_group: dict[tuple[str, ...], list[int]] = {}
    for cell in usable:
        key = alignment_group(tasks[cell], splits[cell], languages[cell], rules[cell])
        by_group.setdefault(key, []).append(cell)
    out: dict[int, np.ndarray] = {}
    for key, members in sorted(by_group.items()):
        position: dict[str, int] = {}
        rows, cols, nums, dens = [], [], [], []
        column = 0
        known: dict[tuple[int, str], np.ndarray] = {}  # the same ids tuple recurs for every seed
        for cell in members:
            language, rule = languages[cell], rules[cell]
            for s in usable[cell]:
                memo = (id(s.ids), language if rule == "by_index" else "")
                if memo not in known:
                    keys = item_keys(s.ids, rule, language)
                    known[memo] = np.fromiter(
                        (position.setdefault(k, len(position)) for k in keys), np.int64, s.n
                    )
                rows.append(known[memo])
                cols.append(np.full(s.n, column, dtype=np.int64))
                nums.append(s.num)
                dens.append(s.den)
                column += 1
        # items in key order, so the replicates do not depend on the order cells were read
        rank = np.empty(len(position), dtype=np.int64)
        rank[[position[k] for k in sorted(position)]] = np.arange(len(position))
        shape = (len(position), column)
        r, c = rank[np.concatenate(rows)], np.concatenate(cols)
        num = sparse.csc_matrix((np.concatenate(nums), (r, c)), shape=shape)
        den = sparse.csc_matrix((np.concatenate(dens), (r, c)), shape=shape)
        reps = group_replicates(key, shape[0], num, den, n_boot)
        start = 0
        for cell in members:
            k = len(usable[cell])
            out[cell] = reps[:, start : start + k].T.copy()
            start += k
    return out


# ---- the engine ------------------------------------------------------------------------------------
MAX_SLOT_CELLS = 4_000_000  # floats per block of (rows × seed slots × replicates) in the item layer
Combine = Callable[[dict[str, np.ndarray]], Mapping[str, np.ndarray]]


def _sum_rows(row: np.ndarray, values: np.ndarray, n_rows: int) -> np.ndarray:
    """Per row, the sum of ``values`` (entries × …) of its entries; NaN propagates (a missing seed)."""
    out = np.zeros((n_rows, *values.shape[1:]))
    if not len(row):
        return out
    order = np.argsort(row, kind="stable")
    rows, values = row[order], values[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    out[rows[starts]] = np.add.reduceat(values, starts, axis=0)
    return out


def _broadcast_seeds(cs: CellSet) -> np.ndarray:
    """``cells × K`` seed scores on the global seed axis; a one-seed cell (an untrained retrieval
    record, or a one-seed run) is a constant in every seed column, so it never removes a row's
    paired seeds - its training variance simply goes unmeasured."""
    matrix = cs.seed_matrix.copy()
    single = cs.n_seeds == 1
    matrix[single] = cs.frame["score"].to_numpy(dtype=np.float64)[single, None]
    return matrix


def _seed_layer(cs: CellSet, parts: Mapping[str, Linear], combine: Combine) -> dict[str, np.ndarray]:
    """Per combined stat, its value per paired seed (``rows × K``, NaN where a cell lacks the seed)."""
    matrix = _broadcast_seeds(cs)
    values: dict[str, np.ndarray] = {}
    for name, part in parts.items():
        summed = _sum_rows(part.row, part.weight[:, None] * matrix[part.cell], part.n_rows)
        present = np.bincount(part.row, minlength=part.n_rows) > 0
        summed[~present] = np.nan
        values[name] = summed
    with np.errstate(invalid="ignore", divide="ignore"):
        return dict(combine(values))


def _cell_slots(cs: CellSet, cells: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Item replicates of ``cells``: ``(cells, 1 + K, n_boot)``; slot 0 the seed average, slot 1 + j
    seed column j. Cells without per-example statistics are constants (no item variance)."""
    k = matrix.shape[1]
    point = cs.frame["score"].to_numpy(dtype=np.float64)
    out = np.empty((len(cells), 1 + k, cs.n_boot))
    out[:, 0, :] = point[cells, None]
    out[:, 1:, :] = matrix[cells][:, :, None]
    for i, cell in enumerate(cells.tolist()):
        reps = cs.example_reps.get(cell)
        if reps is None:
            continue
        out[i, 0] = reps.mean(axis=0)
        if cs.n_seeds[cell] == 1:
            out[i, 1:] = reps[0]
        else:
            columns = cs.seed_columns[cell, : cs.n_seeds[cell]]
            out[i, 1 + columns] = reps
    return out


def _item_layer(
    cs: CellSet, parts: Mapping[str, Linear], combine: Combine, rows: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per combined stat and chosen row: the item-bootstrap variance of its seed average and, per seed
    column, of that seed alone (``(rows,)``, ``(rows, K)``), in blocks of rows (bounded memory)."""
    matrix = _broadcast_seeds(cs)
    k = matrix.shape[1]
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    step = max(1, MAX_SLOT_CELLS // ((1 + k) * cs.n_boot * 2))
    local = np.full(next(iter(parts.values())).n_rows, -1, dtype=np.int64)
    for start in range(0, len(rows), step):
        chosen = rows[start : start + step]
        local[:] = -1
        local[chosen] = np.arange(len(chosen))
        summed: dict[str, np.ndarray] = {}
        for name, part in parts.items():
            keep = local[part.row] >= 0
            slots = _cell_slots(cs, part.cell[keep], matrix)
            summed[name] = _sum_rows(
                local[part.row[keep]], part.weight[keep, None, None] * slots, len(chosen)
            )
        with np.errstate(invalid="ignore", divide="ignore"):
            combined = combine(summed)
        for name, reps in combined.items():
            v_avg = np.var(reps[:, 0, :], axis=-1, ddof=1)
            v_seed = np.var(reps[:, 1:, :], axis=-1, ddof=1)
            if name not in out:
                out[name] = (np.full(len(rows), np.nan), np.full((len(rows), k), np.nan))
            out[name][0][start : start + len(chosen)] = v_avg
            out[name][1][start : start + len(chosen)] = v_seed
    return out


def _row_units(cs: CellSet, parts: Mapping[str, Linear], n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: whether any of its cells has per-example statistics, and its resampling unit."""
    rows = np.concatenate([p.row for p in parts.values()])
    cells = np.concatenate([p.cell for p in parts.values()])
    with_items = np.bincount(rows, cs.has_examples[cells].astype(float), minlength=n_rows) > 0
    aligned = np.bincount(rows, (cs.has_examples & cs.aligned)[cells].astype(float), minlength=n_rows) > 0
    multi = np.bincount(rows, (cs.n_seeds[cells] >= 2).astype(float), minlength=n_rows) > 0
    unit = np.where(aligned, UNIT_ALIGNED, np.where(with_items, UNIT_EXAMPLES, UNIT_SEEDS)).astype(object)
    unit[~(multi | with_items)] = None
    return with_items, unit


def _finite_mean(x: np.ndarray) -> np.ndarray:
    """Row means over the finite entries (NaN for a row without any), without numpy's empty-slice warning."""
    finite = np.isfinite(x)
    count = finite.sum(axis=1)
    total = np.where(finite, x, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _finite_variance(x: np.ndarray) -> np.ndarray:
    """Row sample variances (ddof 1) over the finite entries; NaN for a row with fewer than two (a
    one-seed row: numpy's nanvar would warn "Degrees of freedom <= 0")."""
    finite = np.isfinite(x)
    count = finite.sum(axis=1)
    centred = np.where(finite, x - _finite_mean(x)[:, None], 0.0)
    return np.where(count >= 2, (centred**2).sum(axis=1) / np.maximum(count - 1, 1), np.nan)


def evaluate(
    cs: CellSet,
    parts: Mapping[str, Linear],
    combine: Combine,
    *,
    p_values: Sequence[str] = (),
    level: float = DEFAULT_LEVEL,
) -> dict[str, np.ndarray]:
    """Point value, ``_low``/``_high`` CI, ``_se``, ``_df`` (and ``_p`` for names in ``p_values``) of
    each combined stat, plus per row ``n_paired_seeds`` and ``unit`` (its resampling unit).

    The interval is ``point ± t(df)·se`` (``harness.scoring.bootstrap.t_interval``): ``s²`` is the
    spread of the row's value over its paired seeds (the same seed numbers in every cell), the item
    variance comes from the item-clustered bootstrap, computed on the same replicates for every
    part of a row (so a difference or a mean is never an average of half-widths)."""
    n_rows = next(iter(parts.values())).n_rows
    point = cs.frame["score"].to_numpy(dtype=np.float64)
    point_parts: dict[str, np.ndarray] = {}
    for name, part in parts.items():
        value = np.bincount(part.row, part.weight * point[part.cell], minlength=n_rows)
        present = np.bincount(part.row, minlength=n_rows) > 0
        point_parts[name] = np.where(present, value, np.nan)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        points = {k: v[:, 0] for k, v in combine(point_parts).items()}
    with_items, unit = _row_units(cs, parts, n_rows)
    cells = np.concatenate([p.cell for p in parts.values()])
    rows = np.concatenate([p.row for p in parts.values()])
    multi = np.bincount(rows, (cs.n_seeds[cells] >= 2).astype(float), minlength=n_rows) > 0
    seeds = _seed_layer(cs, parts, combine)
    item_rows = np.flatnonzero(with_items)
    items = _item_layer(cs, parts, combine, item_rows) if len(item_rows) else {}
    result: dict[str, np.ndarray] = {}
    n_paired = np.zeros(n_rows, dtype=np.int64)
    for name, value in points.items():
        per_seed = seeds[name]
        finite = np.isfinite(per_seed)
        n_seeds = np.where(multi, finite.sum(axis=1), np.minimum(finite.sum(axis=1), 1))
        seed_var = np.where(n_seeds >= 2, _finite_variance(per_seed), 0.0)
        item_var = np.zeros(n_rows)
        if name in items:
            v_avg, v_seed = items[name]
            v_seed = np.where(finite[item_rows], v_seed, np.nan)
            with np.errstate(invalid="ignore"):
                v_bar = (
                    np.where(
                        n_seeds[item_rows] >= 2,
                        _finite_mean(v_seed),
                        v_avg,
                    )
                    if v_seed.size
                    else v_avg
                )
            item_var[item_rows] = shared_item_variance(v_avg, v_bar, n_seeds[item_rows])
        interval = t_interval(value, seed_var, n_seeds, item_var, with_items, level)
        result[name] = value
        result[f"{name}_low"], result[f"{name}_high"] = interval.low, interval.high
        result[f"{name}_se"], result[f"{name}_df"] = interval.se, interval.df
        if name in p_values:
            result[f"{name}_p"] = interval.p
        n_paired = np.maximum(n_paired, n_seeds)
    result["n_paired_seeds"] = n_paired
    result["unit"] = unit
    return result


def regroup(
    part: Linear, source_rows: np.ndarray, out_rows: np.ndarray, weights: np.ndarray, n_out: int
) -> Linear:
    """Rows of a coarser table as weighted sums of ``part``'s rows: out[o] += w · part[source]."""
    lookup = pd.DataFrame({"src": part.row, "cell": part.cell, "w": part.weight})
    spread = pd.DataFrame({"src": source_rows, "out": out_rows, "w_out": weights}).merge(lookup, on="src")
    return Linear(
        spread["out"].to_numpy(np.int64),
        spread["cell"].to_numpy(np.int64),
        (spread["w_out"] * spread["w"]).to_numpy(dtype=np.float64),
        n_out,
    )


def frame_identity(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[int, str]:
    """Which rows (and values) a table holds, in order: lets a derived summary check that its table
    is still the one it was computed from (not filtered or edited since)."""
    if frame.empty:
        return (0, "")
    hashed = pd.util.hash_pandas_object(frame[list(columns)], index=False).to_numpy()
    return (len(frame), hashlib.sha1(hashed.tobytes()).hexdigest())


Derived = TypeVar("Derived")


class DerivedRegistry(Generic[Derived]):
    """Summaries computed alongside a table (they need its replicates), found again from the table's
    contents: a frame that still holds exactly those rows and values gets them; any other frame
    (filtered, edited, built elsewhere) does not. Kept outside ``DataFrame.attrs``, which pandas
    compares and deep-copies on every operation."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._items: dict[tuple, Derived] = {}

    def put(self, identity: tuple, value: Derived) -> None:
        self._items.pop(identity, None)
        self._items[identity] = value
        while len(self._items) > self.size:
            self._items.pop(next(iter(self._items)))

    def get(self, identity: tuple) -> Derived | None:
        return self._items.get(identity)
