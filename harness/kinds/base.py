"""What every task kind provides, and the batched inference loop they share.

A kind owns the whole way of its task: rows → features → (head, training collator) → predictions →
metric. The runner only calls ``TaskKind``'s methods; adding a kind is one module (a ``TaskKind``
subclass) plus a registry line (``harness.kinds.registry``). ``TaskKind.predict`` is the shared
prediction loop: features through ``batched_forward`` in length-sorted batches, outputs back in
feature order, then the kind's ``decode``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeAlias, cast

import datasets
import numpy as np
import torch
from transformers import DataCollatorWithPadding

from harness.catalogue.schema import TaskSpec
from harness.errors import HarnessError
from harness.models.precision import autocast as precision_autocast
from harness.models.precision import require_resolved


@dataclass
class Prediction:
    """One scored example, as stored in the per-example predictions file."""

    id: str
    prediction: Any
    label: Any
    correct: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = {"id": self.id, "prediction": self.prediction, "label": self.label, "correct": self.correct}
        out.update(self.extra)
        return out


@dataclass
class Baseline:
    name: str
    scores: dict[str, float]


Rows: TypeAlias = datasets.Dataset
Collate = Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]]
Forward = Callable[[torch.nn.Module, dict[str, torch.Tensor]], torch.Tensor]


@dataclass(frozen=True)
class PredictInputs:
    """What ``predict`` was given, as a kind's ``decode`` sees it."""

    features: Rows
    rows: Rows
    task: TaskSpec
    tokenizer: Any
    language: str | None
    device: torch.device


@dataclass(frozen=True)
class BaselineInputs:
    """What ``baseline`` was given, as a kind's ``trivial`` sees it: the rows to score, the training rows
    when the job has them (else None) and the rows' language."""

    train_rows: Rows | None
    eval_rows: Rows
    task: TaskSpec
    language: str | None

    @property
    def fit_rows(self) -> Rows:
        """The rows a trivial predictor is fitted on: the training rows, else the scored rows."""
        return self.train_rows if self.train_rows is not None else self.eval_rows


def padding_collator(tokenizer: Any, drop: Iterable[str] = ("length",)) -> Collate:
    """Pads the model inputs of a batch with the tokenizer's padding; ``drop`` names bookkeeping columns."""
    pad = DataCollatorWithPadding(tokenizer)
    dropped = frozenset(drop)
    return lambda items: pad([{k: v for k, v in item.items() if k not in dropped} for item in items])


def logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return model(**batch).logits


class TaskKind:
    """What the runner calls, and the prediction loop every kind shares; a kind supplies what differs.

    Every kind provides ``load_model``, ``features``, ``decode`` and ``trivial`` (its baseline), and
    where it differs from the default ``collator`` (pad the model inputs), ``forward`` (the head's
    logits), ``inference_collator``, ``inference_batch_size`` and ``score`` (accuracy, the mean of
    ``correct``). ``predict`` runs the features through the model (``outputs``: ``batched_forward``,
    length-sorted batches, outputs back in feature order) and hands them to ``decode``; a kind whose loop
    is not one forward pass overrides ``outputs`` (masked LM). ``language`` is the ISO code of the rows
    being predicted or scored; kinds whose metric depends on it (MLQA's answer normalisation) use it.
    """

    name: str
    trains: bool

    def load_model(self, source: str, task: TaskSpec, **load_kwargs: Any) -> torch.nn.Module:
        raise NotImplementedError

    def features(self, rows: Rows, tokenizer: Any, task: TaskSpec, max_length: int) -> Rows:
        raise NotImplementedError

    def collator(self, tokenizer: Any, task: TaskSpec | None = None) -> Collate:
        """The training (and default inference) collator."""
        return padding_collator(tokenizer)

    def forward(self, model: torch.nn.Module, task: TaskSpec) -> Forward:
        """The function from a batch to its outputs."""
        return logits

    def inference_collator(self, tokenizer: Any, task: TaskSpec) -> Collate:
        return self.collator(tokenizer, task)

    def inference_batch_size(self, batch_size: int) -> int:
        return batch_size

    def outputs(
        self, model: torch.nn.Module, inputs: PredictInputs, batch_size: int, precision: str
    ) -> list[Any]:
        return batched_forward(
            model,
            inputs.features,
            self.inference_collator(inputs.tokenizer, inputs.task),
            self.forward(model, inputs.task),
            batch_size=self.inference_batch_size(batch_size),
            precision=precision,
        )

    def decode(self, outputs: list[Any], inputs: PredictInputs) -> list[Prediction]:
        """One prediction per row of ``inputs.rows`` from the per-feature ``outputs``."""
        raise NotImplementedError

    def predict(
        self,
        model: torch.nn.Module,
        features: Rows,
        rows: Rows,
        task: TaskSpec,
        tokenizer: Any,
        batch_size: int,
        precision: str,
        language: str | None = None,
    ) -> list[Prediction]:
        inputs = PredictInputs(features, rows, task, tokenizer, language, model_device(model))
        return self.decode(self.outputs(model, inputs, batch_size, precision), inputs)

    def score(self, predictions: Sequence[Prediction], task: TaskSpec) -> dict[str, float]:
        return {"accuracy": accuracy(predictions)}

    def trivial(self, inputs: BaselineInputs) -> Baseline:
        """The scores of a trivial predictor (majority label, chance, ...) on ``inputs.eval_rows``."""
        raise NotImplementedError

    def baseline(
        self, train_rows: Rows | None, eval_rows: Rows, task: TaskSpec, language: str | None = None
    ) -> Baseline:
        return self.trivial(BaselineInputs(train_rows, eval_rows, task, language))


