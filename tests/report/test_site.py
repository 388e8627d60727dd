"""The site on a store with per-example predictions: ranks, not-available splits, the contrast page,
exports, stale pages, plots, and `harness report`."""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.cli import main
from harness.report.pages.ranking import adjacent_p_values, paired_ranks
from harness.report.pages.stats import compute_tables
from harness.report.plots import MAX_SERIES, Point, bar_chart
from harness.report.site import render_site
from harness.scoring.bootstrap import DEFAULT_BOOT
from harness.scoring.stats_tables import cells_of

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
def test_paired_ranks_by_hand() -> None:
    values = [0.9, 0.85, 0.6, 0.59, math.nan]
    p_above = [math.nan, 0.2, 0.001, 0.049, math.nan]
    assert paired_ranks(values, p_above) == [1, 1, 3, 4, None]
    assert paired_ranks([0.9, 0.5], [None, math.nan]) == [1, 1]  # no test: cannot separate


rows_and_ps = st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=12).map(
    lambda rows: sorted(rows, key=lambda r: -r[0])
)


@given(rows_and_ps)
def test_paired_ranks_properties(rows: list[tuple[float, float]]) -> None:
    values = [v for v, _ in rows]
    p_above = [math.nan, *(p for _, p in rows[1:])]
    ranks = paired_ranks(values, p_above)
    assert ranks[0] == 1
    for i in range(1, len(rows)):
        assert ranks[i] == (i + 1 if p_above[i] < 0.05 else ranks[i - 1])
        assert ranks[i] >= ranks[i - 1]


def _ranks(site: Path) -> dict[str, str]:
    html = read(site, "index.html")
    found = re.findall(r'data-checkpoint="([^"]+)">\s*<td class="num" data-value="(\d*)">', html)
    return dict(found)


def test_ranks_ignore_unpaired_interval_overlap(store_and_site: tuple, tmp_path: Path) -> None:
    store, site = store_and_site
    records = store.records()
    tables = compute_tables(store, records)
    wide = tables.checkpoints.copy()
    wide["low"], wide["high"] = 0.0, 1.0  # every unpaired interval overlaps every other
    render_site(records, tmp_path / "site", store.root, tables=dataclasses.replace(tables, checkpoints=wide))
    assert _ranks(tmp_path / "site") == _ranks(site) and "3" in _ranks(site).values()


def test_identical_checkpoints_share_a_rank(tmp_path: Path) -> None:
    store = build_site_store(tmp_path / "results")
    records = [r for r in store.records() if r.checkpoint.name != NONE]
    twins = [
        r.model_copy(
            update={"checkpoint": r.checkpoint.model_copy(update={"name": f"{r.checkpoint.name}-twin"})}
        )
        for r in records
        if r.checkpoint.name == EN
    ]
    cells = cells_of(None, [*records, *twins], 200)
    p = adjacent_p_values(cells, "average", [EN, f"{EN}-twin"])
    assert math.isnan(p[0]) and p[1] >= 0.05


# ---- pages -------------------------------------------------------------------------------------
def test_index_ranks_and_badges(store_and_site: tuple) -> None:
    store, site = store_and_site
    html = read(site, "index.html")
    assert html.index(EN) < html.index(DE) < html.index(NONE)
    cells = cells_of(store, store.records(), DEFAULT_BOOT)
    p_above = adjacent_p_values(cells, "average", [EN, DE, NONE])
    expected = paired_ranks([0.9, 0.8, 0.5], p_above)
    # two paired seeds cannot separate EN from DE; DE from NONE they can
    assert expected == [1, 1, 3] and p_above[1] >= 0.05 > p_above[2]
    for name, rank, source in zip((EN, DE, NONE), map(str, expected), ("en", "de", "none"), strict=True):
        row = html[html.index(f'data-checkpoint="{name}"') :].split("</tr>")[0]
        assert f'<td class="num" data-value="{rank}">{rank}</td>' in row
        assert 'class="badge badge-' in row and f">{source}</span>" in row
        assert "±" in row  # every score carries its CI
    assert 'data-filter="source-type"' in html and ">translated</option>" in html
    assert "demo split" in html and "english_dev" in html


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
    primary = html[html.index('id="primary"') :].split("</section>")[0]
    for field in ("Claim", "Endpoint", "95% CI", "Paired seeds", "Resampling unit", "shifted_gap_difference"):
        assert field in primary


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


def test_index_and_contrast_show_did_not_learn_and_translate_train(tmp_path: Path) -> None:
    store = build_site_store(tmp_path / "results")
    records = []
    for r in store.records():
        if r.checkpoint.name == DE:
            learning = {
                "status": "did-not-learn",
                "task": "mmlu_parallel",
                "dev_score": 0.25,
                "baseline": 0.25,
            }
            r = r.model_copy(update={"checkpoint": r.checkpoint.model_copy(update={"learning": learning})})
        if r.checkpoint.name == EN and r.task.name == "xnli":
            r = r.model_copy(update={"task": r.task.model_copy(update={"zero_shot": "translate-train"})})
        records.append(r)
    render_site(records, tmp_path / "site", store.root)
    index = read(tmp_path / "site", "index.html")
    de_row = index[index.index(f'data-checkpoint="{DE}"') :].split("</tr>")[0]
    en_row = index[index.index(f'data-checkpoint="{EN}"') :].split("</tr>")[0]
    assert "did not learn" in de_row and "did not learn" not in en_row
    assert "translate-train: xnli" in en_row and "translate-train" not in de_row
    contrast = read(tmp_path / "site", "contrast.html")
    primary = contrast[contrast.index('id="primary"') :].split("</section>")[0]
    assert 'data-claim="did-not-learn"' in primary and f"{DE} − {EN}" in primary
    assert "Resampling unit" in primary and "exploratory (Holm-adjusted p)" in contrast
