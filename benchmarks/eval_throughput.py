"""Evaluation throughput: the harness's classification path against ``transformers.pipeline``.

For each workload, both paths run the same model object (the embedded multilingual-e5-small encoder with
a seeded random head of the task's labels) over the same examples, in one process, on CPU:

* ``sib200``: SIB-200 test, 12 languages × 204 short single sentences (shipped in ``data/``);
* ``pawsx``: PAWS-X dev sentence pairs, 7 languages (``$HARNESS_DATA_DIR`` or ``../shared/data``);
* ``xnli``: XNLI dev premise/hypothesis pairs, 15 languages (same place; CC BY-NC: benchmark use only).

A workload whose data is absent is skipped with the reason printed.

* "ours" is what the runner does per evaluation cell: ``KIND.features`` (tokenise, truncate to 128)
  then ``KIND.predict`` (length-bucketed, dynamically padded batches under ``torch.inference_mode``),
  one language at a time; tokenisation and prediction are timed together.
* "pipeline" is ``pipeline("text-classification", batch_size=32, truncation=True, max_length=128)``
  over the raw texts (``{"text", "text_pair"}`` for pairs) of all languages, in the same order.

Timed runs alternate between the paths (ours, pipeline, ours, ...) so that load from other processes
falls on both; with ``--repeat N`` the median run is reported, with the per-round ratio.

    HF_HUB_OFFLINE=1 python benchmarks/eval_throughput.py [--workloads sib200 pawsx xnli]
        [--per-language N] [--languages en de] [--repeat 3] [--threads 1] [--workers N]
        [--precision auto|bf16|fp16] [--json]

``--precision P`` also times our path in P as a grid would run it: ``auto`` is resolved for this machine
(``harness.runner.precision``: bf16 on a GPU or a CPU with native bf16, else fp32) and the report gives
pipeline / ours-fp32 / ours-P throughput and ours-P's argmax agreement with ours-fp32. ``bf16`` is timed
even where a grid would refuse it (emulated bf16: how much slower it is, is the point); ``--bf16`` is
``--precision bf16``. When P resolves to fp32 the fp32 runs are reported for it (nothing runs twice).

Our path runs its batches on ``--workers`` threads (``$HARNESS_EVAL_WORKERS``; default: torch's thread
count), each op single-threaded, as ``harness.kinds.base.batched_forward`` does in the runner.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import datasets
import torch
import transformers
from transformers import pipeline

from harness.catalogue.loader import Catalogue
from harness.catalogue.schema import RequestedPrecision, TaskSpec
from harness.data import loaders
from harness.extras import materialize_embedded
from harness.kinds.base import WORKERS_ENV, eval_workers
from harness.kinds.classification import KIND
from harness.models.loading import load_tokenizer
from harness.runner.precision import Device, resolve_precision, this_device

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
MAX_LENGTH = 128
OUR_BATCH = 64
PIPELINE_BATCH = 32
WARMUP_ROWS = 32
SEED = 0


@dataclass(frozen=True)
class Workload:
    name: str
    task: str
    split: str
    per_language: int | None
    """First N examples of each language (None: all)."""
    shared: bool
    """Read from ``$HARNESS_DATA_DIR`` or ``../shared/data`` instead of the shipped ``data/``."""
    probe: str
    """A file under the data folder that must exist, relative to it."""


WORKLOADS = {
    "sib200": Workload("sib200", "sib200", "test", None, False, "sib200/eng_Latn/test.tsv"),
    "pawsx": Workload("pawsx", "pawsx", "dev", 300, True, "pawsx/xtreme_format/dev-en.tsv"),
    "xnli": Workload("xnli", "xnli", "dev", 140, True, "xnli/xtreme_format/dev-en.tsv"),
}


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


@dataclass(frozen=True)
class Extra:
    """The extra precision our path is timed in: as asked, and as resolved for this machine."""

    requested: str
    resolved: str

    @property
    def name(self) -> str:
        return f"ours_{self.requested}"


def describe(device: Device) -> str:
    if device.cuda:
        return f"CUDA ({'native' if device.cuda_bf16 else 'no'} bf16)"
    flags = device.cpu_flags
    shown = sorted((flags or set()) & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "bf16"})
    return (
        f"CPU, flags {' '.join(shown) or 'unknown'}: {'native' if device.native_bf16 else 'no native'} bf16"
    )


# --------------------------------------------------------------------------- setup


def data_folder(workload: Workload) -> Path | None:
    """The folder the workload's task reads (``{data_dir}``), or None when its data is absent."""
    if not workload.shared:
        candidates: list[Path | str | None] = [REPO_ROOT / "data"]
    else:
        candidates = [os.environ.get("HARNESS_DATA_DIR"), SHARED_DATA]
    for folder in candidates:
        if folder and (Path(folder) / workload.probe).is_file():
            return Path(folder)
    return None


