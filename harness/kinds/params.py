"""The typed ``params:`` of every built-in kind, checked when the catalogue loads (no torch here).

A task YAML's ``params`` mapping is validated against its kind's model (``KindInfo.params``), so
``harness tasks validate`` reports ``FILE:LINE: params.pooling: ...`` instead of a run failing midway.
The task keeps the mapping as written (records store it, job keys hash it); the kinds read the typed
values through ``harness.kinds.registry.kind_params``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    field_validator,
)
from typing_extensions import Self

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.catalogue.schema import TaskSpec


class KindParams(BaseModel):
    """A kind without parameters: any key is an error. Kinds with parameters extend this."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def from_task(cls, task: TaskSpec) -> Self:
        """The task's ``params`` with the defaults filled in. The catalogue checked them when it loaded
        the task (with file and line); a task built in code is checked here, naming the field."""
        try:
            return cls.model_validate(task.params)
        except ValidationError as exc:
            err = exc.errors()[0]
            dotted = ".".join(str(part) for part in ("params", *err["loc"]))
            message = err["msg"].removeprefix("Value error, ")
            raise HarnessError(f"task {task.name!r}: {message}", field=dotted) from None

    def sequences_per_example(self) -> int:
        """Encoder sequences one training example costs (the compute estimate reads it)."""
        return 1


class LabelFrom(KindParams):
    """Declared reshaping of a source's label column (``harness.training.multitask.prepare_rows``)."""

    label_from: str | None = None
    label_letters: str = ""


class ClassificationParams(LabelFrom):
    pass


class MultipleChoiceParams(LabelFrom):
    question_from: str | list[str] | None = None
    choices_from: str | list[str] | None = None
    n_choices: StrictInt = Field(4, ge=2)

    def sequences_per_example(self) -> int:
        return self.n_choices


class TaggingParams(KindParams):
    window_stride_words: StrictInt = Field(0, ge=0)
    labels_from_train: StrictBool = False


class QAParams(KindParams):
    doc_stride: StrictInt = Field(128, ge=1)
    max_query_length: StrictInt = Field(64, ge=1)
    n_best: StrictInt = Field(20, ge=1)
    max_answer_length: StrictInt = Field(30, ge=1)
    metric_style: Literal["squad", "mlqa"] = "squad"
    language: str | None = None


class RetrievalParams(KindParams):
    layer: StrictInt | Literal["xtreme"] = -1
    pooling: Literal["mean", "cls"] = "mean"
    prefix: str = ""


class MiningParams(RetrievalParams):
    k: StrictInt = Field(4, ge=1)
    chunk: StrictInt = Field(4096, ge=1)
    unify: StrictBool = True
    threshold_split: str = "dev"

    @field_validator("threshold_split")
    @classmethod
    def _not_the_scored_split(cls, value: str) -> str:
        if value == "test":
            raise ValueError("the mining threshold must not be chosen on 'test'")
        return value


class MaskedLMParams(KindParams):
    mlm_probability: StrictFloat = Field(0.15, gt=0, lt=1)
