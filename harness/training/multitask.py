"""Multi-task intermediate training: one shared encoder body, a head per task, a declared sampling rule.

Every task of the mixture gets its kind's model (``kind.load_model``) from the parent checkpoint; the
bodies are then replaced by one shared body, so each optimisation step updates that body through the
head of the task it drew. Tasks naming the same ``head`` share one head (ANLI+ = ANLI, MNLI and SNLI
through one NLI head). Each step draws a task with probability

- ``proportional``: n_t / Σ n  (every example seen ``epochs`` times in expectation),
- ``uniform``: 1 / T,
- ``temperature``: n_t^(1/τ) / Σ n^(1/τ)  (τ = ``temperature``; τ = 1 is proportional),

from a generator seeded with the job's seed, then that task's next batch (its own batch size; a task
whose batches run out starts a new shuffled epoch). The number of steps is the same under every rule:
``max_steps`` when set, else ``epochs × Σ_t ceil(n_t / batch_t)`` (over ``gradient_accumulation_steps``
when it is above 1: each optimiser step then sums that many drawn batches, each loss divided by it).
The precision is the job's resolved one: bf16 under autocast, fp16 under autocast with a gradient
scaler (loss scaling). The optimiser is AdamW with linear
warm-up and decay and gradient clipping at 1.0, as ``transformers.Trainer`` does for single tasks.

Also here: ``prepare_rows`` — declared reshaping of an intermediate task's rows (``params`` of the task
YAML) for sources whose columns the kind cannot read as they are (CosmosQA's answer0..3, CommonsenseQA's
choices dict and answer letters, CCG's data-defined supertag set).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import datasets
import numpy as np
import torch
from transformers import get_linear_schedule_with_warmup, set_seed

from harness.catalogue.schema import Hyperparameters, SamplingRule, TaskSpec
from harness.errors import HarnessError
from harness.models.precision import autocast, require_resolved
from harness.training.finetune import TrainingOutcome
from harness.training.freezing import apply_freezing
from harness.training.learning import logging_interval, windowed_losses

Collate = Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]]


# ---- row preparation ------------------------------------------------------------------------------
def _column(rows: datasets.Dataset, dotted: str, task: TaskSpec, param: str) -> list[Any]:
    name, _, inner = dotted.partition(".")
    if name not in rows.column_names:
        raise HarnessError(
            f"task {task.name!r}: column {name!r} is not in the data",
            field=f"params.{param}",
            allowed=rows.column_names,
        )
    values = list(rows[name])
    return [v[inner] for v in values] if inner else values


def prepare_rows(task: TaskSpec, rows: datasets.Dataset) -> tuple[TaskSpec, datasets.Dataset]:
    """Apply the task's declared reshaping (``params``) to its training rows.

    ``question_from: [col, ...]`` joins columns with a space into ``question``; ``choices_from``: a list of
    columns, or ``col.key`` for a dict-of-lists column, into ``choices``; ``label_from: col`` with
    ``label_letters: ABCDE`` turns answer letters into indices; ``labels_from_train: true`` (tagging) takes
    the tag set from the training rows (a data-defined tag set such as CCG supertags).
    """
    params = task.params
    updates: dict[str, list[Any]] = {}
    if "question_from" in params:
        columns = params["question_from"]
        columns = [columns] if isinstance(columns, str) else list(columns)
        parts = [_column(rows, c, task, "question_from") for c in columns]
        updates["question"] = [" ".join(str(p) for p in row if p) for row in zip(*parts, strict=True)]
    if "choices_from" in params:
        spec = params["choices_from"]
        if isinstance(spec, str):
            updates["choices"] = [list(v) for v in _column(rows, spec, task, "choices_from")]
        else:
            parts = [_column(rows, c, task, "choices_from") for c in spec]
            updates["choices"] = [[str(x) for x in row] for row in zip(*parts, strict=True)]
    if "label_from" in params:
        raw = _column(rows, params["label_from"], task, "label_from")
        letters = str(params.get("label_letters", ""))
        if letters:
            bad = sorted({str(v) for v in raw if str(v) not in letters})
            if bad:
                raise HarnessError(
                    f"task {task.name!r}: answer letters {bad[:5]} are not in {letters!r}",
                    field="params.label_letters",
                )
            updates["label"] = [letters.index(str(v)) for v in raw]
        else:
            updates["label"] = [int(v) for v in raw]
    for name, values in updates.items():
        if name in rows.column_names:
            rows = rows.remove_columns(name)
        rows = rows.add_column(name, values)
    if params.get("labels_from_train"):
        tags = sorted({str(tag) for sentence in rows["tags"] for tag in sentence})
        task = task.model_copy(update={"labels": tags})
    return task, rows


def collator_for(kind: Any, tokenizer: Any, task: TaskSpec) -> Collate:
    """The kind's training collator (every kind's ``collator`` takes the task: masked LM reads its params)."""
    return kind.collator(tokenizer, task)


# ---- the mixture ----------------------------------------------------------------------------------
@dataclass
class MixtureMember:
    """One task of the mixture, ready to train: its features and the head it trains through."""

    label: str  # e.g. "mnli/en"
    task: TaskSpec
    head: str
    features: datasets.Dataset
    collate: Collate
    batch_size: int
    n_examples: int
    languages: list[str] = field(default_factory=list)


def sampling_probabilities(sizes: list[int], rule: SamplingRule, temperature: float = 2.0) -> np.ndarray:
    counts = np.asarray(sizes, dtype=float)
    if counts.size == 0 or (counts <= 0).any():
        raise HarnessError("every task of a multi-task condition needs at least one example", field="tasks")
    if rule == "uniform":
        weights = np.ones_like(counts)
    elif rule == "proportional":
        weights = counts
    elif rule == "temperature":
        weights = counts ** (1.0 / temperature)
    else:  # pragma: no cover - the schema's Literal allows nothing else
        raise HarnessError(f"unknown sampling rule {rule!r}", field="sampling")
    return weights / weights.sum()


def total_steps(members: list[MixtureMember], hp: Hyperparameters) -> int:
    """Optimiser steps: ``max_steps``, else ceil(epochs x ceil(Σ_t ceil(n_t / batch_t) / GA)); each step
    accumulates ``gradient_accumulation_steps`` batches."""
    if hp.max_steps:
        return hp.max_steps
    batches = sum(math.ceil(len(m.features) / m.batch_size) for m in members)
    return max(1, math.ceil(hp.epochs * math.ceil(batches / hp.gradient_accumulation_steps)))


def share_body(models: dict[str, torch.nn.Module]) -> torch.nn.Module:
    """Make every head model use one encoder body (the largest one: a body with a pooler serves heads
    that need it and those that ignore it). Output embeddings (an LM head) are re-tied to the shared
    input embeddings. Returns the shared body."""
    # transformers models: base_model, base_model_prefix and the embedding getters are not nn.Module's
    heads: dict[str, Any] = dict(models)
    bodies: dict[str, Any] = {head: model.base_model for head, model in heads.items()}
    shared = max(bodies.values(), key=lambda b: sum(p.numel() for p in b.parameters()))
    for model in heads.values():
        setattr(model, model.base_model_prefix, shared)
        output = model.get_output_embeddings()
        if output is not None:
            output.weight = shared.get_input_embeddings().weight
    return shared


def _batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[list[int]]:
    """Shuffled batches of ``range(n)``, epoch after epoch."""
    while True:
        order = torch.randperm(n, generator=generator).tolist()
        for start in range(0, n, batch_size):
            yield order[start : start + batch_size]


def _parameter_groups(models: dict[str, torch.nn.Module], weight_decay: float) -> list[dict[str, Any]]:
    seen: set[int] = set()
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for model in models.values():
        for name, param in model.named_parameters():
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            (
                no_decay if name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name else decay
            ).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@dataclass
class MultitaskOutcome:
    training: TrainingOutcome
    tasks: list[dict[str, Any]]
    sampling: str
    probabilities: dict[str, float]


def train_multitask(
    models: dict[str, torch.nn.Module],
    members: list[MixtureMember],
    hp: Hyperparameters,
    seed: int,
    *,
    sampling: SamplingRule = "proportional",
    temperature: float = 2.0,
) -> MultitaskOutcome:
    """Train the shared body through every member's head; ``models`` maps head name → model."""
    require_resolved(hp.precision)
    set_seed(seed)
    body = share_body(models)
    apply_freezing(body, hp)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    for model in models.values():
        model.to(device).train()
    probabilities = sampling_probabilities([len(m.features) for m in members], sampling, temperature)
    steps = total_steps(members, hp)
    accumulate = hp.gradient_accumulation_steps
    # one draw per batch: with GA = 1 the same draws as before accumulation existed
    draws = np.random.default_rng(seed).choice(len(members), size=steps * accumulate, p=probabilities)
    optimiser = torch.optim.AdamW(_parameter_groups(models, hp.weight_decay), lr=hp.learning_rate)
    schedule = get_linear_schedule_with_warmup(optimiser, math.ceil(hp.warmup_ratio * steps), steps)
    streams = [
        _batches(len(m.features), m.batch_size, torch.Generator().manual_seed(seed * 1000 + i))
        for i, m in enumerate(members)
    ]
    rows = [m.features.to_list() for m in members]
    used = [0] * len(members)
    seen = [0] * len(members)
    losses: list[list[float]] = [[] for _ in members]
    every_step: list[tuple[int, float, int]] = []  # (step, loss, member index)
    params = [p for group in optimiser.param_groups for p in group["params"]]
    # fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none
    scaler = torch.amp.GradScaler(device.type, enabled=hp.precision == "fp16")
    started = time.perf_counter()
    for position, index in enumerate(draws.tolist()):
        member = members[index]
        batch_rows = [rows[index][i] for i in next(streams[index])]
        batch = {k: v.to(device) for k, v in member.collate(batch_rows).items()}
        with autocast(hp.precision, device.type):
            loss = models[member.head](**batch).loss
        scaler.scale(loss / accumulate).backward()
        if (position + 1) % accumulate == 0:
            scaler.unscale_(optimiser)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            scaler.step(optimiser)
            scaler.update()
            schedule.step()
            optimiser.zero_grad(set_to_none=True)
        used[index] += 1
        seen[index] += len(batch_rows)
        losses[index].append(float(loss.detach()))
        every_step.append((position // accumulate + 1, losses[index][-1], index))
    for model in models.values():
        model.eval()

    def epoch_of(step: int) -> float:
        return hp.epochs * step / steps

    curve = windowed_losses(
        [(s, loss) for s, loss, _ in every_step], logging_interval(len(every_step)), epoch_of
    )
    task_curves = [
        windowed_losses(
            [(s, loss) for s, loss, i in every_step if i == k], logging_interval(used[k]), epoch_of
        )
        for k in range(len(members))
    ]
    outcome = TrainingOutcome(
        steps=steps,
        epochs=float(hp.epochs),
        wall_time_s=time.perf_counter() - started,
        selection_rule="last step",
        selection_reason="last step: a multi-task mixture keeps the weights after its last step",
        loss_curve=curve,
        final_loss=curve[-1]["loss"] if curve else None,
        mean_loss=float(np.mean([loss for _, loss, _ in every_step])) if every_step else None,
        trainable_parameters=sum(p.numel() for p in params),
        frozen_embeddings=hp.freeze_embeddings,
    )
    per_task = [
        {
            "task": m.task.name,
            "label": m.label,
            "languages": m.languages,
            "head": m.head,
            "n_examples": m.n_examples,
            "n_features": len(m.features),
            "steps": used[i],
            "examples_seen": seen[i],
            "mean_loss": float(np.mean(losses[i])) if losses[i] else None,
            "loss_curve": task_curves[i],
            "probability": float(probabilities[i]),
        }
        for i, m in enumerate(members)
    ]
    return MultitaskOutcome(
        outcome, per_task, sampling, {m.label: float(p) for m, p in zip(members, probabilities, strict=True)}
    )
