"""Sequence and sequence-pair classification (SIB-200, PAWS-X, XNLI): accuracy."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import datasets
import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding

from harness.catalogue.schema import TaskSpec
from harness.errors import HarnessError
from harness.kinds.base import Baseline, Prediction, accuracy, batched_forward
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


class Classification:
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

    def collator(self, tokenizer: Any) -> Any:
        pad = DataCollatorWithPadding(tokenizer)
        return lambda items: pad([{k: v for k, v in item.items() if k != "length"} for item in items])

    def predict(
        self,
        model: torch.nn.Module,
        features: datasets.Dataset,
        rows: datasets.Dataset,
        task: TaskSpec,
        tokenizer: Any,
        batch_size: int,
        precision: str,
        language: str | None = None,
    ) -> list[Prediction]:
        logits = batched_forward(
            model,
            features,
            self.collator(tokenizer),
            lambda m, b: m(**b).logits,
            batch_size=batch_size,
            precision=precision,
        )
        labels = task.labels or []
        out = []
        for row_id, gold, row_logits in zip(rows["id"], features["labels"], logits, strict=True):
            pred = int(np.argmax(row_logits))
            out.append(Prediction(row_id, labels[pred], labels[gold], float(pred == gold)))
        return out

    def score(self, predictions: Sequence[Prediction], task: TaskSpec) -> dict[str, float]:
        return {"accuracy": accuracy(predictions)}

    def baseline(
        self,
        train_rows: datasets.Dataset | None,
        eval_rows: datasets.Dataset,
        task: TaskSpec,
        language: str | None = None,
    ) -> Baseline:
        """Always predict the most frequent training label."""
        source = train_rows if train_rows is not None else eval_rows
        counts = Counter(label_index(task, v) for v in source["label"])
        majority = min(counts, key=lambda k: (-counts[k], k))
        gold = [label_index(task, v) for v in eval_rows["label"]]
        return Baseline("majority label", {"accuracy": float(np.mean([g == majority for g in gold]))})


KIND = Classification()
