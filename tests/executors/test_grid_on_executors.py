"""The tiny grid through every executor, as a user runs it (``harness run --executor …``): each store
equals the in-process run's — the same jobs, records, predictions, checkpoints and lock — and every job is
computed once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from grid_runs import GridReference, Store, run_to_end
from store_digest import finished_store_problems

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

RAY_PROFILE = "executor: ray\ncluster_cpus: 2\nresources: {cpus: 1}\n"
SLURM_PROFILE = "executor: slurm\nresources: {cpus: 1, memory_gb: 2, time_min: 10}\narray_parallelism: 2\n"


def run_through(reference: GridReference, store: Store, *args: str) -> None:
    run = run_to_end(reference.tasks, store, *args)
    assert run.process.returncode == 0, run.describe()
    problems = "\n".join(finished_store_problems(store.results, store.inputs_lock))
    assert problems == "", f"{' '.join(args)}: the store has problems:\n{problems}"
    differences = "\n".join(store.digest().differences(reference.digest))
    assert differences == "", f"{' '.join(args)}: the store differs from the in-process run's:\n{differences}"
    counts = Counter(job.key for job in store.computed())
    assert set(counts) == set(reference.jobs), "every job of the grid ran"
    assert max(counts.values()) == 1, f"jobs computed twice: {[k for k, n in counts.items() if n > 1]}"


def test_two_local_workers_make_the_in_process_store(
    tiny_grid_reference: GridReference, tmp_path: Path
) -> None:
    run_through(tiny_grid_reference, Store(tmp_path / "store"), "--executor", "local", "--workers", "2")


def test_ray_makes_the_in_process_store(
    tiny_grid_reference: GridReference, tmp_path: Path, ray_installed: None
) -> None:
    profile = tmp_path / "ray.yaml"
    profile.write_text(RAY_PROFILE, encoding="utf-8")
    run_through(
        tiny_grid_reference, Store(tmp_path / "store"), "--executor", "ray", "--profile", str(profile)
    )


def test_slurm_makes_the_in_process_store(
    tiny_grid_reference: GridReference, tmp_path: Path, slurm_cluster: None
) -> None:
    profile = tmp_path / "slurm.yaml"
    profile.write_text(SLURM_PROFILE, encoding="utf-8")
    store = Store(tmp_path / "store")
    run_through(tiny_grid_reference, store, "--executor", "slurm", "--profile", str(profile))
    assert any((store.results / "logs" / "slurm").rglob("*_log.out")), "each Slurm task logs under the store"
