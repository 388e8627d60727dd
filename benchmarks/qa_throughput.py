"""Extractive QA evaluation throughput: the harness's QA path against a loop over the QA pipeline.

Both paths run the same model object (the embedded multilingual-e5-small encoder with a seeded, freshly
initialised span head: speed does not depend on the head's weights) over the same XQuAD questions
(the first ``--per-language`` questions of each language, read from ``../shared/data/xquad`` or
``$HARNESS_DATA_DIR/xquad``), in one process, on CPU.

* "ours" is what the runner does per evaluation cell: ``KIND.features`` (XTREME's windows: 384 tokens,
  doc stride 128, questions cut to 64 tokens) then ``KIND.predict`` (length-bucketed, dynamically padded
  batches under ``torch.inference_mode``, n-best 20 span search, max answer 30 tokens, EM/F1), one
  language at a time; all of it is timed.
* "pipeline" is a plain Python loop calling ``pipeline("question-answering")`` once per question with
  ``max_answer_len=30`` (ours) and ``align_to_words=False`` (ours maps token offsets, not words), the
  pipeline's defaults otherwise (384 tokens, 128 tokens of overlap, one window per forward pass).

transformers releases after 5.0 ship no question-answering pipeline; then the benchmark says so and stops.
Run it in an environment with transformers 5.0 (see ``benchmarks/README.md`` for the overlay used).
The answers of the two paths are compared with the SQuAD v1.1 EM/F1 (one path's answer as the other's
gold); they differ where the two decoders do (windows, n-best vs exhaustive search, logit sum vs
per-window probability product).

    HF_HUB_OFFLINE=1 python benchmarks/qa_throughput.py [--languages en de] [--per-language 100]
        [--repeat 1] [--threads N] [--workers N] [--precision auto|bf16|fp16] [--profile] [--json]

``--precision P`` also times our path in P (``auto`` resolved for this machine as a grid's would be:
bf16 on a GPU or a CPU with native bf16, else fp32) and reports its speed against the pipeline and
against ours in fp32, with the EM/F1 of its answers taking ours-fp32's as gold.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import datasets
import torch
import transformers

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_throughput import PositionCounter, peak_rss_mib  # noqa: E402

from harness.catalogue.loader import Catalogue  # noqa: E402
from harness.catalogue.schema import TaskSpec  # noqa: E402
from harness.data import loaders  # noqa: E402
from harness.extras import materialize_embedded  # noqa: E402
from harness.kinds.base import WORKERS_ENV, eval_workers  # noqa: E402
from harness.kinds.extractive_qa import KIND  # noqa: E402
from harness.models.loading import load_tokenizer  # noqa: E402
from harness.runner.precision import resolve_precision, this_device  # noqa: E402
from harness.scoring.qa import normalizer_for  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
TASK = "xquad"
MAX_LENGTH = 384
MAX_ANSWER = 30
OUR_BATCH = 64
SEED = 0
DEFAULT_LANGUAGES = ["en", "de", "ru", "zh", "ar", "hi", "th"]


def data_dir() -> Path | None:
    """Where XQuAD is: ``$HARNESS_DATA_DIR`` when it holds it, else the project's shared data copy."""
    for folder in (os.environ.get("HARNESS_DATA_DIR"), SHARED_DATA):
        if folder and (Path(folder) / "xquad" / "xquad.en.json").is_file():
            return Path(folder)
    return None


def load_task(languages: Sequence[str], per_language: int) -> tuple[TaskSpec, dict[str, datasets.Dataset]]:
    catalogue = Catalogue.load(REPO_ROOT / "tasks")
    task = catalogue.task(TASK)
    unknown = sorted(set(languages) - set(task.languages))
    if unknown:
        raise SystemExit(f"unknown languages for {TASK}: {unknown}; choose from {task.languages}")
    base_dir = catalogue.task_path(TASK).parent
    return task, {
        lang: loaders.load_rows(task, split="test", language=lang, base_dir=base_dir, limit=per_language).rows
        for lang in languages
    }


def run_ours(
    model: torch.nn.Module,
    tokenizer: Any,
    task: TaskSpec,
    by_language: dict[str, datasets.Dataset],
    precision: str = "fp32",
) -> tuple[list[str], float]:
    answers: list[str] = []
    start = time.perf_counter()
    for lang, rows in by_language.items():
        features = KIND.features(rows, tokenizer, task, max_length=MAX_LENGTH)
        predictions = KIND.predict(
            model, features, rows, task, tokenizer, batch_size=OUR_BATCH, precision=precision, language=lang
        )
        answers.extend(str(p.prediction) for p in predictions)
    return answers, time.perf_counter() - start


