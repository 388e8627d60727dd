"""Jobs are exactly what is hashed: every field is in the key (locations excepted), ``run_job`` reads
nothing outside its job, and the three drifts between key and work stay fixed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from pydantic import BaseModel, ValidationError
from safetensors.torch import load_file

from harness import api
from harness.catalogue.loader import Catalogue
from harness.results.store import ResultsStore, read_record
from harness.runner.jobs import (
    UNKEYED,
    EvalBatch,
    EvalJob,
    MixtureJob,
    MixtureMemberJob,
    TrainJob,
    canonical_key,
    work_to_json,
)
from harness.runner.plan import Plan
from harness.runner.work import run_job

# Values tried in turn for a leaf until the job still validates and its JSON differs: literal fields
# only take their declared words, so the other words of each literal are among the candidates.
ALTERNATIVES: list[Any] = [
    "target", "intermediate", "last", "english_dev", "bf16", "fp32", "uniform", "temperature",
    "in_domain_difference", "shifted_gap_difference", "by_id", "by_index", "intermediate", "minimal",
    "csv", "tsv", "jsonl", "not zero-shot", "english", "translated", "native", "xtreme", "demo split",
    3, 0.5, True, "x",
]  # fmt: skip
DATASET = {"format": "jsonl", "path": "x"}
VIEW_PARTS = [["en"], [{"column": "x", "values": ["a"]}], {"map": {"a": "b"}}, {"key": "id"}]
# Discriminators: changing them changes what the document is, not a value of it.
TAGS = {"type"}


def tiny_plan(tasks: Path, lock: Path) -> Plan:
    return api.plan(tasks / "grids" / "tiny.yaml", lock=lock, tasks=Catalogue.load(tasks), pin=True)


def mixture_from(train: TrainJob) -> MixtureJob:
    member = MixtureMemberJob(
        task_ref=train.task_ref,
        languages=train.languages,
        size=train.size,
        size_field="intermediate[0].tasks[0].size",
        head="shared",
        train_data=train.train_data,
        dev_data=["dev-fingerprint"],
        hyperparameters=train.hyperparameters,
    )
    return MixtureJob(
        base=train.base,
        condition="mix",
        seed=train.seed,
        parent=train.parent,
        members=[member],
        sampling="temperature",
        temperature=2.0,
        hyperparameters=train.hyperparameters,
        lineage=train.lineage,
        grid_file=train.grid_file,
    )


def leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document a value can change: leaves, and empty lists and mappings."""
    if isinstance(value, dict) and value:
        return [p for k, v in value.items() for p in leaves(v, (*path, k))]
    if isinstance(value, list) and value:
        return [p for i, v in enumerate(value) for p in leaves(v, (*path, i))]
    return [path]


