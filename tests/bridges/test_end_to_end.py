"""The whole bridge on the shipped targets: ``harness eval-lm`` exports them, lm-eval runs a tiny causal LM
on them in process, the records land in the store, and the summary and the site show them badged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_lm import build_tiny_lm

from harness.bridges.lm_eval import naming
from harness.cli import main
from harness.results.store import ResultsStore
from harness.scoring.example_stats import record_stats

TASKS = ["xh_sib200_test_de", "xh_sib200_test_sw", "xh_xquad_demo_test_en"]


@pytest.fixture(scope="module")
def prompted_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("e2e")
    model = build_tiny_lm(root / "tiny-lm")
    results = root / "results"
    argv = ["eval-lm", str(model), "--name", "tiny-lm", "--shots", "1", "--results", str(results)]
    argv += ["--device", "cpu", "--batch-size", "8", "--tasks", *TASKS]
    assert main(argv) == 0
    return results, argv


def _lm_eval_metrics(results: Path) -> dict[str, dict[str, float]]:
    """Every task's metrics as lm-eval reported them in its own results files."""
    out: dict[str, dict[str, float]] = {}
    for path in (results / "lm-eval" / "runs" / "tiny-lm").rglob("results_*.json"):
        out.update(json.loads(path.read_text(encoding="utf-8"))["results"])
    return out


def test_every_exported_task_becomes_a_record_with_lm_eval_s_number(prompted_store) -> None:
    results, _ = prompted_store
    records = ResultsStore(results).records()
    assert sorted((r.task.name, r.split.name, r.language) for r in records) == [
        ("sib200", "test", "de"),
        ("sib200", "test", "sw"),
        ("xquad_demo", "test", "en"),
    ]
    reported = _lm_eval_metrics(results)
    for record in records:
        name = naming.task_name(record.task.name, record.split.name, record.language)
        lm_metric = naming.KIND_METRICS[record.task.kind].get(record.main_metric, record.main_metric)
        assert abs(record.main_score - reported[name][f"{lm_metric},none"]) < 1e-9
        assert record.checkpoint.badge == "prompted, 1-shot" and record.grid == "lm-eval"
        stats = record_stats(results, record)
        assert stats is not None and stats.n == record.n_examples
        assert abs(stats.score() - record.main_score) < 1e-12
    assert {r.n_examples for r in records if r.task.name == "sib200"} == {204}
    # the export of this run name, apart from other models' runs on the same store
    assert (results / "lm-eval" / "tasks" / "tiny-lm" / "manifest.json").is_file()


def test_lm_eval_s_own_output_goes_to_a_log_per_task(prompted_store) -> None:
    """The terminal gets one line per task; lm-eval's bars and warnings are kept beside its files."""
    results, _ = prompted_store
    logs = results / "lm-eval" / "runs" / "tiny-lm" / "logs"
    assert sorted(p.stem for p in logs.glob("xh_*.log")) == sorted(TASKS)
    assert "generate_until" in (logs / "xh_xquad_demo_test_en.log").read_text(encoding="utf-8")


def test_a_second_run_runs_nothing(prompted_store, capsys: pytest.CaptureFixture[str]) -> None:
    results, argv = prompted_store
    before = sorted(p.name for p in (results / "records").rglob("*.json"))
    assert main(argv) == 0
    assert "0 tasks ran, 3 already imported" in capsys.readouterr().out
    assert sorted(p.name for p in (results / "records").rglob("*.json")) == before


def test_summary_and_site_show_the_prompted_rows_badged(
    prompted_store, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    results, _ = prompted_store
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["summary", "--results", str(results), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert "prompted, 1-shot" in json.dumps(summary)
    site = tmp_path / "site"
    assert main(["report", "--results", str(results), "--out", str(site)]) == 0
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "tiny-lm" in index and 'class="badge prompted"' in index and "prompted, 1-shot" in index