def run_pipeline(qa: Any, questions: Sequence[tuple[str, str]]) -> tuple[list[str], float]:
    answers: list[str] = []
    start = time.perf_counter()
    for question, context in questions:
        out = qa(question=question, context=context, max_answer_len=MAX_ANSWER, align_to_words=False)
        answers.append(out["answer"])
    return answers, time.perf_counter() - start


def agreement(ours: Sequence[str], theirs: Sequence[str]) -> dict[str, float]:
    """SQuAD EM/F1 (percent) of our answers against the pipeline's, taken as gold."""
    from harness.scoring.qa import exact_after, f1_after

    normalize = normalizer_for("squad")
    em = [exact_after(normalize, a, b) for a, b in zip(ours, theirs, strict=True)]
    f1 = [f1_after(normalize, a, b) for a, b in zip(ours, theirs, strict=True)]
    return {"exact_match": 100 * statistics.fmean(em), "f1": 100 * statistics.fmean(f1)}


def gold_scores(answers: Sequence[str], by_language: dict[str, datasets.Dataset]) -> dict[str, float]:
    from harness.kinds.extractive_qa import gold_answers
    from harness.scoring.qa import best_over_golds

    normalize = normalizer_for("squad")
    rows = [row for part in by_language.values() for row in part]
    pairs = [
        best_over_golds(normalize, a, [t for t, _ in gold_answers(row["answers"])])
        for a, row in zip(answers, rows, strict=True)
    ]
    return {
        "exact_match": 100 * statistics.fmean(p[0] for p in pairs),
        "f1": 100 * statistics.fmean(p[1] for p in pairs),
    }


def profile_ours(call: Callable[[], Any], top: int = 25) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    call()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def benchmark(
    languages: Sequence[str], per_language: int, repeat: int, profile: bool, precision: str = "fp32"
) -> dict[str, Any]:
    wall_start = time.perf_counter()
    load_start = os.getloadavg()[0]
    task, by_language = load_task(languages, per_language)
    folder = materialize_embedded("me5-small")
    torch.manual_seed(SEED)
    model = KIND.load_model(str(folder), task).eval()
    tokenizer = load_tokenizer(str(folder))
    qa = transformers.pipeline(
        "question-answering", model=model, tokenizer=tokenizer, device=torch.device("cpu")
    )
    counter = PositionCounter(model)
    questions = [(row["question"], row["context"]) for part in by_language.values() for row in part]
    n = len(questions)
    rss_after_setup = peak_rss_mib()

    warm = {lang: rows.select(range(min(8, len(rows)))) for lang, rows in list(by_language.items())[:1]}
    run_ours(model, tokenizer, task, warm)
    mixed = precision != "fp32"
    if mixed:
        run_ours(model, tokenizer, task, warm, precision)
    run_pipeline(qa, questions[:8])

    ours_s, pipe_s, per_round, mixed_s = [], [], [], []
    mixed_answers: list[str] = []
    positions: dict[str, int] = {}
    for _ in range(repeat):
        before = counter.positions
        ours, seconds = run_ours(model, tokenizer, task, by_language)
        positions["ours"] = counter.positions - before
        ours_s.append(seconds)
        before = counter.positions
        theirs, seconds = run_pipeline(qa, questions)
        positions["pipeline"] = counter.positions - before
        pipe_s.append(seconds)
        per_round.append(round(pipe_s[-1] / ours_s[-1], 3))
        if mixed:
            mixed_answers, seconds = run_ours(model, tokenizer, task, by_language, precision)
            mixed_s.append(seconds)
    ours_med, pipe_med = statistics.median(ours_s), statistics.median(pipe_s)
    report: dict[str, Any] = {
        "task": TASK,
        "languages": list(by_language),
        "questions": n,
        "repeat": repeat,
        "ours": {"seconds": ours_med, "runs": ours_s, "questions_per_s": n / ours_med},
        "pipeline": {"seconds": pipe_med, "runs": pipe_s, "questions_per_s": n / pipe_med},
        "ratio": pipe_med / ours_med,
        "ratio_per_round": per_round,
        "token_positions": positions,
        "answers_ours_vs_pipeline": agreement(ours, theirs),
        "gold_ours": gold_scores(ours, by_language),
        "gold_pipeline": gold_scores(theirs, by_language),
        "peak_rss_after_setup_mib": rss_after_setup,
    }
    if mixed:
        mixed_med = statistics.median(mixed_s)
        report["precision"] = {
            "resolved": precision,
            "seconds": mixed_med,
            "runs": mixed_s,
            "ratio_to_pipeline": pipe_med / mixed_med,
            "ratio_to_fp32": ours_med / mixed_med,
            "answers_vs_fp32": agreement(mixed_answers, ours),
            "gold": gold_scores(mixed_answers, by_language),
        }
    if profile:
        report["profile_ours"] = profile_ours(lambda: run_ours(model, tokenizer, task, by_language))
    report["peak_rss_mib"] = peak_rss_mib()
    report["wall_s"] = time.perf_counter() - wall_start
    report["environment"] = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "eval_workers": eval_workers(torch.device("cpu")),
        "cpus": os.cpu_count(),
        "load_average_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
    }
    return report