def changed(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    out = json.loads(json.dumps(document))
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = new
    return out


def candidates(old: Any) -> list[Any]:
    if isinstance(old, bool):
        return [not old]
    if isinstance(old, int | float):
        return [old + 1, old * 2 + 1, old / 2]
    if isinstance(old, str):
        return [old + "x", *ALTERNATIVES]
    if old is None:
        return [*ALTERNATIVES, 1, ["x"], {"x": "y"}, {"split": "dev"}, {"path": "x"}, DATASET, *VIEW_PARTS]
    if old == []:
        return [["x"], [{"x": "y"}], [1], [{"name": "x", "domain": "d"}]]
    return [{"x": "y"}, {"label_letters": "ab"}]  # an empty mapping


def variants(job: BaseModel) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """For every leaf of the job's JSON: a changed job that still validates. Returns the leaves whose
    change changed the key and those where no change validated."""
    document = job.model_dump(mode="json")
    kind = type(job)
    keyed, unchangeable = [], []
    for path in leaves(document):
        if path and path[-1] in TAGS:
            continue
        old: Any = document
        for part in path:
            old = old[part]
        for new in candidates(old):
            try:
                other = kind.model_validate(changed(document, path, new))
            except ValidationError:
                continue
            if other.model_dump(mode="json") == document:
                continue
            unkeyed = any(part in UNKEYED for part in path if isinstance(part, str))
            assert (canonical_key(other) == canonical_key(job)) == unkeyed, path
            keyed.append(path)
            break
        else:
            unchangeable.append(path)
    return keyed, unchangeable


def test_every_field_of_every_job_type_is_in_the_key_but_locations(tiny_tasks: Path, tmp_path: Path) -> None:
    plan = tiny_plan(tiny_tasks, tmp_path / "checkpoints.lock")
    intermediate = next(j for j in plan.jobs if isinstance(j, TrainJob) and j.phase == "intermediate")
    target = next(j for j in plan.jobs if isinstance(j, TrainJob) and j.phase == "target")
    evaluation = next(
        j for j in plan.jobs if isinstance(j, EvalJob) and j.parent != plan.base_keys["tiny-bert"]
    )
    jobs: list[BaseModel] = [intermediate, target, evaluation, mixture_from(intermediate)]
    for job in jobs:
        keyed, unchangeable = variants(job)
        assert len(keyed) > 40  # the whole task spec is walked, not only the top level
        # only a phase that is one constant for the job type cannot change
        fixed_phase = [("phase",)] if isinstance(job, EvalJob | MixtureJob) else []
        assert unchangeable == fixed_phase, (type(job).__name__, unchangeable)
        assert job.key == canonical_key(job)  # type: ignore[attr-defined]
    batch = EvalBatch(jobs=[evaluation])
    keyed, unchangeable = variants(batch)
    assert unchangeable == [("jobs", 0, "phase")]
    # the locations are folders on this machine, and every job names its own
    for job in jobs:
        dumped = job.model_dump(mode="json")
        locations = [p for p in leaves(dumped) if any(part in UNKEYED for part in p if isinstance(part, str))]
        assert locations
        for path in locations:
            value: Any = dumped
            for part in path:
                value = value[part]
            assert Path(value).is_dir() or Path(value).is_file(), path


def test_a_job_round_trips_through_json_with_its_key(tiny_tasks: Path, tmp_path: Path) -> None:
    from harness.runner.jobs import work_from_json

    plan = tiny_plan(tiny_tasks, tmp_path / "checkpoints.lock")
    for job in plan.jobs:
        again = work_from_json(work_to_json(job))
        assert type(again) is type(job) and again == job and again.key == job.key  # type: ignore[union-attr]


def _record_fields(path: Path) -> dict[str, Any]:
    record = read_record(path).model_dump(mode="json")
    record["provenance"] = {k: v for k, v in record["provenance"].items() if k in ("executor",)}
    return record


@pytest.mark.slow  # two subprocesses that import torch, and a fine-tuning in each
def test_a_job_run_from_its_json_elsewhere_gives_the_same_outputs(tiny_tasks: Path, tmp_path: Path) -> None:
    """No input of ``run_job`` is outside the job: in a subprocess, with no catalogue reachable
    ($HARNESS_TASKS an empty folder, another working directory), a target fine-tuning and an evaluation
    of its checkpoint give what they give in process."""
    plan = tiny_plan(tiny_tasks, tmp_path / "checkpoints.lock")
    base = plan.base_keys["tiny-bert"]
    target = next(
        j for j in plan.jobs if isinstance(j, TrainJob) and j.phase == "target" and j.parent == base
    )
    evals = [j for j in plan.jobs if isinstance(j, EvalJob) and j.parent == target.key]
    assert evals

    here = tmp_path / "in-process"
    trained_here = run_job(target, here)
    evaluated_here = run_job(EvalBatch(jobs=evals), here)

    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "cwd").mkdir(parents=True)
    (elsewhere / "no-tasks").mkdir()
    env = {**os.environ, "HARNESS_TASKS": str(elsewhere / "no-tasks")}

    def run_there(work: Any, name: str) -> list[dict[str, Any]]:
        path = elsewhere / f"{name}.json"
        path.write_text(work_to_json(work), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "harness.runner.work", str(path), "--store", str(elsewhere / "results")],
            cwd=elsewhere / "cwd",
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()]

    trained_there = run_there(target, "target")
    evaluated_there = run_there(EvalBatch(jobs=evals), "evals")

    assert trained_there[0]["files"] == trained_here[0].files  # the same weights, byte for byte
    here_training = json.loads((Path(trained_here[0].path) / "training.json").read_text())
    there_training = json.loads((Path(trained_there[0]["path"]) / "training.json").read_text())
    for training in (here_training, there_training):
        training["training"].pop("wall_time_s")
    assert there_training == here_training
    assert [r["key"] for r in evaluated_there] == [r.key for r in evaluated_here]
    for mine, theirs in zip(evaluated_here, evaluated_there, strict=True):
        assert _record_fields(Path(theirs["path"])) == _record_fields(Path(mine.path))
        assert ResultsStore(elsewhere / "results").predictions(read_record(Path(theirs["path"]))) == (
            ResultsStore(here).predictions(read_record(Path(mine.path)))
        )


