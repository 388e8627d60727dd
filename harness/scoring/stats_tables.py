"""Score tables with bootstrap CIs: per (checkpoint, task, split, language) and per (checkpoint, target).

Both are deterministic (fixed bootstrap seeds, sorted rows) and vectorised (``harness.scoring.cells``).
Scores are fractions; ``low``/``high`` are the 95 % percentile CI (NaN when there is none: one seed
and no per-example predictions).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from harness.catalogue.schema import GroupSpec
from harness.resources import task_folders
from harness.results.schema import Record
from harness.results.store import ResultsStore
from harness.scoring.bootstrap import DEFAULT_BOOT
from harness.scoring.cells import CellSet, Linear, build_cells, checkpoint_badges, evaluate, with_badge

# the row of a checkpoint's group aggregate, and the prefix of its subgroups' rows
OVERALL = "overall"
GROUP_PREFIX = "group:"

SCORE_COLUMNS = [
    "checkpoint",
    "model",
    "intermediate_task",
    "source_lang",
    "source_type",
    "task",
    "split",
    "domain",
    "in_domain",
    "protocol",
    "language",
    "main_metric",
    "score",
    "low",
    "high",
    "n_seeds",
    "n_examples",
    "baseline",
]
CHECKPOINT_COLUMNS = ["checkpoint", "task", "score", "low", "high", "n_seeds", "n_languages"]


def grid_group(records: Sequence[Record], folders: Sequence[Path] | None = None) -> GroupSpec | None:
    """The group (``tasks/targets/*.yaml``) that the records' grid names with ``group:``, when every
    record's grid is in the catalogue and they all name the same one; else None, and the aggregate is the
    mean over the targets. ``folders``: the tasks folders (default ``task_folders()``)."""
    names = {record.grid for record in records}
    if not names:
        return None
    folders = tuple(task_folders() if folders is None else folders)
    group_of_grid, groups = _catalogue_groups(folders, _stamp(folders))
    named = {group_of_grid.get(name) for name in names}
    only = named.pop() if len(named) == 1 else None
    return groups.get(only) if only is not None else None


def _stamp(folders: Sequence[Path]) -> tuple[tuple[str, int], ...]:
    """Every YAML file of the folders with its modification time: a changed file reloads the catalogue."""
    return tuple(
        (str(path), path.stat().st_mtime_ns) for folder in folders for path in sorted(folder.rglob("*.yaml"))
    )


@lru_cache(maxsize=4)
def _catalogue_groups(
    folders: tuple[Path, ...], stamp: tuple[tuple[str, int], ...]
) -> tuple[dict[str, str | None], dict[str, GroupSpec]]:
    """(the group each grid names, or None; the groups by name) of the catalogue in ``folders``."""
    from harness.catalogue.loader import Catalogue

    catalogue = Catalogue.load(list(folders))
    group_of_grid = {name: loaded.as_grid().group for name, loaded in catalogue.grids.items()}
    groups = {name: loaded.as_group() for name, loaded in catalogue.groups.items()}
    return group_of_grid, groups


def cells_of(store: ResultsStore | None, records: Sequence[Record], n_boot: int) -> CellSet:
    return build_cells(store.root if store is not None else None, records, n_boot)


def _identity(parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"score": parts["score"]}


def score_table(
    store: ResultsStore | None, records: Sequence[Record], n_boot: int = DEFAULT_BOOT
) -> pd.DataFrame:
    """One row per (checkpoint, task, split, language): mean over seeds with its CI (and a ``badge``
    column after ``checkpoint`` when some checkpoint is prompted: ``harness.scoring.cells.with_badge``)."""
    cs = cells_of(store, records, n_boot)
    frame = cs.frame
    if frame.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    stats = evaluate(cs, {"score": Linear.pick(np.arange(len(frame)))}, _identity)
    out = frame.copy()
    out["low"], out["high"] = stats["score_low"], stats["score_high"]
    return with_badge(out[SCORE_COLUMNS].reset_index(drop=True), checkpoint_badges(frame))


def task_means(frame: pd.DataFrame, mask: np.ndarray) -> tuple[pd.DataFrame, Linear]:
    """Per (checkpoint, task): the mean over the selected splits of each split's mean over languages.

    Returns the rows' identity (checkpoint, task, n_languages, n_seeds) and the cells' weights.
    """
    chosen = frame[mask].copy()
    chosen["cell"] = np.flatnonzero(mask)
    if chosen.empty:
        return pd.DataFrame(columns=["checkpoint", "task", "n_languages", "n_seeds"]), Linear.pick(
            np.array([])
        )
    per_split = chosen.groupby(["checkpoint", "task", "split"])["language"].transform("size")
    splits = chosen.groupby(["checkpoint", "task"])["split"].transform("nunique")
    row = chosen.groupby(["checkpoint", "task"], sort=True).ngroup().to_numpy()
    ident = (
        chosen.groupby(["checkpoint", "task"], sort=True)
        .agg(n_languages=("language", "nunique"), n_seeds=("n_seeds", "min"))
        .reset_index()
    )
    weight = 1.0 / (per_split.to_numpy() * splits.to_numpy())
    return ident, Linear(row, chosen["cell"].to_numpy(), weight, len(ident))


def group_rows(
    ident: pd.DataFrame, tasks_linear: Linear, group: GroupSpec | None
) -> tuple[pd.DataFrame, Linear]:
    """The group's rows per checkpoint: ``group:<subgroup>`` for each subgroup and ``overall`` for the
    group itself — the plain mean of its tasks' scores, only where all of them are present when the
    group says ``require_all`` (XTREME's rule), else over the ones present."""
    if group is None:
        return pd.DataFrame(columns=ident.columns), Linear.pick(np.array([]))
    wanted = [(f"{GROUP_PREFIX}{name}", tasks) for name, tasks in group.subgroups.items()]
    wanted.append((OVERALL, group.tasks))
    rows, triplets, offset = [], [], 0
    for label, tasks in wanted:
        members = ident[ident["task"].isin(tasks)]
        present = members.groupby("checkpoint")["task"].transform("nunique").to_numpy()
        if group.require_all:
            members, present = members[present == len(tasks)], present[present == len(tasks)]
        if members.empty:
            continue
        block = members.groupby("checkpoint", sort=True).agg(
            n_languages=("n_languages", "sum"), n_seeds=("n_seeds", "min")
        )
        block = block.reset_index().assign(task=label)
        # task row -> its group row (offset by the rows already made) and the number of tasks it is among
        out_of = np.full(len(ident), -1, dtype=np.int64)
        out_of[members.index.to_numpy()] = offset + np.searchsorted(
            block["checkpoint"], members["checkpoint"]
        )
        among = np.ones(len(ident))
        among[members.index.to_numpy()] = present
        offset += len(block)
        rows.append(block)
        select = out_of[tasks_linear.row] >= 0
        triplets.append(
            (
                out_of[tasks_linear.row[select]],
                tasks_linear.cell[select],
                tasks_linear.weight[select] / among[tasks_linear.row[select]],
            )
        )
    if not rows:
        return pd.DataFrame(columns=ident.columns), Linear.pick(np.array([]))
    out = pd.concat(rows, ignore_index=True)[["checkpoint", "task", "n_languages", "n_seeds"]]
    row, cell, weight = (np.concatenate(parts) for parts in zip(*triplets, strict=True))
    return out, Linear(row, cell, weight, len(out))


def checkpoint_table(
    store: ResultsStore | None,
    records: Sequence[Record],
    n_boot: int = DEFAULT_BOOT,
    group: GroupSpec | None | Literal["grid"] = "grid",
) -> pd.DataFrame:
    """One row per (checkpoint, target): the in-domain score (mean over languages incl. English, as
    XTREME's evaluate.py), plus the ``group:<subgroup>`` and ``overall`` rows of ``group`` (default: the
    one the records' grid names, ``grid_group``) where complete."""
    cs = cells_of(store, records, n_boot)
    frame = cs.frame
    if frame.empty:
        return pd.DataFrame(columns=CHECKPOINT_COLUMNS)
    ident, linear = task_means(frame, frame["in_domain"].to_numpy(dtype=bool))
    if ident.empty:
        return pd.DataFrame(columns=CHECKPOINT_COLUMNS)
    chosen = grid_group(records) if group == "grid" else group
    group_ident, group_linear = group_rows(ident, linear, chosen)
    tables = []
    for rows, part in ((ident, linear), (group_ident, group_linear)):
        if rows.empty:
            continue
        stats = evaluate(cs, {"score": part}, _identity)
        rows = rows.copy()
        rows["score"], rows["low"], rows["high"] = stats["score"], stats["score_low"], stats["score_high"]
        tables.append(rows)
    out = pd.concat(tables, ignore_index=True)
    out["n_seeds"] = out["n_seeds"].astype(int)
    out["n_languages"] = out["n_languages"].astype(int)
    out["_order"] = out["task"].map(lambda t: 2 if t == OVERALL else int(str(t).startswith(GROUP_PREFIX)))
    out = out.sort_values(["checkpoint", "_order", "task"], kind="mergesort")
    return with_badge(out[CHECKPOINT_COLUMNS].reset_index(drop=True), checkpoint_badges(frame))
