"""Statistics tables at leaderboard scale: checkpoint_table + robustness_table + contrast_table.

Two parts, in one process:

1. **Seeds only** (the issue's synthetic store): ``--checkpoints`` (200) × 9 targets × ``--languages``
   (40) × 3 domains (one in-domain split, two shifted) × ``--seeds`` (3) in-memory records without
   per-example files (648,000 records), so every CI comes from resampling seeds. Timed: the three
   tables with ``n_boot`` = 1000, cold (first call: the records are read into cells) and warm
   (the cells are cached; what the report pays for its second and later tables). Baseline: a naive
   per-cell Python loop (resample the cell's seeds ``n_boot`` times with ``numpy`` and take the
   percentiles, i.e. only the per-cell CIs of ``score_table``), timed on ``--naive-cells`` cells and
   scaled linearly to all of them.
2. **Per-example**: a results store on disk with ``--ex-checkpoints`` (20) × 3 tasks (classification,
   QA, tagging) × ``--ex-languages`` (10) × 2 splits (in-domain, shifted) × ``--examples`` (1,000)
   per-example predictions (1 seed). Timed: reading the predictions into per-example statistics and
   the example-level paired bootstrap (cold), then the three tables warm; reading and reducing the
   predictions and our paired bootstrap over already-read statistics are also timed alone. Baseline: a
   naive loop that bootstraps each record separately from the same statistics (a fresh index resample
   per replicate, ``n_boot`` Python iterations per record), timed on ``--naive-records`` records and
   scaled, against our bootstrap time.

    HF_HUB_OFFLINE=1 python benchmarks/stats_scale.py [--json] [--checkpoints 200] [--examples 1000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.report.contrast import contrast_table
from harness.results.schema import BaselineInfo, CheckpointInfo, LineageStep, Record, SplitInfo, TaskInfo
from harness.results.store import ResultsStore
from harness.scoring.cells import _CACHE
from harness.scoring.robustness import robustness_table
from harness.scoring.stats_tables import checkpoint_table

TARGETS = ["pawsx", "xnli", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"]
SOURCES = ["en", "de", "fr", "es", "sw", "zh", "ar", "hi", "ru", "tr"]
N_BOOT = 1000


def checkpoints(n: int) -> list[CheckpointInfo]:
    """``n`` checkpoints: models × source languages; every non-English one is matched with its English one."""
    out = []
    for i in range(n):
        model, lang = f"model{i // len(SOURCES)}", SOURCES[i % len(SOURCES)]
        out.append(
            CheckpointInfo.model_construct(
                name=f"{model}+mmlu-{lang}",
                key=f"k{i}",
                model=model,
                model_source="embedded:synthetic",
                condition=f"mmlu-{lang}",
                intermediate_task="mmlu_parallel",
                source_lang=lang,
                source_type="english" if lang == "en" else "translated",
                intermediate_size=160,
                matched_with=None if lang == "en" else "mmlu-en",
                frozen_embeddings=False,
                lineage=[LineageStep.model_construct(phase="base", key="b", name=model)],
            )
        )
    return out


def synthetic_records(n_ckpt: int, n_lang: int, n_seeds: int) -> list[Record]:
    rng = np.random.default_rng(0)
    tasks = {
        t: TaskInfo.model_construct(name=t, version=1, kind="classification", protocol="official")
        for t in TARGETS
    }
    splits = [
        SplitInfo.model_construct(name="test", domain="wiki", in_domain=True),
        SplitInfo.model_construct(name="news", domain="news", in_domain=False),
        SplitInfo.model_construct(name="web", domain="web", in_domain=False),
    ]
    baseline = BaselineInfo.model_construct(name="majority label", scores={"accuracy": 0.3})
    langs = [f"l{i:02d}" for i in range(n_lang - 1)] + ["en"]
    scores = rng.uniform(0.3, 0.9, size=n_ckpt * len(TARGETS) * len(splits) * n_lang * n_seeds)
    out, k = [], 0
    for ck in checkpoints(n_ckpt):
        for task in tasks.values():
            for split in splits:
                for lang in langs:
                    for seed in range(1, n_seeds + 1):
                        out.append(
                            Record.model_construct(
                                cell=f"c{k}",
                                grid="synthetic",
                                checkpoint=ck,
                                seed=seed,
                                task=task,
                                split=split,
                                language=lang,
                                n_examples=1000,
                                scores={},
                                main_metric="accuracy",
                                main_score=float(scores[k]),
                                baseline=baseline,
                                predictions=f"records/{ck.name}/{k}.predictions.jsonl",
                                provenance={},
                            )
                        )
                        k += 1
    return out


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - started, value


def three_tables(store: ResultsStore | None, records: list[Record]) -> dict[str, int]:
    return {
        "checkpoint_rows": len(checkpoint_table(store, records, N_BOOT)),
        "robustness_rows": len(robustness_table(store, records, N_BOOT)),
        "contrast_rows": len(contrast_table(store, records, N_BOOT)),
    }


def naive_seed_cells(records: list[Record], n_cells: int) -> tuple[float, int]:
    """Per-cell seed bootstrap in a Python loop over records (grouping) and cells (resampling)."""
    started = time.perf_counter()
    cells: dict[tuple, list[float]] = {}
    for r in records:
        cells.setdefault((r.checkpoint.name, r.task.name, r.split.name, r.language), []).append(r.main_score)
    grouping = time.perf_counter() - started
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for scores in list(cells.values())[:n_cells]:
        values = np.asarray(scores)
        means = [values[rng.integers(0, len(values), len(values))].mean() for _ in range(N_BOOT)]
        np.percentile(means, [2.5, 97.5])
    per_cell = (time.perf_counter() - started) / n_cells
    return grouping + per_cell * len(cells), len(cells)


def seeds_only(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    records = synthetic_records(args.checkpoints, args.languages, args.seeds)
    build_s = time.perf_counter() - started
    _CACHE.clear()
    cold_s, rows = timed(three_tables, None, records)
    warm_s, _ = timed(three_tables, None, records)
    naive_s, n_cells = naive_seed_cells(records, args.naive_cells)
    return {
        "records": len(records),
        "cells": n_cells,
        "build_records_s": round(build_s, 2),
        "three_tables_cold_s": round(cold_s, 2),
        "three_tables_warm_s": round(warm_s, 2),
        "naive_per_cell_ci_s (scaled)": round(naive_s, 1),
        "ratio_naive_over_ours_cold": round(naive_s / cold_s, 1),
        **rows,
    }


def write_example_store(root: Path, args: argparse.Namespace) -> ResultsStore:
    store = ResultsStore(root)
    rng = random.Random(0)
    kinds = {
        "cls": ("classification", "accuracy"),
        "qa": ("extractive_qa", "em_f1_mean"),
        "pos": ("tagging", "f1"),
    }
    tags = ["NOUN", "VERB", "ADJ", "DET", "ADP"]
    splits = [
        SplitInfo(name="test", domain="wiki", in_domain=True),
        SplitInfo(name="news", domain="news", in_domain=False),
    ]
    for ck in checkpoints(args.ex_checkpoints):
        skill = rng.uniform(0.5, 0.9)
        for task, (kind, metric) in kinds.items():
            for split in splits:
                for li in range(args.ex_languages):
                    lang = "en" if li == 0 else f"l{li:02d}"
                    p = skill - (0.1 if not split.in_domain else 0.0)
                    rows = []
                    for i in range(args.examples):
                        ident = f"{split.name}-{lang}-{i}"
                        if kind == "tagging":
                            gold = [rng.choice(tags) for _ in range(8)]
                            pred = [g if rng.random() < p else rng.choice(tags) for g in gold]
                            rows.append({"id": ident, "prediction": pred, "label": gold, "correct": 0.0})
                        elif kind == "extractive_qa":
                            em = float(rng.random() < p)
                            rows.append(
                                {
                                    "id": ident,
                                    "prediction": "a",
                                    "label": ["a"],
                                    "correct": em,
                                    "f1": max(em, rng.random()),
                                }
                            )
                        else:
                            rows.append(
                                {"id": ident, "prediction": 1, "label": 1, "correct": float(rng.random() < p)}
                            )
                    from harness.scoring.example_stats import stats_from_rows

                    score = stats_from_rows(kind, metric, rows).score()  # type: ignore[union-attr]
                    rec = Record(
                        cell=f"{ck.name}-{task}-{split.name}-{lang}",
                        grid="synthetic",
                        checkpoint=CheckpointInfo.model_validate(ck.model_dump()),
                        seed=1,
                        task=TaskInfo(name=task, version=1, kind=kind),
                        split=split,
                        language=lang,
                        n_examples=len(rows),
                        scores={metric: score},
                        main_metric=metric,
                        main_score=score,
                        provenance={"created": "2026-01-01"},
                        predictions=f"records/{ck.name}/{task}.{split.name}.{lang}.predictions.jsonl",
                    )
                    store.write(rec, rows, root / "records" / ck.name / f"{task}.{split.name}.{lang}.json")
    return store


def per_cell_records(records: list[Record]) -> tuple[Any, list[list[Record]]]:
    from harness.scoring.cells import _build, record_arrays

    cs = _build(None, records, record_arrays(records), N_BOOT)  # cells only, no predictions read
    index = {
        key: i
        for i, key in enumerate(
            zip(*(cs.frame[k] for k in ("checkpoint", "task", "split", "language")), strict=True)
        )
    }
    groups: list[list[Record]] = [[] for _ in range(len(cs.frame))]
    for rec in records:
        groups[index[(rec.checkpoint.name, rec.task.name, rec.split.name, rec.language)]].append(rec)
    return cs, groups


def read_all(store: ResultsStore, groups: list[list[Record]]) -> dict:
    """Every record's predictions read and reduced to per-example statistics (no memo carried over)."""
    from harness.scoring.cells import usable_stats
    from harness.scoring.example_stats import _chunks_of

    _chunks_of.cache_clear()
    return usable_stats(store.root, groups)


