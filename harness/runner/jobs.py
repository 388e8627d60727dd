"""The units of work: frozen, typed jobs that are exactly what is hashed.

A job holds everything that determines its output — the resolved task spec, data fingerprints, resolved
hyperparameters, seed, parent key, the base model's source and pinned file hashes, what the record says —
and nothing else. ``job.key`` is the sha256 of its canonical JSON; ``harness.runner.work.run_job`` reads
nothing but the job (and the outputs of its parents in the store), so a job run anywhere gives the same
output, and a key that did not change means nothing that matters changed.

Fields named in ``UNKEYED`` are locations only: a task folder on this machine (the content it points to
is in the job as a fingerprint, which ``run_job`` checks) and the grid file that errors name. Keys stay
the same across checkouts and machines.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from harness.catalogue.schema import EvalSplit, Hyperparameters, SamplingRule, TaskSpec
from harness.models.lockfile import folder_digest

UNKEYED = frozenset({"task_dir", "grid_file"})


class FrozenJobPart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _without_unkeyed(value: Any) -> Any:
    # scalars are returned where they stand: a job's dump has ~700 of them per nested task spec
    if isinstance(value, dict):
        return {
            k: _without_unkeyed(v) if isinstance(v, dict | list) else v
            for k, v in value.items()
            if k not in UNKEYED
        }
    if isinstance(value, list):
        return [_without_unkeyed(v) if isinstance(v, dict | list) else v for v in value]
    return value


def canonical_key(value: BaseModel) -> str:
    payload = _without_unkeyed(value.model_dump(mode="json"))
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class BaseModelRef(FrozenJobPart):
    """The base model a job's lineage starts from: its source and the file hashes pinned for it."""

    name: str
    source: str
    files: dict[str, str] | None = None  # rel path -> sha256, from checkpoints.lock (None: not pinned)
    revision: str | None = None
    allow_pickle: bool = False
    freeze_embeddings: bool = False
    freeze_layers: int = 0

    @property
    def key(self) -> str:
        """The base checkpoint's key: its source and pinned digest (the root of every lineage)."""
        pinned = folder_digest(self.files) if self.files else None
        payload = {"phase": "base", "source": self.source, "pinned": pinned}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class TaskRef(FrozenJobPart):
    """A resolved task spec and where its folder is on this machine (relative data paths start there)."""

    spec: TaskSpec
    task_dir: str  # a location only: the data it points to is fingerprinted in the job


class JobBase(FrozenJobPart):
    base: BaseModelRef
    condition: str
    seed: int
    parent: str  # key of the checkpoint this job starts from (the base key for the base model)

    @cached_property
    def key(self) -> str:
        return canonical_key(self)

    @property
    def model(self) -> str:
        return self.base.name

    @property
    def checkpoint_name(self) -> str:
        return f"{self.base.name}+{self.condition}"


class TrainJob(JobBase):
    """Fine-tune one task: an intermediate task (one source language or a multilingual mix of the same
    items) or a target task on its training split, with the dev split selecting the kept epoch."""

    type: Literal["train"] = "train"
    phase: Literal["intermediate", "target"]
    task_ref: TaskRef
    languages: list[str] = Field(min_length=1)  # training languages (one, or the mix's languages)
    size: int | None = None  # items per language (the same items in every language)
    size_field: str = "intermediate.size"  # where a size larger than the data is reported
    mix_rule: str | None = None  # how a multilingual mix gives each item its language
    train_data: list[str] = Field(min_length=1)  # data fingerprint per training language
    dev_data: list[str] = Field(default_factory=list)  # fingerprints of the declared dev splits read
    hyperparameters: Hyperparameters  # resolved: task defaults, grid overrides, freezing, matched steps
    selection: Literal["english_dev", "last"]
    lineage: list[dict[str, Any]]  # steps from the base model to the parent, then this job's step
    grid_file: str = ""  # a location only: where a size error points

    @property
    def task(self) -> str:
        return self.task_ref.spec.name

    @property
    def label(self) -> str:
        return f"{self.checkpoint_name}/seed{self.seed} {self.phase}:{self.task}"


class MixtureMemberJob(FrozenJobPart):
    task_ref: TaskRef
    languages: list[str] = Field(min_length=1)
    size: int | None = None
    size_field: str
    head: str
    train_data: list[str] = Field(min_length=1)
    dev_data: list[str] = Field(default_factory=list)
    hyperparameters: Hyperparameters


class MixtureJob(JobBase):
    """Multi-task intermediate training: one shared body, one head per ``head`` name."""

    type: Literal["mixture"] = "mixture"
    phase: Literal["intermediate"] = "intermediate"
    members: list[MixtureMemberJob] = Field(min_length=1)
    sampling: SamplingRule
    temperature: float | None = None
    hyperparameters: Hyperparameters  # the shared settings (the first member's)
    lineage: list[dict[str, Any]]
    grid_file: str = ""  # a location only: where a size error points

    @property
    def task(self) -> str:
        return "+".join(m.task_ref.spec.name for m in self.members)

    @property
    def label(self) -> str:
        return f"{self.checkpoint_name}/seed{self.seed} {self.phase}:{self.task}"


class ConditionInfo(FrozenJobPart):
    """What a record says about the intermediate condition behind the evaluated checkpoint."""

    name: str
    intermediate_task: str | None = None
    source_lang: str | None = None
    source_type: str = "none"
    intermediate_size: int | None = None
    matched_with: str | None = None
    has_intermediate: bool = False  # trained here or pretrained outside: its learning status is read


class EvalJob(JobBase):
    """Evaluate one checkpoint on one task × split × language and write its record."""

    type: Literal["evaluate"] = "evaluate"
    phase: Literal["evaluate"] = "evaluate"
    record_name: str  # the checkpoint's name on records (model+condition, or an outside checkpoint's)
    task_ref: TaskRef
    split: str
    language: str
    data: str  # fingerprint of the evaluated rows
    limit: int | None = None
    baseline_data: str | None = None  # fingerprint of the training split the trivial baseline reads
    precision: str
    max_length: int
    grid: str
    primary_endpoint: str
    zero_shot: str | None = None
    condition_info: ConditionInfo
    parent_lineage: list[dict[str, Any]]

    @property
    def task(self) -> str:
        return self.task_ref.spec.name

    @property
    def checkpoint_name(self) -> str:
        return self.record_name

    @property
    def label(self) -> str:
        return (
            f"{self.base.name}+{self.condition}/seed{self.seed} {self.phase}:{self.task}"
            f"/{self.split}/{self.language}"
        )

    @property
    def split_spec(self) -> EvalSplit:
        return self.task_ref.spec.split_named(self.split)


class EvalBatch(FrozenJobPart):
    """Evaluation jobs of one checkpoint and task, run together so the frozen-prefix cache is shared."""

    type: Literal["eval-batch"] = "eval-batch"
    jobs: list[EvalJob] = Field(min_length=1)


Job = TrainJob | MixtureJob | EvalJob
Work = Annotated[TrainJob | MixtureJob | EvalJob | EvalBatch, Field(discriminator="type")]
WORK = TypeAdapter(Work)


def work_from_json(text: str) -> TrainJob | MixtureJob | EvalJob | EvalBatch:
    return WORK.validate_json(text)


def work_to_json(work: TrainJob | MixtureJob | EvalJob | EvalBatch) -> str:
    return work.model_dump_json(indent=1)
