"""The research answer: non-English-source vs English-source intermediate training, paired, with CIs.

Pairing. Each checkpoint whose intermediate source language is not English is paired with its English
counterpart: the English-source checkpoint of the same model whose condition (or name) is its
``matched_with``; else the English-source checkpoint of the same model and intermediate task (ties:
the same intermediate size and embedding freezing first, then by name). A non-English checkpoint with
no counterpart is reported as unpaired (``english`` is None, no numbers), never dropped.

Regimes. The two sides of a pair always have the same regime, and that regime is ``fine-tuned``: the
question is about intermediate training, which a decoder LM prompted with k examples (``regime:
prompted``, imported from lm-eval) never had. A prompted checkpoint is therefore never a side of a
pair, whatever its source fields say, and is not listed as unpaired either (``PAIRED_REGIME``).

Both sides of a pair are scored on the same examples of each (task, split, language), so the
bootstrap resamples them with the same draws (``harness.scoring.bootstrap``): ``diff`` (non-English −
English) has a paired CI and a two-sided paired bootstrap p-value. ``gap_diff`` is the difference of
the two domain-shift gaps, ``(N_shifted − N_in) − (E_shifted − E_in)``: positive means the
non-English source loses less (or gains more) under the shift.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from harness.results.schema import Record
from harness.results.store import ResultsStore
from harness.scoring.bootstrap import DEFAULT_BOOT, holm
from harness.scoring.cells import CellSet, DerivedRegistry, Linear, evaluate, frame_identity, regroup
from harness.scoring.robustness import gap_parts
from harness.scoring.stats_tables import cells_of

if TYPE_CHECKING:
    from harness.report.verdict import Verdict  # verdict imports this module

PAIR_COLUMNS = ["model", "intermediate_task", "non_english", "english", "source_lang", "source_type"]
CONTRAST_COLUMNS = [
    *PAIR_COLUMNS,
    "task",
    "split",
    "domain",
    "in_domain",
    "language",
    "diff",
    "diff_low",
    "diff_high",
    "p_value",
    "n_examples",
    "n_seeds",
]
GAP_CONTRAST_COLUMNS = [
    *PAIR_COLUMNS,
    "task",
    "in_domain_split",
    "split",
    "domain",
    "language",
    "gap_diff",
    "gap_diff_low",
    "gap_diff_high",
    "p_value",
    "n_seeds",
]
TARGET_COLUMNS = ["task", "value", "low", "high", "p_value", "n_rows", "p_holm"]
PAIR_KEYS = ["intermediate_task", "non_english", "english", "task"]
# per-target and per-pair means, found again from the table's contents
PER_TARGET: DerivedRegistry[tuple[pd.DataFrame, pd.DataFrame]] = DerivedRegistry()
PRIMARY: DerivedRegistry[Verdict] = (
    DerivedRegistry()
)  # the primary endpoint's verdict, found from the gap table


# ---- pairing -----------------------------------------------------------------------------------------
# the only regime a contrast side may have: intermediate training is a fine-tuning question
PAIRED_REGIME = "fine-tuned"


def checkpoint_info(cs: CellSet) -> pd.DataFrame:
    columns = ["checkpoint", "model", "condition", "intermediate_task", "source_lang", "source_type"]
    extra = ["intermediate_size", "matched_with", "frozen_embeddings"]
    frame = cs.frame if "regime" in cs.frame.columns else cs.frame.assign(regime=PAIRED_REGIME)
    return frame.groupby("checkpoint", sort=True)[[*columns[1:], *extra, "regime"]].first().reset_index()


def same_regime(a: dict, b: dict) -> bool:
    """Whether two checkpoints (rows of ``checkpoint_info``) may be the two sides of a pair: both of
    the paired regime (a prompted row never pairs, not even with another prompted row)."""
    regime_a, regime_b = a.get("regime", PAIRED_REGIME), b.get("regime", PAIRED_REGIME)
    return regime_a == regime_b == PAIRED_REGIME


def is_english(lang: object) -> bool:
    return isinstance(lang, str) and lang.lower() in ("en", "eng")


def pairs(info: pd.DataFrame) -> list[tuple[dict, dict | None]]:
    """(non-English checkpoint, its English counterpart or None), by non-English name; both sides
    fine-tuned (``same_regime``)."""
    rows = info.to_dict("records")
    english = [r for r in rows if is_english(r["source_lang"])]
    out = []
    for row in rows:
        if not isinstance(row["source_lang"], str) or is_english(row["source_lang"]):
            continue
        if row.get("regime", PAIRED_REGIME) != PAIRED_REGIME:
            continue  # a prompted checkpoint is never a side, and not "unpaired" either
        same_model = [e for e in english if e["model"] == row["model"] and same_regime(e, row)]
        chosen = []
        if isinstance(row["matched_with"], str) and row["matched_with"]:
            chosen = [e for e in same_model if row["matched_with"] in (e["condition"], e["checkpoint"])]
        if not chosen:
            chosen = [e for e in same_model if e["intermediate_task"] == row["intermediate_task"]]
        chosen.sort(
            key=lambda e: (
                e["intermediate_size"] != row["intermediate_size"],
                e["frozen_embeddings"] != row["frozen_embeddings"],
                e["checkpoint"],
            )
        )
        out.append((row, chosen[0] if chosen else None))
    return out


def _pair_fields(non_english: dict, english: dict | None) -> dict:
    return {
        "model": non_english["model"],
        "intermediate_task": non_english["intermediate_task"],
        "non_english": non_english["checkpoint"],
        "english": english["checkpoint"] if english else None,
        "source_lang": non_english["source_lang"],
        "source_type": non_english["source_type"],
    }


# ---- tables ------------------------------------------------------------------------------------------
def _diff(parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"diff": parts["a"] - parts["b"]}


def _gap_diff(parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"diff": (parts["a_sh"] - parts["a_in"]) - (parts["b_sh"] - parts["b_in"])}


def _grouped_means(
    cs: CellSet, table: pd.DataFrame, parts: dict[str, Linear], combine, mask: np.ndarray, by: list[str]
) -> pd.DataFrame:
    """Per group of rows (``by``) under ``mask``: the mean of the rows, its paired CI and p-value."""
    chosen = np.flatnonzero(mask)
    if not len(chosen):
        return pd.DataFrame(columns=[*by, *TARGET_COLUMNS[1:]])
    keys = table.iloc[chosen][by].astype(str)
    out_rows = keys.groupby(by, sort=True).ngroup().to_numpy()
    names = keys.groupby(by, sort=True).size().reset_index()[by]
    counts = np.bincount(out_rows, minlength=len(names))
    weights = 1.0 / counts[out_rows]
    grouped = {k: regroup(p, chosen, out_rows, weights, len(names)) for k, p in parts.items()}
    stats = evaluate(cs, grouped, combine, p_values=["diff"])
    out = names.copy()
    out["value"], out["low"], out["high"] = stats["diff"], stats["diff_low"], stats["diff_high"]
    out["p_value"], out["n_rows"] = stats["diff_p"], counts
    out["p_holm"] = holm(out["p_value"].to_numpy(dtype=float))  # exploratory: adjusted over the rows
    return out


def _attach(cs: CellSet, table: pd.DataFrame, parts: dict[str, Linear], combine, mask: np.ndarray) -> None:
    PER_TARGET.put(
        _identity(table),
        (
            _grouped_means(cs, table, parts, combine, mask, ["task"]),
            _grouped_means(cs, table, parts, combine, mask, PAIR_KEYS),
        ),
    )


def _identity(table: pd.DataFrame) -> tuple:
    value = "diff" if "diff" in table.columns else "gap_diff"
    return frame_identity(
        table, ["non_english", "english", "task", "split", "language", value, f"{value}_low", f"{value}_high"]
    )


def pair_frame(cs: CellSet) -> pd.DataFrame:
    """One row per non-English checkpoint: PAIR_COLUMNS (``english`` None when unpaired)."""
    found = pairs(checkpoint_info(cs)) if not cs.frame.empty else []
    return pd.DataFrame([_pair_fields(n, e) for n, e in found], columns=PAIR_COLUMNS)


def contrast_table(
    store: ResultsStore | None, records: Sequence[Record], n_boot: int = DEFAULT_BOOT
) -> pd.DataFrame:
    """One row per (pair, task, split, language): ``diff`` = non-English − English, paired CI, p-value."""
    cs = cells_of(store, records, n_boot)
    found = pair_frame(cs)
    if found.empty:
        return pd.DataFrame(columns=CONTRAST_COLUMNS)
    keys = ["task", "split", "language"]
    cells = cs.frame[["checkpoint", *keys, "domain", "in_domain", "n_examples", "n_seeds"]].assign(
        cell=np.arange(len(cs.frame))
    )
    left = found.merge(cells.rename(columns={"checkpoint": "non_english"}), on="non_english")
    right = cells[["checkpoint", *keys, "n_seeds", "cell"]].rename(
        columns={"checkpoint": "english", "n_seeds": "n_seeds_e", "cell": "cell_e"}
    )
    has_pair = left["english"].notna()
    paired = left[has_pair].merge(right, on=["english", *keys])
    unpaired = left[~has_pair].assign(cell_e=-1, n_seeds_e=left.loc[~has_pair, "n_seeds"])
    table = pd.concat([paired, unpaired], ignore_index=True)
    if table.empty:
        return pd.DataFrame(columns=CONTRAST_COLUMNS)
    table = table.sort_values(["non_english", *keys], kind="mergesort").reset_index(drop=True)
    table["n_seeds"] = np.minimum(table["n_seeds"].to_numpy(), table["n_seeds_e"].to_numpy()).astype(int)
    b_cells = table["cell_e"].to_numpy(dtype=np.int64)
    is_paired = b_cells >= 0
    parts = {
        "a": Linear.pick(np.where(is_paired, table["cell"].to_numpy(dtype=np.int64), -1)),
        "b": Linear.pick(b_cells),
    }
    stats = evaluate(cs, parts, _diff, p_values=["diff"])
    table["diff"], table["diff_low"], table["diff_high"] = (
        stats["diff"],
        stats["diff_low"],
        stats["diff_high"],
    )
    table["p_value"] = stats["diff_p"]
    table = table[CONTRAST_COLUMNS].reset_index(drop=True)
    _attach(cs, table, parts, _diff, is_paired & table["in_domain"].astype(bool).to_numpy())
    return table


def gap_contrast_table(
    store: ResultsStore | None, records: Sequence[Record], n_boot: int = DEFAULT_BOOT
) -> pd.DataFrame:
    """Per (pair, task, language, shifted split): ``gap_diff`` = non-English gap − English gap."""
    cs = cells_of(store, records, n_boot)
    found = pair_frame(cs)
    found = found[found["english"].notna()]
    if found.empty or cs.frame["in_domain"].astype(bool).all():
        return _empty_gap_contrast()
    gaps, in_part, sh_part = gap_parts(cs)
    gaps["row"] = np.arange(len(gaps))
    gaps = gaps[np.bincount(in_part.row, minlength=len(gaps)) > 0]  # a gap needs an in-domain score
    keys = ["task", "language", "shifted_split"]
    left = found.merge(
        gaps[["checkpoint", *keys, "in_domain_split", "domain", "n_seeds", "row"]].rename(
            columns={"checkpoint": "non_english"}
        ),
        on="non_english",
    )
    right = gaps[["checkpoint", *keys, "n_seeds", "row"]].rename(
        columns={"checkpoint": "english", "n_seeds": "n_seeds_e", "row": "row_e"}
    )
    table = left.merge(right, on=["english", *keys])
    if table.empty:
        return _empty_gap_contrast()
    table = table.sort_values(["non_english", "task", "language", "shifted_split"], kind="mergesort")
    table = table.reset_index(drop=True).rename(columns={"shifted_split": "split"})
    table["n_seeds"] = np.minimum(table["n_seeds"].to_numpy(), table["n_seeds_e"].to_numpy()).astype(int)
    n = len(table)
    index, ones = np.arange(n), np.ones(n)
    a_rows, b_rows = table["row"].to_numpy(dtype=np.int64), table["row_e"].to_numpy(dtype=np.int64)
    parts = {
        "a_in": regroup(in_part, a_rows, index, ones, n),
        "a_sh": regroup(sh_part, a_rows, index, ones, n),
        "b_in": regroup(in_part, b_rows, index, ones, n),
        "b_sh": regroup(sh_part, b_rows, index, ones, n),
    }
    stats = evaluate(cs, parts, _gap_diff, p_values=["diff"])
    table["gap_diff"], table["gap_diff_low"], table["gap_diff_high"] = (
        stats["diff"],
        stats["diff_low"],
        stats["diff_high"],
    )
    table["p_value"] = stats["diff_p"]
    table = table[GAP_CONTRAST_COLUMNS].reset_index(drop=True)
    _attach(cs, table, parts, _gap_diff, np.ones(n, dtype=bool))
    _attach_primary(cs, table)
    return table


def _attach_primary(cs: CellSet, table: pd.DataFrame) -> None:
    from harness.report.verdict import primary_verdict

    PRIMARY.put(_identity(table), primary_verdict(cs))


def _empty_gap_contrast() -> pd.DataFrame:
    table = pd.DataFrame(columns=GAP_CONTRAST_COLUMNS)
    PER_TARGET.put(
        _identity(table),
        (pd.DataFrame(columns=TARGET_COLUMNS), pd.DataFrame(columns=[*PAIR_KEYS, *TARGET_COLUMNS[1:]])),
    )
    return table


def per_target(table: pd.DataFrame, value: str, by: list[str] | None = None) -> pd.DataFrame:
    """Per target (or per ``by`` = PAIR_KEYS: per pair and target) the mean of the table's rows (the
    contrast: its in-domain rows) with the paired CI kept by the table builders. On a filtered frame:
    the mean of the rows' values and bounds (the CI of perfectly correlated rows: never narrower than
    the data support) and no p-value."""
    by = by or ["task"]
    stored = PER_TARGET.get(_identity(table))
    if isinstance(stored, tuple):
        return (stored[0] if by == ["task"] else stored[1]).copy()
    usable = table[pd.to_numeric(table[value], errors="coerce").notna()]
    if "in_domain" in usable.columns:  # the contrast's per-target means are over in-domain splits
        usable = usable[usable["in_domain"].astype(bool)]
    if usable.empty:
        return pd.DataFrame(columns=[*by, *TARGET_COLUMNS[1:]])
    grouped = usable.astype({k: str for k in by}).groupby(by, sort=True)
    out = grouped.agg(
        value=(value, "mean"),
        low=(f"{value}_low", "mean"),
        high=(f"{value}_high", "mean"),
        n_rows=(value, "size"),
    )
    out["p_value"] = np.nan
    out["p_holm"] = np.nan
    return out.reset_index()[[*by, *TARGET_COLUMNS[1:]]]


# ---- the verdict ---------------------------------------------------------------------------------------
def _points(x: float) -> str:
    return f"{100 * abs(x):.1f}"


def _names(frame: pd.DataFrame) -> str:
    return ", ".join(str(t) for t in frame["task"])


def _count(n: int, of: int) -> str:
    return f"{n} of {of} target{'s' if of != 1 else ''}"


def _sides(targets: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(above 0, below 0, CI containing 0, no CI) by each target's CI."""
    low = pd.to_numeric(targets["low"], errors="coerce")
    high = pd.to_numeric(targets["high"], errors="coerce")
    known = low.notna() & high.notna()
    return (
        targets[known & (low > 0)],
        targets[known & (high < 0)],
        targets[known & (low <= 0) & (high >= 0)],
        targets[~known],
    )


