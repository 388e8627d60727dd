"""A compute estimate for a plan's training jobs, stated with its assumptions (``harness plan``).

Trained tokens per job = training examples × epochs × max_length × sequences per example (a
multiple-choice example is one sequence per choice; an extractive-QA example is counted as one window)
— an upper bound, since batches are padded only to their longest row. With ``max_steps`` it is
steps × batch size × gradient accumulation steps × max_length × sequences. Forward + backward cost ≈ 6 × N FLOPs per trained token,
N = the encoder's non-embedding parameters (Kaplan et al. 2020; the embedding lookup is nearly free),
and GPU-hours = FLOPs / the assumed sustained throughput below. Evaluation (forward only, ≈ 2 × N per
token, typically a few per cent of training) is counted in jobs, not in hours.

Training set sizes come from, in order: the condition's ``size``; the local data when it is on this
machine (row counts cached by fingerprint); the dataset cards' sizes in ``KNOWN_TRAIN_SIZES``; otherwise
the job is counted as "size unknown".
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from harness.catalogue.schema import Hyperparameters, ModelSpec, TaskSpec
from harness.errors import HarnessError
from harness.kinds.registry import kind_params
from harness.runner.jobs import Job, MixtureJob, TrainJob
from harness.runner.plan import Plan

ASSUMED_TFLOPS = 100.0
ASSUMPTION = (
    f"6 x N(non-embedding) FLOPs per trained token (forward + backward), {ASSUMED_TFLOPS:.0f} TFLOP/s "
    "sustained per GPU (an A100 in bf16 at about a third of its peak); tokens = examples x epochs x "
    "max_length (x choices), an upper bound; evaluation not included"
)

# (layers, hidden, intermediate) of encoders the harness names; others are read from config.json.
KNOWN_SHAPES: dict[str, tuple[int, int, int]] = {
    "FacebookAI/xlm-roberta-large": (24, 1024, 4096),
    "xlm-roberta-large": (24, 1024, 4096),
    "FacebookAI/xlm-roberta-base": (12, 768, 3072),
    "xlm-roberta-base": (12, 768, 3072),
    "google-bert/bert-base-multilingual-cased": (12, 768, 3072),
    "embedded:me5-small": (12, 384, 1536),
}

# Training-set sizes from the dataset cards, by hub id (a dict: per language).
KNOWN_TRAIN_SIZES: dict[str, int | dict[str, int]] = {
    "nyu-mll/multi_nli": 392_702,
    "facebook/xnli": 392_702,
    "stanfordnlp/snli": 550_152,
    "facebook/anli": 162_865,
    "nyu-mll/glue": 363_846,  # the qqp config
    "rajpurkar/squad": 87_599,
    "Rowan/hellaswag": 39_905,
    "allenai/cosmos_qa": 25_262,
    "tau/commonsense_qa": 9_741,
    "stanfordnlp/sst2": 67_349,
    "google-research-datasets/paws-x": 49_401,
    "khalidalt/tydiqa-goldp": {
        "en": 3_696,
        "ar": 14_805,
        "bn": 2_390,
        "fi": 6_855,
        "id": 5_702,
        "ko": 1_625,
        "ru": 6_490,
        "sw": 2_755,
        "te": 5_563,
    },  # fmt: skip
    "kor_nli": 392_702,
    "clue": 50_437,  # the ocnli config
    "deepset/germanquad": 11_518,
    "kuznetsoffandrey/sberquad": 45_328,
    "universal-dependencies/universal_dependencies": {"en": 12_543},
    "unimelb-nlp/wikiann": {"en": 20_000},
    "wikimedia/wikipedia": 100_000,  # masked-LM tasks declare their own cap: see the YAML's train.limit
    "ccg": 39_604,  # local-only (CCGbank sections 02-21), by task name
}


def non_embedding_params(model: ModelSpec) -> tuple[int, str]:
    """(N, where the figure comes from)."""
    from harness.models.sources import parse_source

    scheme, ident, _ = parse_source(model.source)
    shape = KNOWN_SHAPES.get(model.source) or KNOWN_SHAPES.get(ident)
    where = "known shape"
    config = Path(ident).expanduser() / "config.json"
    if shape is None and scheme == "path" and config.is_file():
        cfg = json.loads(config.read_text(encoding="utf-8"))
        shape = (cfg["num_hidden_layers"], cfg["hidden_size"], cfg["intermediate_size"])
        where = "config.json"
    if shape is None:
        shape, where = KNOWN_SHAPES["xlm-roberta-large"], "unknown model: XLM-R Large assumed"
    layers, hidden, inner = shape
    return layers * (4 * hidden * hidden + 2 * hidden * inner), where


def _sequences(task: TaskSpec) -> int:
    """Sequences the encoder reads per example, as the kind's params say (multiple choice: one per choice,
    ``params.n_choices``, default 4)."""
    return kind_params(task).sequences_per_example()


def train_examples(task: TaskSpec, lang: str, size: int | None, task_dir: Path) -> int | None:
    if size is not None:
        return size
    from harness.runner.conditions import local_row_count

    assert task.train is not None
    try:
        count = local_row_count(task, lang, task_dir)
    except HarnessError:  # data not on this machine: fall back to the cards
        count = None
    if count is not None:
        return min(count, task.train.limit) if task.train.limit else count
    dataset = task.train.dataset or task.dataset
    known = KNOWN_TRAIN_SIZES.get(dataset.hub.path) if dataset.hub else KNOWN_TRAIN_SIZES.get(task.name)
    if isinstance(known, dict):
        known = known.get(lang)
    if known is not None and task.train.limit:
        known = min(known, task.train.limit)
    return known


def _tokens(n: int, hp: Hyperparameters, task: TaskSpec) -> int:
    per_example = hp.max_length * _sequences(task)
    if hp.max_steps:
        return hp.max_steps * hp.batch_size * hp.gradient_accumulation_steps * per_example
    return int(math.ceil(n * hp.epochs)) * per_example


def job_tokens(job: Job) -> int | None:
    """Trained tokens of one training job, or None when a training-set size is unknown."""
    if isinstance(job, MixtureJob):
        total = 0
        for member in job.members:
            task = member.task_ref.spec
            where = Path(member.task_ref.task_dir)
            sizes = [train_examples(task, lang, member.size, where) for lang in member.languages]
            if any(s is None for s in sizes):
                return None
            n = sum(s for s in sizes if s is not None)
            if member.size is not None:
                n = member.size
            total += _tokens(n, member.hyperparameters, task)
        return total
    if not isinstance(job, TrainJob):
        return None
    task = job.task_ref.spec
    assert task.train is not None
    if job.phase == "target":
        known = train_examples(task, task.train.language, None, Path(job.task_ref.task_dir))
    else:
        known = train_examples(task, job.languages[0], job.size, Path(job.task_ref.task_dir))
    return None if known is None else _tokens(known, job.hyperparameters, task)


def estimate(plan: Plan, would_run: set[str]) -> dict[str, Any]:
    """Tokens and GPU-hours per phase, for all training jobs and for those that would run."""
    params = {m.name: non_embedding_params(m) for m in plan.grid.models}
    phases: dict[str, dict[str, Any]] = {}
    for job in plan.jobs:
        if job.phase == "evaluate":
            continue
        row = phases.setdefault(
            job.phase,
            {"jobs": 0, "size_unknown": 0, "tokens": 0, "gpu_hours": 0.0, "would_run_gpu_hours": 0.0},
        )
        row["jobs"] += 1
        tokens = job_tokens(job)
        if tokens is None:
            row["size_unknown"] += 1
            continue
        hours = 6 * params[job.model][0] * tokens / (ASSUMED_TFLOPS * 1e12) / 3600
        row["tokens"] += tokens
        row["gpu_hours"] += hours
        if job.key in would_run:
            row["would_run_gpu_hours"] += hours
    total = {
        k: sum(r[k] for r in phases.values())
        for k in ("tokens", "gpu_hours", "would_run_gpu_hours", "size_unknown")
    }
    for row in [*phases.values(), total]:
        row["gpu_hours"] = float(f"{row['gpu_hours']:.4g}")
        row["would_run_gpu_hours"] = float(f"{row['would_run_gpu_hours']:.4g}")
    return {
        "assumption": ASSUMPTION,
        "models": {name: {"non_embedding_params": n, "from": where} for name, (n, where) in params.items()},
        "phases": phases,
        "total": total,
        "evaluation_jobs": len(plan.by_phase("evaluate")),
    }