def naive_example_bootstrap(stats: list, n_records: int) -> float:
    """Each record bootstrapped on its own, from already-read statistics: n_boot Python iterations of
    index resampling per record, scaled to all records."""
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    flat = [one for seeds in stats.values() for one in seeds]
    for one in flat[:n_records]:
        reps = []
        for _ in range(N_BOOT):
            idx = rng.integers(0, one.n, one.n)
            reps.append(one.num[idx].sum() / one.den[idx].sum())
        np.percentile(reps, [2.5, 97.5])
    return (time.perf_counter() - started) / n_records * len(flat)


def per_example(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        store = write_example_store(Path(folder), args)
        write_s = time.perf_counter() - started
        records = store.records()
        from harness.scoring.cells import paired_replicates

        cs, groups = per_cell_records(records)
        read_s, stats = timed(read_all, store, groups)
        bootstrap_s, _ = timed(paired_replicates, cs.frame, stats, N_BOOT)
        naive_s = naive_example_bootstrap(stats, args.naive_records)
        from harness.scoring.example_stats import _chunks_of

        _chunks_of.cache_clear()
        _CACHE.clear()
        cold_s, rows = timed(three_tables, store, records)
        warm_s, _ = timed(three_tables, store, records)
    return {
        "records": len(records),
        "examples": len(records) * args.examples,
        "write_store_s": round(write_s, 1),
        "read_and_reduce_predictions_s": round(read_s, 2),
        "three_tables_cold_s (incl. reading)": round(cold_s, 2),
        "three_tables_warm_s": round(warm_s, 2),
        "ours_paired_bootstrap_s (all records, reading excluded)": round(bootstrap_s, 2),
        "naive_per_record_bootstrap_s (scaled, reading excluded)": round(naive_s, 1),
        "ratio_naive_over_ours_bootstrap": round(naive_s / bootstrap_s, 1),
        **rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoints", type=int, default=200)
    parser.add_argument("--languages", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--naive-cells", type=int, default=2000)
    parser.add_argument("--ex-checkpoints", type=int, default=20)
    parser.add_argument("--ex-languages", type=int, default=10)
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--naive-records", type=int, default=40)
    parser.add_argument("--skip-seeds", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"n_boot": N_BOOT}
    if not args.skip_seeds:
        result["seeds_only"] = seeds_only(args)
        _CACHE.clear()
    result["per_example"] = per_example(args)
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for part, values in result.items():
            print(part, values if not isinstance(values, dict) else "")
            if isinstance(values, dict):
                for key, value in values.items():
                    print(f"  {key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
