"""`harness eval`: an outside checkpoint is pinned with its lineage and runs exactly its own jobs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from harness import api
from harness.catalogue.loader import Catalogue
from harness.cli import main
from harness.models.lockfile import Lock
from harness.results.store import ResultsStore
from harness.runner.driver import Driver
from harness.runner.external import eval_checkpoint


def make_runner(tasks: Path, results: Path) -> Driver:
    planned = api.plan(
        tasks / "grids" / "tiny.yaml",
        lock=results.parent / "checkpoints.lock",
        tasks=Catalogue.load(tasks),
        pin=True,
    )
    return api.driver(planned, results=results)


def _outside_checkpoint(tiny_model: Path, folder: Path, shift: float = 0.01) -> Path:
    """A checkpoint 'trained elsewhere': the tiny BERT with every weight moved a little."""
    shutil.copytree(tiny_model, folder)
    weights = load_file(folder / "model.safetensors")
    generator = torch.Generator().manual_seed(7)
    moved = {k: v + shift * torch.randn(v.shape, generator=generator) for k, v in weights.items()}
    save_file(moved, folder / "model.safetensors")
    return folder


def _snapshot(results: Path) -> dict[str, int]:
    return {str(p.relative_to(results)): p.stat().st_mtime_ns for p in (results / "records").rglob("*.json")}


@pytest.fixture
def grid_done(tiny_tasks: Path, tmp_path: Path) -> Path:
    results = tmp_path / "results"
    assert len(make_runner(tiny_tasks, results).run().ran) == 17
    return results


def test_eval_runs_exactly_its_own_jobs(
    tiny_tasks: Path, tiny_model: Path, tmp_path: Path, grid_done: Path
) -> None:
    results = grid_done
    before = _snapshot(results)
    outside = _outside_checkpoint(tiny_model, tmp_path / "outside")
    lock_path = tmp_path / "checkpoints.lock"
    run = eval_checkpoint(
        str(outside),
        "ext-mc",
        grid=str(tiny_tasks / "grids" / "tiny.yaml"),
        results=results,
        lock_path=lock_path,
        out=tmp_path / "site",
        catalogue=Catalogue.load(tiny_tasks),
        intermediate="tiny_mc",
        source_lang="de",
        source_type="translated",
    )
    # its own jobs: 1 target fine-tuning (tiny_cls) + tiny_cls test in en, de + tiny_ret test in de, fr
    assert len(run.report.ran) == 5 and run.report.skipped == []
    assert sorted(c.phase for c in run.plan.jobs) == ["evaluate"] * 4 + ["target"]
    assert all(label.startswith("ext-mc+tiny_mc-de/") for label in run.report.ran)

    entry = Lock.load(lock_path).entries["ext-mc"]
    assert (entry.lineage.phase, entry.lineage.task, entry.lineage.source_lang) == (
        "intermediate",
        "tiny_mc",
        "de",
    )
    assert (
        entry.files["model.safetensors"]
        != Lock.load(lock_path).entries["tiny-bert"].files["model.safetensors"]
    )

    after = _snapshot(results)
    assert {k: v for k, v in after.items() if k in before} == before  # nothing of the grid re-ran
    new = [r for r in ResultsStore(results).records() if r.checkpoint.name == "ext-mc"]
    assert len(new) == len(after) - len(before) == 4
    for record in new:
        info = record.checkpoint
        assert (info.intermediate_task, info.source_lang, info.source_type) == ("tiny_mc", "de", "translated")
        assert info.model_source == str(outside.resolve())
        first = info.lineage[0]
        assert first.phase == "intermediate" and first.model_extra.get("external") is True
        assert first.key == run.plan.base_keys["ext-mc"]
    trained = [r for r in new if r.task.name == "tiny_cls"]
    assert len(trained) == 2 and all(r.checkpoint.lineage[-1].phase == "target" for r in trained)
    assert "ext-mc" in (tmp_path / "site" / "index.html").read_text(encoding="utf-8")

    assert make_runner(tiny_tasks, results).run().ran == []  # the grid is still complete
    again = eval_checkpoint(
        str(outside),
        "ext-mc",
        grid=str(tiny_tasks / "grids" / "tiny.yaml"),
        results=results,
        lock_path=lock_path,
        out=None,
        catalogue=Catalogue.load(tiny_tasks),
        intermediate="tiny_mc",
        source_lang="de",
        source_type="translated",
    )
    assert again.report.ran == [] and not again.pinned_now


def _cli(tasks: Path, checkpoint: str, tmp_path: Path, *extra: str) -> int:
    return main(
        [
            "eval",
            checkpoint,
            "--name",
            "ext",
            "--grid",
            str(tasks / "grids" / "tiny.yaml"),
            "--results",
            str(tmp_path / "results"),
            "--lock",
            str(tmp_path / "checkpoints.lock"),
            "--out",
            str(tmp_path / "site"),
            "--tasks-dir",
            str(tasks),
            *extra,
        ]
    )


def test_eval_refuses_bad_input(
    tiny_tasks: Path, tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(tiny_tasks, str(tmp_path / "nowhere"), tmp_path) == 2
    assert "checkpoint folder does not exist" in capsys.readouterr().err

    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_model, pickled)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    assert _cli(tiny_tasks, str(pickled), tmp_path) == 2
    assert "pickle" in capsys.readouterr().err

    outside = _outside_checkpoint(tiny_model, tmp_path / "outside")
    assert _cli(tiny_tasks, str(outside), tmp_path, "--intermediate", "tiny_mc", "--source-lang", "fr") == 2
    assert "--source-lang: task 'tiny_mc' has no source language 'fr'" in capsys.readouterr().err
    assert not (tmp_path / "checkpoints.lock").exists()  # bad input pins nothing

    # pin it (only the retrieval target, to stay quick), then change its weights: a lock mismatch, exit 1
    lock = Lock.load(tmp_path / "checkpoints.lock")
    lock.pin("ext", outside, str(outside))
    _outside_checkpoint(tiny_model, tmp_path / "changed", shift=0.02)
    shutil.copy(tmp_path / "changed" / "model.safetensors", outside / "model.safetensors")
    assert _cli(tiny_tasks, str(outside), tmp_path) == 1
    assert "does not match its pin" in capsys.readouterr().err