def print_table(report: dict[str, Any]) -> None:
    print(
        f"{report['task']}: {report['questions']} questions in {len(report['languages'])} languages "
        f"({' '.join(report['languages'])}), median of {report['repeat']}"
    )
    print(f"{'path':<28}{'seconds':>9}{'questions/s':>13}{'token positions':>17}")
    for key, name in (
        ("ours", "ours (bs 64, windows 384/128)"),
        ("pipeline", "pipeline loop (per question)"),
    ):
        f = report[key]
        print(
            f"{name:<28}{f['seconds']:>9.2f}{f['questions_per_s']:>13.1f}{report['token_positions'][key]:>17}"
        )
    print(f"ratio (pipeline s / ours s): {report['ratio']:.2f}x   per round: {report['ratio_per_round']}")
    if "precision" in report:
        p = report["precision"]
        print(
            f"ours {p['resolved']}: {p['seconds']:.2f} s, {p['ratio_to_pipeline']:.2f}x of the pipeline, "
            f"{p['ratio_to_fp32']:.2f}x of ours fp32; answers vs ours fp32 as gold: "
            f"EM {p['answers_vs_fp32']['exact_match']:.1f}  F1 {p['answers_vs_fp32']['f1']:.1f}"
        )
    agree = report["answers_ours_vs_pipeline"]
    print(f"answers, ours vs pipeline as gold: EM {agree['exact_match']:.1f}  F1 {agree['f1']:.1f}")
    for key in ("gold_ours", "gold_pipeline"):
        print(f"{key} (random head): EM {report[key]['exact_match']:.1f}  F1 {report[key]['f1']:.1f}")
    env = report["environment"]
    print(
        f"peak RSS {report['peak_rss_mib']:.0f} MiB (after setup {report['peak_rss_after_setup_mib']:.0f}); "
        f"wall {report['wall_s']:.1f} s; torch {env['torch']}, transformers {env['transformers']}, "
        f"{env['threads']} threads, {env['eval_workers']} eval workers, load {env['load_average_1min']}"
    )
    if "profile_ours" in report:
        print(report["profile_ours"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--languages", nargs="+", default=DEFAULT_LANGUAGES)
    parser.add_argument("--per-language", type=int, default=100, help="first N questions of each language")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument(
        "--workers",
        type=int,
        help=f"batches of windows our path runs at once (sets ${WORKERS_ENV}; default: the thread count)",
    )
    parser.add_argument("--profile", action="store_true", help="also cProfile one pass of our path")
    parser.add_argument(
        "--precision",
        choices=["auto", "bf16", "fp16"],
        help="also time our path in this precision (auto: resolved for this machine as a grid would be)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from transformers.pipelines import SUPPORTED_TASKS

    if "question-answering" not in SUPPORTED_TASKS:
        print(
            f"skipped: transformers {transformers.__version__} has no question-answering pipeline "
            "(it was removed after 5.0); run with transformers 5.0 (benchmarks/README.md)"
        )
        return 0
    folder = data_dir()
    if folder is None:
        print(f"skipped: XQuAD not found under $HARNESS_DATA_DIR or {SHARED_DATA}")
        return 0
    os.environ["HARNESS_DATA_DIR"] = str(folder)
    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=UserWarning)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.workers:
        os.environ[WORKERS_ENV] = str(args.workers)
    precision = "fp32"
    if args.precision == "bf16":
        precision = "bf16"  # timed even where a grid would refuse it: the emulation's cost is the figure
    elif args.precision:
        precision = resolve_precision(args.precision, this_device())
        print(f"--precision {args.precision} is {precision} on this machine")
    report = benchmark(args.languages, args.per_language, args.repeat, args.profile, precision)
    print(json.dumps(report, indent=2) if args.json else "", end="\n" if args.json else "")
    if not args.json:
        print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
