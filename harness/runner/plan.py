"""A grid expanded into jobs: intermediate training → target fine-tuning → evaluation.

Every job is keyed by a content hash of its inputs (parent checkpoint key, task version, data
fingerprint, hyperparameters, seed), so a shared intermediate checkpoint is one job, and a job whose
inputs did not change is found done and never runs twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.catalogue.loader import Catalogue
from harness.catalogue.schema import (
    EvalSplit,
    GridSpec,
    Hyperparameters,
    IntermediateSpec,
    ModelSpec,
    TaskSpec,
)
from harness.data.loaders import data_identity
from harness.data.split_views import Unavailable, availability
from harness.errors import HarnessError
from harness.kinds.registry import kind_info
from harness.models.lockfile import Lock, folder_digest
from harness.runner.leakage import LeakageReport, check_leakage
from harness.runner.precision import with_resolved_precision

Phase = Literal["intermediate", "target", "evaluate"]


def content_key(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Job:
    key: str
    phase: Phase
    model: str
    condition: str
    seed: int
    task: str
    parent: str
    split: str | None = None
    language: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def checkpoint_name(self) -> str:
        return f"{self.model}+{self.condition}"

    @property
    def label(self) -> str:
        where = f"/{self.split}/{self.language}" if self.phase == "evaluate" else ""
        return f"{self.checkpoint_name}/seed{self.seed} {self.phase}:{self.task}{where}"


@dataclass
class Plan:
    grid: GridSpec
    grid_path: Path
    base_keys: dict[str, str]  # model name -> key of the base checkpoint
    jobs: list[Job]
    lineage: dict[str, list[dict[str, Any]]]  # checkpoint key -> steps from the base model
    # declared (task, split, language) whose data is not on this machine: never a job, never a 0
    unavailable: list[dict[str, Any]] = field(default_factory=list)
    # training jobs whose data has no source on this machine (and the jobs below them): never run
    blocked: dict[str, str] = field(default_factory=dict)
    pinned: dict[str, bool] = field(default_factory=dict)  # model name -> base model pinned in the lock
    # zero-shot labels per (condition, target, split), allowed overlaps, sets not checked (runner.leakage)
    leakage: LeakageReport = field(default_factory=LeakageReport)

    def by_phase(self, phase: Phase) -> list[Job]:
        return [c for c in self.jobs if c.phase == phase]

    def model_spec(self, name: str) -> ModelSpec:
        return next(m for m in self.grid.models if m.name == name)

    def condition(self, name: str) -> IntermediateSpec:
        return next(c for c in self.grid.intermediate if c.name == name)


def hyperparameters(task: TaskSpec, overrides: dict[str, Any], model: ModelSpec) -> Hyperparameters:
    merged = task.hyperparameters.model_dump() | overrides
    if model.freeze_embeddings:
        merged["freeze_embeddings"] = True
    if model.freeze_layers:
        merged["freeze_layers"] = model.freeze_layers
    return Hyperparameters.model_validate(merged)


def eval_limit(split_limit: int | None, grid_limit: int | None) -> int | None:
    limits = [x for x in (split_limit, grid_limit) if x is not None]
    return min(limits) if limits else None


def base_key(model: ModelSpec, lock: Lock) -> str:
    entry = lock.entries.get(model.name)
    pinned = folder_digest(entry.files) if entry else None
    return content_key({"phase": "base", "source": model.source, "pinned": pinned})


def expand(grid: GridSpec, grid_path: Path, catalogue: Catalogue, lock: Lock) -> Plan:
    grid = with_resolved_precision(grid, grid_path)  # "auto" never reaches a job, a key or a record
    jobs: dict[str, Job] = {}
    lineage: dict[str, list[dict[str, Any]]] = {}
    base_keys: dict[str, str] = {}

    def add(job: Job) -> Job:
        return jobs.setdefault(job.key, job)

    def data_id(
        task: TaskSpec, split: str, lang: str, limit: int | None = None, dataset: Any = None, view: Any = None
    ) -> str:
        return data_identity(
            task, split, lang, catalogue.task_path(task.name).parent, dataset=dataset, limit=limit, view=view
        )

    unavailable: dict[tuple[str, str, str], Unavailable | None] = {}

    def missing(task: TaskSpec, split: EvalSplit, lang: str) -> bool:
        key = (task.name, split.name, lang)
        if key not in unavailable:
            unavailable[key] = availability(task, split, lang, catalogue.task_path(task.name).parent)
        return unavailable[key] is not None

    from harness.runner.conditions import ConditionPlanner

    conditions = ConditionPlanner(grid, grid_path, catalogue)
    blocked: dict[str, str] = {}
    for model in grid.models:
        root = base_key(model, lock)
        base_keys[model.name] = root
        lineage[root] = [{"phase": "base", "key": root, "name": model.name, "source": model.source}]
        conditions.check(model)
        for seed in grid.seeds:
            for cond_index, cond in enumerate(grid.intermediate):
                parent = root
                if cond.pretrained:  # the model source already is this condition's checkpoint
                    lineage[root] = [conditions.pretrained_step(model, cond, root)]
                elif cond.trains:
                    built, step, reason = conditions.intermediate_job(model, cond_index, root, seed)
                    job = add(built)
                    parent = job.key
                    lineage[parent] = [*lineage[root], step]
                    if reason:
                        blocked[parent] = reason
                for target_index, target_name in enumerate(grid.targets):
                    target = catalogue.task(target_name)
                    info = kind_info(target.kind)
                    checkpoint = parent
                    if info.trains:
                        if target.train is None:
                            raise HarnessError(
                                f"target {target.name!r} is a trained kind ({target.kind}) but declares no "
                                "training data ('train')",
                                field=f"targets.{target_index}",
                                file=grid_path,
                            )
                        hp = hyperparameters(target, grid.training, model)
                        inputs = {
                            "phase": "target",
                            "parent": parent,
                            "task": target.name,
                            "version": target.version,
                            "train": conditions.target_train_identity(target, target_index),
                            "dev": data_id(
                                target,
                                target.dev.split,
                                target.dev.language,
                                target.dev.limit,
                                target.dev.dataset,
                            )
                            if target.dev
                            else None,
                            "hp": hp.model_dump(),
                            "seed": seed,
                            "selection": grid.selection,
                        }
                        job = add(
                            Job(
                                content_key(inputs),
                                "target",
                                model.name,
                                cond.name,
                                seed,
                                target.name,
                                parent,
                                inputs=inputs,
                            )
                        )
                        checkpoint = job.key
                        lineage[checkpoint] = [
                            *lineage[parent],
                            {
                                "phase": "target",
                                "key": checkpoint,
                                "name": f"{model.name}+{cond.name}",
                                "task": target.name,
                                "source_lang": target.train.language,
                                "seed": seed,
                            },
                        ]
                    trained = checkpoint != root
                    for split in target.splits:
                        for lang in target.split_languages(split):
                            if missing(target, split, lang):
                                continue
                            limit = eval_limit(split.limit, grid.eval_limit)
                            inputs = {
                                "phase": "evaluate",
                                "parent": checkpoint,
                                "task": target.name,
                                "version": target.version,
                                "split": split.name,
                                "language": lang,
                                "data": data_id(
                                    target, split.split or split.name, lang, limit, split.dataset, split
                                ),
                                "params": target.params,
                                "precision": grid.precision,
                                "max_length": target.hyperparameters.max_length,
                            }
                            add(
                                Job(
                                    content_key(inputs),
                                    "evaluate",
                                    model.name,
                                    cond.name,
                                    seed if trained else 0,
                                    target.name,
                                    checkpoint,
                                    split.name,
                                    lang,
                                    inputs=inputs,
                                )
                            )
    order = {"intermediate": 0, "target": 1, "evaluate": 2}
    ordered = sorted(jobs.values(), key=lambda c: order[c.phase])
    absent = sorted(
        (u.to_json() for u in unavailable.values() if u is not None),
        key=lambda u: (u["task"], u["split"], u["language"]),
    )
    plan = Plan(grid, grid_path, base_keys, ordered, lineage, absent)
    plan.blocked = _with_descendants(blocked, ordered)
    plan.pinned = {m.name: m.name in lock.entries for m in grid.models}
    plan.leakage = check_leakage(grid, grid_path, catalogue)
    return plan


def _with_descendants(blocked: dict[str, str], jobs: list[Job]) -> dict[str, str]:
    """Blocked jobs and every job below them (jobs are in phase order, parents first)."""
    out = dict(blocked)
    for job in jobs:
        if job.parent in out and job.key not in out:
            out[job.key] = out[job.parent]
    return out
