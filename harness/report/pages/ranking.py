"""Ranks that never separate rows the confidence intervals cannot separate."""

from __future__ import annotations

from collections.abc import Sequence

from harness.report.pages.format import is_number

TIE_RULE = (
    "Rows are ordered by their ranking score (best first). A row whose 95% confidence interval overlaps "
    "the interval of the row directly above it shares that row's rank; otherwise its rank is its position "
    "(1, 1, 3, …). A row without an interval (one seed and no per-example predictions) cannot be told "
    "apart from its neighbour and shares its rank; a row without a ranking score comes last, unranked."
)


def overlaps(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool:
    if a is None or b is None:
        return True
    return a[0] <= b[1] and b[0] <= a[1]


def _interval(low: object, high: object) -> tuple[float, float] | None:
    if is_number(low) and is_number(high):
        return (float(low), float(high))  # type: ignore[arg-type]
    return None


def tied_ranks(values: Sequence[object], lows: Sequence[object], highs: Sequence[object]) -> list[int | None]:
    """Ranks for rows already sorted best first (missing values last): tied with the row above when
    the CIs overlap (or either is unknown), else the row's 1-based position; None without a value."""
    ranks: list[int | None] = []
    previous: tuple[float, float] | None = None
    for position, (value, low, high) in enumerate(zip(values, lows, highs, strict=True), start=1):
        if not is_number(value):
            ranks.append(None)
            continue
        interval = _interval(low, high)
        if ranks and ranks[-1] is not None and overlaps(previous, interval):
            ranks.append(ranks[-1])
        else:
            ranks.append(position)
        previous = interval
    return ranks
