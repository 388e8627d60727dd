"""The statistics the site shows, from harness.scoring.stats_tables, harness.scoring.robustness and
harness.report.contrast: one place that calls them, so the page builders only ever see frames with
the documented columns (and tests can hand the pages frames they build themselves)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from harness.report.contrast import contrast_table, gap_contrast_table, verdict
from harness.results.schema import Record
from harness.results.store import ResultsStore
from harness.scoring.bootstrap import DEFAULT_BOOT
from harness.scoring.robustness import robustness_summary, robustness_table
from harness.scoring.stats_tables import checkpoint_table, score_table

SCORE_COLUMNS = [
    "checkpoint", "model", "intermediate_task", "source_lang", "source_type", "task", "split", "domain",
    "in_domain", "protocol", "language", "main_metric", "score", "low", "high", "n_seeds", "n_examples",
    "baseline",
]  # fmt: skip
CHECKPOINT_COLUMNS = ["checkpoint", "task", "score", "low", "high", "n_seeds", "n_languages"]
ROBUSTNESS_COLUMNS = [
    "checkpoint", "task", "language", "in_domain_split", "shifted_split", "domain", "in_domain_score",
    "in_low", "in_high", "shifted_score", "sh_low", "sh_high", "gap", "gap_low", "gap_high",
    "relative_drop", "rel_low", "rel_high", "n_seeds",
]  # fmt: skip
ROBUSTNESS_SUMMARY_COLUMNS = [
    "checkpoint", "task", "mean_gap", "gap_low", "gap_high", "mean_relative_drop", "worst_domain",
    "worst_gap", "n_languages", "n_domains",
]  # fmt: skip
_PAIR = ["model", "intermediate_task", "non_english", "english", "source_lang", "source_type", "task"]
CONTRAST_COLUMNS = [
    *_PAIR, "split", "domain", "in_domain", "language", "diff", "diff_low", "diff_high", "p_value",
    "n_examples", "n_seeds",
]  # fmt: skip
GAP_CONTRAST_COLUMNS = [
    *_PAIR, "language", "shifted_split", "domain", "gap_diff", "gap_diff_low", "gap_diff_high", "p_value",
]  # fmt: skip


@dataclass
class SiteTables:
    """Every statistics frame the pages read (fractions, CIs as low/high columns)."""

    scores: pd.DataFrame
    checkpoints: pd.DataFrame
    robustness: pd.DataFrame
    robustness_summary: pd.DataFrame
    contrast: pd.DataFrame
    gap_contrast: pd.DataFrame
    verdict: str
    n_boot: int

    def downloads(self) -> dict[str, pd.DataFrame]:
        return {
            "scores": self.scores,
            "checkpoint_scores": self.checkpoints,
            "robustness": self.robustness,
            "robustness_summary": self.robustness_summary,
            "contrast": self.contrast,
            "gap_contrast": self.gap_contrast,
        }


def empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def with_columns(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The documented columns first (missing ones as NaN), any extra columns after them."""
    frame = frame.copy()
    frame.attrs = {}  # pandas deep-copies attrs on every operation: far too slow with frames inside
    for column in frame.columns:  # the pages iterate in Python, which is slow over arrow strings
        if pd.api.types.is_string_dtype(frame[column]) and frame[column].dtype != object:
            frame[column] = frame[column].astype(object)
    for column in columns:
        if column not in frame.columns:
            frame[column] = float("nan")
    return frame[[*columns, *[c for c in frame.columns if c not in columns]]].reset_index(drop=True)


def compute_tables(store: ResultsStore, records: Sequence[Record], n_boot: int = DEFAULT_BOOT) -> SiteTables:
    """Every statistics table, once (the cell set behind them is built once and shared)."""
    robustness = robustness_table(store, records, n_boot)
    summary = robustness_summary(robustness)  # its bootstrap CIs ride on the unreshaped table
    contrast = contrast_table(store, records, n_boot)
    gap_contrast = gap_contrast_table(store, records, n_boot)
    if "shifted_split" not in gap_contrast.columns and "split" in gap_contrast.columns:
        # harness.report.contrast names the shifted split ``split``; the pages group plots by it
        gap_contrast = gap_contrast.assign(shifted_split=gap_contrast["split"])
    return SiteTables(
        scores=with_columns(score_table(store, records, n_boot), SCORE_COLUMNS),
        checkpoints=with_columns(checkpoint_table(store, records, n_boot), CHECKPOINT_COLUMNS),
        robustness=with_columns(robustness, ROBUSTNESS_COLUMNS),
        robustness_summary=with_columns(summary, ROBUSTNESS_SUMMARY_COLUMNS),
        contrast=with_columns(contrast, CONTRAST_COLUMNS),
        gap_contrast=with_columns(gap_contrast, GAP_CONTRAST_COLUMNS),
        verdict=verdict(contrast, gap_contrast) if records else "No records yet.",
        n_boot=n_boot,
    )
