"""Evaluation throughput: the harness's classification path against ``transformers.pipeline``.

Both paths run the same model object (the embedded multilingual-e5-small encoder with a seeded random
7-label head) over the same SIB-200 test sentences, in one process, on CPU.

* "ours" is what the runner does per evaluation cell: ``KIND.features`` (tokenise, truncate to 128)
  then ``KIND.predict`` (length-bucketed, dynamically padded batches of at most 64 under
  ``torch.inference_mode``), one language at a time; tokenisation and prediction are timed together.
* "pipeline" is ``pipeline("text-classification", batch_size=32, truncation=True, max_length=128)``
  over the raw texts of all languages, in the same order.

Timed runs alternate between the paths (ours, pipeline, ours, ...) so that load from other processes
falls on both; with ``--repeat N`` the median run is reported.

    HF_HUB_OFFLINE=1 python benchmarks/eval_throughput.py [--languages en de] [--repeat 3] [--bf16] [--json]
        [--threads 1]
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
from harness.data import loaders
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
class Run:
    """One timed pass over every example."""

    predicted: list[int]
    seconds: float
    tokenise_seconds: float | None = None
    padded_tokens: int = 0


@dataclass
class Figures:
    """One path's figures over the whole example set (median run)."""

    seconds: float
    runs: list[float]
    examples_per_s: float
    tokens_per_s: float
    padded_tokens: int
    """Token positions the model computed: rows × longest row, summed over batches."""
    tokenise_seconds: float | None
    """Of ``seconds``, the time spent in ``KIND.features`` (ours only)."""


# --------------------------------------------------------------------------- setup


def load_task(languages: Sequence[str] | None) -> tuple[TaskSpec, dict[str, datasets.Dataset]]:
    """The task and its test rows per language, in the order asked for."""
    catalogue = Catalogue.load(REPO_ROOT / "tasks")
    task = catalogue.task(TASK)
    base_dir = catalogue.task_path(TASK).parent
    chosen = list(languages) if languages else list(task.languages)
    unknown = sorted(set(chosen) - set(task.languages))
    if unknown:
        raise SystemExit(f"unknown languages for {TASK}: {unknown}; choose from {task.languages}")
    return task, {
        lang: loaders.load_rows(task, split="test", language=lang, base_dir=base_dir).rows for lang in chosen
    }


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


