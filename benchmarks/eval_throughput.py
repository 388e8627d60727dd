"""Evaluation throughput: the harness's classification path against ``transformers.pipeline``.

Both paths run the same model object (the embedded multilingual-e5-small encoder with a seeded random
7-label head) over the same SIB-200 test sentences, in one process, on CPU. "Ours" is what the runner
does per evaluation cell: ``KIND.features`` (tokenise, truncate to 128) then ``KIND.predict``
(length-bucketed, dynamically padded batches of 64 under ``torch.inference_mode``), one language at a
time; tokenisation and prediction are timed together. The baseline is
``pipeline("text-classification", batch_size=32, truncation=True, max_length=128)`` over the raw texts
in the same order.

    HF_HUB_OFFLINE=1 python benchmarks/eval_throughput.py [--languages en de ...] [--repeat 3] [--bf16] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import datasets
import torch
import transformers
from transformers import pipeline

from harness.catalogue.loader import Catalogue
from harness.catalogue.schema import TaskSpec
from harness.data.loaders import RowSet, load_rows
from harness.kinds.base import length_bucketed_batches
from harness.kinds.classification import KIND
from harness.models.embedded import materialize_embedded
from harness.models.loading import load_tokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]
TASK = "sib200"
MAX_LENGTH = 128
OUR_BATCH = 64
PIPELINE_BATCH = 32
WARMUP_ROWS = 32
SEED = 0


@dataclass
class Timing:
    """One path's figures over the whole example set."""

    seconds: float
    runs: list[float]
    examples_per_s: float
    tokens_per_s: float
    padded_tokens: int
    """Token positions the model actually computed (rows × longest row, summed over batches)."""


# --------------------------------------------------------------------------- setup


def load_task(languages: Sequence[str] | None) -> tuple[TaskSpec, list[RowSet]]:
    catalogue = Catalogue.load(REPO_ROOT / "tasks")
    task = catalogue.task(TASK)
    base_dir = catalogue.task_path(TASK).parent
    chosen = list(languages) if languages else list(task.languages)
    unknown = sorted(set(chosen) - set(task.languages))
    if unknown:
        raise SystemExit(f"unknown languages for {TASK}: {unknown}; choose from {task.languages}")
    rowsets = [load_rows(task, split="test", language=lang, base_dir=base_dir) for lang in chosen]
    return task, rowsets


def load_model(task: TaskSpec) -> tuple[torch.nn.Module, Any]:
    folder = materialize_embedded("me5-small")
    torch.manual_seed(SEED)
    model = KIND.load_model(str(folder), task)
    model.eval()
    return model, load_tokenizer(str(folder))


