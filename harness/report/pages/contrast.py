"""The contrast page — the research answer: non-English − English source, paired on everything else,
per intermediate task × target × language × domain, and the difference of their domain-shift gaps."""

from __future__ import annotations

from typing import Any

import pandas as pd
from markupsafe import Markup

from harness.report.pages.data import SiteData
from harness.report.pages.format import estimate, is_number, p_text, page_href, str_column, text
from harness.report.pages.html import esc, rows_markup
from harness.report.plots import MAX_SERIES, Point, bar_chart
from harness.report.tables import language_order
from harness.report.verdict import GAP_ENDPOINT, Verdict, claim_words, primary_verdict
from harness.scoring.bootstrap import holm
from harness.scoring.stats_tables import cells_of

MAX_ROWS = 3000  # per table on the page; the full tables are in the downloads
MAX_PLOTS = 24
PAIR = ["model", "intermediate_task", "non_english", "english", "source_lang", "source_type"]


def _cap(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    return frame.head(MAX_ROWS), max(0, len(frame) - MAX_ROWS)


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    if frame.empty:
        return frame
    frame = frame.assign(_not_en=frame["language"] != "en", _lang=str_column(frame["language"]))
    return frame.sort_values([*keys, "_not_en", "_lang"], kind="mergesort").drop(columns=["_not_en", "_lang"])


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
    keyed = frame.assign(_task=str_column(frame["task"]), _split=str_column(frame[split_col]))
    wanted = sorted(set(zip(keyed["_task"].tolist(), keyed["_split"].tolist(), strict=True)))[:MAX_PLOTS]
    plots = []
    for (task, split), group in keyed.groupby(["_task", "_split"], sort=True):
        if (task, split) not in wanted:
            continue
        pairs = zip(
            str_column(group["non_english"]).tolist(), str_column(group["english"]).tolist(), strict=True
        )
        names = sorted(set(pairs))
        drawn = set(names[:MAX_SERIES])  # bar_chart draws only these; the rest count as "n more"
        points: dict[tuple[str, str], dict[str, Point]] = {pair: {} for pair in names[:MAX_SERIES]}
        for ne, en, lang, v, lo, hi in zip(*(group[c].tolist() for c in columns[2:]), strict=True):
            if (str(ne), str(en)) in drawn:
                points[(str(ne), str(en))][str(lang)] = Point(float(v), float(lo), float(hi))
        languages = language_order(group["language"].unique().tolist())
        series = [
            (f"{ne} − {en}", [points[(ne, en)].get(lang) for lang in languages] if (ne, en) in drawn else [])
            for ne, en in names
        ]
        plots.append(bar_chart(f"{task} · {split}: {what} (points)", languages, series, signed=True))
    return plots


def _rows(frame: pd.DataFrame, value: str, *, gap: bool) -> Markup:
    """The table rows as escaped HTML (the per-language contrast table, or the gap table)."""
    out = []
    for r in frame.to_dict("records"):
        diff = estimate(r[value], r[f"{value}_low"], r[f"{value}_high"], signed=True)
        ne, en = str(r["non_english"]), str(r["english"])
        pair = (
            esc(f"{ne} − {en}")
            if gap
            else f'<a href="{esc(page_href("checkpoints", ne))}">{esc(ne)}</a> − '
            f'<a href="{esc(page_href("checkpoints", en))}">{esc(en)}</a>'
        )
        fields = [text(r.get(k)) for k in ("intermediate_task",)]
        place = [text(r.get("task")), text(r.get("split", r.get("shifted_split"))), text(r.get("domain")),
                 text(r.get("language"))]  # fmt: skip
        spread = f' <span class="pm">±{diff["pm"]}</span>' if diff["pm"] else ""
        p_value = f"{float(r['p_holm']):.6f}" if is_number(r.get("p_holm")) else ""
        tail = (
            ""
            if gap
            else (
                f'<td class="num">{esc(text(r.get("n_examples")))}</td>\n<td class="num">{esc(text(r.get("n_seeds")))}</td>\n'
            )
        )
        out.append(
            f"<tr>\n<td>{esc(fields[0])}</td><td>{pair}</td>"
            + "".join(f"<td>{esc(v)}</td>" for v in place)
            + f'\n<td class="num" data-value="{diff["value"]}" title="{diff["interval"]}">{diff["text"]}{spread}</td>\n'
            f"<td>{esc(_side(r[f'{value}_low'], r[f'{value}_high']))}</td>\n"
            f'<td class="num" data-value="{p_value}">{esc(p_text(r.get("p_holm")))}</td>\n{tail}</tr>\n'
        )
    return rows_markup(out)


def _summary(contrast: pd.DataFrame) -> list[dict[str, Any]]:
    """Per pair × target × split: the mean difference and how many languages' CIs lie above, below
    or across 0 (one vectorised group-by, not a Python pass per group)."""
    keys = [*PAIR, "task", "split"]
    low = pd.to_numeric(contrast["diff_low"], errors="coerce")
    high = pd.to_numeric(contrast["diff_high"], errors="coerce")
    frame = contrast[[*keys, "domain", "in_domain", "diff"]].assign(
        _ne=(low > 0).to_numpy(), _en=(~(low > 0) & (high < 0)).to_numpy()
    )
    grouped = frame.groupby(keys, sort=True, dropna=False).agg(
        domain=("domain", "first"),
        in_domain=("in_domain", "first"),
        mean=("diff", "mean"),
        n=("diff", "size"),
        ne=("_ne", "sum"),
        en=("_en", "sum"),
    )
    out = []
    for index, row in zip(grouped.index, grouped.itertuples(index=False), strict=True):
        info = dict(zip(keys, index, strict=True))
        out.append(
            {
                **{k: text(v) for k, v in info.items()},
                "domain": text(row.domain),
                "in_domain": bool(row.in_domain) if is_number(row.in_domain) else False,
                "mean": estimate(row.mean, signed=True),
                "n_languages": int(row.n),
                "higher_non_english": int(row.ne),
                "higher_english": int(row.en),
                "noise": int(row.n) - int(row.ne) - int(row.en),
            }
        )
    return out


def with_holm(frame: pd.DataFrame) -> pd.DataFrame:
    """``p_holm``: the rows' p-values Holm-adjusted over the whole table (one exploratory family)."""
    if not len(frame):
        return frame.assign(p_holm=[])
    return frame.assign(p_holm=holm(pd.to_numeric(frame["p_value"], errors="coerce").to_numpy(dtype=float)))


def primary_context(v: Verdict) -> dict[str, Any]:
    """The verdict object as the page shows it (points, not fractions)."""
    low, high = v.ci
    return {
        "claim": v.claim,
        "words": claim_words(v),
        "endpoint": v.endpoint,
        "endpoint_text": "shifted-domain gap difference"
        if v.endpoint == GAP_ENDPOINT
        else "in-domain difference",
        "estimate": estimate(v.estimate, low, high, signed=True),
        "ci": f"[{100 * low:+.1f}, {100 * high:+.1f}]" if low is not None and high is not None else "none",
        "p": p_text(v.p),
        "n_seeds": v.n_seeds,
        "n_pairs": v.n_pairs,
        "unit": v.resampling_unit,
        "excluded": v.excluded,
        "notes": v.notes,
    }


def contrast_context(data: SiteData) -> dict[str, Any]:
    every = data.tables.contrast
    contrast = _sorted(every[every["english"].notna()], ["intermediate_task", "non_english", "task", "split"])
    contrast = with_holm(contrast)
    gaps = data.tables.gap_contrast
    gaps = _sorted(
        gaps[gaps["english"].notna()], ["intermediate_task", "non_english", "task", "shifted_split"]
    )
    gaps = with_holm(gaps)
    verdict = primary_verdict(cells_of(data.store, data.records, data.tables.n_boot))
    assert isinstance(verdict, Verdict)
    info = data.checkpoint_info()
    paired = {str(v) for v in contrast["non_english"].unique().tolist()}
    listed = {str(v) for v in every["non_english"].unique().tolist()}
    badges = data.badges()  # prompted checkpoints are never a side: listed apart, badged
    unpaired = [
        {
            "checkpoint": str(name),
            "href": page_href("checkpoints", str(name)),
            "source_lang": text(row["source_lang"]),
        }
        for name, row in info.iterrows()
        if (row["source_type"] in ("translated", "native") or str(name) in listed)
        and str(name) not in paired
        and str(name) not in badges
    ]
    prompted = [
        {"checkpoint": name, "href": page_href("checkpoints", name), "badge": badge}
        for name, badge in sorted(badges.items())
    ]
    shown, more = _cap(contrast)
    shown_gaps, more_gaps = _cap(gaps)
    pairs = contrast.drop_duplicates(PAIR)[PAIR].to_dict("records") if len(contrast) else []
    return {
        "verdict": data.tables.verdict,
        "primary": primary_context(verdict),
        "pairs": [
            {
                **{k: text(v) for k, v in p.items()},
                "non_english_href": page_href("checkpoints", str(p["non_english"])),
                "english_href": page_href("checkpoints", str(p["english"])),
            }
            for p in pairs
        ],
        "unpaired": unpaired,
        "prompted": prompted,
        "summary": _summary(contrast) if len(contrast) else [],
        "rows": _rows(shown, "diff", gap=False),
        "more_rows": more,
        "gap_rows": _rows(shown_gaps, "gap_diff", gap=True),
        "more_gap_rows": more_gaps,
        "plots": _plots(contrast, "split", "diff", "non-English − English"),
        "gap_plots": _plots(gaps, "shifted_split", "gap_diff", "gap difference, non-English − English"),
        "max_rows": MAX_ROWS,
    }
