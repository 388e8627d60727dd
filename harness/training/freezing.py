"""Which parameters stay frozen during training (a CPU budget lever; recorded on every result).

``freeze_embeddings`` freezes the word-embedding matrix (most of a multilingual encoder's parameters).
``freeze_layers: N`` freezes the whole embedding block and the first N transformer layers, so autograd
stops at layer N: the backward pass (about two thirds of a training step's cost) runs through the top
layers only.
"""

from __future__ import annotations

from typing import Any

import torch

from harness.catalogue.schema import Hyperparameters
from harness.errors import HarnessError


def encoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The encoder's stack of transformer layers (BERT/XLM-R ``encoder.layer``, DistilBERT
    ``transformer.layer``, …): the ModuleList whose length is the configured number of layers."""
    expected = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    body = getattr(model, "base_model", model)
    for module in body.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == expected:
            return module
    raise HarnessError(
        f"freeze_layers: cannot find the transformer layers of {type(model).__name__} "
        f"(looked for a layer list of length config.num_hidden_layers={expected})"
    )


def apply_freezing(model: torch.nn.Module, hp: Hyperparameters) -> None:
    if hp.freeze_embeddings or hp.freeze_layers:
        hf: Any = model  # a transformers model: get_input_embeddings is not nn.Module's
        hf.get_input_embeddings().weight.requires_grad_(False)
    if not hp.freeze_layers:
        return
    layers = encoder_layers(model)
    if hp.freeze_layers > len(layers):
        raise HarnessError(f"freeze_layers: {hp.freeze_layers} is more than the model's {len(layers)} layers")
    embeddings = getattr(getattr(model, "base_model", model), "embeddings", None)
    frozen = [embeddings] if isinstance(embeddings, torch.nn.Module) else []
    for module in [*frozen, *layers[: hp.freeze_layers]]:
        for parameter in module.parameters():
            parameter.requires_grad_(False)
