"""Downloads: every table of the site as CSV and JSON (fractions, CIs as low/high columns)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from harness.report.pages.tabular import safe_json, table_documents
from harness.results.atomic import atomic_write_bytes

DATA_DIR = "data"
DESCRIPTIONS = {
    "leaderboard": "the index: one row per checkpoint, rank, overall/group/target scores and robustness",
    "scores": "score_table: per checkpoint × task × split × language, score with 95% CI",
    "checkpoint_scores": "checkpoint_table: per checkpoint × target (and group, overall), with 95% CI",
    "robustness": "robustness_table: per checkpoint × task × language × shifted split, gap with 95% CI",
    "robustness_summary": "robustness_summary: mean gap and worst domain per checkpoint × task",
    "contrast": "contrast_table: non-English − English per pair × task × split × language, CI and p",
    "gap_contrast": "gap_contrast_table: difference of domain-shift gaps per pair × task × language",
    "per_language": "means over seeds per checkpoint × task × split × language (no CIs); its JSON is results.json",
    "unavailable": "declared splits with no data on the machine that ran the grid",
}
SCORE_UNIT = "fraction (0..1)"
SCORE_UNITS = {"per_language": "fraction (0..1), mean over seeds"}

__all__ = ["DATA_DIR", "DESCRIPTIONS", "safe_json", "write_downloads"]


def write_downloads(
    out_dir: Path, tables: dict[str, pd.DataFrame], *, json_at: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], list[Path]]:
    """data/<name>.csv and data/<name>.json per table; the entries the downloads page lists.

    ``json_at`` names tables whose JSON is written elsewhere in the site (the per-language table is
    results.json): the page links that file, and the table is not written twice."""
    json_at = json_at or {}
    entries, written = [], []
    for name, frame in tables.items():
        csv = out_dir / DATA_DIR / f"{name}.csv"
        js = out_dir / json_at[name] if name in json_at else out_dir / DATA_DIR / f"{name}.json"
        csv_text, json_text = table_documents(name, frame, SCORE_UNITS.get(name, SCORE_UNIT))
        atomic_write_bytes(csv, csv_text)
        del csv_text
        atomic_write_bytes(js, json_text)
        del json_text
        written.append(csv)
        written.append(js)
        entries.append(
            {
                "name": name,
                "description": DESCRIPTIONS.get(name, ""),
                "rows": len(frame),
                "columns": [str(c) for c in frame.columns],
                "csv": f"{DATA_DIR}/{name}.csv",
                "json": js.relative_to(out_dir).as_posix(),
            }
        )
    return entries, written