def autocast(precision: str, device_type: str | None = None) -> Any:
    """The resolved precision's autocast on ``device_type`` (default: CUDA when there is one, else CPU)."""
    if device_type is None:
        device_type = "cuda" if torch.cuda.is_available() else "cpu"
    return precision_autocast(precision, device_type)


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def length_bucketed_batches(
    lengths: Sequence[int], batch_size: int, token_budget: int | None = None, max_padding: float = 0.1
) -> list[list[int]]:
    """Indices sorted by length (longest first) and cut into batches, so padding is small.

    A batch closes when it has ``batch_size`` rows, when (rows × longest row) would pass
    ``token_budget``, or when the next row is more than ``max_padding`` shorter than the longest one
    (on a CPU a padded token costs as much as a real one).
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = lengths[current[0]] if current else lengths[index]
        too_many = len(current) >= batch_size
        too_wide = token_budget is not None and bool(current) and (len(current) + 1) * longest > token_budget
        too_ragged = bool(current) and lengths[index] < (1 - max_padding) * longest
        if too_many or too_wide or too_ragged:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


WORKERS_ENV = "HARNESS_EVAL_WORKERS"
ALLOWED_WORKERS = ["a whole number ≥ 1 (1: one batch at a time)"]


def eval_workers(device: torch.device, requested: int | None = None) -> int:
    """How many batches run at once: ``requested``, else ``$HARNESS_EVAL_WORKERS``, else torch's threads.

    Only a CPU runs batches side by side (a GPU keeps one stream of batches); 1 means sequential.
    """
    if device.type != "cpu":
        return 1
    if requested is None:
        raw = os.environ.get(WORKERS_ENV, "").strip()
        if not raw:
            return torch.get_num_threads()
        if not raw.isdigit() or int(raw) < 1:
            raise HarnessError(
                f"{raw!r} is not a number of workers", field=WORKERS_ENV, allowed=ALLOWED_WORKERS
            )
        requested = int(raw)
    if requested < 1:
        raise HarnessError(
            f"{requested} is not a number of workers", field="workers", allowed=ALLOWED_WORKERS
        )
    return requested


@contextmanager
def single_threaded_ops() -> Iterator[None]:
    """Every op runs on one thread while inside; torch's thread count is restored after, even on errors.

    ``torch.set_num_threads`` is process-wide: threads that start an op inside pick up 1 (ATen reads the
    global count once per thread), the caller's own setting comes back on exit.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def batched_forward(
    model: torch.nn.Module,
    features: datasets.Dataset,
    collate: Collate,
    forward: Forward,
    *,
    batch_size: int,
    precision: str = "fp32",
    length_column: str = "length",
    progress: Callable[[int], None] | None = None,
    token_budget: int | None = None,
    max_padding: float = 0.1,
    workers: int | None = None,
) -> list[np.ndarray]:
    """Run ``forward`` over length-sorted, dynamically padded batches; outputs come back in row order.

    On a CPU with ``workers`` > 1 (default: ``$HARNESS_EVAL_WORKERS``, else ``torch.get_num_threads()``)
    the batches run on that many Python threads at once, each op single-threaded: for encoder-sized
    matrices, one batch per core beats splitting every matmul across cores (ATen releases the GIL).
    The batches and their contents are the same either way; only float summation order inside BLAS
    may differ. ``progress`` is called from the calling thread, once per batch, with its row count.
    """
    require_resolved(precision)  # before any batch: "auto" here is a planner bug
    model.eval()
    device = model_device(model)
    lengths = features[length_column]
    columns = [c for c in features.column_names if c != length_column]
    rows = features.select_columns(columns).to_list()
    outputs: list[np.ndarray | None] = [None] * len(rows)
    budget = token_budget if token_budget is not None else batch_size * 32
    batches = length_bucketed_batches(lengths, batch_size, budget, max_padding)

    def run(batch_indices: list[int]) -> np.ndarray:
        # inference_mode and autocast are per-thread state: each worker enters its own.
        with torch.inference_mode(), autocast(precision, device.type):
            batch = collate([rows[i] for i in batch_indices])
            batch = {k: v.to(device) for k, v in batch.items() if k != "labels"}
            return forward(model, batch).float().cpu().numpy()

    def store(batch_indices: list[int], result: np.ndarray) -> None:
        for position, index in enumerate(batch_indices):
            outputs[index] = result[position]
        if progress is not None:
            progress(len(batch_indices))

    threads = min(eval_workers(device, workers), len(batches))
    if threads <= 1:
        for batch_indices in batches:
            store(batch_indices, run(batch_indices))
        return _filled(outputs)
    # Costliest batches first, so the last ones to finish are small and no worker idles long at the end.
    by_cost = sorted(batches, key=lambda b: -len(b) * max(lengths[i] for i in b))
    with (
        single_threaded_ops(),
        ThreadPoolExecutor(
            threads, thread_name_prefix="batched-forward", initializer=torch.set_num_threads, initargs=(1,)
        ) as pool,
    ):
        pending = {pool.submit(run, batch_indices): batch_indices for batch_indices in by_cost}
        try:
            for done in as_completed(pending):
                store(pending[done], done.result())
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return _filled(outputs)


def _filled(outputs: list[np.ndarray | None]) -> list[np.ndarray]:
    """The outputs once every batch has stored its rows (the batches cover every row exactly once)."""
    return cast(list[np.ndarray], outputs)


def accuracy(predictions: Sequence[Prediction]) -> float:
    return float(np.mean([p.correct for p in predictions])) if predictions else 0.0
