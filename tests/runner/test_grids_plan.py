"""The research grids plan on this machine (offline): `harness plan --json` gives the expected jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.catalogue.loader import REPO_ROOT, Catalogue
from harness.catalogue.schema import GridSpec
from harness.models.lockfile import Lock
from harness.runner.plan import expand

TARGETS = ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"]
TRAINED = 7  # the first seven are fine-tuned; bucc2018 and tatoeba score the checkpoint as it is


def plan_json(grid: str, tmp_path: Path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "plan", str(REPO_ROOT / "tasks" / "grids" / grid), "--json",
         "--results", str(tmp_path / "results"), "--lock", str(tmp_path / "checkpoints.lock"),
         "--tasks-dir", str(REPO_ROOT / "tasks")],
        capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def available_pairs(data: dict, targets: list[str]) -> int:
    """Declared (split, language) pairs of the targets, from the catalogue, minus those the plan lists as
    not on this machine (so the DOMAIN helper's new splits change the expectation, not the test)."""
    catalogue = Catalogue.load(REPO_ROOT / "tasks")
    absent = {(u["task"], u["split"], u["language"]) for u in data["unavailable"]}
    return sum(
        (name, split.name, lang) not in absent
        for name in targets
        for split in catalogue.task(name).splits
        for lang in catalogue.task(name).split_languages(split)
    )


@pytest.mark.parametrize(
    ("grid", "conditions", "trained_conditions", "seeds"),
    [("paper.yaml", 11, 10, 1), ("source-languages.yaml", 29, 28, 3)],
)
def test_grid_job_counts(
    grid: str, conditions: int, trained_conditions: int, seeds: int, tmp_path: Path
) -> None:
    data = plan_json(grid, tmp_path)
    assert data["counts"]["intermediate"] == trained_conditions * seeds
    assert data["counts"]["target"] == conditions * seeds * TRAINED
    # a trained target is scored once per (condition, seed); an untrained one once per intermediate
    # checkpoint, plus once for the base model (the 'none' condition, the same for every seed)
    trained_pairs = available_pairs(data, TARGETS[:TRAINED])
    untrained_pairs = available_pairs(data, TARGETS[TRAINED:])
    assert trained_pairs > 0 and len(data["unavailable"]) > 0  # offline: hub-only splits are not jobs
    expected = trained_pairs * conditions * seeds + untrained_pairs * (trained_conditions * seeds + 1)
    assert data["counts"]["evaluate"] == expected
    assert (
        data["would_run"]["intermediate"] + data["not_available"].get("intermediate", 0)
        == data["counts"]["intermediate"]
    )
    assert data["models"][0]["pinned"] is False  # XLM-R Large is planned unpinned
    for ckpt in data["intermediate_checkpoints"]:
        assert len(ckpt["feeds_targets"]) >= TRAINED
    estimate = data["estimate"]
    assert "TFLOP/s" in estimate["assumption"] and estimate["total"]["gpu_hours"] > 0
    assert estimate["models"]["xlmr-large"]["non_embedding_params"] == 24 * (4 * 1024**2 + 2 * 1024 * 4096)


def test_local_only_data_is_planned_as_not_available(tmp_path: Path) -> None:
    data = plan_json("paper.yaml", tmp_path)
    status = {c["label"].split()[0]: c["status"] for c in data["jobs"] if c["phase"] == "intermediate"}
    assert status["xlmr-large+ccg/seed1"] == "not available"  # CCGbank is LDC-licensed, local-only
    assert status["xlmr-large+multitask/seed1"] == "not available"  # it includes ccg
    assert status["xlmr-large+mnli/seed1"] == "would run"  # hub-only: planned from its hub identity
    blocked = [c for c in data["jobs"] if c["status"] == "not available"]
    assert all("ccg" in c["blocked"] for c in blocked)


def test_default_grid_freezes_layers_in_every_training_job_and_keys_follow(tmp_path: Path) -> None:
    catalogue = Catalogue.load(REPO_ROOT / "tasks")
    path = REPO_ROOT / "tasks" / "grids" / "default.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    lock = Lock.load(REPO_ROOT / "checkpoints.lock")
    frozen = expand(GridSpec.model_validate(raw), path, catalogue, lock)
    trained = [c for c in frozen.jobs if c.phase in ("intermediate", "target")]
    assert len(trained) == 3 * (2 + 3 * 2)  # 3 seeds × (SIB-200 in en and de; UD-POS, XQuAD per condition)
    intermediate = [c for c in trained if c.phase == "intermediate"]
    assert {c.task for c in intermediate} == {"sib200_topic"}
    assert all(c.hyperparameters.freeze_layers == 8 for c in trained)
    assert all(c.hyperparameters.attention_dropout == 0.0 for c in trained)
    assert all(c.hyperparameters.cache_frozen_layers for c in trained)
    raw["models"][0]["freeze_layers"] = 0
    unfrozen = expand(GridSpec.model_validate(raw), path, catalogue, lock)
    assert {c.key for c in trained}.isdisjoint(c.key for c in unfrozen.jobs)
