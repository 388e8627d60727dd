"""Inline SVG plots as geometry: bars with CI whiskers per category (language), one bar per series
(checkpoint or pair). Python computes every coordinate (fixed decimals, so output is deterministic);
a jinja macro draws them, so every name is escaped by autoescape like the rest of the page."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
    return {
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
