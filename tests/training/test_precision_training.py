"""Mixed precision and gradient accumulation in training: the Trainer path and the multi-task loop."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import datasets
import pytest
import torch
from tiny_fixtures import WORDS
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from harness.catalogue.schema import DatasetSpec, Hyperparameters, TaskSpec
from harness.kinds.base import autocast
from harness.kinds.classification import KIND as CLASSIFICATION
from harness.training.finetune import finetune
from harness.training.multitask import MixtureMember, total_steps, train_multitask
from harness.training.steps import planned_steps

TASK = TaskSpec(
    name="kw",
    kind="classification",
    version=1,
    dataset=DatasetSpec(format="tsv", path="unused"),
    labels=["pos", "neg"],
    languages=["en"],
)


def keyword_rows(n: int, seed: int = 0) -> datasets.Dataset:
    """Learnable rows: "alpha" somewhere in a sentence means pos, "beta" means neg."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        words = [rng.choice(WORDS[:60]) for _ in range(rng.randint(1, 4))]
        key = rng.choice(["alpha", "beta"])
        words.insert(rng.randrange(len(words) + 1), key)
        texts.append(" ".join(words))
        labels.append("pos" if key == "alpha" else "neg")
    return datasets.Dataset.from_dict({"id": [str(i) for i in range(n)], "text": texts, "label": labels})


@pytest.fixture(scope="module")
def tokenizer(tiny_model: Path) -> Any:
    return AutoTokenizer.from_pretrained(tiny_model)


def fresh_model(tiny_model: Path) -> torch.nn.Module:
    """The tiny BERT with a seeded head and no dropout: two runs differ only in what the test varies."""
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(
        tiny_model, num_labels=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )


