"""Formatting shared by the page builders: percentages with confidence intervals, slugs, local links."""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from harness.report.tables import pct

NOT_AVAILABLE = "not available"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def is_number(value: Any) -> bool:
    try:
        return value is not None and not math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def half_width(low: Any, high: Any) -> float | None:
    """Half the width of a CI (what the pages show after ±); None when the interval is unknown."""
    if not (is_number(low) and is_number(high)):
        return None
    return (float(high) - float(low)) / 2.0


def points(value: Any) -> str:
    """A difference of fractions in percentage points, signed, one decimal."""
    if not is_number(value):
        return "—"
    return f"{100.0 * float(value):+.1f}"


def sort_value(value: Any) -> str:
    """The ``data-value`` a sortable cell carries: a fixed-precision number, or empty (sorted last)."""
    return f"{float(value):.6f}" if is_number(value) else ""


def estimate(value: Any, low: Any = None, high: Any = None, *, signed: bool = False) -> dict[str, Any]:
    """A score cell: the text, the ± half-width, the exact interval for the tooltip, the sort value."""
    fmt = points if signed else pct
    width = half_width(low, high)
    return {
        "text": fmt(value),
        "pm": f"{100.0 * width:.1f}" if width is not None else "",
        "interval": f"95% CI [{fmt(low)}, {fmt(high)}]"
        if width is not None
        else "no CI (one seed, no examples)",
        "value": sort_value(value),
        "known": is_number(value),
    }


def p_text(value: Any) -> str:
    if not is_number(value):
        return "—"
    value = float(value)
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def slug(name: str) -> str:
    """A file name for a checkpoint or task page: the name itself when it is plain, else a cleaned
    name plus a short hash (so two names that clean to the same text never share a page)."""
    if _SAFE_NAME.match(name) and len(name) <= 120:
        return name
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:80] or "x"
    return f"{cleaned}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}"


def page_href(folder: str, name: str) -> str:
    """A link to a page in a site subfolder, from a page at the site root."""
    return f"{folder}/{quote(slug(name))}.html"


def local_href(target: Path, from_dir: Path) -> str:
    """A relative, percent-encoded link: never a scheme, so it only ever points at a local file."""
    rel = os.path.relpath(os.path.abspath(target), os.path.abspath(from_dir))
    return quote(Path(rel).as_posix())


def str_column(column: pd.Series) -> pd.Series:
    """``column.astype(str)`` as an object column: pandas' own str dtype is Arrow-backed, and the pages
    iterate columns in Python, which is slow over Arrow strings (a column of str is kept as it is)."""
    values = column.to_numpy(dtype=object)
    if column.dtype == object and pd.api.types.infer_dtype(values, skipna=False) == "string":
        return column
    return pd.Series(
        np.array([str(v) for v in values.tolist()], dtype=object), index=column.index, dtype=object
    )


def distinct(values: Iterable[Any]) -> list[str]:
    if isinstance(values, pd.Series):  # a column of the records frame: its few distinct values first
        values = values.unique().tolist()
    return sorted({str(v) for v in values if v is not None and v == v and v != ""})


def text(value: Any, empty: str = "—") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return empty
    return str(value)
