"""Sequence and sequence-pair classification (SIB-200, PAWS-X, XNLI): accuracy."""

from __future__ import annotations

from collections import Counter
from typing import Any

import datasets
import numpy as np
import torch
from transformers import AutoModelForSequenceClassification

from harness.catalogue.schema import TaskSpec
from harness.errors import HarnessError
from harness.kinds.base import (
    Baseline,
    BaselineInputs,
    PredictInputs,
    Prediction,
    TaskKind,
)
from harness.models.loading import from_pretrained_with_labels


def label_index(task: TaskSpec, value: Any) -> int:
    """A gold label as an index into ``task.labels``; names and in-range integers are accepted."""
    labels = task.labels or []
    text = str(value).strip()
    if text in labels:
        return labels.index(text)
    if text.lstrip("-").isdigit() and 0 <= int(text) < len(labels) and text not in labels:
        return int(text)
    raise HarnessError(
        f"task {task.name!r}: label {value!r} is not in the label list", field="labels", allowed=labels
    )


class Classification(TaskKind):
    name = "classification"
    trains = True

    def load_model(self, source: str, task: TaskSpec, **load_kwargs: Any) -> torch.nn.Module:
        return from_pretrained_with_labels(
            AutoModelForSequenceClassification, source, task.labels or [], **load_kwargs
        )

    def features(
        self, rows: datasets.Dataset, tokenizer: Any, task: TaskSpec, max_length: int
    ) -> datasets.Dataset:
        # One tokenizer call over plain lists: ``Dataset.map`` would hash the tokenizer closure (slow).
        pair = list(rows["text_pair"]) if "text_pair" in rows.column_names else None
        enc = dict(tokenizer(list(rows["text"]), pair, truncation=True, max_length=max_length))
        enc["labels"] = [label_index(task, value) for value in rows["label"]]
        enc["length"] = [len(ids) for ids in enc["input_ids"]]
        return datasets.Dataset.from_dict(enc)

    def decode(self, outputs: list[np.ndarray], inputs: PredictInputs) -> list[Prediction]:
        labels = inputs.task.labels or []
        out = []
        for row_id, gold, row_logits in zip(
            inputs.rows["id"], inputs.features["labels"], outputs, strict=True
        ):
            pred = int(np.argmax(row_logits))
            out.append(Prediction(row_id, labels[pred], labels[gold], float(pred == gold)))
        return out

    def trivial(self, inputs: BaselineInputs) -> Baseline:
        """Always predict the most frequent training label."""
        source = inputs.fit_rows
        counts = Counter(label_index(inputs.task, v) for v in source["label"])
        majority = min(counts, key=lambda k: (-counts[k], k))
        gold = [label_index(inputs.task, v) for v in inputs.eval_rows["label"]]
        return Baseline("majority label", {"accuracy": float(np.mean([g == majority for g in gold]))})


KIND = Classification()