def token_lengths(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Tokens per example after truncation (special tokens included), as both paths see them."""
    encoded = tokenizer(list(texts), truncation=True, max_length=MAX_LENGTH)
    return [len(ids) for ids in encoded["input_ids"]]


def padded_ours(lengths_per_language: Sequence[Sequence[int]]) -> int:
    return sum(
        len(batch) * max(lengths[i] for i in batch)
        for lengths in lengths_per_language
        for batch in length_bucketed_batches(lengths, OUR_BATCH)
    )


def padded_pipeline(lengths: Sequence[int]) -> int:
    chunks = (lengths[i : i + PIPELINE_BATCH] for i in range(0, len(lengths), PIPELINE_BATCH))
    return sum(len(chunk) * max(chunk) for chunk in chunks)


# --------------------------------------------------------------------------- the two paths


def run_ours(
    model: torch.nn.Module,
    tokenizer: Any,
    task: TaskSpec,
    languages: Sequence[datasets.Dataset],
    precision: str,
) -> list[int]:
    """Predicted label indices, in row order, through ``features`` + ``predict`` per language."""
    labels = task.labels or []
    predicted: list[int] = []
    for rows in languages:
        features = KIND.features(rows, tokenizer, task, max_length=MAX_LENGTH)
        predictions = KIND.predict(
            model, features, rows, task, tokenizer, batch_size=OUR_BATCH, precision=precision
        )
        predicted.extend(labels.index(p.prediction) for p in predictions)
    return predicted


def make_pipeline(model: torch.nn.Module, tokenizer: Any) -> Any:
    return pipeline(
        "text-classification",
        model=model,
        tokenizer=tokenizer,
        batch_size=PIPELINE_BATCH,
        truncation=True,
        max_length=MAX_LENGTH,
        device=torch.device("cpu"),
    )


def run_pipeline(classifier: Any, task: TaskSpec, texts: Sequence[str]) -> list[int]:
    labels = task.labels or []
    return [labels.index(out["label"]) for out in classifier(list(texts))]


def timed(fn: Callable[[], list[int]], repeat: int) -> tuple[list[int], list[float]]:
    """The result of the last run and the wall time of every run."""
    runs: list[float] = []
    result: list[int] = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - start)
    return result, runs


def summarise(runs: list[float], examples: int, tokens: int, padded: int) -> Timing:
    seconds = statistics.median(runs)
    return Timing(seconds, runs, examples / seconds, tokens / seconds, padded)


def agreement(a: Sequence[int], b: Sequence[int]) -> float:
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


# --------------------------------------------------------------------------- driver


def benchmark(languages: Sequence[str] | None, repeat: int, bf16: bool) -> dict[str, Any]:
    wall_start = time.perf_counter()
    task, rowsets = load_task(languages)
    model, tokenizer = load_model(task)
    texts = [text for rowset in rowsets for text in rowset.rows["text"]]
    lengths = [token_lengths(tokenizer, rowset.rows["text"]) for rowset in rowsets]
    flat_lengths = [n for per_language in lengths for n in per_language]
    examples, tokens = len(texts), sum(flat_lengths)
    classifier = make_pipeline(model, tokenizer)

    parts = [rowset.rows for rowset in rowsets]
    warm = [parts[0].select(range(min(WARMUP_ROWS, len(parts[0]))))]
    run_ours(model, tokenizer, task, warm, "fp32")
    run_pipeline(classifier, task, texts[:WARMUP_ROWS])

    ours_pred, ours_runs = timed(lambda: run_ours(model, tokenizer, task, parts, "fp32"), repeat)
    pipe_pred, pipe_runs = timed(lambda: run_pipeline(classifier, task, texts), repeat)
    ours = summarise(ours_runs, examples, tokens, padded_ours(lengths))
    pipe = summarise(pipe_runs, examples, tokens, padded_pipeline(flat_lengths))

    report: dict[str, Any] = {
        "task": TASK,
        "languages": [r.language for r in rowsets],
        "examples": examples,
        "tokens": tokens,
        "repeat": repeat,
        "ratio": ours.examples_per_s / pipe.examples_per_s,
        "agreement": agreement(ours_pred, pipe_pred),
        "ours": asdict(ours),
        "pipeline": asdict(pipe),
    }
    if bf16:
        run_ours(model, tokenizer, task, warm, "bf16")
        bf16_pred, bf16_runs = timed(lambda: run_ours(model, tokenizer, task, parts, "bf16"), repeat)
        report["ours_bf16"] = asdict(summarise(bf16_runs, examples, tokens, padded_ours(lengths)))
        report["bf16_agreement_with_fp32"] = agreement(bf16_pred, ours_pred)
    report["peak_rss_mib"] = peak_rss_mib()
    report["wall_s"] = time.perf_counter() - wall_start
    report["environment"] = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    return report


def print_table(report: dict[str, Any]) -> None:
    print(
        f"{report['task']} test, {len(report['languages'])} languages, {report['examples']} examples, "
        f"{report['tokens']} tokens, median of {report['repeat']}"
    )
    print(f"{'path':<22}{'seconds':>9}{'examples/s':>12}{'tokens/s':>11}{'padded tokens':>15}")
    rows = [("ours fp32 (bs 64)", report["ours"]), ("pipeline (bs 32)", report["pipeline"])]
    if "ours_bf16" in report:
        rows.append(("ours bf16 (bs 64)", report["ours_bf16"]))
    for name, t in rows:
        print(
            f"{name:<22}{t['seconds']:>9.2f}{t['examples_per_s']:>12.1f}"
            f"{t['tokens_per_s']:>11.0f}{t['padded_tokens']:>15}"
        )
    print(f"ratio (ours / pipeline examples/s): {report['ratio']:.2f}x")
    print(f"argmax agreement ours vs pipeline:  {report['agreement']:.4f}")
    if "bf16_agreement_with_fp32" in report:
        print(f"argmax agreement bf16 vs fp32:      {report['bf16_agreement_with_fp32']:.4f}")
    print(f"peak RSS: {report['peak_rss_mib']:.0f} MiB   wall: {report['wall_s']:.1f} s")


def quiet() -> None:
    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=UserWarning)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--languages", nargs="+", help="SIB-200 languages (default: all 12 of the task)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per path; the median is reported")
    parser.add_argument("--bf16", action="store_true", help="also time our path with precision=bf16")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    quiet()
    report = benchmark(args.languages, args.repeat, args.bf16)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)


if __name__ == "__main__":
    main()
