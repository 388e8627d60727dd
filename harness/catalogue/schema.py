"""The typed schema of task, group and grid YAML files (pydantic v2; unknown keys are errors)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from typing_extensions import TypedDict

from harness.catalogue.languages import is_known_language
from harness.catalogue.names import SafeName
from harness.catalogue.protocol import Protocol, protocol_name, xtreme_deviations

# what a grid asks for; "auto" is resolved at plan time (harness.runner.precision) and never reaches a job
RequestedPrecision = Literal["auto", "bf16", "fp16", "fp32"]
Precision = Literal["bf16", "fp16", "fp32"]

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


class RowFilter(Strict):
    """Keep the rows whose ``column`` equals one of ``values`` or matches the regular expression
    ``pattern`` (``re.search``). ``{lang}`` and ``{code}`` in values and pattern are filled in."""

    column: str
    values: list[str] | None = Field(default=None, min_length=1)
    pattern: str | None = None

    @model_validator(mode="after")
    def _one_test(self) -> RowFilter:
        if (self.values is None) == (self.pattern is None):
            raise ValueError("a filter needs exactly one of 'values' or 'pattern'")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern {self.pattern!r} is not a regular expression: {exc}") from None
        return self


class LabelMap(Strict):
    """Another dataset's labels onto the task's: a label the task already has passes through, every
    other label in the data must be mapped (a mapped split whose data has an unmapped label is an error).
    ``scheme: bio`` maps the entity type after a ``B-``/``I-`` prefix and keeps the prefix; a type
    mapped to ``O`` becomes ``O`` (MasakhaNER's DATE, CoNLL's MISC)."""

    map: dict[str, str] = Field(min_length=1)
    scheme: Literal["plain", "bio"] = "plain"


class ParallelJoin(Strict):
    """Retrieval pairs from a dataset that stores each language apart (SIB-200/FLORES): the split
    language's rows joined to ``target_language``'s rows on ``key``; ``text`` is the sentence column."""

    key: str
    text: str = "text"
    target_language: str = "en"


class EvalSplit(Strict):
    """A split the task is scored on. ``in_domain`` is false for a domain-shifted split.

    ``filter`` keeps a subset of the rows (all filters must hold); ``label_map`` scores another dataset
    with the task's head; ``parallel`` builds retrieval pairs by joining two languages of one dataset.
    All three are part of the data fingerprint."""

    name: str
    split: str | None = None
    domain: str
    in_domain: bool = True
    languages: list[str] | None = None
    dataset: DatasetSpec | None = None
    limit: int | None = Field(default=None, ge=1)
    description: str | None = None
    filter: list[RowFilter] | None = Field(default=None, min_length=1)
    label_map: LabelMap | None = None
    parallel: ParallelJoin | None = None

    @field_validator("filter", mode="before")
    @classmethod
    def _one_filter_or_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _view_consistent(self) -> EvalSplit:
        if self.parallel is not None and not is_known_language(self.parallel.target_language):
            raise ValueError(
                f"parallel.target_language: unknown language code {self.parallel.target_language!r}"
            )
        return self

    @property
    def has_view(self) -> bool:
        return bool(self.filter or self.label_map or self.parallel)


class Hyperparameters(Strict):
    """Fine-tuning settings. ``max_length`` ≥ 8: the special tokens, a question token and some context
    (extractive QA shrinks its question budget and doc stride to fit)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    learning_rate: float = Field(default=2e-5, gt=0)
    epochs: float = Field(default=3, gt=0)
    batch_size: int = Field(default=32, ge=1)
    eval_batch_size: int = Field(default=64, ge=1)
    max_length: int = Field(default=128, ge=8)
    warmup_ratio: float = Field(default=0.1, ge=0, le=1)
    weight_decay: float = Field(default=0.01, ge=0)
    max_steps: int | None = Field(default=None, ge=1)
    freeze_embeddings: bool = False
    freeze_layers: int = Field(default=0, ge=0)
    # with freeze_layers: run the frozen layers once per input, in eval mode, and replay their output
    cache_frozen_layers: bool = True
    # attention-probability dropout while training (null: the checkpoint's config); 0 is a CPU lever
    attention_dropout: float | None = Field(default=None, ge=0, lt=1)
    # the resolved training precision: set by the planner from the grid's ``precision``, never in YAML
    precision: Precision = "fp32"
    # the effective batch is batch_size x gradient_accumulation_steps
    gradient_accumulation_steps: int = Field(default=1, ge=1)

    @model_serializer(mode="wrap")
    def _key_stable(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Fields added after stores existed are left out of the dump at their defaults: the dump is
        hashed into job keys, and those of earlier checkpoints and records must not move."""
        data: dict[str, Any] = handler(self)
        for name, default in KEY_STABLE_DEFAULTS.items():
            if name in data and data[name] == default:
                del data[name]
        return data


KEY_STABLE_DEFAULTS: dict[str, Any] = {"precision": "fp32", "gradient_accumulation_steps": 1}
# set only through the grid's top-level ``precision`` (one place, resolved per machine at plan time)
NOT_OVERRIDABLE = frozenset({"precision"})


def _annotated_args(annotation: Any, metadata: list[Any]) -> tuple[Any, ...]:
    return (annotation, *metadata)


def _overrides_type() -> type:
    """A grid's ``training:`` block: any subset of the Hyperparameters, with the same types and ranges,
    checked when the grid loads (a plain dict after validation)."""
    fields = {
        name: Annotated[_annotated_args(info.annotation, info.metadata)] if info.metadata else info.annotation
        for name, info in Hyperparameters.model_fields.items()
        if name not in NOT_OVERRIDABLE
    }
    # fields built at run time from Hyperparameters: a TypedDict no type checker can see (mypy wants a
    # literal), configured through the attribute pydantic reads on TypedDicts (typing does not declare it)
    overrides = TypedDict("HyperparameterOverrides", fields, total=False)  # type: ignore[misc]
    overrides.__pydantic_config__ = ConfigDict(extra="forbid", allow_inf_nan=False)  # type: ignore[attr-defined]
    return overrides


if TYPE_CHECKING:
    HyperparameterOverrides = dict[str, Any]  # what a validated block is
else:
    HyperparameterOverrides = _overrides_type()


class TaskSpec(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    kind: str
    version: int = Field(ge=0)
    description: str = ""
    source: str = ""
    role: Literal["target", "intermediate"] = "target"
    # xtreme: the XTREME scripts' settings, checked at load (harness/catalogue/protocol.py);
    # "official" is read as xtreme
    protocol: Protocol = "custom"
    # intermediate data that is this target task's training set machine-translated (translate-train)
    translate_train_of: list[str] = Field(default_factory=list)
    # how items align across languages, so the bootstrap resamples an item once (harness/scoring/items.py)
    items: Literal["by_id", "by_index", "independent"] = "independent"
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

    @field_validator("hyperparameters")
    @classmethod
    def _precision_is_a_grid_setting(cls, value: Hyperparameters) -> Hyperparameters:
        if "precision" in value.model_fields_set:
            raise ValueError(
                "precision: set it on the grid (precision: auto, bf16, fp16 or fp32), not in a task"
            )
        return value

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

    @field_validator("protocol", mode="before")
    @classmethod
    def _legacy_protocol(cls, value: Any) -> Any:
        return protocol_name(value)

    @field_validator("translate_train_of", mode="before")
    @classmethod
    def _one_or_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _follows_protocol(self) -> TaskSpec:
        deviations = xtreme_deviations(self) if self.protocol == "xtreme" else []
        if deviations:
            raise ValueError(
                f"protocol 'xtreme' but {'; '.join(deviations)} — use XTREME's settings or say "
                "'protocol: custom'"
            )
        return self

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


GroupName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]


class GroupSpec(Strict):
    """An aggregate over target tasks: the plain mean of the tasks' scores, each task's score being the
    mean over its languages (English included) of its in-domain splits. With ``require_all`` the group
    (and each subgroup) is scored only where every one of its tasks is; else over the tasks present.

    ``subgroups`` are named subsets of ``tasks`` scored the same way (XTREME's classification, tagging,
    qa, retrieval). ``metric_rule`` says what a task's score is: ``main_metric`` — the task's own main
    metric; ``xtreme`` — the official evaluate.py's ``avg_metric`` (``harness.scoring.xtreme.task_score``:
    QA (avg EM + avg F1) / 2, else avg F1, else avg accuracy), which the catalogue checks each task's
    main metric against. ``title`` names the aggregate's column (default: the group's name)."""

    group: GroupName
    title: str = ""
    description: str = ""
    tasks: list[str] = Field(min_length=1)
    aggregate: Literal["mean"] = "mean"
    require_all: bool = True
    metric_rule: Literal["main_metric", "xtreme"] = "main_metric"
    subgroups: dict[GroupName, list[str]] = Field(default_factory=dict)

    @field_validator("tasks")
    @classmethod
    def _distinct(cls, tasks: list[str]) -> list[str]:
        if len(set(tasks)) != len(tasks):
            raise ValueError(f"names are repeated: {tasks}")
        return tasks

    @field_validator("subgroups")
    @classmethod
    def _within(cls, subgroups: dict[str, list[str]], info: ValidationInfo) -> dict[str, list[str]]:
        tasks = info.data.get("tasks", [])
        for name, members in subgroups.items():
            outside = [task for task in members if task not in tasks]
            if not members or outside or len(set(members)) != len(members):
                found = f" ({', '.join(map(repr, outside))} not among them)" if outside else ""
                raise ValueError(f"{name}: must list distinct tasks of the group's 'tasks'{found}")
        return subgroups

    @property
    def label(self) -> str:
        return self.title or self.group


class ModelSpec(Strict):
    """A pretrained encoder. ``source``: ``embedded:NAME``, ``hub:ORG/NAME[@REVISION]`` or a folder path."""

    name: SafeName
    source: str
    freeze_embeddings: bool = False
    freeze_layers: int = Field(default=0, ge=0)
    allow_pickle: bool = False


SamplingRule = Literal["proportional", "uniform", "temperature"]
SourceType = Literal["none", "english", "translated", "native"]


class MixtureTask(Strict):
    """One task of a multi-task intermediate condition. ``source_lang`` may list several languages (their
    rows are pooled, e.g. multilingual masked-LM text); ``head`` names a head shared by tasks of the same
    kind and label set (the paper's ANLI+ trains ANLI, MNLI and SNLI through one NLI head)."""

    task: str
    source_lang: str | list[str] = "en"
    size: int | None = Field(default=None, ge=1)
    head: SafeName | None = None

    @field_validator("source_lang")
    @classmethod
    def _known(cls, value: str | list[str]) -> str | list[str]:
        codes = [value] if isinstance(value, str) else value
        if not codes:
            raise ValueError("source_lang lists no language")
        for code in codes:
            if not is_known_language(code):
                raise ValueError(f"unknown language code {code!r}")
        return value

    @property
    def languages(self) -> list[str]:
        return [self.source_lang] if isinstance(self.source_lang, str) else list(self.source_lang)


class IntermediateSpec(Strict):
    """An intermediate condition: ``none``; a task trained in a source language; several tasks trained
    together (``tasks`` + ``sampling``: one shared encoder body, a head per task); or, with
    ``pretrained: true``, a checkpoint already trained outside (``harness eval``): nothing is trained and
    ``task``/``source_lang`` only describe its lineage.

    ``source_lang`` may list several languages: a *multilingual mix* of one task's items, each item in one
    of them (``harness/training/source_mix.py``): the same items and size as the single-language
    conditions, so it pairs with them like any other source. Records carry ``source_lang: mul``."""

    name: SafeName
    task: str | None = None
    source_lang: str | list[str] | None = None
    source_type: SourceType = "none"
    size: int | None = Field(default=None, ge=1)
    matched_with: str | None = None
    tasks: list[MixtureTask] | None = Field(default=None, min_length=1)
    sampling: SamplingRule = "proportional"
    temperature: float = Field(default=2.0, gt=0)
    pretrained: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> IntermediateSpec:
        if self.tasks is not None:
            return self._consistent_mixture()
        if self.task is None:
            if self.source_lang or self.size or self.source_type != "none":
                raise ValueError("a condition without 'task' takes no source_lang, size or source_type")
            if self.matched_with:
                raise ValueError("a condition without 'task' cannot be size-matched ('matched_with')")
            return self
        if not self.source_lang:
            raise ValueError("a condition with 'task' needs 'source_lang'")
        for code in self.languages:
            if not is_known_language(code):
                raise ValueError(f"unknown language code {code!r}")
        if self.is_mix and (len(set(self.languages)) != len(self.languages) or len(self.languages) < 2):
            raise ValueError(
                "a multilingual mix ('source_lang' as a list) needs two or more different languages"
            )
        if self.source_type == "none":
            raise ValueError("source_type must be english, translated or native when a task is given")
        if (self.source_lang == "en") != (self.source_type == "english"):
            raise ValueError("source_type 'english' goes with source_lang 'en' and only with it")
        return self

    def _consistent_mixture(self) -> IntermediateSpec:
        if self.task is not None:
            raise ValueError("give either 'task' (one task) or 'tasks' (multi-task), not both")
        if self.pretrained:
            raise ValueError("'pretrained' describes one outside checkpoint; it takes 'task', not 'tasks'")
        if self.source_type == "none":
            raise ValueError("a multi-task condition needs source_type (english, translated or native)")
        if self.is_mix:
            raise ValueError("a multi-task condition lists its languages per task ('tasks[j].source_lang')")
        if isinstance(self.source_lang, str) and not is_known_language(self.source_lang):
            raise ValueError(f"unknown language code {self.source_lang!r}")
        return self

    @property
    def languages(self) -> list[str]:
        """The source language(s) of a single-task condition (several for a multilingual mix)."""
        if self.source_lang is None:
            return []
        return [self.source_lang] if isinstance(self.source_lang, str) else list(self.source_lang)

    @property
    def is_mix(self) -> bool:
        return isinstance(self.source_lang, list)

    @property
    def record_lang(self) -> str | None:
        """The source language on records and lineage: ``mul`` for a multilingual mix."""
        return "mul" if isinstance(self.source_lang, list) else self.source_lang

    @property
    def task_names(self) -> list[str]:
        if self.tasks is not None:
            return [item.task for item in self.tasks]
        return [self.task] if self.task else []

    @property
    def is_multitask(self) -> bool:
        return self.tasks is not None

    @property
    def trains(self) -> bool:
        """True when the grid trains this condition's intermediate checkpoint."""
        return not self.pretrained and (self.task is not None or self.tasks is not None)


class OverlapAllowance(Strict):
    """``train``: the task whose training or dev data overlaps; ``scored``: the target whose scored split
    it overlaps (``target`` or ``target/split``)."""

    train: str
    scored: str


class GridSpec(Strict):
    name: SafeName
    description: str = ""
    models: list[ModelSpec] = Field(min_length=1)
    intermediate: list[IntermediateSpec] = Field(min_length=1)
    targets: list[str] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [1], min_length=1)
    training: HyperparameterOverrides = Field(default_factory=dict)
    intermediate_training: HyperparameterOverrides = Field(default_factory=dict)
    selection: Literal["english_dev", "last"] = "english_dev"
    # training and evaluation; auto: bf16 where the device runs it natively, else fp32 (runner.precision)
    precision: RequestedPrecision = "fp32"
    eval_limit: int | None = Field(default=None, ge=1)
    # overlaps between training/selection data and scored splits that the grid accepts (rows are then
    # badged "not zero-shot"); without an entry, the leakage check refuses the plan
    allow_overlap: list[OverlapAllowance] = Field(default_factory=list)
    # the contrast's one confirmatory number (harness/report/verdict.py); all else is exploratory
    primary_endpoint: Literal["shifted_gap_difference", "in_domain_difference"] = "shifted_gap_difference"
    # the group (tasks/targets/*.yaml) whose aggregate the summary and the site show and rank by; without
    # one, the mean over the grid's targets. Not an input of any job: it never changes a job's key.
    group: GroupName | None = None

    @model_validator(mode="after")
    def _unique(self) -> GridSpec:
        for label, names in (
            ("models", [m.name for m in self.models]),
            ("intermediate", [c.name for c in self.intermediate]),
            ("targets", self.targets),
        ):
            if len(set(names)) != len(names):
                raise ValueError(f"{label}: names are repeated")
        by_name = {c.name: c for c in self.intermediate}
        for i, cond in enumerate(self.intermediate):
            if not cond.matched_with:
                continue
            other = by_name.get(cond.matched_with)
            if other is None:
                raise ValueError(f"intermediate {cond.name!r}: matched_with names no condition")
            if other.name == cond.name:
                raise ValueError(f"intermediate {cond.name!r}: matched_with names itself")
            if cond.size is None or other.size is None or cond.size != other.size:
                raise ValueError(
                    f"intermediate[{i}].size: a size-matched pair needs the same 'size' on both sides "
                    f"({cond.name!r}: {cond.size}, {other.name!r}: {other.size})"
                )
        return self
