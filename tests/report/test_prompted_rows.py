"""Prompted (decoder-LM) rows beside fine-tuned encoders (issue 17): badged everywhere they appear,
never a side of the English vs non-English contrast, in the robustness tables like any checkpoint,
compared with a fine-tuned checkpoint only under a "Protocols differ" line, and noted in the XTREME
export as not XTREME protocol."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prompted_store import BADGE, DE, EN, ENCODER, LM, build_prompted_store, prompted_checkpoint
from rich.console import Console

from harness import cli
from harness.report.contrast import checkpoint_info, contrast_table, gap_contrast_table, pair_frame, pairs
from harness.report.site import render_site
from harness.report.verdict import store_verdict
from harness.results.store import ResultsStore
from harness.scoring.derived import write_derived
from harness.scoring.export import PROTOCOL_NOTE
from harness.scoring.robustness import robustness_summary, robustness_table
from harness.scoring.stats_tables import cells_of

REPO = Path(__file__).resolve().parents[2]
N_BOOT = 200
# prompted checkpoints crafted to look like a contrast side: the same encoder model and intermediate
# task, an English source (named to sort before enc+mmlu-en, so the tie-break would pick it) and a
# German source matched with mmlu-en
LOOKALIKE_EN = f"{ENCODER}+a-prompted-en"
LOOKALIKE_DE = f"{ENCODER}+b-prompted-de"


def lookalikes() -> list:
    shared = {"model": ENCODER, "intermediate_task": "mmlu_parallel", "intermediate_size": 160}
    return [
        prompted_checkpoint(
            LOOKALIKE_EN, condition="mmlu-en", source_lang="en", source_type="english", **shared
        ),
        prompted_checkpoint(
            LOOKALIKE_DE,
            condition="mmlu-de-prompted",
            source_lang="de",
            source_type="translated",
            matched_with="mmlu-en",
            **shared,
        ),
    ]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ResultsStore:
    return build_prompted_store(tmp_path_factory.mktemp("prompted") / "results")


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory) -> ResultsStore:
    return build_prompted_store(tmp_path_factory.mktemp("lookalikes") / "results", lookalikes())


# ---- (1) the terminal summary at 80 columns ----------------------------------------------------------
def test_summary_at_80_columns_badges_the_prompted_checkpoint_only(store: ResultsStore) -> None:
    env = {**os.environ, "COLUMNS": "80", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "harness.cli", "summary", "--results", str(store.root)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in out
    badged = [line for line in lines if BADGE in line]
    # the leaderboard, both per-language tables, the robustness overview and the per-target table
    assert len(badged) >= 5, out
    assert all(LM in line for line in badged), badged
    for name in (EN, DE):
        rows = [line for line in lines if name in line and "│" in line and " − " not in line]
        assert rows, f"{name} not in the summary"
        assert not any("prompted" in line for line in rows), rows
        assert any("fine-tuned" in line for line in rows)


def test_summary_of_fine_tuned_rows_has_no_regime_column(tmp_path: Path) -> None:
    only_encoders = build_prompted_store(tmp_path / "results")
    for path in only_encoders.records_dir.glob(f"{LM}/*"):
        path.unlink()
    text = summary_text(only_encoders)
    assert "regime" not in text and "prompted" not in text


def summary_text(store: ResultsStore) -> str:
    from harness.report.summary import print_summary

    console = Console(width=80, record=True, file=io.StringIO())
    print_summary(store.records(), console, store, n_boot=N_BOOT)
    return console.export_text()


# ---- (2) the contrast and the verdict pair only fine-tuned checkpoints -----------------------------
def test_contrast_pairs_only_the_two_encoders(store: ResultsStore) -> None:
    records = store.records()
    contrast = contrast_table(store, records, N_BOOT)
    assert set(zip(contrast["non_english"], contrast["english"], strict=True)) == {(DE, EN)}
    gaps = gap_contrast_table(store, records, N_BOOT)
    assert set(zip(gaps["non_english"], gaps["english"], strict=True)) == {(DE, EN)}
    verdict = store_verdict(store, records, N_BOOT)
    assert verdict.n_pairs == 1 and verdict.estimate is not None


def test_prompted_lookalikes_are_never_a_side(crafted: ResultsStore) -> None:
    records = crafted.records()
    cells = cells_of(crafted, records, N_BOOT)
    found = pair_frame(cells)
    assert list(zip(found["non_english"], found["english"], strict=True)) == [(DE, EN)]
    contrast = contrast_table(crafted, records, N_BOOT)
    sides = set(contrast["non_english"]) | set(contrast["english"].dropna())
    assert sides == {DE, EN}
    gaps = gap_contrast_table(crafted, records, N_BOOT)
    assert set(gaps["non_english"]) | set(gaps["english"]) == {DE, EN}
    assert store_verdict(crafted, records, N_BOOT).n_pairs == 1


def test_the_lookalikes_would_pair_without_the_regime_rule(crafted: ResultsStore) -> None:
    """The crafted records do test the rule: with their regime erased they are chosen as sides."""
    info = checkpoint_info(cells_of(crafted, crafted.records(), N_BOOT))
    assert set(info.loc[info["regime"] == "prompted", "checkpoint"]) == {LM, LOOKALIKE_EN, LOOKALIKE_DE}
    erased = info.assign(regime="fine-tuned")
    chosen = {row["checkpoint"]: (english or {}).get("checkpoint") for row, english in pairs(erased)}
    assert chosen == {DE: LOOKALIKE_EN, LOOKALIKE_DE: LOOKALIKE_EN}
    kept = {row["checkpoint"]: (english or {}).get("checkpoint") for row, english in pairs(info)}
    assert kept == {DE: EN}


# ---- (3) robustness: prompted rows like any checkpoint, badged --------------------------------------
def test_robustness_tables_hold_the_prompted_checkpoint(store: ResultsStore) -> None:
    table = robustness_table(store, store.records(), N_BOOT)
    mine = table[table["checkpoint"] == LM]
    assert sorted(mine["language"]) == ["de", "en"]
    for column in ("gap", "gap_low", "gap_high"):
        assert np.isfinite(mine[column].to_numpy(dtype=float)).all(), column
    assert (mine["gap_low"] < mine["gap"]).all() and (mine["gap"] < mine["gap_high"]).all()
    assert set(mine["badge"]) == {BADGE}
    assert table.loc[table["checkpoint"] != LM, "badge"].isna().all()
    summary = robustness_summary(table)
    worst = summary[(summary["checkpoint"] == LM) & (summary["task"] == "all")]
    assert len(worst) == 1
    row = worst.iloc[0]
    assert row["worst_domain"] == "xnli:letters" and np.isfinite(float(row["worst_gap"]))
    assert np.isfinite([row["mean_gap"], row["gap_low"], row["gap_high"]]).all()
    assert row["gap_low"] < row["mean_gap"] < row["gap_high"]
    assert row["badge"] == BADGE


def test_derived_tables_carry_the_badge(store: ResultsStore) -> None:
    write_derived(store, N_BOOT)
    folder = store.root / "derived"
    for name in ("scores", "checkpoints", "robustness", "robustness_summary"):
        frame = pd.read_csv(folder / f"{name}.csv")
        assert list(frame.columns)[:2] == ["checkpoint", "badge"], name
        assert set(frame.loc[frame["checkpoint"] == LM, "badge"]) == {BADGE}, name
        assert frame.loc[frame["checkpoint"] != LM, "badge"].isna().all(), name
        rows = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))["rows"]
        assert {r["badge"] for r in rows if r["checkpoint"] == LM} == {BADGE}
    contrast = pd.read_csv(folder / "contrast.csv")
    assert LM not in set(contrast["non_english"]) | set(contrast["english"])


def test_tables_of_fine_tuned_rows_have_no_badge_column(tmp_path: Path) -> None:
    only_encoders = build_prompted_store(tmp_path / "results")
    for path in only_encoders.records_dir.glob(f"{LM}/*"):
        path.unlink()
    records = only_encoders.records()
    assert "badge" not in robustness_table(only_encoders, records, N_BOOT).columns
    for record in records:  # the JSON of a fine-tuned record does not mention the regime
        dumped = record.model_dump(mode="json")["checkpoint"]
        assert "regime" not in dumped and "shots" not in dumped


# ---- (4) the site: a badge wherever the prompted checkpoint is named -------------------------------
class Page(HTMLParser):
    """The texts of the badges and of the row-name cells (``th.name`` and ``h1``), with the badges
    inside each."""

    def __init__(self) -> None:
        super().__init__()
        self.badges: list[str] = []
        self.names: list[tuple[str, list[str]]] = []
        self.legend = False
        self._badge_depth: int | None = None
        self._cell: list[str] | None = None
        self._cell_badges: list[str] = []
        self._cell_tag = ""
        self._depth = 0
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._depth += 1
        classes = (dict(attrs).get("class") or "").split()
        if tag == "span" and {"badge", "prompted"} <= set(classes):
            self._badge_depth, self._text = self._depth, []
        if "legend" in classes and tag == "p":
            self.legend = True
        if (tag == "th" and "name" in classes) or tag == "h1":
            self._cell, self._cell_badges, self._cell_tag = [], [], tag

    def handle_endtag(self, tag: str) -> None:
        if self._badge_depth == self._depth and tag == "span":
            badge = "".join(self._text).strip()
            self.badges.append(badge)
            self._cell_badges.append(badge)
            self._badge_depth = None
        if self._cell is not None and tag == self._cell_tag:
            self.names.append(("".join(self._cell).strip(), list(self._cell_badges)))
            self._cell = None
        self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._badge_depth is not None:
            self._text.append(data)
        elif self._cell is not None:
            self._cell.append(data)


def parsed(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def site(store: ResultsStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    render_site(store.records(), out, store.root, n_boot=N_BOOT)
    return out


def test_every_page_naming_the_prompted_checkpoint_shows_its_badge(site: Path) -> None:
    naming = {}
    for path in sorted(site.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        if LM in text:
            naming[path.relative_to(site).as_posix()] = parsed(path)
    assert {"index.html", "contrast.html", "targets/xnli.html", f"checkpoints/{LM}.html"} <= set(naming)
    for name, page in naming.items():
        assert BADGE in page.badges, f"{name} names {LM} without its badge"
        assert page.legend, f"{name}: no legend for the badge"
        for cell, badges in page.names:  # a row or heading naming a checkpoint: badged iff prompted
            if cell == LM:
                assert badges == [BADGE], (name, cell, badges)
            elif cell in (EN, DE) or cell.endswith((EN, DE)):
                assert badges == [], (name, cell, badges)
    index = naming["index.html"]
    assert [c for c, b in index.names if b] == [LM]
    assert {c for c, _ in index.names} >= {LM, EN, DE}
    target = naming["targets/xnli.html"]
    # the per-domain table and both per-language tables
    assert sum(1 for c, b in target.names if c == LM and b == [BADGE]) == 3
    text = (site / "targets" / "xnli.html").read_text(encoding="utf-8")
    assert f"{LM} ({BADGE})" in text  # the plots' legends and the selection-rule list
    for page in ("checkpoints/enc+mmlu-en.html", "checkpoints/enc+mmlu-de.html"):
        assert not parsed(site / page).badges, page
    methodology = parsed(site / "methodology.html")  # the protocol explained, no checkpoint badged
    assert methodology.legend and BADGE not in methodology.badges
    per_language = json.loads((site / "results.json").read_text(encoding="utf-8"))
    assert {r["badge"] for r in per_language["rows"] if r["checkpoint"] == LM} == {BADGE}


def test_site_of_fine_tuned_rows_is_unbadged(tmp_path: Path) -> None:
    only_encoders = build_prompted_store(tmp_path / "results")
    for path in only_encoders.records_dir.glob(f"{LM}/*"):
        path.unlink()
    render_site(only_encoders.records(), tmp_path / "site", only_encoders.root, n_boot=N_BOOT)
    for path in (tmp_path / "site").rglob("*.html"):
        page = parsed(path)
        assert not page.badges and not page.legend, path


# ---- (5) harness compare ------------------------------------------------------------------------------
def compare_output(store: ResultsStore, a: str, b: str, monkeypatch: pytest.MonkeyPatch) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    monkeypatch.setattr(cli, "console", console)
    assert cli.main(["compare", a, b, "--results", str(store.root)]) == 0
    return " ".join(console.export_text().split())


def test_compare_prompted_with_fine_tuned_says_the_protocols_differ(
    store: ResultsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = compare_output(store, LM, EN, monkeypatch)
    assert text.startswith(
        f"Protocols differ: A = {LM} ({BADGE}), B = {EN} (fine-tuned, zero-shot transfer)"
    ), text[:300]
    assert f"{LM} ({BADGE}) vs {EN}" in text  # the tables' titles are badged too
    reverse = compare_output(store, EN, LM, monkeypatch)
    assert f"A = {EN} (fine-tuned, zero-shot transfer), B = {LM} ({BADGE})" in reverse
    same = compare_output(store, DE, EN, monkeypatch)
    assert "Protocols differ" not in same and "prompted" not in same


def test_compare_json_names_the_protocol_difference(
    store: ResultsStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    assert cli.main(["compare", LM, EN, "--results", str(store.root), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert "Protocols differ" in payload["protocols_differ"] and BADGE in payload["protocols_differ"]
    assert cli.main(["compare", DE, EN, "--results", str(store.root), "--json"]) == 0
    assert "protocols_differ" not in json.loads(capsys.readouterr().out)


# ---- (6) harness export xtreme ----------------------------------------------------------------------
def test_export_xtreme_notes_prompted_rows(
    store: ResultsStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = Console(width=200, record=True, file=io.StringIO())
    monkeypatch.setattr(cli, "console", console)
    out = tmp_path / "lm"
    assert cli.main(["export", "xtreme", str(store.root), str(out), "--checkpoint", LM]) == 0
    note = (out / PROTOCOL_NOTE).read_text(encoding="utf-8")
    assert "xnli:" in note and BADGE in note and "not XTREME" in note
    assert "a prompted decoder LM" in note  # named as prompted, not only by its task protocol
    assert BADGE in console.export_text()  # the warning printed by the command
    assert (out / "xnli" / "test-de.tsv").is_file()
    encoder = tmp_path / "encoder"
    assert (
        cli.main(["export", "xtreme", str(store.root), str(encoder), "--checkpoint", EN, "--seed", "1"]) == 0
    )
    assert not (encoder / PROTOCOL_NOTE).exists()
