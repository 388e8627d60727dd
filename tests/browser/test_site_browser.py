"""The rendered site in a real headless Chromium (Debian's package, driven by playwright): sorting,
filtering, the contrast page, no script injection and not a single network request."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.report.site import render_site

pytestmark = pytest.mark.browser

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
HOSTILE = "<script>alert(1)</script>"


def chromium_binary() -> str | None:
    explicit = os.environ.get("HARNESS_CHROMIUM")
    if explicit and Path(explicit).is_file():
        return explicit
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from site_store import EN, LEVELS, build_site_store

    root = tmp_path_factory.mktemp("browser")
    store = build_site_store(root / "results", extra={HOSTILE: LEVELS[EN]})
    render_site(store.records(), root / "site", store.root)
    return root / "site"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    binary = chromium_binary()
    if binary is None:
        reason = "no chromium binary (as root: apt-get install -y chromium; or set HARNESS_CHROMIUM)"
        if os.environ.get("CI") == "true":  # .ci/run installs it: a missing browser in CI is a failure
            pytest.fail(reason)
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    from playwright import sync_api  # a dev dependency: its absence is an error, not a skip

    with sync_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: object) -> Iterator[tuple[object, list[str], list[str]]]:
    """A page that records every request URL and every dialog (an alert would mean injected script)."""
    context = browser.new_context()  # type: ignore[attr-defined]
    tab = context.new_page()
    requests: list[str] = []
    dialogs: list[str] = []
    tab.on("request", lambda request: requests.append(request.url))
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab, requests, dialogs
    assert errors == [], f"script errors on the page: {errors}"
    context.close()


def visible_checkpoints(tab: object) -> list[str]:
    return tab.eval_on_selector_all(  # type: ignore[attr-defined]
        "#board tbody tr", "rows => rows.filter(r => !r.hidden).map(r => r.dataset.checkpoint)"
    )


def test_sort_filter_and_contrast_without_network(site: Path, page: tuple) -> None:
    from site_store import DE, EN, NONE

    tab, requests, dialogs = page
    tab.goto((site / "index.html").as_uri())
    ranked = visible_checkpoints(tab)
    assert ranked[-1] == NONE and set(ranked) == {EN, DE, NONE, HOSTILE}

    # sort by checkpoint name: ascending on the first click, descending on the second
    tab.click("#board thead button.sort:text-is('checkpoint')")
    assert visible_checkpoints(tab) == sorted(ranked, key=str.lower)
    assert tab.get_attribute("#board thead th:nth-child(2)", "aria-sort") == "ascending"
    tab.click("#board thead button.sort:text-is('checkpoint')")
    assert visible_checkpoints(tab) == sorted(ranked, key=str.lower, reverse=True)

    # sort by the xnli column: best first on the first click, and the numbers shown agree
    tab.click("#board thead button.sort:text-is('xnli')")
    order = visible_checkpoints(tab)
    column = tab.eval_on_selector_all(
        "#board thead th", "ths => ths.findIndex(th => th.textContent.trim().startsWith('xnli'))"
    )
    shown = tab.eval_on_selector_all(
        "#board tbody tr",
        f"rows => rows.map(r => parseFloat(r.children[{column}].getAttribute('data-value')))",
    )
    assert shown == sorted(shown, reverse=True)
    assert order[-1] == NONE

    # filter: translated sources only, then reset
    tab.select_option("select[data-filter='source-type']", "translated")
    assert visible_checkpoints(tab) == [DE]
    assert tab.text_content("[data-count]") == "1 of 4 shown"
    tab.select_option("select[data-filter='source-type']", "")
    tab.select_option("select[data-filter='intermediate']", "none")
    assert visible_checkpoints(tab) == [HOSTILE, NONE]  # both without an intermediate task, xnli order kept
    tab.click("button[data-reset]")
    assert len(visible_checkpoints(tab)) == 4

    # the hostile name is text, not markup
    assert tab.locator("#board tbody th a", has_text=HOSTILE).count() == 1

    # the contrast page: the verdict and the paired rows
    tab.click("nav.site a:text-is('English vs non-English')")
    assert tab.url.endswith("/contrast.html")
    verdict = tab.text_content("#verdict")
    assert verdict and "Verdict:" in verdict and "points" in verdict
    assert tab.locator("#contrast-table tbody tr").count() > 0
    assert tab.locator("#gap-table tbody tr").count() > 0
    pairs = tab.eval_on_selector_all(
        "#contrast-table tbody tr", "rows => rows.map(r => r.children[1].textContent)"
    )
    assert all(DE in p for p in pairs)

    # a target page and a checkpoint page open and show their tables
    tab.goto((site / "targets" / "xnli.html").as_uri())
    assert tab.locator("td.na", has_text="not available").count() >= 1
    tab.goto((site / "checkpoints" / f"{DE}.html").as_uri())
    assert tab.locator("#export a").count() > 0

    assert requests, "expected the page loads themselves to be seen"
    assert [url for url in requests if not url.startswith("file://")] == []
    assert dialogs == []


def test_no_page_is_wider_than_a_narrow_window(site: Path, browser: object) -> None:
    """At 720 px (a phone turned sideways, a window beside a terminal) every page fits its width: a wide
    table scrolls in its own box instead of widening the page (lineage and summary tables did before)."""
    context = browser.new_context(viewport={"width": 720, "height": 900})  # type: ignore[attr-defined]
    tab = context.new_page()
    wider = {}
    for path in sorted(site.rglob("*.html")):
        tab.goto(path.as_uri())
        overflow = tab.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 0:
            wider[str(path.relative_to(site))] = overflow
    context.close()
    assert wider == {}, f"pages wider than 720 px (by px): {wider}"


@pytest.fixture(scope="module")
def prompted_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two fine-tuned encoders and a prompted decoder LM ("prompted, 5-shot"): tests/prompted_store.py."""
    from prompted_store import build_prompted_store

    root = tmp_path_factory.mktemp("prompted-browser")
    store = build_prompted_store(root / "results")
    render_site(store.records(), root / "site", store.root, n_boot=200)
    return root / "site"


def test_prompted_badge_is_visible_at_720_px_without_widening_any_page(
    prompted_site: Path, browser: object
) -> None:
    """The ranking page shows the prompted row's badge on screen at 720 px (no sideways scrolling, the
    encoders' rows unbadged), the legend explains it, and no page with a badge is wider than the window."""
    from prompted_store import BADGE, DE, EN, LM

    context = browser.new_context(viewport={"width": 720, "height": 900})  # type: ignore[attr-defined]
    tab = context.new_page()
    tab.goto((prompted_site / "index.html").as_uri())
    badge = tab.locator(f'#board tr[data-checkpoint="{LM}"] .badge.prompted')
    assert badge.count() == 1 and badge.is_visible()
    assert badge.inner_text().strip() == BADGE
    box = badge.bounding_box()
    assert box is not None and box["width"] > 0 and box["height"] > 0
    assert box["x"] >= 0 and box["x"] + box["width"] <= 720, f"the badge is off screen: {box}"
    for name in (EN, DE):
        assert tab.locator(f'#board tr[data-checkpoint="{name}"] .badge.prompted').count() == 0
    assert tab.locator("p.legend .badge.prompted").first.is_visible()
    wider = {}
    for path in sorted(prompted_site.rglob("*.html")):
        tab.goto(path.as_uri())
        overflow = tab.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 0:
            wider[str(path.relative_to(prompted_site))] = overflow
    context.close()
    assert wider == {}, f"pages wider than 720 px (by px): {wider}"
