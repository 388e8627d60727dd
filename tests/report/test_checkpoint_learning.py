"""Whether intermediate training learned, as the checkpoint pages and `harness summary` show it."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest
from rich.console import Console

from harness.report.pages.learning import loss_curve_svg, status_badge
from harness.report.site import render_site
from harness.report.summary import learning_spec, print_summary
from harness.report.table_formats import fitted
from harness.results.store import ResultsStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from learning_fixtures import run_grid_runner, write_learning_tasks  # noqa: E402
from tiny_fixtures import build_tiny_model, write_tiny_tasks  # noqa: E402


@pytest.fixture(scope="module")
def trained_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[ResultsStore, Path]:
    root = tmp_path_factory.mktemp("learning-site")
    model = build_tiny_model(root / "model")
    tasks = write_learning_tasks(write_tiny_tasks(root, model), model)
    run_grid_runner(tasks, root / "results", "learn").run()
    store = ResultsStore(root / "results")
    site = tmp_path_factory.mktemp("site") / "site"
    render_site(store.records(), site, store.root)
    return store, site


def _page(site: Path, condition: str) -> str:
    (path,) = [p for p in (site / "checkpoints").glob("*.html") if p.stem.endswith(condition)]
    return path.read_text(encoding="utf-8")


def test_checkpoint_page_shows_the_loss_curve_dev_table_and_badge(trained_site: tuple) -> None:
    store, site = trained_site
    html = _page(site, "kw-en")
    section = html[html.index('<section id="training">') : html.index('<section id="lineage">')]
    assert "<svg" in section and 'class="loss"' in section
    assert '<span class="label learned"' in section
    assert "declared split &#39;dev&#39; in en" in section
    assert section.count('<tr><td class="num">') == 6  # one dev row per epoch, with the baseline beside
    learning = next(r.checkpoint.learning for r in store.records() if r.checkpoint.condition == "kw-en")
    baseline = learning["baseline"]
    assert (
        f'<td class="num">{100 * baseline:.1f}</td><td>✓</td>' in section
    )  # the kept epoch, baseline beside


def test_a_condition_that_did_not_learn_is_badged_red(trained_site: tuple) -> None:
    _, site = trained_site
    html = _page(site, "noise-en")
    assert '<span class="label did-not-learn"' in html and "did not learn</span>" in html
    assert "held out: 32" in html
    assert 'id="training"' not in _page(site, "none")  # nothing trained, nothing to show


def test_summary_table_fits_80_columns_and_says_did_not_learn(trained_site: tuple) -> None:
    store, _ = trained_site
    records = store.records()
    spec = learning_spec(records)
    assert spec is not None
    table = fitted(spec, 10_000, Console(width=10_000))[0]  # as wide as it needs; rich fits it to 80 below
    assert table.row_count == 3  # kw-en, kw-de, noise-en; none is not trained
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(table)
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    text = out.getvalue()
    assert re.search(r"noise-en\s+noise\s+en\s+\d+\.\d \[\d+\.\d, \d+\.\d\]\s+\d+\.\d\s+did not learn", text)
    assert re.search(r"kw-de\s+keyword\s+de .* learned", text)
    colour = io.StringIO()
    print_summary(records, Console(file=colour, width=80, force_terminal=True, color_system="standard"))
    assert "\x1b[1;31mdid not learn" in colour.getvalue()  # bold red


def test_loss_curve_svg_escapes_and_draws_one_point() -> None:
    svg = loss_curve_svg([{"step": 1, "epoch": 1.0, "loss": 1.2}], "<b>task</b>")
    assert svg is not None and "<circle" in svg and "&lt;b&gt;task" in svg and "<b>" not in svg
    assert loss_curve_svg([], "t") is None
    assert 'class="label did-not-learn"' in status_badge("did-not-learn")
    assert "learning unknown" in status_badge(None)
