"""`harness summary` at 80 columns: nothing cut, every number shown; the four formats say the same."""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from stats_records import bernoulli, record, write_accuracy_record

from harness.cli import main
from harness.report.summary import render_summary, summary_items
from harness.report.table_formats import Column, Item, SummaryTable, cell_text, fitted, print_rich
from harness.results.store import ResultsStore

LANGUAGES = ["en", "ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh", "ja"]
MODEL = "a-rather-long-multilingual-encoder-name"  # checkpoint names of 45+ characters
# condition: (in-domain accuracy, shifted accuracy)
PLAN = {"mmlu-en": (0.80, 0.60), "mmlu-de": (0.78, 0.66), "none": (0.70, 0.50)}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ResultsStore:
    rng = np.random.default_rng(0)
    results = ResultsStore(tmp_path_factory.mktemp("wide") / "results")
    for condition, (home, shifted) in PLAN.items():
        for task in ("pos", "ner"):
            for lang in LANGUAGES:
                for split, p, in_domain, domain in (
                    ("test", home, True, "wiki"),
                    ("news", shifted, False, "news-and-magazines"),
                ):
                    rec = record(
                        condition, task, split, lang, 0, in_domain=in_domain, domain=domain, model=MODEL
                    )
                    write_accuracy_record(results, rec, bernoulli(p, 40, rng))
    return results


@pytest.fixture(scope="module")
def items(store: ResultsStore) -> list[Item]:
    return summary_items(store.records(), store, n_boot=100)


@pytest.fixture(scope="module")
def text80(items: list[Item]) -> str:
    console = Console(width=80, record=True, file=io.StringIO())
    print_rich(items, console)
    return console.export_text()


def shown_numbers(key: str, value: object) -> str:
    """How a JSON number reads in the rich text."""
    if key.endswith(" p"):
        return "<0.001" if value < 0.001 else f"{value:.3f}"  # type: ignore[operator]
    return str(value) if isinstance(value, int) else f"{abs(value):.1f}"  # type: ignore[arg-type]


def json_numbers(data: dict) -> set[tuple[str, object]]:
    return {
        (key, value)
        for rows in data.values()
        for row in rows
        for key, value in row.items()
        if isinstance(value, int | float)
    }


def test_every_line_fits_80_columns_and_nothing_is_cut(text80: str) -> None:
    lines = text80.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in text80
    assert "nan" not in text80.lower()
    assert re.search(
        r"pos · test \(wiki, in-domain\) — accuracy \(%\) \(1/\d\)", text80
    )  # 16 languages: blocks


def test_every_number_of_the_json_is_in_the_rich_text(items: list[Item], text80: str) -> None:
    data = json.loads(render_summary(items, "json"))
    numbers = json_numbers(data)
    assert len(numbers) > 100
    missing = {(k, v) for k, v in numbers if shown_numbers(k, v) not in text80}
    assert not missing


def test_the_none_condition_shows_dashes_not_nan(items: list[Item], text80: str) -> None:
    data = json.loads(render_summary(items, "json"))
    none = next(r for r in data["leaderboard"] if r["checkpoint"].endswith("+none"))
    assert none["intermediate_task"] is None and none["source_lang"] is None
    block = text80[text80.index("intermediate") :]
    assert re.search(r"│ —\s+│ —\s+│ none\s+│", block)  # intermediate task and source of "none"


def test_json_csv_and_markdown_carry_the_same_tables_and_numbers(items: list[Item]) -> None:
    data = json.loads(render_summary(items, "json"))
    blocks = render_summary(items, "csv").strip().split("\n\n")
    from_csv = {}
    for block in blocks:
        head, _, body = block.partition("\n")
        assert head.startswith("# ")
        from_csv[head[2:]] = list(csv.DictReader(io.StringIO(body)))
    assert set(from_csv) == set(data)
    assert {"leaderboard", "robustness", "contrast", "verdict", "pos · test", "ner · news"} <= set(data)
    for name, rows in data.items():
        expected = [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows]
        assert from_csv[name] == expected, name
    markdown = render_summary(items, "markdown")
    for key, value in json_numbers(data):
        assert shown_numbers(key, value) in markdown
    assert all(
        line.startswith("|") for line in markdown.splitlines() if "|" in line and "Verdict" not in line
    )


def test_cli_summary_format_json(store: ResultsStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "--results", str(store.root), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data["leaderboard"][0]["average"], float)
    assert data["verdict"][0]["verdict"]


def test_cli_summary_refuses_an_unknown_format(
    store: ResultsStore, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["summary", "--results", str(store.root), "--format", "html"])
    assert stop.value.code == 2
    assert "markdown" in capsys.readouterr().err


# ---- the fitting itself, on any table ------------------------------------------------------------
words = st.text(alphabet="abcdefghij+-_", min_size=1, max_size=30)
labels = st.lists(words, min_size=1, max_size=3).map(" ".join)
scores = st.one_of(st.none(), st.floats(min_value=-1, max_value=1, allow_nan=False))


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(min_value=40, max_value=140),
    n_values=st.integers(min_value=1, max_value=25),
    rows=st.lists(st.tuples(labels, st.lists(scores, min_size=25, max_size=25)), min_size=1, max_size=4),
)
def test_any_table_fits_any_width_without_ellipsis(width: int, n_values: int, rows: list) -> None:
    columns = [Column("name", "text", label=True)] + [Column(f"col {i}", "signed") for i in range(n_values)]
    table = SummaryTable("t", "a title", columns, [[name, *values[:n_values]] for name, values in rows])
    console = Console(width=width, record=True, file=io.StringIO())
    for rich in fitted(table, width, console):
        console.print(rich)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= width
    assert "…" not in text
    cells = re.findall(r"[-+]\d+\.\d|—", text)
    for row in table.rows:
        for column, value in zip(columns[1:], row[1:], strict=True):
            assert cell_text(value, column.fmt) in cells
