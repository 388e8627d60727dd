"""The tiny grid (tests/tiny_fixtures.py, 17 jobs: training and evaluation) run as a
user runs it, ``harness run --executor …``, into a fresh store per executor, in one process's sequence:
local (in process), local --workers 2, Ray (a local cluster of 2 CPUs) and Slurm (the machine's node,
1 CPU per array task, 2 at once). Prints the wall of each run, jobs per minute, the ratio to in process,
and the per-job overhead ``(wall - in-process wall) / jobs``; checks every store has the same records.

    HF_HUB_OFFLINE=1 python benchmarks/grid_executors.py [--executors local workers-2 ray slurm]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from tiny_fixtures import build_tiny_model, write_tiny_tasks  # noqa: E402

ARGS = {
    "local": [],
    "workers-2": ["--workers", "2"],
    "ray": ["--executor", "ray", "--profile", "{tmp}/ray.yaml"],
    "slurm": ["--executor", "slurm", "--profile", "{tmp}/slurm.yaml"],
}
PROFILES = {
    "ray.yaml": "executor: ray\ncluster_cpus: 2\nresources: {cpus: 1}\n",
    "slurm.yaml": "executor: slurm\nresources: {cpus: 1, memory_gb: 2, time_min: 10}\narray_parallelism: 2\n",
}


def run(name: str, tasks: Path, tmp: Path) -> tuple[float, int]:
    store = tmp / name
    command = [
        sys.executable, "-m", "harness.cli", "run", str(tasks / "grids" / "tiny.yaml"),
        "--results", str(store / "results"), "--lock", str(store / "checkpoints.lock"),
        "--tasks-dir", str(tasks), *(a.format(tmp=tmp) for a in ARGS[name]),
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{name}: exit {done.returncode}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return wall, len(list((store / "results" / "records").rglob("*.json")))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--executors", nargs="+", default=list(ARGS), choices=list(ARGS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for file, text in PROFILES.items():
            (tmp / file).write_text(text, encoding="utf-8")
        tasks = write_tiny_tasks(tmp / "tiny", build_tiny_model(tmp / "model"))
        jobs = 17
        runs = {name: run(name, tasks, tmp) for name in args.executors}
    assert len({n for _, n in runs.values()}) == 1, f"the stores differ in records: {runs}"
    walls = {name: wall for name, (wall, _) in runs.items()}
    base = walls.get("local")
    load = os.getloadavg()[0]
    print(f"tiny grid, {jobs} jobs per run; load average (1 min) at the end: {load:.1f}")
    print(f"{'executor':<10} {'wall s':>8} {'jobs/min':>9} {'x local':>8} {'overhead/job s':>15}")
    for name, wall in walls.items():
        ratio = f"{base / wall:.2f}" if base else "-"
        overhead = f"{(wall - base) / jobs:.2f}" if base else "-"
        print(f"{name:<10} {wall:8.1f} {jobs / wall * 60:9.1f} {ratio:>8} {overhead:>15}")


if __name__ == "__main__":
    main()
