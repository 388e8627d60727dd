"""Inline SVG plots as geometry: bars with CI whiskers per category (language), one bar per series
(checkpoint or pair). Python computes every coordinate (fixed decimals, so output is deterministic);
``svg_markup`` draws them, escaping every name (``harness.report.pages.html.esc``) as autoescape would."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from harness.report.pages.html import esc, rows_markup

PALETTE = ["#0b5cad", "#a23b00", "#2f6f3e", "#6b3fa0", "#8a5a00", "#00707a", "#b0306a", "#4d5a66"]
MAX_SERIES = 6
TOP, PLOT_HEIGHT, LEFT, RIGHT = 16.0, 150.0, 44.0, 12.0


@dataclass(frozen=True)
class Point:
    value: float
    low: float = math.nan
    high: float = math.nan


def _ok(x: float) -> bool:
    return x is not None and not math.isnan(x)


def _f(x: float) -> str:
    return f"{x:.1f}"


def _scale(series_points: Sequence[Sequence[Point | None]], signed: bool) -> tuple[float, float, list[float]]:
    """(lowest, highest, gridlines) in fractions: 0..1 for scores; symmetric around 0 for differences."""
    if not signed:
        return 0.0, 1.0, [0.0, 0.25, 0.5, 0.75, 1.0]
    extent = 0.0
    for points in series_points:
        for p in points:
            if p is None:
                continue
            for x in (p.value, p.low, p.high):
                if _ok(x):
                    extent = max(extent, abs(x))
    step = 0.05 if extent <= 0.2 else 0.1
    top = max(step, math.ceil(extent / step - 1e-9) * step)
    ticks = [round(-top + i * step, 6) for i in range(int(round(2 * top / step)) + 1)]
    if len(ticks) > 9:
        ticks = [t for i, t in enumerate(ticks) if i % 2 == 0 or abs(t) < 1e-9]
    return -top, top, ticks


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[Point | None]]],
    *,
    signed: bool = False,
) -> dict[str, Any]:
    """Geometry of a grouped bar chart; ``series`` is (name, one point per category or None).
    At most MAX_SERIES series are drawn (the caller passes them in leaderboard order)."""
    shown = list(series)[:MAX_SERIES]
    n_series = max(1, len(shown))
    bar = max(3.0, min(12.0, 640.0 / max(1, len(categories) * n_series)))
    group = n_series * bar + 8.0
    width = LEFT + len(categories) * group + RIGHT
    low, high, ticks = _scale([points for _, points in shown], signed)

    def y(value: float) -> float:
        value = min(max(value, low), high)
        return TOP + (high - value) / (high - low) * PLOT_HEIGHT

    zero = y(0.0)
    bars, whiskers, labels = [], [], []
    for c, category in enumerate(categories):
        x0 = LEFT + c * group + 4.0
        labels.append({"x": _f(x0 + n_series * bar / 2), "y": _f(TOP + PLOT_HEIGHT + 13), "text": category})
        for s, (name, points) in enumerate(shown):
            p = points[c] if c < len(points) else None
            if p is None or not _ok(p.value):
                continue
            x = x0 + s * bar
            top, bottom = sorted((y(p.value), zero))
            ci = f"95% CI [{100 * p.low:.1f}, {100 * p.high:.1f}]" if _ok(p.low) and _ok(p.high) else "no CI"
            bars.append(
                {
                    "x": _f(x),
                    "y": _f(top),
                    "w": _f(bar - 1.0),
                    "h": _f(max(bottom - top, 0.5)),
                    "fill": PALETTE[s % len(PALETTE)],
                    "title": f"{name} · {category}: {100 * p.value:.1f} ({ci})",
                }
            )
            if _ok(p.low) and _ok(p.high):
                mid = x + (bar - 1.0) / 2
                whiskers.append(
                    {
                        "x": _f(mid),
                        "y1": _f(y(p.low)),
                        "y2": _f(y(p.high)),
                        "xa": _f(mid - 2),
                        "xb": _f(mid + 2),
                    }
                )
    legend = []
    for i, (name, _) in enumerate(shown):
        x, y_legend = LEFT + (i % 3) * 260.0, TOP + PLOT_HEIGHT + 22 + (i // 3) * 16
        legend.append(
            {
                "x": _f(x),
                "y": _f(y_legend),
                "x_text": _f(x + 14),
                "y_text": _f(y_legend + 9),
                "fill": PALETTE[i % len(PALETTE)],
                "text": name,
            }
        )
    rows = (len(shown) + 2) // 3
    chart = {
        "title": title,
        "width": _f(max(width, LEFT + 3 * 260.0)),
        "height": _f(TOP + PLOT_HEIGHT + 30 + rows * 16 + 4),
        "left": _f(LEFT),
        "tick_x": _f(LEFT - 4),
        "shown": len(shown),
        "right": _f(width - RIGHT),
        "zero": _f(zero),
        "grid": [
            {
                "y": _f(y(t)),
                "label": (f"{100 * t:+.0f}" if abs(t) > 1e-9 else "0") if signed else f"{100 * t:.0f}",
            }
            for t in ticks
        ],
        "bars": bars,
        "whiskers": whiskers,
        "labels": labels,
        "legend": legend,
        "omitted": max(0, len(series) - len(shown)),
    }
    chart["svg"] = svg_markup(chart)
    return chart


def svg_markup(p: dict[str, Any]) -> Markup:
    """The chart as a ``<figure>`` with inline SVG; every text is escaped (``esc``), the numbers are
    the fixed-decimal geometry above. Built in Python: a template loop per bar costs seconds over the
    site's plots at full scale."""
    title = esc(p["title"])
    more = (
        f' <span class="muted">— the first {p["shown"]} series in leaderboard order; {p["omitted"]} more in the tables</span>'
        if p["omitted"]
        else ""
    )
    out = [
        f'<figure class="plot">\n<figcaption>{title}{more}</figcaption>\n<div class="scroll">\n'
        f'<svg role="img" aria-label="{title}" width="{p["width"]}" height="{p["height"]}" '
        f'viewBox="0 0 {p["width"]} {p["height"]}">\n'
    ]
    for g in p["grid"]:
        out.append(
            f'<line class="grid" x1="{p["left"]}" x2="{p["right"]}" y1="{g["y"]}" y2="{g["y"]}"/>\n'
            f'<text class="tick" x="{p["tick_x"]}" y="{g["y"]}" dy="3" text-anchor="end">{esc(g["label"])}</text>\n'
        )
    out.append(f'<line class="axis" x1="{p["left"]}" x2="{p["right"]}" y1="{p["zero"]}" y2="{p["zero"]}"/>\n')
    for b in p["bars"]:
        out.append(
            f'<rect x="{b["x"]}" y="{b["y"]}" width="{b["w"]}" height="{b["h"]}" fill="{b["fill"]}">'
            f"<title>{esc(b['title'])}</title></rect>\n"
        )
    for w in p["whiskers"]:
        out.append(
            f'<path class="whisker" d="M{w["x"]} {w["y1"]}V{w["y2"]}M{w["xa"]} {w["y1"]}H{w["xb"]}'
            f'M{w["xa"]} {w["y2"]}H{w["xb"]}"/>\n'
        )
    for label in p["labels"]:
        out.append(
            f'<text class="cat" x="{label["x"]}" y="{label["y"]}" text-anchor="middle">{esc(label["text"])}</text>\n'
        )
    for item in p["legend"]:
        out.append(
            f'<rect x="{item["x"]}" y="{item["y"]}" width="10" height="10" fill="{item["fill"]}"/>\n'
            f'<text class="legend" x="{item["x_text"]}" y="{item["y_text"]}">{esc(item["text"])}</text>\n'
        )
    out.append("</svg>\n</div>\n</figure>\n")
    return rows_markup(out)
