"""Downloads: every table of the site as CSV and JSON (fractions, CIs as low/high columns)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from harness.results.atomic import atomic_write_text

DATA_DIR = "data"
DESCRIPTIONS = {
    "leaderboard": "the index: one row per checkpoint, rank, overall/group/target scores and robustness",
    "scores": "score_table: per checkpoint × task × split × language, score with 95% CI",
    "checkpoint_scores": "checkpoint_table: per checkpoint × target (and group, overall), with 95% CI",
    "robustness": "robustness_table: per checkpoint × task × language × shifted split, gap with 95% CI",
    "robustness_summary": "robustness_summary: mean gap and worst domain per checkpoint × task",
    "contrast": "contrast_table: non-English − English per pair × task × split × language, CI and p",
    "gap_contrast": "gap_contrast_table: difference of domain-shift gaps per pair × task × language",
    "per_language": "means over seeds per checkpoint × task × split × language (no CIs), as results.json",
    "unavailable": "declared splits with no data on the machine that ran the grid",
}


def safe_json(text: str) -> str:
    """JSON that is inert wherever it is pasted: '<', '>' and '&' as unicode escapes."""
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def table_json(name: str, frame: pd.DataFrame) -> str:
    rows = frame.to_json(orient="records", double_precision=15, force_ascii=False) if len(frame) else "[]"
    columns = pd.Series([str(c) for c in frame.columns]).to_json(orient="values", force_ascii=False)
    head = (
        f'{{"table": "{name}", "score_unit": "fraction (0..1)", "n_rows": {len(frame)}, "columns": {columns},'
    )
    return safe_json(f'{head}\n "rows": {rows}}}\n')


def write_downloads(
    out_dir: Path, tables: dict[str, pd.DataFrame]
) -> tuple[list[dict[str, Any]], list[Path]]:
    """data/<name>.csv and data/<name>.json per table; the entries the downloads page lists."""
    entries, written = [], []
    for name, frame in tables.items():
        csv, js = out_dir / DATA_DIR / f"{name}.csv", out_dir / DATA_DIR / f"{name}.json"
        atomic_write_text(csv, frame.to_csv(index=False, lineterminator="\n"))
        atomic_write_text(js, table_json(name, frame))
        written += [csv, js]
        entries.append(
            {
                "name": name,
                "description": DESCRIPTIONS.get(name, ""),
                "rows": len(frame),
                "columns": [str(c) for c in frame.columns],
                "csv": f"{DATA_DIR}/{name}.csv",
                "json": f"{DATA_DIR}/{name}.json",
            }
        )
    return entries, written
