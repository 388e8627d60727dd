"""The one results schema: a JSON record per (checkpoint, task, split, language). See README."""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class LineageStep(Open):
    phase: Literal["base", "intermediate", "target"]
    key: str
    name: str
    task: str | None = None
    source_lang: str | None = None
    seed: int | None = None
    source: str | None = None


class CheckpointInfo(Open):
    name: str  # model + intermediate condition, e.g. "me5-small+mmlu-de" (seeds kept apart in `seed`)
    key: str  # content hash of the evaluated checkpoint
    model: str
    model_source: str
    model_revision: str | None = None
    condition: str
    intermediate_task: str | None = None
    source_lang: str | None = None
    source_type: Literal["none", "english", "translated", "native"] = "none"
    intermediate_size: int | None = None
    matched_with: str | None = None
    frozen_embeddings: bool = False
    lineage: list[LineageStep]
    # the intermediate phase: {"status": learned|did-not-learn|not-trained|unknown, "task", "metric",
    # "dev_score", "dev_low", "dev_high", "baseline", "n_dev"} (harness.training.learning)
    learning: dict[str, Any] | None = None
    # how the rows were scored: fine-tuned on the English target data and transferred zero-shot (every
    # grid run), or a decoder LM prompted with `shots` examples (imported from lm-eval). Written only when
    # not the default, so records and the keys of jobs that hold them stay byte-identical.
    regime: Literal["fine-tuned", "prompted"] = Field(
        default="fine-tuned", exclude_if=lambda value: value == "fine-tuned"
    )
    shots: int | None = Field(default=None, exclude_if=lambda value: value is None)

    @property
    def badge(self) -> str | None:
        """The badge "prompted, 5-shot" of a prompted row (shown beside its name everywhere); None when fine-tuned."""
        if self.regime != "prompted":
            return None
        return f"prompted, {self.shots}-shot" if self.shots is not None else "prompted"


class TaskInfo(Open):
    name: str
    version: int
    kind: str
    protocol: str = "official"


class SplitInfo(Open):
    name: str
    domain: str
    in_domain: bool


class BaselineInfo(Open):
    name: str
    scores: dict[str, float]


Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


def _inside_store(path: str) -> str:
    """``predictions`` is read and linked relative to the results folder: it must stay inside it."""
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if path.startswith(("/", "\\")) or PureWindowsPath(path).drive or ".." in parts:
        raise ValueError(f"must be a relative path inside the results folder, got {path!r}")
    return path


class Record(Open):
    schema_version: int = SCHEMA_VERSION
    # content key of the evaluation job that wrote the record; records written before the rename say "cell"
    job_key: str = Field(validation_alias=AliasChoices("job_key", "cell"))
    grid: str
    checkpoint: CheckpointInfo
    seed: int
    task: TaskInfo
    split: SplitInfo
    language: str
    n_examples: int
    scores: dict[str, Fraction]
    main_metric: str
    main_score: Fraction
    baseline: BaselineInfo | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict)
    # path of the per-example JSONL, relative to the results folder
    predictions: Annotated[str, AfterValidator(_inside_store)]
    # packed stores only (harness pack): the per-example statistics file of the record's checkpoint,
    # relative to the results folder; the record's entry in it is keyed by ``predictions``
    example_stats: Annotated[str, AfterValidator(_inside_store)] | None = Field(
        default=None, exclude_if=lambda value: value is None
    )
