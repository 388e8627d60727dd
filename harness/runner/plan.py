"""A grid expanded into jobs: intermediate training → target fine-tuning → evaluation.

Every job (``harness.runner.jobs``) is keyed by a hash of all it holds: the resolved task spec, data
fingerprints, resolved hyperparameters (size matching included), seed and parent key. So a shared
intermediate checkpoint is one job, and a job whose inputs did not change is found done and never runs
twice. Nothing is re-derived from names after the key is made.
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
from harness.models.lockfile import Lock
from harness.runner.jobs import BaseModelRef, ConditionInfo, EvalJob, Job, TaskRef, TrainJob
from harness.runner.leakage import LeakageReport, check_leakage
from harness.runner.precision import Device, with_resolved_precision
from harness.training.steps import planned_steps

Phase = Literal["intermediate", "target", "evaluate"]


def content_key(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


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


def base_ref(model: ModelSpec, lock: Lock) -> BaseModelRef:
    entry = lock.entries.get(model.name)
    return BaseModelRef(
        name=model.name,
        source=model.source,
        files=dict(entry.files) if entry else None,
        revision=entry.revision if entry else None,
        allow_pickle=model.allow_pickle,
        freeze_embeddings=model.freeze_embeddings,
        freeze_layers=model.freeze_layers,
    )


def base_key(model: ModelSpec, lock: Lock) -> str:
    return base_ref(model, lock).key


def matched_max_steps(grid: GridSpec, cond: IntermediateSpec, hp: Hyperparameters) -> Hyperparameters:
    """A size-matched condition takes ceil(size / batch) × epochs steps, whatever the number of features
    an example gives (QA windows, long sentences), so both sides of the pair take the same steps. Decided
    here, before the key is made."""
    matched = cond.matched_with or any(c.matched_with == cond.name for c in grid.intermediate)
    if not (matched and cond.size) or hp.max_steps:
        return hp
    return hp.model_copy(update={"max_steps": planned_steps(cond.size, hp)})


def expand(
    grid: GridSpec,
    grid_path: Path,
    catalogue: Catalogue,
    lock: Lock,
    *,
    record_names: dict[str, str] | None = None,
    device: Device | None = None,
) -> Plan:
    """The grid's jobs in phase order. ``record_names`` maps a model name to the checkpoint name its
    records carry (an outside checkpoint keeps its own name); by default it is model+condition.
    ``device``: what the jobs will run on (a cluster profile's GPUs), else this machine."""
    grid = with_resolved_precision(grid, grid_path, device)  # "auto" never reaches a job, key or record
    jobs: dict[str, Job] = {}
    lineage: dict[str, list[dict[str, Any]]] = {}
    base_keys: dict[str, str] = {}
    leakage = check_leakage(grid, grid_path, catalogue)

    def add(job: Job) -> Job:
        return jobs.setdefault(job.key, job)

    def task_ref(task: TaskSpec) -> TaskRef:
        return TaskRef(spec=task, task_dir=str(catalogue.task_path(task.name).parent))

    def data_id(
        task: TaskSpec, split: str, lang: str, limit: int | None = None, dataset: Any = None, view: Any = None
    ) -> str:
        return data_identity(
            task, split, lang, catalogue.task_path(task.name).parent, dataset=dataset, limit=limit, view=view
        )

    def train_identity(task: TaskSpec) -> str | None:
        """The training split the trivial baseline reads (an ``unavailable:`` one: the baseline's
        own rule for absent data applies when the job runs)."""
        ref = task.train
        if ref is None:
            return None
        try:
            return data_id(task, ref.split, ref.language, ref.limit, ref.dataset)
        except HarnessError as exc:
            return "unavailable:" + hashlib.sha256(exc.message.encode()).hexdigest()

    unavailable: dict[tuple[str, str, str], Unavailable | None] = {}

    def missing(task: TaskSpec, split: EvalSplit, lang: str) -> bool:
        key = (task.name, split.name, lang)
        if key not in unavailable:
            unavailable[key] = availability(task, split, lang, catalogue.task_path(task.name).parent)
        return unavailable[key] is not None

    from harness.runner.conditions import ConditionPlanner, effective_source_lang

    conditions = ConditionPlanner(grid, grid_path, catalogue)
    blocked: dict[str, str] = {}
    for model in grid.models:
        base = base_ref(model, lock)
        root = base.key
        base_keys[model.name] = root
        lineage[root] = [{"phase": "base", "key": root, "name": model.name, "source": model.source}]
        conditions.check(model)
        for seed in grid.seeds:
            for cond_index, cond in enumerate(grid.intermediate):
                parent = root
                if cond.pretrained:  # the model source already is this condition's checkpoint
                    lineage[root] = [conditions.pretrained_step(model, cond, root)]
                elif cond.trains:
                    built, reason = conditions.intermediate_job(model, base, cond_index, lineage[root], seed)
                    job = add(built)
                    parent = job.key
                    lineage[parent] = [*built.lineage[:-1], {**built.lineage[-1], "key": parent}]
                    if reason:
                        blocked[parent] = reason
                info = ConditionInfo(
                    name=cond.name,
                    intermediate_task=cond.task or ("+".join(cond.task_names) or None),
                    source_lang=effective_source_lang(cond, catalogue),
                    source_type=cond.source_type,
                    intermediate_size=cond.size,
                    matched_with=cond.matched_with,
                    has_intermediate=cond.trains or cond.pretrained,
                )
                for target_index, target_name in enumerate(grid.targets):
                    target = catalogue.task(target_name)
                    kind = kind_info(target.kind)
                    checkpoint = parent
                    if kind.trains:
                        if target.train is None:
                            raise HarnessError(
                                f"target {target.name!r} is a trained kind ({target.kind}) but declares no "
                                "training data ('train')",
                                field=f"targets.{target_index}",
                                file=grid_path,
                            )
                        step = {
                            "phase": "target",
                            "name": f"{model.name}+{cond.name}",
                            "task": target.name,
                            "source_lang": target.train.language,
                            "seed": seed,
                        }
                        dev = target.dev
                        job = add(
                            TrainJob(
                                base=base,
                                condition=cond.name,
                                seed=seed,
                                parent=parent,
                                phase="target",
                                task_ref=task_ref(target),
                                languages=[target.train.language],
                                train_data=[conditions.target_train_identity(target, target_index)],
                                dev_data=[data_id(target, dev.split, dev.language, dev.limit, dev.dataset)]
                                if dev
                                else [],
                                hyperparameters=hyperparameters(target, grid.training, model),
                                selection=grid.selection,
                                lineage=[*lineage[parent], step],
                            )
                        )
                        checkpoint = job.key
                        lineage[checkpoint] = [*lineage[parent], {**step, "key": checkpoint}]
                    trained = checkpoint != root
                    baseline_data = train_identity(target)
                    for split in target.splits:
                        for lang in target.split_languages(split):
                            if missing(target, split, lang):
                                continue
                            limit = eval_limit(split.limit, grid.eval_limit)
                            add(
                                EvalJob(
                                    base=base,
                                    condition=cond.name,
                                    seed=seed if trained else 0,
                                    parent=checkpoint,
                                    record_name=(record_names or {}).get(
                                        model.name, f"{model.name}+{cond.name}"
                                    ),
                                    task_ref=task_ref(target),
                                    split=split.name,
                                    language=lang,
                                    data=data_id(
                                        target, split.split or split.name, lang, limit, split.dataset, split
                                    ),
                                    limit=limit,
                                    baseline_data=baseline_data,
                                    precision=grid.precision,
                                    max_length=target.hyperparameters.max_length,
                                    grid=grid.name,
                                    primary_endpoint=grid.primary_endpoint,
                                    zero_shot=leakage.label(cond.name, target.name, split.name, lang),
                                    condition_info=info,
                                    parent_lineage=lineage.get(checkpoint, []),
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
    plan.leakage = leakage
    return plan


def _with_descendants(blocked: dict[str, str], jobs: list[Job]) -> dict[str, str]:
    """Blocked jobs and every job below them (jobs are in phase order, parents first)."""
    out = dict(blocked)
    for job in jobs:
        if job.parent in out and job.key not in out:
            out[job.key] = out[job.parent]
    return out
