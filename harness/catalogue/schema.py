"""The typed schema of task, group and grid YAML files (pydantic v2; unknown keys are errors)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.catalogue.languages import is_known_language

DatasetFormat = Literal[
    "hub", "tsv", "csv", "jsonl", "squad_json", "conllu", "conll_tags", "builtin", "parallel_text", "bucc"
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HubSource(Strict):
    """A ``datasets.load_dataset`` call. ``{lang}``, ``{code}`` and ``{split}`` are filled in."""

    path: str
    name: str | None = None
    split: str = "{split}"
    revision: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)  # hub column -> the file layout's column
    split_names: dict[str, str] = Field(default_factory=dict)  # {split} on the hub, e.g. dev -> validation


class DatasetSpec(Strict):
    """Where a task's rows come from: local files (offline), a hub id, or a loader inside a wheel.

    When both ``path`` and ``hub`` are given, local files win if they exist; the hub is the fallback.
    ``path`` may use ``{data_dir}`` (env ``HARNESS_DATA_DIR``, default: the repository's ``data/``),
    ``{lang}`` (ISO code), ``{code}`` (the dataset's own code for that language) and ``{split}``.
    """

    format: DatasetFormat
    path: str | None = None
    hub: HubSource | None = None
    builtin: str | None = None
    language_codes: dict[str, str] = Field(default_factory=dict)
    split_names: dict[str, str] = Field(default_factory=dict)
    target_path: str | None = None
    header: bool = True
    fieldnames: list[str] | None = None
    delimiter: str | None = None
    quoting: Literal["none", "minimal"] = "none"
    token_prefix: str | None = None  # conll_tags: strip e.g. "{lang}:" from tokens (XTREME's PAN-X files)
    license: str | None = None
    citation: str | None = None

    @model_validator(mode="after")
    def _has_a_source(self) -> DatasetSpec:
        if self.format == "builtin":
            if not self.builtin:
                raise ValueError("format 'builtin' needs 'builtin: <source name>'")
        elif self.format == "hub":
            if self.hub is None:
                raise ValueError("format 'hub' needs a 'hub:' block")
        elif self.path is None and self.hub is None:
            raise ValueError(f"format {self.format!r} needs 'path' (local files) or 'hub'")
        return self

    def code_for(self, lang: str) -> str:
        return self.language_codes.get(lang, lang)


class SplitRef(Strict):
    """A training or selection split: which dataset split, in which language, optionally from another
    dataset (XNLI trains on MNLI, XQuAD and MLQA on SQuAD)."""

    split: str
    language: str = "en"
    limit: int | None = Field(default=None, ge=1)
    dataset: DatasetSpec | None = None


class EvalSplit(Strict):
    """A split the task is scored on. ``in_domain`` is false for a domain-shifted split."""

    name: str
    split: str | None = None
    domain: str
    in_domain: bool = True
    languages: list[str] | None = None
    dataset: DatasetSpec | None = None
    limit: int | None = Field(default=None, ge=1)
    description: str | None = None


class Hyperparameters(Strict):
    learning_rate: float = Field(default=2e-5, gt=0)
    epochs: float = Field(default=3, gt=0)
    batch_size: int = Field(default=32, ge=1)
    eval_batch_size: int = Field(default=64, ge=1)
    max_length: int = Field(default=128, ge=8)
    warmup_ratio: float = Field(default=0.1, ge=0, le=1)
    weight_decay: float = Field(default=0.01, ge=0)
    max_steps: int | None = Field(default=None, ge=1)
    freeze_embeddings: bool = False


class TaskSpec(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    kind: str
    version: int = Field(ge=0)
    description: str = ""
    source: str = ""
    role: Literal["target", "intermediate"] = "target"
    protocol: Literal["official", "demo split"] = "official"
    dataset: DatasetSpec
    columns: dict[str, str] = Field(default_factory=dict)
    labels: list[str] | None = None
    languages: list[str]
    train: SplitRef | None = None
    dev: SplitRef | None = None
    splits: list[EvalSplit] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=list)
    main_metric: str | None = None
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: list[str]) -> list[str]:
        for code in value:
            if not is_known_language(code):
                raise ValueError(
                    f"unknown language code {code!r} (use ISO 639-1, or ISO 639-3 where none exists)"
                )
        if len(set(value)) != len(value):
            raise ValueError("languages are repeated")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TaskSpec:
        names = [s.name for s in self.splits]
        if len(set(names)) != len(names):
            raise ValueError(f"split names are repeated: {names}")
        for split in self.splits:
            for code in split.languages or []:
                if not is_known_language(code):
                    raise ValueError(f"split {split.name!r}: unknown language code {code!r}")
        if self.role == "intermediate" and self.train is None:
            raise ValueError("an intermediate task needs 'train'")
        return self

    def split_languages(self, split: EvalSplit) -> list[str]:
        return list(split.languages) if split.languages is not None else list(self.languages)

    def split_named(self, name: str) -> EvalSplit:
        for split in self.splits:
            if split.name == name:
                return split
        raise KeyError(name)

    @property
    def metric(self) -> str:
        return self.main_metric or (self.metrics[0] if self.metrics else "accuracy")


class GroupSpec(Strict):
    """An aggregate over tasks: the mean of each task's score (the mean over its languages)."""

    group: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    tasks: list[str] = Field(min_length=1)
    aggregate: Literal["mean"] = "mean"
    require_all: bool = True


class ModelSpec(Strict):
    """A pretrained encoder. ``source``: ``embedded:NAME``, ``hub:ORG/NAME[@REVISION]`` or a folder path."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
    source: str
    freeze_embeddings: bool = False
    allow_pickle: bool = False


class IntermediateSpec(Strict):
    """An intermediate condition: ``none``, or a task trained in a source language."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
    task: str | None = None
    source_lang: str | None = None
    source_type: Literal["none", "english", "translated", "native"] = "none"
    size: int | None = Field(default=None, ge=1)
    matched_with: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> IntermediateSpec:
        if self.task is None:
            if self.source_lang or self.size or self.source_type != "none":
                raise ValueError("a condition without 'task' takes no source_lang, size or source_type")
            return self
        if not self.source_lang:
            raise ValueError("a condition with 'task' needs 'source_lang'")
        if not is_known_language(self.source_lang):
            raise ValueError(f"unknown language code {self.source_lang!r}")
        if self.source_type == "none":
            raise ValueError("source_type must be english, translated or native when a task is given")
        if (self.source_lang == "en") != (self.source_type == "english"):
            raise ValueError("source_type 'english' goes with source_lang 'en' and only with it")
        return self


class GridSpec(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
    description: str = ""
    models: list[ModelSpec] = Field(min_length=1)
    intermediate: list[IntermediateSpec] = Field(min_length=1)
    targets: list[str] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [1], min_length=1)
    training: dict[str, Any] = Field(default_factory=dict)
    intermediate_training: dict[str, Any] = Field(default_factory=dict)
    selection: Literal["english_dev", "last"] = "english_dev"
    precision: Literal["fp32", "bf16"] = "fp32"
    eval_limit: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _unique(self) -> GridSpec:
        for label, names in (
            ("models", [m.name for m in self.models]),
            ("intermediate", [c.name for c in self.intermediate]),
            ("targets", self.targets),
        ):
            if len(set(names)) != len(names):
                raise ValueError(f"{label}: names are repeated")
        known = {c.name for c in self.intermediate}
        for cond in self.intermediate:
            if cond.matched_with and cond.matched_with not in known:
                raise ValueError(f"intermediate {cond.name!r}: matched_with names no condition")
        unknown = set(self.training) - set(Hyperparameters.model_fields)
        unknown |= set(self.intermediate_training) - set(Hyperparameters.model_fields)
        if unknown:
            raise ValueError(
                f"unknown training settings {sorted(unknown)}; allowed: {sorted(Hyperparameters.model_fields)}"
            )
        return self
