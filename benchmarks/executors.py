"""The same jobs through every executor in one process: local (in process), local --workers 2, Ray
(a local cluster of 2 CPUs) and Slurm (the machine's single node, 2 CPUs, one CPU per array task).

For each: the start-up (spawning workers, starting Ray; Slurm's daemons are already up), the wall of the
wave from the first submission to the last result, jobs per minute, and the per-job overhead against the
in-process run: ``(wave wall × parallel slots − in-process wall) / jobs`` — the slot-seconds each job
costs beyond its own work. Every executor's results must equal the in-process ones (checked).

The job function and the job list are parameters (``module:function``, imported from sys.path, which the
workers inherit), so the tiny grid's ``run_job`` can be measured the same way:

    HF_HUB_OFFLINE=1 python benchmarks/executors.py [--jobs 24] [--rounds 300000]
        [--executors local workers-2 ray slurm] [--job executor_jobs:spin --make-jobs executor_jobs:spin_jobs]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.executors import Executor, Profile, make_executor  # noqa: E402

DEFAULT_JOBS = "executor_jobs:spin_jobs"
SLOTS = {"local": 1, "workers-2": 2, "ray": 2, "slurm": 2}


def _load(spec: str) -> Callable[..., Any]:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _start(name: str, log_dir: Path) -> Executor:
    if name == "local":
        return make_executor("local")
    if name == "workers-2":
        return make_executor("local", workers=2)
    if name == "ray":
        return make_executor("ray", profile=Profile(executor="ray", cluster_cpus=2))
    if name == "slurm":
        return make_executor("slurm", log_dir=log_dir, profile=Profile(executor="slurm", array_parallelism=2))
    raise SystemExit(f"unknown executor {name!r} (allowed: {', '.join(SLOTS)})")


def _slurm_answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    return subprocess.run(["sinfo", "-h"], capture_output=True, check=False).returncode == 0


def measure(name: str, job: Callable[[Any], Any], jobs: list[Any], log_dir: Path) -> dict[str, Any]:
    began = time.perf_counter()
    executor = _start(name, log_dir)
    started = time.perf_counter()
    try:
        results = [future.result() for future in executor.submit_wave(job, jobs)]
        finished = time.perf_counter()
    finally:
        executor.close()
    return {
        "executor": name,
        "startup_s": started - began,
        "wave_s": finished - started,
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=300_000, help="work per default job (SHA-256 rounds)")
    parser.add_argument("--executors", nargs="+", default=list(SLOTS), choices=list(SLOTS))
    parser.add_argument("--job", default="executor_jobs:spin", help="module:function run on each job")
    parser.add_argument(
        "--make-jobs",
        default=DEFAULT_JOBS,
        help="module:function(count) -> jobs (the default also takes --rounds)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    job = _load(args.job)
    make_jobs = _load(args.make_jobs)
    jobs = make_jobs(args.jobs, args.rounds) if args.make_jobs == DEFAULT_JOBS else make_jobs(args.jobs)
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="executor-bench-") as tmp:
        for name in ["local", *[n for n in args.executors if n != "local"]]:
            if name == "slurm" and not _slurm_answers():
                print("slurm: skipped (sinfo does not answer; start one with .ci/slurm-up.sh as root)")
                continue
            rows.append(measure(name, job, jobs, Path(tmp) / name))
    load_after = os.getloadavg()

    reference = rows[0]
    expected = reference["results"]
    local_per_job = reference["wave_s"] / len(jobs)
    for row in rows:
        assert row["results"] == expected, f"{row['executor']}: results differ from in-process"
        row["jobs_per_min"] = 60 * len(jobs) / row["wave_s"]
        row["speed_vs_local"] = reference["wave_s"] / row["wave_s"]
        row["overhead_per_job_s"] = row["wave_s"] * SLOTS[row["executor"]] / len(jobs) - local_per_job
        del row["results"]
    summary = {"jobs": len(jobs), "load_before": load_before, "load_after": load_after, "rows": rows}
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(
        f"{len(jobs)} jobs, in process {local_per_job:.2f} s each; load average {load_before[0]:.2f} → "
        f"{load_after[0]:.2f} on {os.cpu_count()} CPUs"
    )
    print(
        f"{'executor':<10} {'slots':>5} {'start-up s':>10} {'wave s':>8} {'jobs/min':>9} {'× local':>8} "
        f"{'overhead/job s':>15}"
    )
    for row in rows:
        print(
            f"{row['executor']:<10} {SLOTS[row['executor']]:>5} {row['startup_s']:>10.2f} {row['wave_s']:>8.2f} "
            f"{row['jobs_per_min']:>9.1f} {row['speed_vs_local']:>8.2f} {row['overhead_per_job_s']:>15.3f}"
        )


if __name__ == "__main__":
    main()
