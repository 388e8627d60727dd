"""Fine-tuning through ``transformers.Trainer``, with model selection on a dev split.

Selection keeps the weights of the epoch with the best dev score in memory (no checkpoint writes);
the rule and the per-epoch dev scores are returned so they can be recorded on every result.
"""

from __future__ import annotations

import inspect
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import datasets
import torch
from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed

from harness.catalogue.schema import Hyperparameters
from harness.models.frozen_prefix import frozen_prefix_cache
from harness.training.freezing import apply_freezing

log = logging.getLogger("harness.training")

DevScorer = Callable[[torch.nn.Module], float]


@dataclass
class TrainingOutcome:
    steps: int
    epochs: float
    wall_time_s: float
    selection_rule: str
    dev_history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: float | None = None
    trainable_parameters: int = 0
    frozen_embeddings: bool = False
    replayed_frozen_layers: int = 0  # frozen layers run once per input and replayed (frozen_prefix)


class _KeepBest(TrainerCallback):
    def __init__(self, score_dev: DevScorer) -> None:
        self.score_dev = score_dev
        self.best_score = float("-inf")
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_epoch: float | None = None
        self.history: list[dict[str, float]] = []

    def on_epoch_end(
        self, args: Any, state: Any, control: Any, model: torch.nn.Module | None = None, **_: Any
    ) -> None:
        assert model is not None
        score = self.score_dev(model)
        model.train()
        self.history.append({"epoch": round(float(state.epoch), 4), "dev_score": score})
        log.info("epoch %.2f: dev %.4f", state.epoch, score)
        if score > self.best_score:
            self.best_score, self.best_epoch = score, float(state.epoch)
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}


def _version_specific(hp: Hyperparameters) -> dict[str, Any]:
    """transformers 5 renamed warmup_ratio and group_by_length; accept both generations."""
    params = inspect.signature(TrainingArguments.__init__).parameters
    out: dict[str, Any] = {}
    if "warmup_ratio" in params:
        out["warmup_ratio"] = hp.warmup_ratio
    else:
        out["warmup_steps"] = hp.warmup_ratio
    if "train_sampling_strategy" in params:
        out["train_sampling_strategy"] = "group_by_length"
    else:
        out["group_by_length"] = True
    return out


def finetune(
    model: torch.nn.Module,
    train_features: datasets.Dataset,
    collate: Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]],
    hp: Hyperparameters,
    seed: int,
    *,
    score_dev: DevScorer | None = None,
    selection: str = "english_dev",
) -> TrainingOutcome:
    set_seed(seed)
    apply_freezing(model, hp)
    keep_best = _KeepBest(score_dev) if (score_dev is not None and selection == "english_dev") else None
    started = time.perf_counter()
    replayed = hp.freeze_layers if hp.cache_frozen_layers else 0
    with (
        tempfile.TemporaryDirectory(prefix="harness-trainer-") as scratch,
        frozen_prefix_cache(model, replayed) as prefix,
    ):
        args = TrainingArguments(
            output_dir=scratch,
            per_device_train_batch_size=hp.batch_size,
            learning_rate=hp.learning_rate,
            num_train_epochs=hp.epochs,
            max_steps=hp.max_steps or -1,
            weight_decay=hp.weight_decay,
            seed=seed,
            data_seed=seed,
            eval_strategy="no",
            save_strategy="no",
            report_to=[],
            logging_steps=10,
            logging_strategy="steps",
            remove_unused_columns=False,
            dataloader_num_workers=0,
            length_column_name="length",
            **_version_specific(hp),
            use_cpu=not torch.cuda.is_available(),
            disable_tqdm=False,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=train_features,
            data_collator=collate,
            callbacks=[keep_best] if keep_best else [],
        )
        result = trainer.train()
    if keep_best is not None and keep_best.best_state is not None:
        model.load_state_dict(keep_best.best_state)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return TrainingOutcome(
        steps=int(result.global_step),
        epochs=float(hp.epochs if not hp.max_steps else trainer.state.epoch),
        wall_time_s=time.perf_counter() - started,
        selection_rule="best English-dev epoch" if keep_best else "last step",
        dev_history=keep_best.history if keep_best else [],
        best_epoch=keep_best.best_epoch if keep_best else None,
        trainable_parameters=trainable,
        frozen_embeddings=hp.freeze_embeddings,
        replayed_frozen_layers=replayed if prefix is not None else 0,
    )