def _mean_pm(frame: pd.DataFrame, signed: bool = False) -> str:
    half = ((frame["high"] - frame["low"]) / 2).mean()
    value = frame["value"].mean()
    shown = f"{100 * value:+.1f}" if signed else _points(value)
    return f"{shown} ± {_points(half)} points"


def _judged(targets: pd.DataFrame, subject: str, up: str, down: str, noise_only: str) -> str:
    """One sentence over targets: where the CI excludes 0 (either side), where it does not, no CI."""
    above, below, noise, unknown = _sides(targets)
    total = len(targets)
    clauses = []
    if len(above):
        clauses.append(
            f"{up} by {_mean_pm(above)} on {_count(len(above), total)} ({_names(above)}; CIs exclude 0)"
        )
    if len(below):
        clauses.append(
            f"{down} by {_mean_pm(below)} on {_count(len(below), total)} ({_names(below)}; CIs exclude 0)"
        )
    if clauses:
        sentence = f"{subject} " + "; they ".join(clauses)
        if len(noise):
            sentence += f"; on the other {len(noise)} ({_names(noise)}) the difference is within noise"
    elif len(noise):
        sentence = (
            f"{noise_only} differs by {_mean_pm(noise, signed=True)} on average, within noise on "
            f"{'all ' if len(noise) == total and total > 1 else ''}{_count(len(noise), total)} "
            f"({_names(noise)}; every 95 % CI contains 0)"
        )
    else:
        sentence = ""
    if len(unknown):
        lead = sentence + "; " if sentence else f"{noise_only}: "
        sentence = (
            f"{lead}{_count(len(unknown), total)} ({_names(unknown)}) cannot be judged "
            "(no CI: one seed and no per-example predictions)"
        )
    return sentence + "."


