"""A tiny grid on a tiny model the tests build: all three phases, caching, --only/--force, a tampered base
model refused (kills and resumes: tests/runner/test_kill_resume.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import api
from harness.catalogue.loader import Catalogue
from harness.models.lockfile import Lock
from harness.results.store import ResultsStore
from harness.runner.driver import Driver


def make_runner(tasks: Path, results: Path, **kwargs) -> Driver:
    planned = api.plan(
        tasks / "grids" / "tiny.yaml",
        lock=results.parent / "checkpoints.lock",
        tasks=Catalogue.load(tasks),
        pin=True,
    )
    return api.driver(planned, results=results, **kwargs)


def test_plan_shares_intermediate_checkpoints(tiny_tasks: Path, tmp_path: Path) -> None:
    plan = make_runner(tiny_tasks, tmp_path / "results").plan
    phases = [c.phase for c in plan.jobs]
    # 2 intermediate conditions; 3 conditions × 1 trained target; cls: 3×2 langs, ret: 3×2 langs
    assert phases.count("intermediate") == 2
    assert phases.count("target") == 3
    assert phases.count("evaluate") == 12
    targets = [c for c in plan.jobs if c.phase == "target"]
    intermediates = {c.key for c in plan.jobs if c.phase == "intermediate"}
    assert {t.parent for t in targets} - {plan.base_keys["tiny-bert"]} == intermediates


def test_tiny_grid_end_to_end(tiny_tasks: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    runner = make_runner(tiny_tasks, results)
    report = runner.run()
    assert len(report.ran) == 17
    records = ResultsStore(results).records()
    assert len(records) == 12
    cls_records = [r for r in records if r.task.name == "tiny_cls"]
    for rec in cls_records:
        assert rec.settings["selection_rule"] == "best English-dev epoch"
        assert rec.baseline is not None and rec.baseline.name == "majority label"
        assert [s.phase for s in rec.checkpoint.lineage][-1] == "target"
        preds = ResultsStore(results).predictions(rec)
        assert len(preds) == rec.n_examples == 20
        assert rec.main_score == pytest.approx(sum(p["correct"] for p in preds) / len(preds))
    de_cond = [r for r in records if r.checkpoint.condition == "mc-de"]
    assert {s.phase for s in de_cond[0].checkpoint.lineage} >= {"base", "intermediate"}
    assert de_cond[0].checkpoint.source_type == "translated"
    # the keyword task is learnable: the fine-tuned model beats chance on English
    en = [r.main_score for r in cls_records if r.language == "en"]
    assert max(en) > 0.75
    # every produced checkpoint is pinned with its lineage
    produced = Lock.load(results / "checkpoints.lock")
    assert len(produced.entries) == 5
    assert {e.lineage.phase for e in produced.entries.values()} == {"intermediate", "target"}

    again = make_runner(tiny_tasks, results)
    report2 = again.run()
    assert report2.ran == []


def test_only_and_force_rerun_just_the_selected_jobs(tiny_tasks: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    make_runner(tiny_tasks, results).run()
    rerun = make_runner(tiny_tasks, results, only="none/seed0 evaluate:tiny_ret/test/de", force=True).run()
    assert rerun.ran == ["tiny-bert+none/seed0 evaluate:tiny_ret/test/de"]


def test_runner_refuses_a_tampered_base_model(tiny_tasks: Path, tmp_path: Path, tiny_model: Path) -> None:
    import shutil

    from harness.errors import LockMismatch

    model = tmp_path / "model-copy"
    shutil.copytree(tiny_model, model)
    grid = tiny_tasks / "grids" / "tiny.yaml"
    grid.write_text(grid.read_text().replace(str(tiny_model), str(model)))
    results = tmp_path / "results"
    make_runner(tiny_tasks, results, only="tiny_ret/test/de").run()  # pins the base model on first use
    lock = json.loads((tmp_path / "checkpoints.lock").read_text())
    assert "tiny-bert" in lock["checkpoints"]
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\x00\x00\x00\x00")
    with pytest.raises(LockMismatch):
        make_runner(tiny_tasks, results, only="tiny_ret/test/fr").run()
