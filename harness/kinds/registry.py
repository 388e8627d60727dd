"""Every task kind, declared once. Light on purpose: the catalogue validates against it without torch.

A declaration (``KindInfo``) says what the rest of the harness needs to know about a kind without
running it: the columns its rows need, the column holding names from the task's label list, whether it
is fine-tuned, the metrics its ``score`` returns, the typed ``params`` a task of the kind may set
(checked when the catalogue loads) and how its predictions reduce to per-example statistics (for
example-level intervals). The implementation (features, head, prediction, metric, baseline: the
``TaskKind`` protocol of ``harness.kinds.base``) lives in ``module`` and is imported only when a kind
runs. Adding a kind is that module plus one ``KindInfo`` line below, or ``register_kind`` from outside
the package (see docs/adding-a-kind.md).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.kinds import params as p
from harness.kinds import statistics as s

if TYPE_CHECKING:
    from harness.catalogue.schema import TaskSpec
    from harness.kinds.base import TaskKind


@dataclass(frozen=True)
class KindInfo:
    name: str
    module: str  # where ``KIND``, the implementation, lives
    required_columns: tuple[str, ...]
    trains: bool
    description: str
    metrics: tuple[str, ...] = ("accuracy",)  # the keys its ``score`` returns: allowed main_metric/metrics
    example_stats: s.Reducer | None = s.accuracy_stats  # None: only seed-level intervals
    params: type[p.KindParams] = p.KindParams
    # The column whose values are names from the task's label list (None: the kind has no label list);
    # ``label_per_token``: that column holds one label per word (a list per row).
    label_column: str | None = None
    label_per_token: bool = False

    @property
    def needs_labels(self) -> bool:
        return self.label_column is not None


KINDS: dict[str, KindInfo] = {}
_IMPLEMENTATIONS: dict[str, TaskKind] = {}


def register_kind(info: KindInfo, implementation: TaskKind | None = None) -> None:
    """Declare a kind. ``implementation`` (a ``TaskKind``) is used as it is instead of ``info.module``'s
    ``KIND``, for kinds defined outside an importable module (a test's toy kind)."""
    if info.name in KINDS:
        raise HarnessError(f"task kind {info.name!r} is already registered", field="kind")
    KINDS[info.name] = info
    if implementation is not None:
        _IMPLEMENTATIONS[info.name] = implementation


def unregister_kind(name: str) -> None:
    KINDS.pop(name, None)
    _IMPLEMENTATIONS.pop(name, None)


for _info in (
    KindInfo(
        "classification",
        "harness.kinds.classification",
        ("text", "label"),
        trains=True,
        description="sequence or sequence-pair classification (columns text[, text_pair], label)",
        params=p.ClassificationParams,
        label_column="label",
    ),
    KindInfo(
        "multiple_choice",
        "harness.kinds.multiple_choice",
        ("question", "choices", "label"),
        trains=True,
        description="one question, N choices, one correct (columns question, choices, label)",
        params=p.MultipleChoiceParams,
    ),
    KindInfo(
        "tagging",
        "harness.kinds.tagging",
        ("tokens", "tags"),
        trains=True,
        description="token tagging, first sub-token labelled, long sentences windowed (columns tokens, tags)",
        metrics=("f1", "precision", "recall", "accuracy"),
        example_stats=s.tagging_stats,
        params=p.TaggingParams,
        label_column="tags",
        label_per_token=True,
    ),
    KindInfo(
        "extractive_qa",
        "harness.kinds.extractive_qa",
        ("context", "question", "answers"),
        trains=True,
        description="extractive QA over doc-stride windows, n-best spans (columns context, question, answers)",
        metrics=("exact_match", "f1", "em_f1_mean"),
        example_stats=s.qa_stats,
        params=p.QAParams,
    ),
    KindInfo(
        "mining",
        "harness.kinds.mining",
        ("source", "target"),
        trains=False,
        description="bitext mining (BUCC): ratio-margin scores, threshold chosen on gold dev pairs",
        metrics=("f1", "precision", "recall"),
        example_stats=s.pair_stats,
        params=p.MiningParams,
    ),
    KindInfo(
        "masked_lm",
        "harness.kinds.masked_lm",
        ("text",),
        trains=True,
        description="masked-LM on unlabelled text (column text): an intermediate objective, masked-token accuracy",
        # accuracy_stats would reduce it exactly; left off so intermediate dev diagnostics stay as they were
        example_stats=None,
        params=p.MaskedLMParams,
    ),
    KindInfo(
        "retrieval",
        "harness.kinds.retrieval",
        ("source", "target"),
        trains=False,
        description="parallel sentence retrieval xx→en by pooled hidden states (columns source, target)",
        params=p.RetrievalParams,
    ),
):
    register_kind(_info)


def kind_info(name: str) -> KindInfo:
    try:
        return KINDS[name]
    except KeyError:
        raise HarnessError(f"unknown task kind {name!r}", field="kind", allowed=sorted(KINDS)) from None


def get_kind(name: str) -> TaskKind:
    """The kind's implementation (imports torch and transformers)."""
    info = kind_info(name)
    if name in _IMPLEMENTATIONS:
        return _IMPLEMENTATIONS[name]
    return importlib.import_module(info.module).KIND


def kind_params(task: TaskSpec) -> Any:
    """The task's ``params`` as its kind's typed model, defaults filled in (``KindParams.from_task``)."""
    return kind_info(task.kind).params.from_task(task)
