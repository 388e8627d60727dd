"""Table rows as HTML strings, for the pages' big tables (a target page has checkpoints × languages
cells per split; at 200 checkpoints × 40 languages a jinja macro call per cell costs seconds).

Every value that comes from the data goes through ``esc`` (markupsafe's escape, what jinja's
autoescape uses); the numbers are formatted here. The result is wrapped in ``Markup`` only once it
is complete, so a template inserts it as is while everything else stays autoescaped. The markup is
the same the templates' ``est`` macro writes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import Any

from markupsafe import Markup, escape

NO_CI = "no CI (one seed, no examples)"


@functools.lru_cache(maxsize=1 << 16, typed=True)
def _esc_cached(value: Any) -> str:
    return str(escape(value))


def esc(value: Any) -> str:
    """markupsafe's escape as a plain str; the same few names recur in every row, so cached."""
    try:
        return _esc_cached(value)
    except TypeError:  # unhashable
        return str(escape(value))


def rows_markup(rows: Iterable[str]) -> Markup:
    """Pre-built, already escaped rows as one template value."""
    return Markup("".join(rows))  # noqa: S704 - every part was escaped by ``esc`` when it was built


def _number(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def pct_text(x: float | None) -> str:
    return "—" if x is None else f"{100.0 * x:.1f}"


def points_text(x: float | None) -> str:
    return "—" if x is None else f"{100.0 * x:+.1f}"


def estimate_parts(value: Any, low: Any, high: Any, signed: bool = False) -> tuple[str, str, str, str]:
    """(text, ± half-width, interval, sort value) exactly as ``format.estimate`` gives them."""
    if (
        not signed
        and type(value) is float
        and type(low) is float
        and type(high) is float
        and value == value
        and low == low
        and high == high
    ):  # the common case, without the generic checks
        return (
            f"{100.0 * value:.1f}",
            f"{100.0 * ((high - low) / 2.0):.1f}",
            f"95% CI [{100.0 * low:.1f}, {100.0 * high:.1f}]",
            f"{value:.6f}",
        )
    fmt = points_text if signed else pct_text
    v, lo, hi = _number(value), _number(low), _number(high)
    if lo is None or hi is None:
        return fmt(v), "", NO_CI, "" if v is None else f"{v:.6f}"
    width = (hi - lo) / 2.0
    return fmt(v), f"{100.0 * width:.1f}", f"95% CI [{fmt(lo)}, {fmt(hi)}]", "" if v is None else f"{v:.6f}"


def estimate_cell(
    value: Any,
    low: Any = None,
    high: Any = None,
    *,
    signed: bool = False,
    title_tail: str = "",
    extra: str = "",
) -> str:
    """``<td class="num…" data-value title>text <span class="pm">±w</span></td>``; ``title_tail``
    (already escaped) is appended to the interval in the tooltip."""
    text, pm, interval, sort = estimate_parts(value, low, high, signed)
    spread = f' <span class="pm">±{pm}</span>' if pm else ""
    return f'<td class="num{extra}" data-value="{sort}" title="{interval}{title_tail}">{text}{spread}</td>'


def cell(text: Any, cls: str = "") -> str:
    attribute = f' class="{cls}"' if cls else ""
    return f"<td{attribute}>{esc(text)}</td>"


PROMPTED_TITLE = (
    "a decoder LM prompted with k examples (imported from lm-eval), not fine-tuned: a different protocol"
)


def prompted_badge(badge: str | None) -> str:
    """`` <span class="badge prompted">prompted, 5-shot</span>`` beside a prompted checkpoint's name ("" for
    a fine-tuned one); the same markup as the templates' ``prompted`` macro."""
    if not badge:
        return ""
    return f' <span class="badge prompted" title="{esc(PROMPTED_TITLE)}">{esc(badge)}</span>'
