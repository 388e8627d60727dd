"""Training throughput by precision: optimiser steps per second in fp32 and in bf16 (or fp16 on a GPU).

The harness's own training path (``harness.training.finetune.finetune``: ``transformers.Trainer`` with the
precision and gradient accumulation of a job's hyperparameters) trains the embedded multilingual-e5-small
encoder with a seeded classification head on seeded synthetic sentences (two labels, ``--length`` words
each), for ``--steps`` optimiser steps per run, its 250k-row embedding matrix frozen as CPU grids run it
(``--train-embeddings`` trains it too: its dense AdamW update costs the same in every precision). Runs alternate between the precisions (fp32, bf16, fp32,
...) after one warm-up run of each, in one process, so background load falls on both; the median is
reported with the per-round ratio, and the mean training loss of each precision (they should be close).

    HF_HUB_OFFLINE=1 python benchmarks/train_precision.py [--steps 8] [--batch-size 16] [--length 24]
        [--accumulate 1] [--repeat 3] [--threads N] [--precision bf16|fp16|auto] [--train-embeddings] [--json]

``--precision auto`` times what a grid's ``auto`` resolves to here (fp32 where bf16 is not native: then
there is nothing to compare and the script says so). ``bf16`` is timed even where a grid would refuse it
(a CPU without native bf16 emulates it: how much slower that is, is what the figure shows).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
import torch
import transformers

from harness.catalogue.schema import DatasetSpec, Hyperparameters, TaskSpec
from harness.extras import materialize_embedded
from harness.kinds.classification import KIND
from harness.models.loading import load_tokenizer
from harness.runner.precision import resolve_precision, this_device
from harness.training.finetune import finetune

SEED = 0
TASK = TaskSpec(
    name="synthetic",
    kind="classification",
    version=1,
    dataset=DatasetSpec(format="tsv", path="unused"),
    labels=["a", "b"],
    languages=["en"],
)
WORDS = [
    "the",
    "a",
    "river",
    "city",
    "market",
    "train",
    "window",
    "garden",
    "letter",
    "morning",
    "evening",
    "music",
    "paper",
    "street",
    "house",
    "light",
    "water",
    "stone",
    "child",
    "teacher",
    "doctor",
    "question",
    "answer",
    "story",
    "village",
    "mountain",
    "road",
    "bridge",
]


def sentences(n: int, length: int) -> datasets.Dataset:
    rng = random.Random(SEED)
    texts = [" ".join(rng.choice(WORDS) for _ in range(length)) for _ in range(n)]
    labels = [rng.choice(["a", "b"]) for _ in range(n)]
    return datasets.Dataset.from_dict({"id": [str(i) for i in range(n)], "text": texts, "label": labels})


def train_once(
    folder: Path, tokenizer: Any, features: datasets.Dataset, hp: Hyperparameters
) -> dict[str, float]:
    torch.manual_seed(SEED)
    model = KIND.load_model(str(folder), TASK)
    outcome = finetune(model, features, KIND.collator(tokenizer, TASK), hp, seed=SEED)
    return {
        "seconds": outcome.wall_time_s,
        "steps": outcome.steps,
        "mean_loss": outcome.mean_loss or float("nan"),
    }


def benchmark(
    steps: int, batch_size: int, length: int, accumulate: int, repeat: int, precision: str,
    freeze_embeddings: bool = True,
) -> dict[str, Any]:  # fmt: skip
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    folder = materialize_embedded("me5-small")
    tokenizer = load_tokenizer(str(folder))
    rows = sentences(steps * batch_size * accumulate, length)
    features = KIND.features(rows, tokenizer, TASK, max_length=128)
    base = Hyperparameters(
        learning_rate=2e-5, batch_size=batch_size, gradient_accumulation_steps=accumulate, max_steps=steps,
        warmup_ratio=0.0, freeze_embeddings=freeze_embeddings,
    )  # fmt: skip
    precisions = ["fp32", precision]
    runs: dict[str, list[dict[str, float]]] = {p: [] for p in precisions}
    warm = base.model_copy(update={"max_steps": 1})
    for p in precisions:
        train_once(folder, tokenizer, features, warm.model_copy(update={"precision": p}))
    for _ in range(repeat):
        for p in precisions:
            runs[p].append(train_once(folder, tokenizer, features, base.model_copy(update={"precision": p})))
    median = {p: statistics.median(r["seconds"] for r in runs[p]) for p in precisions}
    return {
        "model": "embedded:me5-small",
        "steps": steps,
        "batch_size": batch_size,
        "gradient_accumulation_steps": accumulate,
        "words_per_sentence": length,
        "freeze_embeddings": freeze_embeddings,
        "repeat": repeat,
        "precision": precision,
        **{
            p: {
                "seconds": median[p],
                "runs": [round(r["seconds"], 3) for r in runs[p]],
                "steps_per_s": steps / median[p],
                "mean_loss": statistics.fmean(r["mean_loss"] for r in runs[p]),
            }
            for p in precisions
        },
        "ratio_steps_per_s": median["fp32"] / median[precision],
        "ratio_per_round": [
            round(a["seconds"] / b["seconds"], 3) for a, b in zip(runs["fp32"], runs[precision], strict=True)
        ],
        "device": this_device().name,
        "wall_s": time.perf_counter() - started,
        "environment": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "load_average_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--length", type=int, default=24, help="words per synthetic sentence")
    parser.add_argument("--accumulate", type=int, default=1, help="gradient accumulation steps")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--precision", choices=["bf16", "fp16", "auto"], default="bf16")
    parser.add_argument(
        "--train-embeddings",
        action="store_true",
        help="also train the 250k-row embedding matrix (default: frozen, as CPU grids run: its dense AdamW "
        "update costs the same in every precision and would hide the encoder's difference)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    precision = args.precision
    if precision == "auto":
        precision = resolve_precision("auto", this_device())
        if precision == "fp32":
            print("auto is fp32 on this machine (no native bf16): nothing to compare; try --precision bf16")
            return 0
    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=UserWarning)
    if args.threads:
        torch.set_num_threads(args.threads)
    report = benchmark(
        args.steps,
        args.batch_size,
        args.length,
        args.accumulate,
        args.repeat,
        precision,
        not args.train_embeddings,
    )
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for p in ("fp32", precision):
        f = report[p]
        print(
            f"{p:<5} {f['seconds']:8.2f} s median {f['runs']}  {f['steps_per_s']:.3f} steps/s  "
            f"mean loss {f['mean_loss']:.4f}"
        )
    print(
        f"{precision} steps/s over fp32's: {report['ratio_steps_per_s']:.2f}x (per round {report['ratio_per_round']}); "
        f"{report['steps']} steps of {report['batch_size']} x {report['gradient_accumulation_steps']} sentences, "
        f"device {report['device']}, {report['environment']['threads']} threads, "
        f"load {report['environment']['load_average_1min']}, wall {report['wall_s']:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
