"""Masked language modelling on unlabelled text: the paper's multilingual-MLM intermediate objective.

Rows have one column, ``text``. Training masks ``params.mlm_probability`` (default 0.15) of the
non-special tokens of every batch — 80 % become the mask token, 10 % a random token, 10 % stay — as
BERT and XLM-R were pretrained; the masks are drawn from torch's global generator, so a seeded run is
repeatable. Scoring masks each row with a generator seeded from its id (the same positions on every
run and for every checkpoint) and reports masked-token accuracy, averaged over rows.

It is an intermediate objective: mixed into a multi-task condition it keeps the body multilingual while
the supervised tasks train; only the encoder body is kept afterwards, the LM head is discarded.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import datasets
import numpy as np
import torch
from transformers import AutoModelForMaskedLM

from harness.catalogue.schema import TaskSpec
from harness.errors import HarnessError
from harness.kinds.base import (
    Baseline,
    BaselineInputs,
    Collate,
    PredictInputs,
    Prediction,
    TaskKind,
    autocast,
)
from harness.kinds.params import MaskedLMParams
from harness.kinds.registry import kind_params
from harness.models.loading import from_pretrained

IGNORE_INDEX = -100


def mlm_probability(task: TaskSpec) -> float:
    return kind_params(task).mlm_probability


def mask_tokens(
    input_ids: torch.Tensor,
    maskable: torch.Tensor,
    *,
    probability: float,
    mask_id: int,
    vocab_size: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's 80/10/10 masking of the ``maskable`` positions; returns (inputs, labels). Every row with a
    maskable token gets at least one masked position, so no row is silently unscored."""
    labels = input_ids.clone()
    draw = torch.rand(input_ids.shape, generator=generator)
    chosen = (draw < probability) & maskable
    for row in range(input_ids.shape[0]):  # a short row may draw nothing: mask its likeliest position
        if maskable[row].any() and not chosen[row].any():
            chosen[row, int(torch.where(maskable[row], draw[row], torch.inf).argmin())] = True
    labels[~chosen] = IGNORE_INDEX
    inputs = input_ids.clone()
    action = torch.rand(input_ids.shape, generator=generator)
    inputs[chosen & (action < 0.8)] = mask_id
    randomise = chosen & (action >= 0.8) & (action < 0.9)
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
    inputs[randomise] = random_ids[randomise]
    return inputs, labels


def _pad(items: list[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(item["input_ids"]) for item in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(items), width), dtype=torch.long)
    special = torch.ones((len(items), width), dtype=torch.bool)
    for i, item in enumerate(items):
        n = len(item["input_ids"])
        ids[i, :n] = torch.tensor(item["input_ids"])
        attention[i, :n] = 1
        special[i, :n] = torch.tensor(item["special_tokens_mask"], dtype=torch.bool)
    return {"input_ids": ids, "attention_mask": attention, "maskable": ~special}


def _row_generator(row_id: str) -> torch.Generator:
    seed = int.from_bytes(hashlib.sha256(str(row_id).encode()).digest()[:8], "little") % (2**63)
    return torch.Generator().manual_seed(seed)


class MaskedLM(TaskKind):
    name = "masked_lm"
    trains = True

    def load_model(self, source: str, task: TaskSpec, **load_kwargs: Any) -> torch.nn.Module:
        return from_pretrained(AutoModelForMaskedLM, source, **load_kwargs)

    def features(
        self, rows: datasets.Dataset, tokenizer: Any, task: TaskSpec, max_length: int
    ) -> datasets.Dataset:
        texts = [str(t) for t in rows["text"]]
        enc = dict(tokenizer(texts, truncation=True, max_length=max_length, return_special_tokens_mask=True))
        keep = {k: enc[k] for k in ("input_ids", "special_tokens_mask")}
        keep["length"] = [len(ids) for ids in enc["input_ids"]]
        return datasets.Dataset.from_dict(keep)

    def collator(self, tokenizer: Any, task: TaskSpec | None = None) -> Collate:
        probability = mlm_probability(task) if task is not None else MaskedLMParams().mlm_probability
        pad_id, mask_id, vocab = tokenizer.pad_token_id, tokenizer.mask_token_id, len(tokenizer)
        if mask_id is None:
            raise HarnessError("masked LM needs a tokenizer with a mask token", field="kind")

        def collate(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
            batch = _pad(items, pad_id)
            inputs, labels = mask_tokens(
                batch["input_ids"],
                batch["maskable"],
                probability=probability,
                mask_id=mask_id,
                vocab_size=vocab,
            )
            return {"input_ids": inputs, "attention_mask": batch["attention_mask"], "labels": labels}

        return collate

    def outputs(
        self, model: torch.nn.Module, inputs: PredictInputs, batch_size: int, precision: str
    ) -> list[tuple[list[int], list[int]]]:
        """(predicted, gold) ids at each row's masked positions, in row order. Rows go in their own
        order, not length-sorted: a row's masks are drawn over its batch's padded width."""
        probability = mlm_probability(inputs.task)
        tokenizer = inputs.tokenizer
        model.eval()
        items = inputs.features.select_columns(["input_ids", "special_tokens_mask"]).to_list()
        out: list[tuple[list[int], list[int]]] = []
        with torch.inference_mode(), autocast(precision, inputs.device.type):
            for start in range(0, len(items), batch_size):
                chunk = items[start : start + batch_size]
                ids_of = inputs.rows["id"][start : start + batch_size]
                batch = _pad(chunk, tokenizer.pad_token_id)
                masked_rows, gold_rows = [], []
                for row in range(len(chunk)):
                    masked, gold = mask_tokens(
                        batch["input_ids"][row : row + 1],
                        batch["maskable"][row : row + 1],
                        probability=probability,
                        mask_id=tokenizer.mask_token_id,
                        vocab_size=len(tokenizer),
                        generator=_row_generator(ids_of[row]),
                    )
                    masked_rows.append(masked)
                    gold_rows.append(gold)
                logits = model(
                    input_ids=torch.cat(masked_rows).to(inputs.device),
                    attention_mask=batch["attention_mask"].to(inputs.device),
                ).logits
                predicted = logits.argmax(-1).cpu()
                golds = torch.cat(gold_rows)
                for row in range(len(chunk)):
                    positions = golds[row] != IGNORE_INDEX
                    out.append((predicted[row][positions].tolist(), golds[row][positions].tolist()))
        return out

    def decode(self, outputs: list[tuple[list[int], list[int]]], inputs: PredictInputs) -> list[Prediction]:
        out = []
        for row_id, (guess, gold) in zip(inputs.rows["id"], outputs, strict=True):
            hits = sum(g == p for g, p in zip(gold, guess, strict=True))
            correct = hits / len(gold) if gold else 0.0
            out.append(Prediction(str(row_id), guess, gold, float(correct), {"n_masked": len(gold)}))
        return out

    def trivial(self, inputs: BaselineInputs) -> Baseline:
        """Always guess the most frequent training word (word level: the kind has no tokenizer here)."""
        source = inputs.fit_rows
        counts = Counter(word for text in source["text"] for word in str(text).split())
        if not counts:
            return Baseline("most frequent word", {"accuracy": 0.0})
        top = min(counts, key=lambda w: (-counts[w], w))
        shares = [
            float(np.mean([w == top for w in words])) if words else 0.0
            for words in (str(t).split() for t in inputs.eval_rows["text"])
        ]
        return Baseline("most frequent word", {"accuracy": float(np.mean(shares)) if shares else 0.0})


KIND = MaskedLM()
