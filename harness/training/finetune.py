"""Fine-tuning through ``transformers.Trainer``, with model selection on a dev split.

Selection keeps the weights of the epoch with the best dev score in memory (no checkpoint writes);
the rule and the per-epoch dev scores are returned so they can be recorded on every result. A dev
split can also be scored without selecting on it (intermediate training: the last step is kept, the
dev scores only show whether it learned). The loss is logged at most ``MAX_LOSS_POINTS`` times.
"""

from __future__ import annotations

import inspect
import logging
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import datasets
import torch
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments, set_seed

from harness.catalogue.schema import Hyperparameters
from harness.models.frozen_prefix import frozen_prefix_cache
from harness.models.precision import require_resolved
from harness.training.freezing import apply_freezing
from harness.training.learning import (
    DevScore,
    DevScorer,
    LossLog,
    history_row,
    logging_interval,
    selection_reason,
)
from harness.training.steps import planned_steps

log = logging.getLogger("harness.training")


@dataclass
class TrainingOutcome:
    steps: int
    epochs: float
    wall_time_s: float
    selection_rule: str
    dev_history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: float | None = None
    selection_reason: str = ""
    loss_curve: list[dict[str, float]] = field(default_factory=list)
    final_loss: float | None = None  # the last logged loss (mean over the last logging window)
    mean_loss: float | None = None  # over every step
    trainable_parameters: int = 0
    frozen_embeddings: bool = False
    replayed_frozen_layers: int = 0  # frozen layers run once per input and replayed (frozen_prefix)


class _DevHistory(TrainerCallback):
    """Scores the dev split after every epoch; with ``keep_best`` it also keeps the best epoch's weights."""

    def __init__(self, score_dev: DevScorer, baseline: float | None, keep_best: bool) -> None:
        self.score_dev = score_dev
        self.baseline = baseline
        self.keep_best = keep_best
        self.best: DevScore | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_epoch: float | None = None
        self.last: DevScore | None = None
        self.history: list[dict[str, Any]] = []

    def on_epoch_end(
        self, args: Any, state: Any, control: Any, model: torch.nn.Module | None = None, **_: Any
    ) -> None:
        assert model is not None
        dev = self.score_dev(model)
        model.train()
        self.last = dev
        self.history.append(history_row(float(state.epoch), int(state.global_step), dev, self.baseline))
        log.info("epoch %.2f: dev %.4f", state.epoch, dev.score)
        if self.keep_best and (self.best is None or dev.score > self.best.score):
            self.best, self.best_epoch = dev, float(state.epoch)
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @property
    def kept(self) -> DevScore | None:
        """The dev score of the weights that are kept: the best epoch's, or the last one's."""
        return self.best if self.keep_best else self.last


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


def check_training_precision(precision: str, cuda: bool) -> None:
    """A resolved precision this device trains in (the planner has refused the rest: a bug otherwise)."""
    require_resolved(precision)
    if precision == "fp16" and not cuda:
        raise ValueError("fp16 training needs CUDA; the planner refuses it without a GPU")


def finetune(
    model: torch.nn.Module,
    train_features: datasets.Dataset,
    collate: Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]],
    hp: Hyperparameters,
    seed: int,
    *,
    score_dev: DevScorer | None = None,
    selection: str = "english_dev",
    dev_baseline: float | None = None,
    metric: str = "score",
) -> TrainingOutcome:
    """Train; with ``score_dev`` the dev split is scored after every epoch, and with ``selection``
    ``english_dev`` the best epoch's weights are kept (any other value keeps the last step)."""
    cuda = torch.cuda.is_available()
    check_training_precision(hp.precision, cuda)
    set_seed(seed)
    apply_freezing(model, hp)
    select = score_dev is not None and selection == "english_dev"
    dev = _DevHistory(score_dev, dev_baseline, keep_best=select) if score_dev is not None else None
    losses = LossLog()
    started = time.perf_counter()
    replayed = hp.freeze_layers if hp.cache_frozen_layers else 0
    with (
        tempfile.TemporaryDirectory(prefix="harness-trainer-") as scratch,
        frozen_prefix_cache(model, replayed) as prefix,
    ):
        args = TrainingArguments(
            output_dir=scratch,
            per_device_train_batch_size=hp.batch_size,
            gradient_accumulation_steps=hp.gradient_accumulation_steps,
            bf16=hp.precision == "bf16",  # autocast
            fp16=hp.precision == "fp16",  # autocast and loss scaling
            learning_rate=hp.learning_rate,
            num_train_epochs=hp.epochs,
            max_steps=hp.max_steps or -1,
            weight_decay=hp.weight_decay,
            seed=seed,
            data_seed=seed,
            eval_strategy="no",
            save_strategy="no",
            report_to=[],
            logging_steps=logging_interval(planned_steps(len(train_features), hp)),
            logging_strategy="steps",
            logging_first_step=True,
            remove_unused_columns=False,
            dataloader_num_workers=0,
            length_column_name="length",
            **_version_specific(hp),
            use_cpu=not cuda,
            disable_tqdm=True,  # the grid's progress display (harness.runner.progress) says enough
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=train_features,
            data_collator=collate,
            callbacks=[losses, *([dev] if dev else [])],
        )
        # with its bars off the Trainer prints every logged loss; the losses go to training.json instead
        trainer.remove_callback(PrinterCallback)
        # Our heads return the mean loss of their batch and ignore ``num_items_in_batch``, but their
        # forward takes **kwargs, so the Trainer would take the loss as already scaled for gradient
        # accumulation and sum GA batch means: GA times the gradient of one batch. Off, it divides by GA.
        trainer.model_accepts_loss_kwargs = False
        result = trainer.train()
    if dev is not None and dev.best_state is not None:
        model.load_state_dict(dev.best_state)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    rule = "best English-dev epoch" if select else "last step"
    history = dev.history if dev else []
    best_epoch = dev.best_epoch if dev else None
    return TrainingOutcome(
        steps=int(result.global_step),
        epochs=float(hp.epochs if not hp.max_steps else trainer.state.epoch),
        wall_time_s=time.perf_counter() - started,
        selection_rule=rule,
        dev_history=history,
        best_epoch=best_epoch,
        selection_reason=selection_reason(rule, history, best_epoch, metric),
        loss_curve=losses.points,
        final_loss=losses.points[-1]["loss"] if losses.points else None,
        mean_loss=float(result.training_loss) if math.isfinite(result.training_loss) else None,
        trainable_parameters=trainable,
        frozen_embeddings=hp.freeze_embeddings,
        replayed_frozen_layers=replayed if prefix is not None else 0,
    )
