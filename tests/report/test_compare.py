"""`harness compare A B`: the paired comparison of two checkpoints, in the terminal and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from stats_records import bernoulli, record, write_accuracy_record

from harness.cli import main
from harness.results.store import ResultsStore


@pytest.fixture
def results(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    store = ResultsStore(tmp_path / "results")
    english = {lang: bernoulli(0.6, 400, rng) for lang in ("en", "de", "sw")}
    for lang, correct in english.items():
        write_accuracy_record(store, record("mmlu-en", "sib", "test", lang, 0), correct)
        better = correct.copy()
        better[:60] = 1.0  # the German source gets 60 more examples right, nothing else changes
        write_accuracy_record(store, record("mmlu-de", "sib", "test", lang, 0), better)
    write_accuracy_record(
        store, record("mmlu-de", "sib", "news", "en", 0, in_domain=False, domain="news"), english["en"]
    )
    return store.root


def test_compare_prints_paired_differences(results: Path, capsys) -> None:
    assert main(["compare", "m+mmlu-de", "m+mmlu-en", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    flat = " ".join(out.split())  # titles wrap at the terminal width
    assert "m+mmlu-de vs m+mmlu-en" in flat
    assert "per task × split, mean over shared languages" in flat and "per task × split × language" in flat
    for lang in ("en", "de", "sw"):
        assert any(f"│ {lang} " in line for line in out.splitlines())
    assert "news" not in out  # only the (task, split, language) both were scored on


def test_compare_json(results: Path, capsys) -> None:
    assert main(["compare", "m+mmlu-de", "m+mmlu-en", "--results", str(results), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["a"] == "m+mmlu-de" and payload["b"] == "m+mmlu-en"
    rows = payload["per_language"]
    assert [r["language"] for r in rows] == ["de", "en", "sw"]
    for row in rows:
        assert row["diff"] == pytest.approx(row["a_score"] - row["b_score"])
        assert 0 < row["diff_low"] <= row["diff"] <= row["diff_high"] and row["p_value"] < 0.05
    (task,) = payload["per_task"]
    assert task["task"] == "sib" and task["n_languages"] == 3
    assert task["diff"] == pytest.approx(np.mean([r["diff"] for r in rows]))
    # a mean over three independent languages is tighter than a single language's CI
    assert task["diff_high"] - task["diff_low"] < min(r["diff_high"] - r["diff_low"] for r in rows)


def test_compare_reversed_is_negated(results: Path, capsys) -> None:
    main(["compare", "m+mmlu-de", "m+mmlu-en", "--results", str(results), "--json"])
    forward = json.loads(capsys.readouterr().out)["per_language"]
    main(["compare", "m+mmlu-en", "m+mmlu-de", "--results", str(results), "--json"])
    backward = json.loads(capsys.readouterr().out)["per_language"]
    for f, b in zip(forward, backward, strict=True):
        assert b["diff"] == pytest.approx(-f["diff"])
        assert b["diff_low"] == pytest.approx(-f["diff_high"]) and b["diff_high"] == pytest.approx(
            -f["diff_low"]
        )
        assert b["p_value"] == pytest.approx(f["p_value"])


def test_unknown_checkpoint_is_one_line_exit_2(results: Path, capsys) -> None:
    assert main(["compare", "m+mmlu-dee", "m+mmlu-en", "--results", str(results)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and captured.out == ""
    assert "unknown checkpoint 'm+mmlu-dee'" in lines[0] and "did you mean 'm+mmlu-de'" in lines[0]
    assert "known checkpoints: m+mmlu-de, m+mmlu-en" in lines[0]


def test_compare_fits_80_columns_and_every_difference_is_readable(results: Path) -> None:
    import io

    from rich.console import Console

    from harness.report.compare import compare_tables
    from harness.report.summary import print_compare

    store = ResultsStore(results)
    rows, tasks = compare_tables(store, store.records(), "m+mmlu-de", "m+mmlu-en")
    out = io.StringIO()
    print_compare(rows, tasks, "m+mmlu-de", "m+mmlu-en", Console(file=out, width=80, color_system=None))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    for diff in rows["diff"]:
        assert f"{diff * 100:+.1f}" in text  # every per-language difference printed whole
