"""`harness summary`: robustness and contrast tables and the verdict; results/derived/ written by it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from stats_records import bernoulli, record, write_accuracy_record

from harness.cli import main
from harness.report.summary import print_summary
from harness.results.store import ResultsStore
from harness.scoring.cells import _CACHE
from harness.scoring.derived import write_derived

# condition: (in-domain accuracy, shifted accuracy)
PLAN = {"mmlu-en": (0.80, 0.60), "mmlu-de": (0.80, 0.72), "none": (0.70, 0.50)}


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    rng = np.random.default_rng(0)
    results = ResultsStore(tmp_path / "results")
    for condition, (home, shifted) in PLAN.items():
        for lang in ("en", "de"):
            for split, p, in_domain, domain in (
                ("test", home, True, "wiki"),
                ("news", shifted, False, "news"),
            ):
                rec = record(condition, "pos", split, lang, 0, in_domain=in_domain, domain=domain)
                write_accuracy_record(results, rec, bernoulli(p, 600, rng))
    return results


def render(store: ResultsStore) -> str:
    console = Console(record=True, width=220)
    print_summary(store.records(), console, store, n_boot=500)
    return console.export_text()


def test_summary_shows_robustness_contrast_and_verdict(store: ResultsStore) -> None:
    text = render(store)
    assert "Robustness — mean shifted-domain gap" in text
    assert "pos — in-domain vs shifted (%)" in text
    assert "English vs non-English intermediate sources" in text
    lines = {line.split("│")[1].strip(): line for line in text.splitlines() if line.count("│") > 3}
    en_gap = lines["m+mmlu-en"]
    assert " ± " in en_gap and "news" in en_gap  # gap with its CI, worst domain
    pair = next(line for line in text.splitlines() if "m+mmlu-de" in line and "m+mmlu-en" in line)
    assert "mmlu_parallel" in pair and pair.count(" ± ") == 2  # in-domain diff and gap diff
    verdict = text[text.index("Verdict:") :]
    # one seed: the interval covers test sampling only, so no difference is called an effect
    assert "fewer than 2 paired seeds" in verdict and "CIs exclude 0" not in verdict


def test_summary_numbers_match_the_data(store: ResultsStore) -> None:
    records = store.records()
    text = render(store)
    home = np.mean(
        [r.main_score for r in records if r.checkpoint.condition == "mmlu-en" and r.split.in_domain]
    )
    shifted = np.mean(
        [r.main_score for r in records if r.checkpoint.condition == "mmlu-en" and not r.split.in_domain]
    )
    row = next(
        line
        for line in text.splitlines()
        if line.startswith("│ m+mmlu-en") and "news" not in line.split("│")[2]
    )
    assert f"{100 * (shifted - home):+.1f} ± " in text
    assert row  # the robustness table has a row for the checkpoint


def test_cli_summary_writes_derived_files_deterministically(store: ResultsStore, capsys) -> None:
    assert main(["summary", "--results", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert "Verdict:" in out
    folder = store.root / "derived"
    names = sorted(p.name for p in folder.iterdir())
    for stem in ("scores", "checkpoints", "robustness", "robustness_summary", "contrast", "gap_contrast"):
        assert f"{stem}.json" in names and f"{stem}.csv" in names
    assert not [n for n in names if n.startswith(".")]  # no temp files left behind
    first = {p.name: p.read_bytes() for p in folder.iterdir()}
    _CACHE.clear()
    write_derived(ResultsStore(store.root))
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == first
    contrast = json.loads((folder / "contrast.json").read_text())
    assert contrast["version"] == 1 and contrast["n_boot"] == 1000 and "not judged" in contrast["verdict"]
    rows = contrast["rows"]
    assert {r["non_english"] for r in rows} == {"m+mmlu-de"} and all(
        r["english"] == "m+mmlu-en" for r in rows
    )
    robustness = json.loads((folder / "robustness.json").read_text())
    assert {r["task"] for r in robustness["summary"]} == {"pos", "all"}
    assert all(r["gap"] < 0 for r in robustness["rows"])


def test_one_seed_without_predictions_prints_no_ci(tmp_path: Path) -> None:
    records = [
        record("mmlu-en", "pos", "test", "en", 0.8),
        record("mmlu-en", "pos", "news", "en", 0.6, in_domain=False, domain="news"),
    ]
    console = Console(record=True, width=200)
    print_summary(records, console, None, n_boot=200)
    text = console.export_text()
    assert "-20.0" in text and "-20.0 ±" not in text
    assert "No comparison" in text


def test_nan_written_as_null(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "results")
    rec = record("mmlu-en", "pos", "test", "en", 0.8)
    store.write(rec, [], store.root / "records" / "x.json")  # a record whose predictions are empty
    write_derived(store, n_boot=100)
    scores = json.loads((store.root / "derived" / "scores.json").read_text())
    assert scores["rows"][0]["low"] is None and scores["rows"][0]["score"] == 0.8
    assert "NaN" not in (store.root / "derived" / "scores.json").read_text()


def test_empty_store_message(tmp_path: Path, capsys) -> None:
    (tmp_path / "nothing" / "records").mkdir(parents=True)  # a store with no records yet
    assert main(["summary", "--results", str(tmp_path / "nothing")]) == 0
    assert "empty" in capsys.readouterr().out
    assert not (tmp_path / "nothing" / "derived").exists()


def test_unavailable_splits_are_listed_not_scored(store: ResultsStore) -> None:
    entry = {
        "task": "panx",
        "split": "masakhaner",
        "domain": "news",
        "in_domain": False,
        "reason": "no local files",
        "expected": "data/masakhaner/{lang}/test.txt",
    }
    store.write_unavailable([{**entry, "language": lang} for lang in ("yo", "sw")])
    text = " ".join(render(store).split())
    assert "Not available on this machine" in text
    line = next(line for line in render(store).splitlines() if "masakhaner" in line)
    assert "news, shifted" in line and "sw, yo" in line and "data/masakhaner" in line


def test_summary_ranks_are_the_paired_test_ranks_not_positions(store: ResultsStore) -> None:
    """mmlu-en and mmlu-de score 0.80 on different draws (not separable); none scores 0.70."""
    from harness.report.summary import leaderboard_spec
    from harness.report.table_formats import fitted

    console = Console(record=True, width=220)
    console.print(fitted(leaderboard_spec(store.records(), store), 220, console)[0])
    rows = [line.split("│") for line in console.export_text().splitlines() if "+" in line and "│" in line]
    ranks = {cells[2].strip(): cells[1].strip() for cells in rows}
    assert ranks["m+none"] == "3"
    assert ranks["m+mmlu-en"] == ranks["m+mmlu-de"] == "1"
    assert "nan" not in console.export_text()