class PositionCounter:
    """Counts the token positions (rows × padded width) the model is run on, whichever path calls it."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.positions = 0
        model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module: torch.nn.Module, args: tuple, kwargs: dict[str, Any]) -> None:
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        if input_ids is not None:
            self.positions += input_ids.numel()

    def measure(self, path: Callable[[], Run]) -> Run:
        before = self.positions
        run = path()
        run.padded_tokens = self.positions - before
        return run


# --------------------------------------------------------------------------- the two paths


def run_ours(
    model: torch.nn.Module,
    tokenizer: Any,
    task: TaskSpec,
    languages: Sequence[datasets.Dataset],
    precision: str,
) -> Run:
    """Label indices in row order through ``features`` + ``predict``, one call per language."""
    labels = task.labels or []
    predicted: list[int] = []
    tokenise = 0.0
    start = time.perf_counter()
    for rows in languages:
        tokenise_start = time.perf_counter()
        features = KIND.features(rows, tokenizer, task, max_length=MAX_LENGTH)
        tokenise += time.perf_counter() - tokenise_start
        predictions = KIND.predict(
            model, features, rows, task, tokenizer, batch_size=OUR_BATCH, precision=precision
        )
        predicted.extend(labels.index(p.prediction) for p in predictions)
    return Run(predicted, time.perf_counter() - start, tokenise)


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


def run_pipeline(classifier: Any, task: TaskSpec, texts: Sequence[str]) -> Run:
    labels = task.labels or []
    start = time.perf_counter()
    predicted = [labels.index(out["label"]) for out in classifier(list(texts))]
    return Run(predicted, time.perf_counter() - start)


def alternate(
    paths: dict[str, Callable[[], Run]], repeat: int, counter: PositionCounter
) -> dict[str, list[Run]]:
    """Run every path ``repeat`` times, round-robin, so background load falls on all of them."""
    runs: dict[str, list[Run]] = {name: [] for name in paths}
    for _ in range(repeat):
        for name, path in paths.items():
            runs[name].append(counter.measure(path))
    return runs


def summarise(runs: Sequence[Run], examples: int, tokens: int) -> Figures:
    seconds = statistics.median(run.seconds for run in runs)
    tokenise = [run.tokenise_seconds for run in runs if run.tokenise_seconds is not None]
    return Figures(
        seconds=seconds,
        runs=[round(run.seconds, 3) for run in runs],
        examples_per_s=examples / seconds,
        tokens_per_s=tokens / seconds,
        padded_tokens=runs[-1].padded_tokens,
        tokenise_seconds=statistics.median(tokenise) if tokenise else None,
    )


def paired_ratios(baseline: Sequence[Run], candidate: Sequence[Run]) -> list[float]:
    """Speed-up of ``candidate`` over ``baseline`` in each round; back-to-back runs see similar load."""
    return [round(b.seconds / c.seconds, 3) for b, c in zip(baseline, candidate, strict=True)]


def agreement(a: Sequence[int], b: Sequence[int]) -> float:
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


# --------------------------------------------------------------------------- driver


def benchmark(languages: Sequence[str] | None, repeat: int, bf16: bool) -> dict[str, Any]:
    wall_start = time.perf_counter()
    load_start = os.getloadavg()[0]
    task, by_language = load_task(languages)
    model, tokenizer = load_model(task)
    parts = list(by_language.values())
    texts = [text for rows in parts for text in rows["text"]]
    examples, tokens = len(texts), sum(token_lengths(tokenizer, texts))
    classifier = make_pipeline(model, tokenizer)
    counter = PositionCounter(model)
    rss_after_setup = peak_rss_mib()

    precisions = ["fp32", "bf16"] if bf16 else ["fp32"]
    warm = [parts[0].select(range(min(WARMUP_ROWS, len(parts[0]))))]
    for precision in precisions:
        run_ours(model, tokenizer, task, warm, precision)
    run_pipeline(classifier, task, texts[:WARMUP_ROWS])

    paths: dict[str, Callable[[], Run]] = {
        "ours": lambda: run_ours(model, tokenizer, task, parts, "fp32"),
        "pipeline": lambda: run_pipeline(classifier, task, texts),
    }
    if bf16:
        paths["ours_bf16"] = lambda: run_ours(model, tokenizer, task, parts, "bf16")
    runs = alternate(paths, repeat, counter)
    figures = {name: summarise(r, examples, tokens) for name, r in runs.items()}

    report: dict[str, Any] = {
        "task": TASK,
        "languages": list(by_language),
        "examples": examples,
        "tokens": tokens,
        "repeat": repeat,
        "ratio": figures["ours"].examples_per_s / figures["pipeline"].examples_per_s,
        "ratio_per_round": paired_ratios(runs["pipeline"], runs["ours"]),
        "agreement": agreement(runs["ours"][-1].predicted, runs["pipeline"][-1].predicted),
        **{name: asdict(f) for name, f in figures.items()},
    }
    if bf16:
        report["bf16_ratio_to_fp32"] = figures["ours_bf16"].examples_per_s / figures["ours"].examples_per_s
        report["bf16_agreement_with_fp32"] = agreement(
            runs["ours_bf16"][-1].predicted, runs["ours"][-1].predicted
        )
    report["peak_rss_after_setup_mib"] = rss_after_setup
    report["peak_rss_mib"] = peak_rss_mib()
    report["wall_s"] = time.perf_counter() - wall_start
    report["environment"] = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "datasets": datasets.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load_average_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "python": platform.python_version(),
    }
    return report


def print_table(report: dict[str, Any]) -> None:
    print(
        f"{report['task']} test, {len(report['languages'])} languages, {report['examples']} examples, "
        f"{report['tokens']} tokens, median of {report['repeat']}"
    )
    print(
        f"{'path':<20}{'seconds':>9}{'of which tok.':>15}{'examples/s':>12}{'tokens/s':>10}{'padded tok.':>13}"
    )
    names = {"ours": "ours fp32 (bs 64)", "pipeline": "pipeline (bs 32)", "ours_bf16": "ours bf16 (bs 64)"}
    for key, name in names.items():
        if key not in report:
            continue
        f = report[key]
        tokenise = "" if f["tokenise_seconds"] is None else f"{f['tokenise_seconds']:.2f}"
        print(
            f"{name:<20}{f['seconds']:>9.2f}{tokenise:>15}{f['examples_per_s']:>12.1f}"
            f"{f['tokens_per_s']:>10.0f}{f['padded_tokens']:>13}"
        )
    print(
        f"ratio (ours / pipeline examples/s): {report['ratio']:.2f}x   per round: {report['ratio_per_round']}"
    )
    print(f"argmax agreement ours vs pipeline:  {report['agreement']:.4f}")
    if "bf16_agreement_with_fp32" in report:
        print(f"bf16 / fp32 throughput:             {report['bf16_ratio_to_fp32']:.2f}x")
        print(f"argmax agreement bf16 vs fp32:      {report['bf16_agreement_with_fp32']:.4f}")
    print(
        f"peak RSS: {report['peak_rss_mib']:.0f} MiB "
        f"(after setup {report['peak_rss_after_setup_mib']:.0f} MiB)   wall: {report['wall_s']:.1f} s"
    )
    env = report["environment"]
    print(f"threads: {env['threads']} of {env['cpus']} CPUs, 1-min load average {env['load_average_1min']}")


def quiet() -> None:
    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=UserWarning)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--languages", nargs="+", help="SIB-200 languages (default: all 12 of the task)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per path; the median is reported")
    parser.add_argument("--bf16", action="store_true", help="also time our path with precision=bf16")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument(
        "--threads", type=int, help="torch intra-op threads for both paths (default: torch's choice)"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    quiet()
    if args.threads:
        torch.set_num_threads(args.threads)
    report = benchmark(args.languages, args.repeat, args.bf16)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)


if __name__ == "__main__":
    main()
