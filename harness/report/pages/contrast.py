"""The contrast page — the research answer: non-English − English source, paired on everything else,
per intermediate task × target × language × domain, and the difference of their domain-shift gaps."""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.report.pages.data import SiteData
from harness.report.pages.format import estimate, is_number, p_text, page_href, text
from harness.report.plots import Point, bar_chart
from harness.report.tables import language_order

MAX_ROWS = 3000  # per table on the page; the full tables are in the downloads
MAX_PLOTS = 24
PAIR = ["model", "intermediate_task", "non_english", "english", "source_lang", "source_type"]


def _pair_name(row: Any) -> str:
    return f"{row.non_english} − {row.english}"


def _cap(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    return frame.head(MAX_ROWS), max(0, len(frame) - MAX_ROWS)


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    if frame.empty:
        return frame
    frame = frame.assign(_lang=frame["language"].map(lambda lang: (lang != "en", str(lang))))
    return frame.sort_values([*keys, "_lang"], kind="mergesort").drop(columns="_lang")


def _side(low: Any, high: Any) -> str:
    if is_number(low) and float(low) > 0:
        return "non-English higher"
    if is_number(high) and float(high) < 0:
        return "English higher"
    return "within noise" if is_number(low) else "no CI"


def _plots(frame: pd.DataFrame, split_col: str, value: str, what: str) -> list[dict[str, Any]]:
    """Per (target, split) a plot of the pairs' per-language differences with CI whiskers."""
    if frame.empty:
        return []
    columns = [
        "task",
        split_col,
        "non_english",
        "english",
        "language",
        value,
        f"{value}_low",
        f"{value}_high",
    ]
    points: dict[tuple, dict[tuple, dict[str, Point]]] = {}
    for task, split, ne, en, lang, v, lo, hi in zip(*(frame[c].tolist() for c in columns), strict=True):
        by_pair = points.setdefault((str(task), str(split)), {}).setdefault((str(ne), str(en)), {})
        by_pair[str(lang)] = Point(float(v), float(lo), float(hi))
    plots = []
    for (task, split), pairs in sorted(points.items())[:MAX_PLOTS]:
        languages = language_order({lang for langs in pairs.values() for lang in langs})
        series = [
            (f"{ne} − {en}", [langs.get(lang) for lang in languages])
            for (ne, en), langs in sorted(pairs.items())
        ]
        plots.append(bar_chart(f"{task} · {split}: {what} (points)", languages, series, signed=True))
    return plots


def _rows(frame: pd.DataFrame, value: str) -> list[dict[str, Any]]:
    out = []
    for r in frame.to_dict("records"):
        out.append(
            {
                **{
                    k: text(r.get(k))
                    for k in ("intermediate_task", "task", "language", "domain", "source_lang")
                },
                "split": text(r.get("split", r.get("shifted_split"))),
                "pair": f"{r['non_english']} − {r['english']}",
                "non_english_href": page_href("checkpoints", str(r["non_english"])),
                "english_href": page_href("checkpoints", str(r["english"])),
                "non_english": str(r["non_english"]),
                "english": str(r["english"]),
                "diff": estimate(r[value], r[f"{value}_low"], r[f"{value}_high"], signed=True),
                "side": _side(r[f"{value}_low"], r[f"{value}_high"]),
                "p": p_text(r.get("p_value")),
                "p_value": f"{float(r['p_value']):.6f}" if is_number(r.get("p_value")) else "",
                "n_examples": text(r.get("n_examples")),
                "n_seeds": text(r.get("n_seeds")),
            }
        )
    return out


def _summary(contrast: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for keys, group in contrast.groupby([*PAIR, "task", "split"], sort=True, dropna=False):
        info = dict(zip([*PAIR, "task", "split"], keys, strict=True))
        sides = [_side(lo, hi) for lo, hi in zip(group["diff_low"], group["diff_high"], strict=True)]
        out.append(
            {
                **{k: text(v) for k, v in info.items()},
                "domain": text(group["domain"].iloc[0]),
                "in_domain": bool(group["in_domain"].iloc[0])
                if is_number(group["in_domain"].iloc[0])
                else False,
                "mean": estimate(group["diff"].mean(), signed=True),
                "n_languages": len(group),
                "higher_non_english": sides.count("non-English higher"),
                "higher_english": sides.count("English higher"),
                "noise": sides.count("within noise") + sides.count("no CI"),
            }
        )
    return out


def contrast_context(data: SiteData) -> dict[str, Any]:
    every = data.tables.contrast
    contrast = _sorted(every[every["english"].notna()], ["intermediate_task", "non_english", "task", "split"])
    gaps = data.tables.gap_contrast
    gaps = _sorted(
        gaps[gaps["english"].notna()], ["intermediate_task", "non_english", "task", "shifted_split"]
    )
    info = data.checkpoint_info()
    paired = set(contrast["non_english"].astype(str))
    listed = set(every["non_english"].astype(str))
    unpaired = [
        {
            "checkpoint": str(name),
            "href": page_href("checkpoints", str(name)),
            "source_lang": text(row["source_lang"]),
        }
        for name, row in info.iterrows()
        if (row["source_type"] in ("translated", "native") or str(name) in listed) and str(name) not in paired
    ]
    shown, more = _cap(contrast)
    shown_gaps, more_gaps = _cap(gaps)
    pairs = contrast.drop_duplicates(PAIR)[PAIR].to_dict("records") if len(contrast) else []
    return {
        "verdict": data.tables.verdict,
        "pairs": [
            {
                **{k: text(v) for k, v in p.items()},
                "non_english_href": page_href("checkpoints", str(p["non_english"])),
                "english_href": page_href("checkpoints", str(p["english"])),
            }
            for p in pairs
        ],
        "unpaired": unpaired,
        "summary": _summary(contrast) if len(contrast) else [],
        "rows": _rows(shown, "diff"),
        "more_rows": more,
        "gap_rows": _rows(shown_gaps, "gap_diff"),
        "more_gap_rows": more_gaps,
        "plots": _plots(contrast, "split", "diff", "non-English − English"),
        "gap_plots": _plots(gaps, "shifted_split", "gap_diff", "gap difference, non-English − English"),
        "max_rows": MAX_ROWS,
    }
