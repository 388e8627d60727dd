"""freeze_layers: the embedding block and the first N layers get no gradient and do not change."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from harness.catalogue.schema import Hyperparameters
from harness.errors import HarnessError
from harness.training.freezing import apply_freezing, encoder_layers
from tests.tiny_fixtures import build_tiny_model


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def _model(folder: Path) -> torch.nn.Module:
    return AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3)


def test_frozen_prefix_gets_no_gradient_and_the_rest_trains(tiny_model_dir: Path) -> None:
    model = _model(tiny_model_dir)
    apply_freezing(model, Hyperparameters(freeze_layers=1))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimiser = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    batch = {"input_ids": torch.tensor([[2, 5, 6, 7, 3], [2, 8, 9, 3, 0]]), "labels": torch.tensor([0, 2])}
    batch["attention_mask"] = (batch["input_ids"] != 0).long()
    model(**batch).loss.backward()
    optimiser.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed, "nothing trained"
    assert not any(n.startswith("bert.embeddings.") for n in changed)
    assert not any(n.startswith("bert.encoder.layer.0.") for n in changed)
    assert any(n.startswith("bert.encoder.layer.1.") for n in changed)
    assert any(n.startswith("classifier.") for n in changed)


def test_embeddings_only_freezes_just_the_word_matrix(tiny_model_dir: Path) -> None:
    model = _model(tiny_model_dir)
    apply_freezing(model, Hyperparameters(freeze_embeddings=True))
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"bert.embeddings.word_embeddings.weight"}


def test_layer_list_is_found_and_too_many_layers_is_an_error(tiny_model_dir: Path) -> None:
    model = _model(tiny_model_dir)
    assert len(encoder_layers(model)) == 2
    with pytest.raises(HarnessError, match="freeze_layers: 3 is more than the model's 2 layers"):
        apply_freezing(model, Hyperparameters(freeze_layers=3))