def gradient_norms(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every pre-clipping gradient norm, one per optimiser step (the Trainer clips through accelerate,
    the multi-task loop through torch)."""
    import accelerate

    norms: list[float] = []

    def recording(owner: Any, name: str) -> None:
        clip = getattr(owner, name)

        def record(*args: Any, **kwargs: Any) -> Any:
            norm = clip(*args, **kwargs)
            norms.append(float(norm))
            return norm

        monkeypatch.setattr(owner, name, record)

    recording(torch.nn.utils, "clip_grad_norm_")
    recording(accelerate.Accelerator, "clip_grad_norm_")
    return norms


def test_planned_steps_count_optimiser_steps_as_the_trainer_does() -> None:
    hp = Hyperparameters(batch_size=4, epochs=3)
    assert planned_steps(64, hp) == 48
    assert planned_steps(64, hp.model_copy(update={"gradient_accumulation_steps": 2})) == 24
    assert planned_steps(65, hp.model_copy(update={"gradient_accumulation_steps": 2})) == 27  # 9 per epoch
    assert planned_steps(64, Hyperparameters(batch_size=8, epochs=1.5)) == 12
    assert planned_steps(64, hp.model_copy(update={"max_steps": 5, "gradient_accumulation_steps": 4})) == 5


def _first_step(
    tiny_model: Path, tokenizer: Any, monkeypatch: pytest.MonkeyPatch, batch_size: int, accumulate: int
) -> tuple[float, float, dict[str, torch.Tensor]]:
    """(logged loss, gradient norm, weights) after one optimiser step of the Trainer path."""
    norms = gradient_norms(monkeypatch)
    model = fresh_model(tiny_model)
    features = CLASSIFICATION.features(keyword_rows(64), tokenizer, TASK, max_length=32)
    hp = Hyperparameters(
        learning_rate=1e-3, batch_size=batch_size, gradient_accumulation_steps=accumulate, max_steps=1,
        warmup_ratio=0.0, weight_decay=0.0,
    )  # fmt: skip
    outcome = finetune(model, features, CLASSIFICATION.collator(tokenizer, TASK), hp, seed=1)
    monkeypatch.undo()
    assert outcome.steps == 1 and outcome.final_loss is not None and len(norms) == 1
    return outcome.final_loss, norms[0], {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_accumulating_two_batches_of_4_is_one_batch_of_8_in_the_trainer(
    tiny_model: Path, tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    loss8, norm8, weights8 = _first_step(tiny_model, tokenizer, monkeypatch, batch_size=8, accumulate=1)
    loss4x2, norm4x2, weights4x2 = _first_step(tiny_model, tokenizer, monkeypatch, batch_size=4, accumulate=2)
    # The loss that is logged is the one that went backward: a double-scaled loss shows here as 2x.
    assert loss4x2 == pytest.approx(loss8, rel=1e-5)
    assert norm4x2 == pytest.approx(norm8, rel=1e-4)
    for name, value in weights8.items():
        torch.testing.assert_close(weights4x2[name], value, rtol=1e-5, atol=1e-6, msg=name)
    assert any(not torch.equal(v, fresh_model(tiny_model).state_dict()[k]) for k, v in weights8.items())


def test_bf16_training_runs_and_its_loss_falls(tiny_model: Path, tokenizer: Any) -> None:
    model = fresh_model(tiny_model)
    features = CLASSIFICATION.features(keyword_rows(64), tokenizer, TASK, max_length=32)
    hp = Hyperparameters(learning_rate=1e-2, batch_size=8, epochs=6, warmup_ratio=0.0, precision="bf16")
    outcome = finetune(model, features, CLASSIFICATION.collator(tokenizer, TASK), hp, seed=1)
    assert outcome.steps == planned_steps(64, hp) == 48
    first, last = outcome.loss_curve[0]["loss"], outcome.loss_curve[-1]["loss"]
    assert math.isfinite(last) and last < 0.5 * first, outcome.loss_curve
    assert next(model.parameters()).dtype == torch.float32  # autocast: the weights stay fp32


def test_unresolved_precision_never_starts_training(tiny_model: Path, tokenizer: Any) -> None:
    features = CLASSIFICATION.features(keyword_rows(8), tokenizer, TASK, max_length=32)
    collate = CLASSIFICATION.collator(tokenizer, TASK)
    auto = Hyperparameters.model_construct(**{**Hyperparameters().model_dump(), "precision": "auto"})
    with pytest.raises(ValueError, match="not resolved"):
        finetune(fresh_model(tiny_model), features, collate, auto, seed=1)
    member = MixtureMember("kw/en", TASK, "kw", features, collate, 4, 8)
    with pytest.raises(ValueError, match="not resolved"):
        train_multitask({"kw": fresh_model(tiny_model)}, [member], auto, seed=1)


def _mixture_first_step(
    tiny_model: Path, tokenizer: Any, monkeypatch: pytest.MonkeyPatch, batch_size: int, accumulate: int,
    precision: str = "fp32",
) -> tuple[float, dict[str, torch.Tensor]]:  # fmt: skip
    norms = gradient_norms(monkeypatch)
    model = fresh_model(tiny_model)
    features = CLASSIFICATION.features(keyword_rows(64), tokenizer, TASK, max_length=32)
    member = MixtureMember(
        "kw/en", TASK, "kw", features, CLASSIFICATION.collator(tokenizer, TASK), batch_size, 64
    )
    hp = Hyperparameters(
        learning_rate=1e-3, batch_size=batch_size, gradient_accumulation_steps=accumulate, max_steps=1,
        warmup_ratio=0.0, weight_decay=0.0, precision=precision,
    )  # fmt: skip
    outcome = train_multitask({"kw": model}, [member], hp, seed=1)
    monkeypatch.undo()
    assert outcome.training.steps == 1 and len(norms) == 1
    assert outcome.tasks[0]["steps"] == accumulate  # batches drawn
    return norms[0], {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_accumulating_two_batches_of_4_is_one_batch_of_8_in_the_multitask_loop(
    tiny_model: Path, tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    norm8, weights8 = _mixture_first_step(tiny_model, tokenizer, monkeypatch, 8, 1)
    norm4x2, weights4x2 = _mixture_first_step(tiny_model, tokenizer, monkeypatch, 4, 2)
    assert norm4x2 == pytest.approx(norm8, rel=1e-4)
    for name, value in weights8.items():
        torch.testing.assert_close(weights4x2[name], value, rtol=1e-5, atol=1e-6, msg=name)


def test_multitask_steps_count_accumulated_batches(tiny_model: Path, tokenizer: Any) -> None:
    features = CLASSIFICATION.features(keyword_rows(40), tokenizer, TASK, max_length=32)
    members = [MixtureMember("kw/en", TASK, "kw", features, CLASSIFICATION.collator(tokenizer, TASK), 8, 40)]
    assert total_steps(members, Hyperparameters(epochs=2)) == 10
    assert total_steps(members, Hyperparameters(epochs=2, gradient_accumulation_steps=2)) == 6  # ceil(5/2)=3


def test_fp16_in_the_multitask_loop_scales_the_loss_and_still_learns(
    tiny_model: Path, tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop's GradScaler path (a GPU's in production; torch runs it on a CPU too, so it is tested)."""
    scales: list[float] = []
    step = torch.amp.GradScaler.step

    def recording(self: torch.amp.GradScaler, *args: Any, **kwargs: Any) -> Any:
        scales.append(float(self.get_scale()) if self.is_enabled() else 1.0)
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.amp.GradScaler, "step", recording)
    model = fresh_model(tiny_model)
    features = CLASSIFICATION.features(keyword_rows(64), tokenizer, TASK, max_length=32)
    member = MixtureMember("kw/en", TASK, "kw", features, CLASSIFICATION.collator(tokenizer, TASK), 8, 64)
    hp = Hyperparameters(learning_rate=1e-2, batch_size=8, epochs=6, warmup_ratio=0.0, precision="fp16")
    outcome = train_multitask({"kw": model}, [member], hp, seed=1)
    assert len(scales) == outcome.training.steps == 48 and scales[0] == 2.0**16  # loss scaled
    curve = outcome.training.loss_curve
    assert curve[-1]["loss"] < 0.5 * curve[0]["loss"], curve


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_lowers_matmuls_only_inside(precision: str) -> None:
    layer = torch.nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with autocast(precision, "cpu"):
        inside = layer(x)
    assert inside.dtype == {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    assert layer(x).dtype == torch.float32
    with autocast("fp32", "cpu"):
        assert layer(x).dtype == torch.float32


def test_bf16_evaluation_agrees_with_fp32_on_at_least_99_percent_of_argmaxes(
    tiny_model: Path, tokenizer: Any
) -> None:
    """A trained tiny classifier (a random head's near-ties would flip on any rounding) predicts 400 unseen
    rows in fp32 and under bf16 autocast."""
    model = fresh_model(tiny_model)
    train = CLASSIFICATION.features(keyword_rows(64), tokenizer, TASK, max_length=32)
    hp = Hyperparameters(learning_rate=1e-2, batch_size=8, epochs=6, warmup_ratio=0.0)
    finetune(model, train, CLASSIFICATION.collator(tokenizer, TASK), hp, seed=1)
    rows = keyword_rows(400, seed=7)
    features = CLASSIFICATION.features(rows, tokenizer, TASK, max_length=32)
    predicted = {
        precision: [
            p.prediction
            for p in CLASSIFICATION.predict(model, features, rows, TASK, tokenizer, 32, precision)
        ]
        for precision in ("fp32", "bf16")
    }
    agree = sum(a == b for a, b in zip(predicted["fp32"], predicted["bf16"], strict=True)) / len(rows)
    assert agree >= 0.99
    assert sum(p == gold for p, gold in zip(predicted["fp32"], rows["label"], strict=True)) / len(rows) > 0.9
    with pytest.raises(ValueError, match="not resolved"):
        CLASSIFICATION.predict(model, features, rows, TASK, tokenizer, 32, "auto")


def test_the_estimate_counts_accumulated_batches_under_max_steps() -> None:
    from harness.runner.estimate import _tokens

    hp = Hyperparameters(batch_size=8, max_length=32, max_steps=10)
    assert _tokens(1000, hp, TASK) == 10 * 8 * 32
    assert _tokens(1000, hp.model_copy(update={"gradient_accumulation_steps": 4}), TASK) == 10 * 8 * 4 * 32
    epochs = Hyperparameters(batch_size=8, max_length=32, epochs=2)  # by epochs: every example, GA or not
    assert _tokens(100, epochs, TASK) == _tokens(
        100, epochs.model_copy(update={"gradient_accumulation_steps": 4}), TASK
    )
