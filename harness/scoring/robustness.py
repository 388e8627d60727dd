"""Robustness to domain shift: in-domain vs shifted score, gap, relative drop and worst domain, with CIs.

``gap = shifted − in-domain`` (negative: the checkpoint loses under the shift); ``relative_drop =
(in-domain − shifted) / in-domain``. The in-domain score of a language is the mean over the task's
in-domain split(s) in that language; a shifted split in a language with no in-domain score (e.g. a
MasakhaNER language PAN-X lacks) keeps its shifted score and NaN gap. CIs come from the same paired
replicates as every other table (``harness.scoring.cells``): the in-domain and shifted examples are
independent samples, the seeds of one checkpoint are resampled together.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from harness.results.schema import Record
from harness.results.store import ResultsStore
from harness.scoring.bootstrap import DEFAULT_BOOT
from harness.scoring.cells import (
    CellSet,
    DerivedRegistry,
    Linear,
    checkpoint_badges,
    evaluate,
    frame_identity,
    regroup,
    with_badge,
)
from harness.scoring.stats_tables import cells_of

ROBUSTNESS_COLUMNS = [
    "checkpoint",
    "task",
    "language",
    "in_domain_split",
    "shifted_split",
    "domain",
    "in_domain_score",
    "in_low",
    "in_high",
    "shifted_score",
    "sh_low",
    "sh_high",
    "gap",
    "gap_low",
    "gap_high",
    "relative_drop",
    "rel_low",
    "rel_high",
    "n_seeds",
]
SUMMARY_COLUMNS = [
    "checkpoint",
    "task",
    "mean_gap",
    "gap_low",
    "gap_high",
    "mean_relative_drop",
    "worst_domain",
    "worst_gap",
    "n_languages",
    "n_domains",
]
SUMMARIES: DerivedRegistry[pd.DataFrame] = DerivedRegistry()
ROW_KEYS = ["checkpoint", "task", "language", "shifted_split"]


def gap_parts(cs: CellSet) -> tuple[pd.DataFrame, Linear, Linear]:
    """The rows (one per shifted cell) and their in-domain / shifted parts, shared with the contrast."""
    frame = cs.frame
    shifted = frame[~frame["in_domain"].astype(bool)].copy()
    shifted["cell"] = shifted.index.to_numpy()
    shifted = shifted.sort_values(["checkpoint", "task", "language", "split"], kind="mergesort")
    shifted["row"] = np.arange(len(shifted))
    home = frame[frame["in_domain"].astype(bool)].copy()
    home["in_cell"] = home.index.to_numpy()
    joined = shifted[["checkpoint", "task", "language", "row"]].merge(
        home[["checkpoint", "task", "language", "split", "in_cell"]], on=["checkpoint", "task", "language"]
    )
    names = _split_names(joined)
    rows = pd.DataFrame(
        {
            "checkpoint": shifted["checkpoint"].to_numpy(),
            "task": shifted["task"].to_numpy(),
            "language": shifted["language"].to_numpy(),
            "in_domain_split": [
                n if isinstance(n, str) else None for n in shifted["row"].map(names).to_numpy(dtype=object)
            ],
            "shifted_split": shifted["split"].to_numpy(),
            "domain": shifted["domain"].to_numpy(),
            "sh_cell": shifted["cell"].to_numpy(),
        }
    )
    in_seeds = pd.Series(cs.n_seeds[joined["in_cell"].to_numpy()]).groupby(joined["row"].to_numpy()).min()
    sh_seeds = cs.n_seeds[rows["sh_cell"].to_numpy()]
    home_seeds = pd.Series(np.arange(len(rows))).map(in_seeds).to_numpy(dtype=float)
    rows["n_seeds"] = np.where(np.isnan(home_seeds), sh_seeds, np.fmin(sh_seeds, home_seeds)).astype(int)
    in_part = Linear.mean(joined["row"].to_numpy(), joined["in_cell"].to_numpy(), len(rows))
    sh_part = Linear.pick(rows["sh_cell"].to_numpy())
    return rows, in_part, sh_part


def _split_names(joined: pd.DataFrame) -> pd.Series:
    """Per row, its in-domain split name(s) joined by "+" (almost always one: no per-group Python)."""
    unique = joined[["row", "split"]].drop_duplicates().sort_values(["row", "split"], kind="mergesort")
    counts = unique.groupby("row")["split"].transform("size").to_numpy()
    names = unique[counts == 1].set_index("row")["split"].astype(object)
    several = unique[counts > 1]
    if len(several):
        names = pd.concat([names, several.groupby("row")["split"].agg(lambda s: "+".join(s))])
    return names


def _gap_stats(parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    home, shifted = parts["in"], parts["sh"]
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(home != 0, (home - shifted) / home, np.nan)
    return {"in": home, "sh": shifted, "gap": shifted - home, "rel": relative}


def robustness_table(
    store: ResultsStore | None, records: Sequence[Record], n_boot: int = DEFAULT_BOOT
) -> pd.DataFrame:
    """One row per (checkpoint, task, language, shifted split); its bootstrap summary is kept for
    ``robustness_summary``. Prompted checkpoints are rows like any other (a ``badge`` column after
    ``checkpoint`` then says which: ``harness.scoring.cells.with_badge``)."""
    cs = cells_of(store, records, n_boot)
    if cs.frame.empty or cs.frame["in_domain"].astype(bool).all():
        empty = pd.DataFrame(columns=ROBUSTNESS_COLUMNS)
        return empty
    rows, in_part, sh_part = gap_parts(cs)
    stats = evaluate(cs, {"in": in_part, "sh": sh_part}, _gap_stats)
    table = rows.drop(columns=["sh_cell"]).copy()
    for out, name in (
        ("in_domain_score", "in"),
        ("shifted_score", "sh"),
        ("gap", "gap"),
        ("relative_drop", "rel"),
    ):
        table[out] = stats[name]
    for prefix, name in (("in", "in"), ("sh", "sh"), ("gap", "gap"), ("rel", "rel")):
        table[f"{prefix}_low"], table[f"{prefix}_high"] = stats[f"{name}_low"], stats[f"{name}_high"]
    table = table[ROBUSTNESS_COLUMNS].reset_index(drop=True)
    badges = checkpoint_badges(cs.frame)
    SUMMARIES.put(_identity(table), with_badge(_summary(cs, table, in_part, sh_part), badges))
    return with_badge(table, badges)


def _identity(table: pd.DataFrame) -> tuple:
    return frame_identity(table, [*ROW_KEYS, "gap", "gap_low", "gap_high", "relative_drop"])


def _summary_weights(table: pd.DataFrame, by: list[str]) -> np.ndarray:
    """Row weights: mean over languages within a shifted split, then over splits (within ``by``)."""
    per_split = table.groupby([*by, "shifted_split"])["language"].transform("size").to_numpy()
    splits = table.groupby(by)["shifted_split"].transform("nunique").to_numpy()
    return 1.0 / (per_split * splits)


def _summary(cs: CellSet, table: pd.DataFrame, in_part: Linear, sh_part: Linear) -> pd.DataFrame:
    usable = table[np.isfinite(table["gap"].to_numpy(dtype=float))].copy()
    if usable.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    usable["row"] = usable.index.to_numpy()
    usable["w_task"] = _summary_weights(usable, ["checkpoint", "task"])
    n_tasks = usable.groupby("checkpoint")["task"].transform("nunique").to_numpy()
    usable["w_all"] = usable["w_task"] / n_tasks
    facts = _facts(usable)  # one row per (checkpoint, task) and (checkpoint, "all"), in summary order
    position = pd.Series(np.arange(len(facts)), index=pd.MultiIndex.from_frame(facts[["checkpoint", "task"]]))
    row_task = position.reindex(pd.MultiIndex.from_frame(usable[["checkpoint", "task"]])).to_numpy()
    row_all = position.reindex(
        pd.MultiIndex.from_arrays([usable["checkpoint"], ["all"] * len(usable)])
    ).to_numpy()
    out_rows = np.r_[row_task, row_all].astype(np.int64)
    weights = np.r_[usable["w_task"].to_numpy(), usable["w_all"].to_numpy()]
    source_rows = np.r_[usable["row"].to_numpy(), usable["row"].to_numpy()]
    sh = regroup(sh_part, source_rows, out_rows, weights, len(facts))
    home = regroup(in_part, source_rows, out_rows, weights, len(facts))
    stats = evaluate(cs, {"in": home, "sh": sh}, lambda p: {"gap": p["sh"] - p["in"]})
    summary = facts.copy()
    summary["mean_gap"], summary["gap_low"], summary["gap_high"] = (
        stats["gap"],
        stats["gap_low"],
        stats["gap_high"],
    )
    relative = usable["relative_drop"].to_numpy(dtype=float)
    summary["mean_relative_drop"] = np.bincount(
        out_rows, weights * np.r_[relative, relative], minlength=len(facts)
    )
    return summary[SUMMARY_COLUMNS].reset_index(drop=True)


def _facts(usable: pd.DataFrame) -> pd.DataFrame:
    """Per (checkpoint, task) and (checkpoint, "all"): the worst domain (lowest mean gap over the
    languages of one shifted split; for "all" named ``task:domain``), its gap, and the numbers of
    languages and domains - in summary order."""
    per_split = (
        usable.groupby(["checkpoint", "task", "shifted_split"], sort=True)
        .agg(domain=("domain", "first"), gap=("gap", "mean"))
        .reset_index()
        .sort_values(["checkpoint", "gap", "task", "shifted_split"], kind="mergesort")
    )
    worst_task = per_split.drop_duplicates(["checkpoint", "task"])[["checkpoint", "task", "domain", "gap"]]
    worst_all = per_split.drop_duplicates(["checkpoint"])[["checkpoint", "task", "domain", "gap"]].copy()
    worst_all["domain"] = worst_all["task"].astype(str) + ":" + worst_all["domain"].astype(str)
    worst_all["task"] = "all"
    counts_task = (
        usable.groupby(["checkpoint", "task"])
        .agg(n_languages=("language", "nunique"), n_domains=("domain", "nunique"))
        .reset_index()
    )
    counts_all = (
        usable.groupby("checkpoint")
        .agg(n_languages=("language", "nunique"), n_domains=("domain", "nunique"))
        .reset_index()
        .assign(task="all")
    )
    facts = pd.concat([worst_task, worst_all], ignore_index=True).merge(
        pd.concat([counts_task, counts_all], ignore_index=True), on=["checkpoint", "task"]
    )
    facts = facts.rename(columns={"domain": "worst_domain", "gap": "worst_gap"})
    return _summary_order(facts)


def robustness_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (checkpoint, task) and per (checkpoint, task="all"): mean gap ± CI, worst domain.

    The bootstrap CIs come from ``robustness_table`` (kept for the exact frame it returned). On a frame that was
    filtered or built elsewhere, the CI of a mean is the mean of the rows' bounds - what the CI would
    be if all rows' errors were perfectly correlated, so never narrower than the data support.
    """
    stored = SUMMARIES.get(_identity(table))
    if isinstance(stored, pd.DataFrame):
        return stored.copy()
    return with_badge(_conservative_summary(table), checkpoint_badges(table))


