"""The summary's tables, built once and written four ways: rich (fitted to the terminal's width),
GitHub markdown, JSON and CSV.

A table holds raw values (fractions, CIs, p-values, names); each column's format turns a value into the
text people read and into the numbers machines read, rounded alike, so every format says the same thing.
Rich output never relies on rich's ellipsis: a table too wide for the terminal is split into column
blocks that each fit, the row-label columns repeated in every block.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

Format = Literal["text", "int", "pct", "signed", "pm", "signed_pm", "interval", "p"]
MISSING = "—"


@dataclass(frozen=True)
class Ci:
    """A fraction and its 95 % interval (either bound may be missing)."""

    value: float | None
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Column:
    name: str
    fmt: Format = "pct"
    label: bool = False  # a row label: repeated in every column block, left-aligned
    header: str | None = None  # shown instead of ``name`` in rich and markdown
    style: str | None = None

    @property
    def shown(self) -> str:
        return self.header or self.name


@dataclass
class SummaryTable:
    name: str  # the key in JSON, the ``# name`` line in CSV
    title: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)
    caption: str | None = None
    reference_rows: int = 0  # the last rows (baseline, counts) are drawn dim, below a rule
    compact: bool = False  # no vertical rules (short tables that already fit)


@dataclass(frozen=True)
class Note:
    """A paragraph between tables; with a ``name`` it is content (the verdict) and JSON/CSV carry it."""

    text: str
    lead: str = ""
    name: str | None = None
    style: str = ""


Item = SummaryTable | Note


# ---- values -------------------------------------------------------------------------------------
def missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _is_count(value: object) -> bool:
    """A Python int in a score column is a count (examples, languages), shown as it is."""
    return isinstance(value, int) and not isinstance(value, bool)


def _points(value: float | None) -> float | None:
    """A fraction in percentage points, rounded as shown."""
    return None if value is None or not math.isfinite(float(value)) else round(100.0 * float(value), 1)


def _p(value: float | None) -> float | None:
    if value is None or not math.isfinite(float(value)):
        return None
    return round(float(value), 3) if value >= 0.001 else float(f"{value:.1g}")


def _half_width(ci: Ci) -> float | None:
    low, high = _points(ci.low), _points(ci.high)
    return None if low is None or high is None else round((high - low) / 2, 1)


def _number_text(points: float | None, signed: bool) -> str:
    if points is None:
        return MISSING
    return f"{points:+.1f}" if signed else f"{points:.1f}"


def cell_text(value: Any, fmt: Format) -> str:
    """What people read in a cell; "—" for anything missing."""
    if isinstance(value, Text):
        return value.plain
    if missing(value):
        return MISSING
    if _is_count(value):
        return str(value)
    if fmt in ("pct", "signed"):
        return _number_text(_points(value), fmt == "signed")
    if fmt in ("pm", "signed_pm"):
        shown = _number_text(_points(value.value), fmt == "signed_pm")
        half = _half_width(value)
        return shown if half is None or shown == MISSING else f"{shown} ± {half:.1f}"
    if fmt == "interval":
        shown, low, high = (_number_text(_points(v), False) for v in (value.value, value.low, value.high))
        return shown if MISSING in (shown, low, high) else f"{shown} [{low}, {high}]"
    if fmt == "p":
        p = _p(value)
        return MISSING if p is None else "<0.001" if p < 0.001 else f"{p:.3f}"
    return str(value)


def cell_fields(column: Column, value: Any) -> dict[str, Any]:
    """What machines read: numbers as numbers (rounded as shown), missing as None; a CI gives two or
    three fields."""
    name, fmt = column.name, column.fmt
    if isinstance(value, Text):
        return {name: value.plain}
    if fmt in ("pm", "signed_pm", "interval"):
        ci = value if isinstance(value, Ci) else Ci(None)
        if fmt == "interval":
            return {name: _points(ci.value), f"{name} low": _points(ci.low), f"{name} high": _points(ci.high)}
        return {name: _points(ci.value), f"{name} ±": _half_width(ci)}
    if missing(value):
        return {name: None}
    if _is_count(value):
        return {name: value}
    if fmt in ("pct", "signed"):
        return {name: _points(value)}
    if fmt == "p":
        return {name: _p(value)}
    if fmt == "int":
        return {name: int(value)}
    return {name: str(value)}


def records(table: SummaryTable) -> list[dict[str, Any]]:
    return [
        {
            k: v
            for column, value in zip(table.columns, row, strict=True)
            for k, v in cell_fields(column, value).items()
        }
        for row in table.rows
    ]


def named(items: Sequence[Item]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Every table and named note as (name, records); a named note is one record with one field."""
    for item in items:
        if isinstance(item, SummaryTable):
            yield item.name, records(item)
        elif item.name is not None:
            yield item.name, [{item.name: item.text}]


# ---- json, csv, markdown ---------------------------------------------------------------------------
def to_json(items: Sequence[Item]) -> str:
    return json.dumps(dict(named(items)), ensure_ascii=False, indent=2) + "\n"