def load_task(
    workload: Workload, folder: Path, languages: Sequence[str] | None, per_language: int | None
) -> tuple[TaskSpec, dict[str, datasets.Dataset]]:
    """The task and its rows per language, in the order asked for (languages it lacks are left out)."""
    catalogue = Catalogue.load(REPO_ROOT / "tasks")
    task = catalogue.task(workload.task)
    base_dir = catalogue.task_path(workload.task).parent
    chosen = [lang for lang in languages if lang in task.languages] if languages else list(task.languages)
    limit = per_language if per_language is not None else workload.per_language
    before = os.environ.get("HARNESS_DATA_DIR")
    os.environ["HARNESS_DATA_DIR"] = str(folder)
    try:
        rows = {
            lang: loaders.load_rows(
                task, split=workload.split, language=lang, base_dir=base_dir, limit=limit
            ).rows
            for lang in chosen
        }
    finally:
        if before is None:
            os.environ.pop("HARNESS_DATA_DIR", None)
        else:
            os.environ["HARNESS_DATA_DIR"] = before
    return task, rows


def load_model(task: TaskSpec) -> torch.nn.Module:
    torch.manual_seed(SEED)
    model = KIND.load_model(str(materialize_embedded("me5-small")), task)
    return model.eval()


def pipeline_inputs(rows: datasets.Dataset) -> list[Any]:
    """What the pipeline is given: the text, or ``{"text", "text_pair"}`` for a sentence pair."""
    if "text_pair" in rows.column_names:
        return [{"text": a, "text_pair": b} for a, b in zip(rows["text"], rows["text_pair"], strict=True)]
    return list(rows["text"])


def token_lengths(tokenizer: Any, rows: datasets.Dataset) -> list[int]:
    """Tokens per example after truncation (special tokens included), as both paths see them."""
    pair = list(rows["text_pair"]) if "text_pair" in rows.column_names else None
    encoded = tokenizer(list(rows["text"]), pair, truncation=True, max_length=MAX_LENGTH)
    return [len(ids) for ids in encoded["input_ids"]]


