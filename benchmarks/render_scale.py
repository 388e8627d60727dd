"""Render the leaderboard site for a synthetic results store at the scale of a full XTREME grid:
200 checkpoints × 9 targets × 40 languages × 3 domains (1 in-domain + 2 shifted) × 3 seeds = 648,000 records.

Prints wall time and peak RSS, and the ratio against a baseline in the same process: building the
flat records frame (one pass over the records, what any report must do at least once). The records are
in memory (pydantic ``model_construct``, sub-objects shared between records as a loaded store's are
not — so this measures the site, not JSON parsing); there are no per-example files, so CIs come from
the three seeds. Timings are contended when other processes share the CPU.

    python benchmarks/render_scale.py [--checkpoints 200] [--languages 40] [--seeds 3] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from harness.report.pages.stats import compute_tables
from harness.report.site import render_site
from harness.report.tables import flat_frame
from harness.results.schema import BaselineInfo, CheckpointInfo, LineageStep, Record, SplitInfo, TaskInfo
from harness.scoring.xtreme import XTREME_TASKS

LANGS = [
    "en",
    "af",
    "ar",
    "bg",
    "bn",
    "de",
    "el",
    "es",
    "et",
    "eu",
    "fa",
    "fi",
    "fr",
    "he",
    "hi",
    "hu",
    "id",
    "it",
    "ja",
    "jv",
    "ka",
    "kk",
    "ko",
    "ml",
    "mr",
    "ms",
    "my",
    "nl",
    "pt",
    "ru",
    "sw",
    "ta",
    "te",
    "th",
    "tl",
    "tr",
    "ur",
    "vi",
    "yo",
    "zh",
]
SPLITS = [("test", "wiki", True), ("shift-a", "news", False), ("shift-b", "web", False)]
FIELDS = frozenset(Record.model_fields)  # one shared fields-set: a fresh set per record costs ~0.7 kB


def synthetic_records(n_checkpoints: int, n_languages: int, n_seeds: int) -> list[Record]:
    rng = random.Random(0)
    languages = LANGS[:n_languages]
    tasks = {
        t: TaskInfo.model_construct(name=t, version=1, kind="classification", protocol="official")
        for t in XTREME_TASKS
    }
    splits = {s: SplitInfo.model_construct(name=s, domain=d, in_domain=i) for s, d, i in SPLITS}
    baseline = BaselineInfo.model_construct(name="majority label", scores={"accuracy": 0.33})
    provenance = {
        "code_version": "bench",
        "created": "2025-01-01T00:00:00+00:00",
        "wall_time_s": 1.0,
        "hardware": {"device": "cpu"},
    }
    data = {
        (t, s, lang): {"origin": f"{t}/{s}/{lang}"}
        for t in XTREME_TASKS
        for s, _, _ in SPLITS
        for lang in languages
    }
    records = []
    for c in range(n_checkpoints):
        source = ("en", "english") if c % 2 else (LANGS[1 + c % 39], "translated")
        name = f"model{c // 20}+cond{c % 20}"
        level = 0.4 + 0.5 * rng.random()
        for seed in range(1, n_seeds + 1):
            info = CheckpointInfo.model_construct(
                name=name, key=f"k{c}-{seed}", model=f"model{c // 20}", model_source="bench", model_revision=None,
                condition=f"cond{c % 20}", intermediate_task=f"task{(c % 20) // 2}", source_lang=source[0],
                source_type=source[1], intermediate_size=1000, matched_with=f"cond{c % 20 + 1}" if c % 2 == 0 else None,
                frozen_embeddings=False, lineage=[LineageStep.model_construct(phase="base", key=f"b{c // 20}", name=f"model{c // 20}"),
                                                   LineageStep.model_construct(phase="target", key=f"k{c}-{seed}", name=name, seed=seed)],
            )  # fmt: skip
            for task in XTREME_TASKS:
                settings = {"selection_rule": "english_dev", "precision": "fp32", "seed": seed}
                for split, _, in_domain in SPLITS:
                    for lang in languages:
                        score = min(1.0, max(0.0, level - (0.0 if in_domain else 0.1) + rng.gauss(0, 0.03)))
                        # grid paper names the xtreme group: the overall and group rows are rendered too
                        records.append(
                            Record.model_construct(
                                _fields_set=FIELDS,
                                schema_version=1, cell=f"{len(records):016x}", grid="paper", checkpoint=info, seed=seed,
                                task=tasks[task], split=splits[split], language=lang, n_examples=1000,
                                scores={"accuracy": score}, main_metric="accuracy", main_score=score, baseline=baseline,
                                data=data[(task, split, lang)], settings=settings, provenance=provenance,
                                predictions=f"records/{name}/{task}.{split}.{lang}.{seed}.predictions.jsonl",
                            )
                        )  # fmt: skip
    return records


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=200)
    parser.add_argument("--languages", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="keep the site here (default: a temp folder)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    records = synthetic_records(args.checkpoints, args.languages, args.seeds)
    built = time.perf_counter() - start
    rss_records = peak_rss_mb()
    print(f"{len(records):,} synthetic records built in {built:.1f} s (peak RSS {rss_records:.0f} MB)")

    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    frame = flat_frame(records)
    baseline = time.perf_counter() - start
    del frame

    folder = Path(tempfile.mkdtemp(prefix="render-scale-"))
    out = args.out or folder / "site"
    try:
        start, cpu = time.perf_counter(), time.process_time()
        tables = compute_tables(None, records)  # type: ignore[arg-type]  # no store: seed-level CIs
        stats, stats_cpu = time.perf_counter() - start, time.process_time() - cpu
        start, cpu = time.perf_counter(), time.process_time()
        written = render_site(records, out, folder / "results", tables=tables)
        pages, pages_cpu = time.perf_counter() - start, time.process_time() - cpu
        size = sum(p.stat().st_size for p in written)
    finally:
        if args.out is None:
            shutil.rmtree(folder, ignore_errors=True)
    total = stats + pages
    peak = peak_rss_mb()
    print(f"baseline  records frame (one pass over the records): {baseline:6.1f} s")
    print(f"stats     score/checkpoint/robustness/contrast tables: {stats:6.1f} s (CPU {stats_cpu:.1f} s)")
    print(f"site      pages, downloads, plots (given the tables):  {pages:6.1f} s (CPU {pages_cpu:.1f} s)")
    print(f"total     stats + site: {total:.1f} s = {total / baseline:.1f}× the baseline; target < 30 s")
    print(
        f"load      1-minute load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (2 cores)"
    )
    print(f"output    {len(written)} files, {size / 1e6:.0f} MB")
    print(f"peak RSS  {peak:.0f} MB (of which the records themselves {rss_records:.0f} MB); target < 2048 MB")
    return 0 if total < 30 and peak < 2048 else 1


if __name__ == "__main__":
    sys.exit(main())