def to_csv(items: Sequence[Item]) -> str:
    out = io.StringIO()
    for name, rows in named(items):
        out.write(f"# {name}\n")
        keys = list(dict.fromkeys(k for row in rows for k in row))
        writer = csv.DictWriter(out, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
        out.write("\n")
    return out.getvalue()


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(items: Sequence[Item]) -> str:
    parts: list[str] = []
    for item in items:
        if isinstance(item, Note):
            parts.append(f"**{item.lead.strip()}** {item.text}" if item.lead else item.text)
            continue
        lines = [f"### {item.title}", ""]
        lines.append("| " + " | ".join(_md_cell(c.shown) for c in item.columns) + " |")
        lines.append("|" + "|".join(":--" if c.fmt == "text" else "--:" for c in item.columns) + "|")
        for row in item.rows:
            cells = [_md_cell(cell_text(v, c.fmt)) for c, v in zip(item.columns, row, strict=True)]
            lines.append("| " + " | ".join(cells) + " |")
        if item.caption:
            lines += ["", f"_{item.caption}_"]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


# ---- rich, fitted to a width --------------------------------------------------------------------------
def _longest_word(text: str) -> int:
    """The longest run a wrap keeps together; a dash stays with the word before it ("A −" / "B")."""
    return max((len(word) for word in re.split(r"\s+(?![−–-]\s)", text.strip())), default=0)


def _widths(table: SummaryTable, texts: list[list[str]]) -> tuple[list[int], list[int]]:
    """Per column the natural width (nothing wraps) and the compact one (headers and labels wrap at
    spaces; numbers never do)."""
    natural, compact = [], []
    for i, column in enumerate(table.columns):
        cells = [row[i] for row in texts]
        longest = max((len(t) for t in cells), default=0)
        natural.append(max(longest, len(column.shown), 1))
        if column.label:
            words = max((_longest_word(t) for t in cells), default=0)
            compact.append(max(words, _longest_word(column.shown), 1))
        else:
            compact.append(max(longest, _longest_word(column.shown), 1))
    return natural, compact


def _build(
    table: SummaryTable,
    texts: list[list[str]],
    picked: list[int],
    widths: list[int],
    part: str = "",
    last: bool = True,
) -> Table:
    rich = Table(
        title=table.title + part,
        caption=table.caption if last else None,
        box=box.SIMPLE_HEAD if table.compact else box.HEAVY_HEAD,
        pad_edge=not table.compact,
    )
    for i in picked:
        column = table.columns[i]
        rich.add_column(
            column.shown,
            justify="left" if column.fmt == "text" else "right",
            style=column.style,
            width=widths[i],
            overflow="fold",  # only headers and labels can be narrower than their text: fold, never "…"
        )
    first_reference = len(table.rows) - table.reference_rows
    for r, row in enumerate(table.rows):
        if r == first_reference:
            rich.add_section()
        cells = [row[i] if isinstance(row[i], Text) else Text(texts[r][i]) for i in picked]
        rich.add_row(*cells, style="dim" if r >= first_reference else None)
    return rich


def _width_of(rich: Table, console: Console) -> int:
    return Measurement.get(console, console.options.update_width(10_000), rich).maximum


def _blocks(value_columns: list[int], cost: list[int], room: int) -> list[list[int]]:
    """As many value columns per block as fit in ``room`` (each block at least one), then evened out:
    11 columns in two blocks go 6 + 5, not 10 + 1."""

    def greedy(most: int) -> list[list[int]]:
        blocks: list[list[int]] = [[]]
        used = 0
        for i in value_columns:
            if blocks[-1] and (used + cost[i] > room or len(blocks[-1]) >= most):
                blocks.append([])
                used = 0
            blocks[-1].append(i)
            used += cost[i]
        return blocks

    packed = greedy(len(value_columns))
    even = greedy(-(-len(value_columns) // len(packed)))
    return even if len(even) == len(packed) else packed


def fitted(table: SummaryTable, width: int, console: Console) -> list[Table]:
    """The table as one rich table if it fits ``width``, else as column blocks that each fit."""
    texts = [[cell_text(v, c.fmt) for c, v in zip(table.columns, row, strict=True)] for row in table.rows]
    natural, widths = _widths(table, texts)
    everything = list(range(len(table.columns)))
    whole = _build(table, texts, everything, natural)
    if _width_of(whole, console) <= width or len(everything) < 2:
        return [whole if _width_of(whole, console) <= width else _build(table, texts, everything, widths)]
    values = [i for i in everything if not table.columns[i].label] or everything[1:]
    labels = [i for i in everything if i not in values]
    # measured, not assumed: a column's padding and rule, and the frame around the table
    total = _width_of(_build(table, texts, everything, widths), console)
    bare = _width_of(_build(table, texts, labels, widths), console)
    padding = round((total - bare - sum(widths[i] for i in values)) / len(values))
    room = width - bare
    widest_value = max(widths[i] + padding for i in values)
    while room < widest_value:  # the labels leave no room for one value column: fold the widest label
        widest = max(labels, key=lambda i: widths[i])
        if widths[widest] <= 6:
            break
        widths[widest] -= 1
        room += 1
    blocks = _blocks(values, [w + padding for w in widths], room)
    roomy = [natural[i] if i in values else w for i, w in enumerate(widths)]  # labels alike in every block
    tables = []
    for n, block in enumerate(blocks, start=1):
        picked = sorted(labels + block)
        part, last = (f" ({n}/{len(blocks)})" if len(blocks) > 1 else ""), n == len(blocks)
        candidate = _build(table, texts, picked, roomy, part, last)
        fits = _width_of(candidate, console) <= width
        tables.append(candidate if fits else _build(table, texts, picked, widths, part, last))
    return tables


def print_rich(items: Sequence[Item], console: Console) -> None:
    """Every item, tables fitted to the console's width, a blank line between items."""
    for n, item in enumerate(items):
        if n:
            console.print()
        if isinstance(item, Note):
            console.print(Text(item.lead, style="bold") + Text(item.text, style=item.style))
            continue
        for k, rich in enumerate(fitted(item, console.width, console)):
            if k:
                console.print()
            console.print(rich)