class PositionCounter:
    """Counts the token positions (rows × padded width) the model is run on, whichever path calls it."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.positions = 0
        self._lock = threading.Lock()  # our path calls the model from several worker threads at once
        model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module: torch.nn.Module, args: tuple, kwargs: dict[str, Any]) -> None:
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        if input_ids is not None:
            with self._lock:
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


def run_pipeline(classifier: Any, task: TaskSpec, texts: Sequence[Any]) -> Run:
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


def benchmark_workload(
    workload: Workload,
    folder: Path,
    tokenizer: Any,
    languages: Sequence[str] | None,
    per_language: int | None,
    repeat: int,
    extra: Extra | None,
) -> dict[str, Any]:
    started = time.perf_counter()
    task, by_language = load_task(workload, folder, languages, per_language)
    model = load_model(task)
    parts = list(by_language.values())
    inputs = [item for rows in parts for item in pipeline_inputs(rows)]
    examples = len(inputs)
    tokens = sum(sum(token_lengths(tokenizer, rows)) for rows in parts)
    classifier = make_pipeline(model, tokenizer)
    counter = PositionCounter(model)

    timed_extra = extra is not None and extra.resolved != "fp32"
    warm = [parts[0].select(range(min(WARMUP_ROWS, len(parts[0]))))]
    for precision in ["fp32", *([extra.resolved] if extra and timed_extra else [])]:
        run_ours(model, tokenizer, task, warm, precision)
    run_pipeline(classifier, task, inputs[:WARMUP_ROWS])

    paths: dict[str, Callable[[], Run]] = {
        "ours": lambda: run_ours(model, tokenizer, task, parts, "fp32"),
        "pipeline": lambda: run_pipeline(classifier, task, inputs),
    }
    if extra is not None and timed_extra:
        resolved = extra.resolved
        paths[extra.name] = lambda: run_ours(model, tokenizer, task, parts, resolved)
    runs = alternate(paths, repeat, counter)
    if extra is not None and not timed_extra:
        runs[extra.name] = runs["ours"]
    figures = {name: summarise(r, examples, tokens) for name, r in runs.items()}
    report: dict[str, Any] = {
        "workload": workload.name,
        "task": task.name,
        "split": workload.split,
        "languages": list(by_language),
        "examples": examples,
        "tokens": tokens,
        "mean_tokens": tokens / examples,
        "repeat": repeat,
        "ratio": figures["ours"].examples_per_s / figures["pipeline"].examples_per_s,
        "ratio_per_round": paired_ratios(runs["pipeline"], runs["ours"]),
        "agreement": agreement(runs["ours"][-1].predicted, runs["pipeline"][-1].predicted),
        **{name: asdict(f) for name, f in figures.items()},
    }
    if extra is not None:
        mixed = figures[extra.name]
        report["precision"] = {
            "requested": extra.requested,
            "resolved": extra.resolved,
            "timed": timed_extra,
            "ratio_to_pipeline": mixed.examples_per_s / figures["pipeline"].examples_per_s,
            "ratio_to_fp32": mixed.examples_per_s / figures["ours"].examples_per_s,
            "ratio_to_pipeline_per_round": paired_ratios(runs["pipeline"], runs[extra.name]),
            "agreement_with_fp32": agreement(runs[extra.name][-1].predicted, runs["ours"][-1].predicted),
        }
    report["peak_rss_mib"] = peak_rss_mib()
    report["wall_s"] = time.perf_counter() - started
    return report


def benchmark(
    names: Sequence[str],
    languages: Sequence[str] | None,
    per_language: int | None,
    repeat: int,
    extra: Extra | None,
) -> dict[str, Any]:
    wall_start = time.perf_counter()
    load_start = os.getloadavg()[0]
    tokenizer = load_tokenizer(str(materialize_embedded("me5-small")))
    results: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for name in names:
        workload = WORKLOADS[name]
        folder = data_folder(workload)
        if folder is None:
            where = "$HARNESS_DATA_DIR or " + str(SHARED_DATA) if workload.shared else str(REPO_ROOT / "data")
            skipped[name] = f"data absent: no {workload.probe} under {where}"
            continue
        results.append(
            benchmark_workload(workload, folder, tokenizer, languages, per_language, repeat, extra)
        )
    return {
        "workloads": results,
        "skipped": skipped,
        "peak_rss_mib": peak_rss_mib(),
        "wall_s": time.perf_counter() - wall_start,
        "environment": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "datasets": datasets.__version__,
            "threads": torch.get_num_threads(),
            "eval_workers": eval_workers(torch.device("cpu")),
            "cpus": os.cpu_count(),
            "load_average_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
            "python": platform.python_version(),
            "device": describe(this_device()),
        },
    }


def print_table(report: dict[str, Any]) -> None:
    print(
        f"{'workload':<9}{'n':>6}{'langs':>6}{'tok/ex':>7}{'ours s':>9}{'pipe s':>9}{'ours ex/s':>10}"
        f"{'pipe ex/s':>10}{'ours pos.':>10}{'pipe pos.':>10}{'ratio':>7}{'agree':>7}{'RSS MiB':>8}  per round"
    )
    for w in report["workloads"]:
        ours, pipe = w["ours"], w["pipeline"]
        print(
            f"{w['workload']:<9}{w['examples']:>6}{len(w['languages']):>6}{w['mean_tokens']:>7.1f}"
            f"{ours['seconds']:>9.1f}{pipe['seconds']:>9.1f}{ours['examples_per_s']:>10.1f}"
            f"{pipe['examples_per_s']:>10.1f}{ours['padded_tokens']:>10}{pipe['padded_tokens']:>10}"
            f"{w['ratio']:>6.2f}x{100 * w['agreement']:>6.1f}%{w['peak_rss_mib']:>8.0f}  {w['ratio_per_round']}"
        )
        if "precision" in w:
            p = w["precision"]
            note = "" if p["timed"] else " (= the fp32 runs: nothing else to time)"
            print(
                f"{'':<9}ours {p['requested']} = {p['resolved']}{note}: {p['ratio_to_pipeline']:.2f}x of "
                f"the pipeline {p['ratio_to_pipeline_per_round']}, {p['ratio_to_fp32']:.2f}x of ours fp32, "
                f"argmax agreement with fp32 {100 * p['agreement_with_fp32']:.2f}%"
            )
    for name, reason in report["skipped"].items():
        print(f"{name:<9}skipped: {reason}")
    env = report["environment"]
    print(f"device: {env['device']}")
    print(
        f"ratio = ours examples/s over the pipeline's (median run); pos. = token positions computed. "
        f"wall {report['wall_s']:.0f} s; threads {env['threads']} of {env['cpus']} CPUs, "
        f"our eval workers {env['eval_workers']}; "
        f"1-min load average {env['load_average_1min']}"
    )


def quiet() -> None:
    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=UserWarning)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--languages", nargs="+", help="only these languages (default: each task's own)")
    parser.add_argument(
        "--per-language", type=int, help="first N examples per language (default: all for sib200, "
        "300 for pawsx, 140 for xnli: at least 2,000 examples each)"
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per path; the median is reported")
    parser.add_argument(
        "--precision",
        choices=["auto", "bf16", "fp16"],
        help="also time our path in this precision (auto: resolved for this machine as a grid would be)",
    )
    parser.add_argument("--bf16", action="store_true", help="the same as --precision bf16")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument(
        "--threads", type=int, help="torch intra-op threads for both paths (default: torch's choice)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        help=f"batches our path runs at once (sets ${WORKERS_ENV}; default: the thread count, 1: sequential)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    quiet()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.workers:
        os.environ[WORKERS_ENV] = str(args.workers)
    requested = "bf16" if args.bf16 else args.precision
    extra = None
    if requested:
        asked = cast(RequestedPrecision, requested)
        resolved = "bf16" if asked == "bf16" else resolve_precision(asked, this_device())
        extra = Extra(requested, resolved)
    report = benchmark(args.workloads, args.languages, args.per_language, args.repeat, extra)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)


if __name__ == "__main__":
    main()