def verdict(contrast: pd.DataFrame, gap_contrast: pd.DataFrame) -> str:
    """The research answer in one or two sentences, never claiming more than the CIs support."""
    if contrast.empty:
        return (
            "No comparison: the results have no checkpoint trained on a non-English intermediate source "
            "with an English-source counterpart."
        )
    unpaired = sorted(set(contrast.loc[contrast["english"].isna(), "non_english"].astype(str)))
    note = ""
    if unpaired:
        note = (
            f" Unpaired (no English-source counterpart by matched_with or same model and intermediate "
            f"task): {', '.join(unpaired)}."
        )
    if contrast["english"].notna().sum() == 0:
        return "No comparison: no non-English-source checkpoint has an English-source counterpart." + note
    from harness.report.verdict import verdict_words

    primary = PRIMARY.get(_identity(gap_contrast))
    head = verdict_words(primary) + " " if primary is not None else ""
    if primary is not None and primary.claim in ("insufficient-seeds", "did-not-learn"):
        return (
            head
            + "Per-target differences are not judged either (exploratory, and the same reason holds)."
            + note
        )
    sentences = []
    gaps = per_target(gap_contrast, "gap_diff")
    if len(gaps):
        sentences.append(
            _judged(
                gaps,
                "Non-English sources",
                "shrink the shifted-domain gap",
                "widen the shifted-domain gap",
                "The shifted-domain gap of non-English vs English sources",
            )
        )
    else:
        sentences.append("No domain-shifted split was scored for a pair, so the gaps cannot be compared.")
    home = per_target(contrast, "diff")
    if len(home):
        sentences.append(
            _judged(
                home,
                "In-domain, non-English sources",
                "score higher",
                "score lower",
                "In-domain, the score of non-English vs English sources",
            )
        )
    exploratory = " ".join(sentences)
    if primary is not None:
        exploratory = (
            f"Exploratory, per target (unadjusted CIs; Holm-adjusted p-values in the tables): {exploratory}"
        )
    return head + exploratory + note
