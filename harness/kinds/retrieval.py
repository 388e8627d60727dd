"""Parallel sentence retrieval xx→en (Tatoeba-style): pooled hidden states, cosine nearest neighbour.

Parameters (task ``params``, recorded on every result): ``layer`` (hidden-state index; -1 = last,
0 = embeddings; ``xtreme`` = the layer XTREME's scripts read for the encoder's depth, see
``harness.catalogue.protocol``), ``pooling`` (``mean`` over the attention mask, or ``cls``), ``prefix`` (text put before
every sentence, e.g. ``"query: "`` for e5 models; default none, as in XTREME).
"""

from __future__ import annotations

from typing import Any

import datasets
import numpy as np
import torch
from transformers import AutoModel

from harness.catalogue.protocol import hidden_state_index
from harness.catalogue.schema import TaskSpec
from harness.errors import HarnessError
from harness.kinds.base import (
    Baseline,
    BaselineInputs,
    Forward,
    PredictInputs,
    Prediction,
    TaskKind,
)
from harness.kinds.params import RetrievalParams
from harness.kinds.registry import kind_params
from harness.models.loading import from_pretrained


def retrieval_params(task: TaskSpec) -> RetrievalParams:
    """The task's embedding parameters (a mining task's too: ``MiningParams`` extends them)."""
    return kind_params(task)


def encoder_depth(model: torch.nn.Module) -> int:
    config = model.config
    depth = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layers", None)
    if not isinstance(depth, int):
        raise HarnessError(f"{type(model).__name__}: the config names no layer count", field="params.layer")
    return depth


def resolved_layer(task: TaskSpec, model: torch.nn.Module) -> int:
    """The hidden-state index ``params.layer`` means for this model (``xtreme``: by its depth)."""
    layer = retrieval_params(task).layer
    return layer if isinstance(layer, int) else hidden_state_index(task.kind, encoder_depth(model))


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    if pooling == "cls":
        return hidden[:, 0]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def nearest_neighbours(queries: np.ndarray, keys: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Index of the most cosine-similar key for every query, in bounded memory (chunks of queries)."""
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    k = keys / np.maximum(np.linalg.norm(keys, axis=1, keepdims=True), 1e-12)
    best = np.empty(len(q), dtype=np.int64)
    for start in range(0, len(q), chunk):
        best[start : start + chunk] = np.argmax(q[start : start + chunk] @ k.T, axis=1)
    return best


class Retrieval(TaskKind):
    name = "retrieval"
    trains = False

    def load_model(self, source: str, task: TaskSpec, **load_kwargs: Any) -> torch.nn.Module:
        return from_pretrained(AutoModel, source, **load_kwargs)

    def features(
        self, rows: datasets.Dataset, tokenizer: Any, task: TaskSpec, max_length: int
    ) -> datasets.Dataset:
        prefix = retrieval_params(task).prefix
        texts = [prefix + s for s in rows["source"]] + [prefix + t for t in rows["target"]]
        return sentence_features(texts, tokenizer, max_length)

    def forward(self, model: torch.nn.Module, task: TaskSpec) -> Forward:
        """Pooled hidden states of ``params.layer``."""
        pooling = retrieval_params(task).pooling
        layer = resolved_layer(task, model)

        def embed(m: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            if layer == -1:  # the last layer's output: no need to keep every layer's
                hidden = m(**batch).last_hidden_state
            else:
                hidden = m(**batch, output_hidden_states=True).hidden_states[layer]
            return pool(hidden, batch["attention_mask"], pooling)

        return embed

    def decode(self, outputs: list[np.ndarray], inputs: PredictInputs) -> list[Prediction]:
        vectors = np.stack(outputs)
        n = len(inputs.rows)
        best = nearest_neighbours(vectors[:n], vectors[n:])
        return [
            Prediction(row_id, int(b), i, float(b == i))
            for i, (row_id, b) in enumerate(zip(inputs.rows["id"], best, strict=True))
        ]

    def trivial(self, inputs: BaselineInputs) -> Baseline:
        return Baseline("random candidate", {"accuracy": 1.0 / max(1, len(inputs.eval_rows))})


def sentence_features(texts: list[str], tokenizer: Any, max_length: int) -> datasets.Dataset:
    enc = tokenizer(texts, truncation=True, max_length=max_length)
    return datasets.Dataset.from_dict(
        {
            "input_ids": enc["input_ids"],
            "attention_mask": enc["attention_mask"],
            "length": [len(ids) for ids in enc["input_ids"]],
        }
    )


KIND = Retrieval()