def test_run_job_refuses_data_that_changed_since_the_plan(tiny_tasks: Path, tmp_path: Path) -> None:
    from harness.errors import HarnessError

    plan = tiny_plan(tiny_tasks, tmp_path / "checkpoints.lock")
    job = next(j for j in plan.jobs if isinstance(j, EvalJob) and j.parent == plan.base_keys["tiny-bert"])
    planned_elsewhere = job.model_copy(update={"data": "0" * 64})
    with pytest.raises(HarnessError, match="fingerprint"):
        run_job(planned_elsewhere, tmp_path / "results")


# ---- the three drifts ------------------------------------------------------------------------------
def test_the_target_key_changes_with_the_task_params(tiny_tasks: Path, tmp_path: Path) -> None:
    before = tiny_plan(tiny_tasks, tmp_path / "checkpoints.lock")
    cls = tiny_tasks / "targets" / "tiny_cls.yaml"
    cls.write_text(cls.read_text() + "params: {label_letters: AB}\n", encoding="utf-8")
    after = tiny_plan(tiny_tasks, tmp_path / "checkpoints.lock")

    def keys(plan: Plan, phase: str) -> set[str]:
        return {j.key for j in plan.jobs if j.phase == phase and j.task == "tiny_cls"}

    assert keys(before, "target") and keys(before, "target").isdisjoint(keys(after, "target"))
    assert keys(before, "evaluate").isdisjoint(keys(after, "evaluate"))
    # what does not read tiny_cls keeps its key
    assert {j.key for j in before.jobs if j.phase == "intermediate"} == {
        j.key for j in after.jobs if j.phase == "intermediate"
    }


def test_a_size_matched_condition_carries_its_matched_steps_in_the_plan(
    tiny_tasks: Path, tmp_path: Path
) -> None:
    plan = tiny_plan(tiny_tasks, tmp_path / "checkpoints.lock")
    matched = [j for j in plan.jobs if isinstance(j, TrainJob) and j.phase == "intermediate"]
    assert {j.condition for j in matched} == {"mc-en", "mc-de"}
    # tiny_mc: size 16, batch 4, 1 epoch -> ceil(1 * ceil(16 / 4)) = 4 steps, on both sides of the pair
    assert {j.hyperparameters.max_steps for j in matched} == {4}
    targets = [j for j in plan.jobs if isinstance(j, TrainJob) and j.phase == "target"]
    assert {j.hyperparameters.max_steps for j in targets} == {None}  # not size-matched: epochs rule


def test_harness_eval_fine_tunes_with_the_grids_frozen_layers(
    tiny_tasks: Path, tiny_model: Path, tmp_path: Path
) -> None:
    from test_eval_checkpoint import _outside_checkpoint

    from harness.runner.external import eval_checkpoint

    grid = tiny_tasks / "grids" / "tiny.yaml"
    text = grid.read_text()
    grid.write_text(text.replace("    source: ", "    freeze_layers: 1\n    source: ", 1), encoding="utf-8")
    outside = _outside_checkpoint(tiny_model, tmp_path / "outside")
    run = eval_checkpoint(
        str(outside),
        "ext-frozen",
        grid=str(grid),
        results=tmp_path / "results",
        lock_path=tmp_path / "checkpoints.lock",
        out=None,
        catalogue=Catalogue.load(tiny_tasks),
    )
    target = next(j for j in run.plan.jobs if isinstance(j, TrainJob))
    assert target.hyperparameters.freeze_layers == 1
    parent = load_file(outside / "model.safetensors")
    trained = load_file(tmp_path / "results" / "checkpoints" / target.key / "model.safetensors")

    def layer0(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k.split("encoder.", 1)[1]: v for k, v in weights.items() if ".layer.0." in k}

    def layer1(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k.split("encoder.", 1)[1]: v for k, v in weights.items() if ".layer.1." in k}

    frozen, moved = layer0(parent), layer1(parent)
    assert frozen and moved
    assert all(torch.equal(layer0(trained)[k], v) for k, v in frozen.items())
    assert not all(torch.equal(layer1(trained)[k], v) for k, v in moved.items())  # the rest did train
