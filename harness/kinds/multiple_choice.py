"""Multiple choice (MMLU-style, CommonsenseQA, CosmosQA): one question, N choices, accuracy."""

from __future__ import annotations

from typing import Any

import datasets
import numpy as np
import torch
from transformers import AutoModelForMultipleChoice

from harness.catalogue.schema import TaskSpec
from harness.errors import HarnessError
from harness.kinds.base import Baseline, BaselineInputs, Collate, PredictInputs, Prediction, TaskKind
from harness.models.loading import from_pretrained


class MultipleChoice(TaskKind):
    name = "multiple_choice"
    trains = True

    def load_model(self, source: str, task: TaskSpec, **load_kwargs: Any) -> torch.nn.Module:
        return from_pretrained(
            AutoModelForMultipleChoice, source, ignore_mismatched_sizes=True, **load_kwargs
        )

    def features(
        self, rows: datasets.Dataset, tokenizer: Any, task: TaskSpec, max_length: int
    ) -> datasets.Dataset:
        def encode(batch: dict[str, list]) -> dict[str, list]:
            out: dict[str, list] = {"input_ids": [], "attention_mask": [], "labels": [], "length": []}
            for question, choices, label in zip(
                batch["question"], batch["choices"], batch["label"], strict=True
            ):
                if not choices:
                    raise HarnessError(f"task {task.name!r}: an item has no choices", field="columns.choices")
                enc = tokenizer(
                    [question] * len(choices), list(choices), truncation=True, max_length=max_length
                )
                label = int(label)
                if not 0 <= label < len(choices):
                    raise HarnessError(
                        f"task {task.name!r}: label {label} outside the {len(choices)} choices"
                    )
                out["input_ids"].append(enc["input_ids"])
                out["attention_mask"].append(enc["attention_mask"])
                out["labels"].append(label)
                out["length"].append(max(len(ids) for ids in enc["input_ids"]) * len(choices))
            return out

        return rows.map(encode, batched=True, remove_columns=rows.column_names, desc=f"tokenise {task.name}")

    def collator(self, tokenizer: Any, task: TaskSpec | None = None) -> Collate:
        pad_id = tokenizer.pad_token_id

        def collate(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
            width = max(len(ids) for item in items for ids in item["input_ids"])
            n_choices = max(len(item["input_ids"]) for item in items)
            ids = torch.full((len(items), n_choices, width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(items), n_choices, width), dtype=torch.long)
            for i, item in enumerate(items):
                for j, (row, row_mask) in enumerate(
                    zip(item["input_ids"], item["attention_mask"], strict=True)
                ):
                    ids[i, j, : len(row)] = torch.tensor(row)
                    mask[i, j, : len(row)] = torch.tensor(row_mask)
            batch = {"input_ids": ids, "attention_mask": mask}
            if "labels" in items[0]:
                batch["labels"] = torch.tensor([item["labels"] for item in items])
            return batch

        return collate

    def inference_batch_size(self, batch_size: int) -> int:
        return max(1, batch_size // 4)  # every example is n_choices sequences

    def decode(self, outputs: list[np.ndarray], inputs: PredictInputs) -> list[Prediction]:
        out = []
        for row_id, gold, row_logits in zip(
            inputs.rows["id"], inputs.features["labels"], outputs, strict=True
        ):
            pred = int(np.argmax(row_logits))
            out.append(Prediction(row_id, pred, int(gold), float(pred == gold)))
        return out

    def trivial(self, inputs: BaselineInputs) -> Baseline:
        """Chance: the expected accuracy of a uniform random choice."""
        chance = float(np.mean([1.0 / max(1, len(c)) for c in inputs.eval_rows["choices"]]))
        return Baseline("random choice", {"accuracy": chance})


KIND = MultipleChoice()