def _conservative_summary(table: pd.DataFrame) -> pd.DataFrame:
    usable = table[np.isfinite(pd.to_numeric(table["gap"], errors="coerce").to_numpy(dtype=float))].copy()
    if usable.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    usable["w_task"] = _summary_weights(usable, ["checkpoint", "task"])
    usable["w_all"] = usable["w_task"] / usable.groupby("checkpoint")["task"].transform("nunique")
    facts = _facts(usable).set_index(["checkpoint", "task"])
    rows = []
    groups = [
        *usable.groupby(["checkpoint", "task"]),
        *usable.assign(task="all").groupby(["checkpoint", "task"]),
    ]
    for (checkpoint, task), group in groups:
        w = group["w_all" if task == "all" else "w_task"]
        domain, worst_gap = facts.loc[(checkpoint, task), ["worst_domain", "worst_gap"]]
        rows.append(
            {
                "checkpoint": checkpoint,
                "task": task,
                "mean_gap": float((w * group["gap"]).sum()),
                "gap_low": float((w * group["gap_low"]).sum()),
                "gap_high": float((w * group["gap_high"]).sum()),
                "mean_relative_drop": float((w * group["relative_drop"]).sum()),
                "worst_domain": domain,
                "worst_gap": worst_gap,
                "n_languages": int(group["language"].nunique()),
                "n_domains": int(group["domain"].nunique()),
            }
        )
    return _summary_order(pd.DataFrame(rows, columns=SUMMARY_COLUMNS))


def _summary_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Per checkpoint its targets by name, then its "all" row."""
    key = frame.assign(_all=frame["task"] == "all")
    order = key.sort_values(["checkpoint", "_all", "task"], kind="mergesort").index
    return frame.loc[order].reset_index(drop=True)
