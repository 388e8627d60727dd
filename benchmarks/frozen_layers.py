"""Training and evaluation cost with frozen layers: replaying them (``harness.models.frozen_prefix``) and
switching attention dropout off, against the plain frozen-layer path, in one process.

Workload: the embedded multilingual-e5-small with a QA head, ``freeze_layers: 8`` of 12 (the default
grid's setting), batches of 16 windows of 256 random tokens (the QA demo's training shape).

* training step (forward + backward + AdamW), per configuration:
  ``plain`` (attention dropout 0.1, frozen layers run every step) — the baseline;
  ``no-attention-dropout``; ``replay`` (states recorded once, replayed); ``replay + no-attention-dropout``
  (the default grid). Rounds alternate between configurations; the median of ``--repeat`` steps each.
* evaluation of three checkpoints that share the frozen layers (the grid's three conditions), forward
  only: plain (3 full forwards) against replay (one recording, 3 replays of the top layers).

    HF_HUB_OFFLINE=1 python benchmarks/frozen_layers.py [--repeat 5] [--batches 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from typing import Any

import torch
from transformers import AutoModelForQuestionAnswering

from harness.catalogue.schema import Hyperparameters, ModelSpec
from harness.models.frozen_prefix import PrefixStore, frozen_prefix_cache
from harness.models.sources import resolve_model
from harness.training.freezing import apply_freezing

FROZEN = 8
BATCH, LENGTH = 16, 256


def _batches(n: int, vocab: int) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        ids = torch.randint(5, vocab, (BATCH, LENGTH), generator=generator)
        out.append(
            {
                "input_ids": ids,
                "attention_mask": torch.ones_like(ids),
                "token_type_ids": torch.zeros_like(ids),
                "start_positions": torch.randint(0, LENGTH, (BATCH,), generator=generator),
                "end_positions": torch.randint(0, LENGTH, (BATCH,), generator=generator),
            }
        )
    return out


def _model(folder: str, attention_dropout: float | None) -> torch.nn.Module:
    extra = {} if attention_dropout is None else {"attention_probs_dropout_prob": attention_dropout}
    torch.manual_seed(0)
    model = AutoModelForQuestionAnswering.from_pretrained(folder, **extra)
    apply_freezing(model, Hyperparameters(freeze_embeddings=True, freeze_layers=FROZEN))
    return model.train()


def _train_seconds(model: torch.nn.Module, batches: list[dict[str, torch.Tensor]]) -> list[float]:
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    times = []
    for batch in batches:
        started = time.perf_counter()
        model(**batch).loss.backward()
        optimiser.step()
        optimiser.zero_grad()
        times.append(time.perf_counter() - started)
    return times


def training(folder: str, batches: list[dict[str, torch.Tensor]], repeat: int) -> dict[str, Any]:
    configs = {
        "plain": (None, False),
        "no-attention-dropout": (0.0, False),
        "replay": (None, True),
        "replay + no-attention-dropout": (0.0, True),
    }
    models = {name: _model(folder, dropout) for name, (dropout, _) in configs.items()}
    stores = {name: PrefixStore(1 << 32) for name in configs}
    steps: dict[str, list[float]] = {name: [] for name in configs}
    first_epoch: dict[str, float] = {}
    for round_index in range(repeat + 1):  # round 0 records the replayed states (an epoch's first pass)
        for name, (_, replay) in configs.items():
            model = models[name]
            with frozen_prefix_cache(model, FROZEN if replay else 0, stores[name]):
                seconds = _train_seconds(model, batches)
            if round_index == 0:
                first_epoch[name] = sum(seconds)
            else:
                steps[name].extend(seconds)
    baseline = statistics.median(steps["plain"])
    return {
        name: {
            "median_step_s": round(statistics.median(times), 3),
            "first_pass_s_per_step": round(first_epoch[name] / len(batches), 3),
            "speedup_vs_plain": round(baseline / statistics.median(times), 2),
        }
        for name, times in steps.items()
    }


def evaluation(folder: str, batches: list[dict[str, torch.Tensor]], conditions: int = 3) -> dict[str, Any]:
    model = AutoModelForQuestionAnswering.from_pretrained(folder).eval()
    inputs = [{k: v for k, v in b.items() if k not in ("start_positions", "end_positions")} for b in batches]

    def run_all() -> float:
        started = time.perf_counter()
        with torch.inference_mode():
            for batch in inputs:
                model(**batch)
        return time.perf_counter() - started

    plain = sum(run_all() for _ in range(conditions))
    store = PrefixStore(1 << 32)
    with frozen_prefix_cache(model, FROZEN, store):
        replayed = [run_all() for _ in range(conditions)]
    return {
        "conditions": conditions,
        "plain_s": round(plain, 2),
        "replay_s": round(sum(replayed), 2),
        "replay_first_s": round(replayed[0], 2),
        "replay_later_s": round(statistics.mean(replayed[1:]), 2),
        "speedup_vs_plain": round(plain / sum(replayed), 2),
        "store_mb": round(store.bytes / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds over the batches")
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    folder = str(resolve_model(ModelSpec(name="me5-small", source="embedded:me5-small")).folder)
    vocab = int(AutoModelForQuestionAnswering.from_pretrained(folder).config.vocab_size)
    batches = _batches(args.batches, vocab)
    result = {
        "workload": f"{args.batches} batches of {BATCH}x{LENGTH} tokens, freeze_layers {FROZEN} of 12, "
        f"{torch.get_num_threads()} threads",
        "training": training(folder, batches, args.repeat),
        "evaluation": evaluation(folder, batches),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(result["workload"])
    for name, row in result["training"].items():
        print(
            f"  train {name:32s} {row['median_step_s']:6.2f} s/step "
            f"(first pass {row['first_pass_s_per_step']:.2f})  {row['speedup_vs_plain']:.2f}x"
        )
    ev = result["evaluation"]
    print(
        f"  eval of {ev['conditions']} checkpoints sharing the frozen layers: plain {ev['plain_s']} s, "
        f"replay {ev['replay_s']} s (first {ev['replay_first_s']}, then {ev['replay_later_s']} each)  "
        f"{ev['speedup_vs_plain']:.2f}x, store {ev['store_mb']} MB"
    )
    print(f"  peak RSS {result['peak_rss_mb']} MB")


if __name__ == "__main__":
    main()
