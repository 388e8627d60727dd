"""The site on a store with per-example predictions: ranks, not-available splits, the contrast page,
exports, stale pages, plots, and `harness report`."""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.cli import main
from harness.report.pages.ranking import tied_ranks
from harness.report.pages.stats import compute_tables
from harness.report.plots import MAX_SERIES, Point, bar_chart
from harness.report.site import render_site

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
from site_store import DE, EN, NONE, build_site_store  # noqa: E402


@pytest.fixture(scope="module")
def store_and_site(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    root = tmp_path_factory.mktemp("site")
    store = build_site_store(root / "results")
    render_site(store.records(), root / "site", store.root)
    return store, root / "site"


def read(site: Path, name: str) -> str:
    return (site / name).read_text(encoding="utf-8")


# ---- ranks -------------------------------------------------------------------------------------
def test_tied_ranks_by_hand() -> None:
    values = [0.9, 0.85, 0.6, 0.59, math.nan]
    lows = [0.85, 0.80, 0.55, 0.50, math.nan]
    highs = [0.95, 0.88, 0.65, 0.62, math.nan]
    assert tied_ranks(values, lows, highs) == [1, 1, 3, 3, None]
    assert tied_ranks([0.9, 0.5], [math.nan, 0.4], [math.nan, 0.6]) == [1, 1]  # no CI: cannot separate


intervals = st.lists(
    st.tuples(st.floats(0, 1), st.floats(0, 0.2), st.floats(0, 0.2)), min_size=1, max_size=12
).map(lambda rows: sorted(rows, key=lambda r: -r[0]))


@given(intervals)
def test_tied_ranks_properties(rows: list[tuple[float, float, float]]) -> None:
    values = [v for v, _, _ in rows]
    lows = [v - a for v, a, _ in rows]
    highs = [v + b for v, _, b in rows]
    ranks = tied_ranks(values, lows, highs)
    assert ranks[0] == 1
    for i in range(1, len(rows)):
        overlap = lows[i] <= highs[i - 1] and lows[i - 1] <= highs[i]
        assert ranks[i] == (ranks[i - 1] if overlap else i + 1)
        assert ranks[i] >= ranks[i - 1]


# ---- pages -------------------------------------------------------------------------------------
def test_index_ranks_and_badges(store_and_site: tuple) -> None:
    _, site = store_and_site
    html = read(site, "index.html")
    assert html.index(EN) < html.index(DE) < html.index(NONE)
    for name, rank, source in ((EN, "1", "en"), (DE, "2", "de"), (NONE, "3", "none")):
        row = html[html.index(f'data-checkpoint="{name}"') :].split("</tr>")[0]
        assert f'<td class="num" data-value="{rank}">{rank}</td>' in row
        assert 'class="badge badge-' in row and f">{source}</span>" in row
        assert "±" in row  # every score carries its CI
    assert 'data-filter="source-type"' in html and ">translated</option>" in html
    assert "demo split" in html and "english_dev" in html


def test_ranks_tie_when_the_intervals_overlap(store_and_site: tuple, tmp_path: Path) -> None:
    store, _ = store_and_site
    records = store.records()
    tables = compute_tables(store, records, n_boot=200)
    wide = tables.checkpoints.copy()
    wide["low"], wide["high"] = 0.0, 1.0  # every interval overlaps every other
    render_site(records, tmp_path / "site", store.root, tables=dataclasses.replace(tables, checkpoints=wide))
    html = read(tmp_path / "site", "index.html")
    assert html.count('<td class="num" data-value="1">1</td>') == 3


def test_target_page_not_available_is_never_zero(store_and_site: tuple) -> None:
    _, site = store_and_site
    html = read(site, "targets/xnli.html")
    unseen = html[html.index("<h2>unseen") :].split("</section>")[0]
    assert ">yo<" in unseen and "not available" in unseen and "data/xnli/unseen/yo.tsv" in unseen
    letters = html[html.index("<h2>letters") :].split("</section>")[0]
    assert "not available" in letters and "data/xnli/letters/de.tsv" in letters
    assert '<table class="langs' not in letters  # a split with no data has no score table at all
    assert "face-to-face, in-domain" not in html and "mnli-genres, in-domain" in html
    assert html.count("<svg") >= 3  # per-language bars of two splits and the gap plot
    assert ">60<" in html  # n examples


def test_contrast_page(store_and_site: tuple) -> None:
    store, site = store_and_site
    html = read(site, "contrast.html")
    tables = compute_tables(store, store.records())
    assert tables.verdict.split(" ")[0] in html
    verdict = html[html.index('id="verdict"') :].split("</p>")[0]
    assert "shifted-domain gap" in verdict
    table = html[html.index('id="contrast-table"') :].split("</table>")[0]
    assert table.count("<tr>") == 1 + 9  # header + 2 targets (xnli: 2 splits) × 3 languages
    assert f"{DE}</a> − <a" in table and NONE not in table
    gaps = html[html.index('id="gap-table"') :].split("</table>")[0]
    assert gaps.count("<tr>") == 1 + 3 and "face-to-face" in gaps


def test_checkpoint_page_lineage_settings_predictions_export(store_and_site: tuple) -> None:
    store, site = store_and_site
    html = read(site, f"checkpoints/{DE}.html")
    for text in (
        "int-mmlu-de-1",
        "mmlu_parallel",
        "tgt-mmlu-de-xnli-2",
        "learning_rate",
        "dev_history",
        "Matched with</dt><dd>mmlu-en",
    ):
        assert text in html, text
    assert html.count(">jsonl</a>") == 2 * (2 * 3 + 3)  # seeds × (xnli 2 splits + tatoeba_demo) × languages
    exported = site / "exports" / DE / "seed-1" / "xnli" / "test-de.tsv"
    assert 'href="../exports/me5-small%2Bmmlu-de/seed-1/xnli/test-de.tsv"' in html
    record = next(
        r
        for r in store.records()
        if (r.checkpoint.name, r.task.name, r.split.name, r.language, r.seed) == (DE, "xnli", "test", "de", 1)
    )
    predicted = [row["prediction"] for row in store.predictions(record)]
    assert exported.read_text(encoding="utf-8").splitlines() == predicted
    assert "None: this checkpoint has no in-domain test records" not in html


def test_downloads_and_stale_pages(tmp_path: Path) -> None:
    store = build_site_store(
        tmp_path / "results", seeds=(1,), extra={"me5-small+gone": {"test": 0.5, "unseen": 0.4}}
    )
    site = tmp_path / "site"
    render_site(store.records(), site, store.root)
    assert (site / "checkpoints" / "me5-small+gone.html").is_file()
    html = read(site, "downloads.html")
    for name in (
        "leaderboard",
        "scores",
        "checkpoint_scores",
        "robustness",
        "robustness_summary",
        "contrast",
        "gap_contrast",
        "unavailable",
    ):
        assert f'href="data/{name}.csv"' in html and (site / "data" / f"{name}.json").is_file()
    kept = [r for r in store.records() if r.checkpoint.name != "me5-small+gone"]
    render_site(kept, site, store.root)
    assert not (site / "checkpoints" / "me5-small+gone.html").exists()
    assert not (site / "exports" / "me5-small+gone").exists()


# ---- plots -------------------------------------------------------------------------------------
def test_bar_chart_geometry() -> None:
    chart = bar_chart(
        "t", ["en", "de"], [("a", [Point(0.5, 0.4, 0.6), None]), ("b", [Point(1.0), Point(0.25, 0.2, 0.3)])]
    )
    heights = [float(b["h"]) for b in chart["bars"]]
    assert heights == [75.0, 150.0, 37.5]  # a 150-pixel axis from 0 to 1
    assert len(chart["whiskers"]) == 2  # only the points with a CI
    signed = bar_chart("g", ["en"], [("a", [Point(-0.12, -0.2, -0.04)])], signed=True)
    labels = [g["label"] for g in signed["grid"]]
    assert labels[0] == "-20" and labels[-1] == "+20" and "0" in labels
    many = bar_chart("m", ["en"], [(f"s{i}", [Point(0.5)]) for i in range(MAX_SERIES + 3)])
    assert many["shown"] == MAX_SERIES and many["omitted"] == 3
    assert bar_chart("t", ["en"], [("a", [Point(0.5)])]) == bar_chart("t", ["en"], [("a", [Point(0.5)])])


# ---- the command -------------------------------------------------------------------------------
def test_harness_report_writes_derived_then_the_site(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = build_site_store(tmp_path / "results", seeds=(1,))
    out = tmp_path / "site"
    assert main(["report", "--results", str(store.root), "--out", str(out)]) == 0
    assert "index.html" in capsys.readouterr().out
    assert (store.root / "derived").is_dir() and any((store.root / "derived").iterdir())
    first = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert main(["report", "--results", str(store.root), "--out", str(out)]) == 0
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == first
