"""kill -9 at any instant: the tiny grid, killed at random and at named instants and resumed with the same
command, ends with the store an uninterrupted run makes (tests/store_digest.py), every checkpoint pinned,
nothing left over, and no finished job computed again."""

from __future__ import annotations

import os
import random
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest
from grid_runs import (
    KILL_AFTER_JOBS_ENV,
    KILL_AT_ENV,
    GridReference,
    Store,
    killed_at,
    run_to_end,
    start_run,
)
from store_digest import finished_store_problems, pin_problems

pytestmark = pytest.mark.slow

# HARNESS_KILL_SEEDS="1,2,3,4,5" for a longer soak; each seed is one store killed up to KILLS_PER_SEED times
RANDOM_SEEDS = [int(s) for s in os.environ.get("HARNESS_KILL_SEEDS", "11,12").split(",")]
KILLS_PER_SEED = 4  # up to 8 random kills over the 2 default seeds

# instants a random kill rarely hits, reached through harness/fault_injection.py (HARNESS_TEST_KILL_AT),
# and kills between jobs (HARNESS_TEST_KILL_AFTER_JOBS, harness/runner/work.py)
NAMED_INSTANTS = {
    # the first checkpoint complete in its build folder, not published
    "mid-save": (KILL_AT_ENV, "checkpoint-built:1"),
    # the second checkpoint published, not yet hashed and pinned
    "mid-hash": (KILL_AT_ENV, "checkpoint-published:2"),
    # the store's lock: temp written, not renamed
    "mid-lock-write": (KILL_AT_ENV, "temp-written:1:*/results/checkpoints.lock"),
    # the first evaluation: predictions on disk, record not yet
    "mid-record-write": (KILL_AT_ENV, "predictions-written:1"),
    # after the first job (an intermediate checkpoint), and after the ninth (amid the evaluations)
    "after-1-job": (KILL_AFTER_JOBS_ENV, "1"),
    "after-9-jobs": (KILL_AFTER_JOBS_ENV, "9"),
}


def assert_resumes_to_the_reference(
    reference: GridReference, store: Store, *args: str, kills: str = "the kill"
) -> None:
    final = run_to_end(reference.tasks, store, *args)
    assert final.process.returncode == 0, final.describe()
    problems = "\n".join(finished_store_problems(store.results, store.inputs_lock))
    assert problems == "", f"after {kills} and a resume to the end:\n{problems}"
    differences = "\n".join(store.digest().differences(reference.digest))
    assert differences == "", f"after {kills}, the store differs from the uninterrupted run's:\n{differences}"


def assert_no_job_computed_twice(reference: GridReference, store: Store) -> None:
    counts = Counter(job.key for job in store.computed())
    twice = sorted(f"{reference.jobs.get(key, key)} ({n}×)" for key, n in counts.items() if n > 1)
    assert twice == [], f"finished jobs computed again on resume: {twice}"
    assert counts.keys() <= reference.jobs.keys()


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_killed_at_random_instants_resumes_to_the_uninterrupted_store(
    tiny_grid_reference: GridReference, tmp_path: Path, seed: int
) -> None:
    reference = tiny_grid_reference
    rng = random.Random(seed)
    store = Store(tmp_path / "store")
    delays = []
    for attempt in range(KILLS_PER_SEED):
        run = start_run(reference.tasks, store, name=f"random-kill-{attempt}")
        if run.wait_for_work():
            # within what is left of the work: a resumed run skips the jobs already done
            delay = rng.uniform(0.0, reference.remaining_s({job.key for job in store.computed()}))
            time.sleep(delay)
            if run.kill():
                delays.append(round(delay, 2))
                continue
        assert run.finish() == 0, run.describe()  # it ended before its kill: the grid is complete
        break
    assert delays, f"no kill landed within {reference.work_s:.1f} s of work: the test proved nothing"
    kills = f"kills {delays} s after the runs began their jobs (seed {seed})"
    print(f"{len(delays)} {kills}")  # shown with -rP: how many kills landed, and when
    assert_resumes_to_the_reference(reference, store, kills=kills)
    assert_no_job_computed_twice(reference, store)


@pytest.mark.parametrize("instant", sorted(NAMED_INSTANTS))
def test_killed_at_a_named_instant_resumes_to_the_uninterrupted_store(
    tiny_grid_reference: GridReference, tmp_path: Path, instant: str
) -> None:
    reference = tiny_grid_reference
    store = Store(tmp_path / "store")
    killed_at(reference.tasks, store, NAMED_INSTANTS[instant])
    assert_resumes_to_the_reference(reference, store, kills=f"a kill {instant} ({NAMED_INSTANTS[instant]})")
    assert_no_job_computed_twice(reference, store)


def test_force_killed_mid_replace_keeps_a_usable_checkpoint(
    tiny_grid_reference: GridReference, tmp_path: Path
) -> None:
    """``--force`` re-trains a checkpoint that exists: killed once the new one is built but before it
    replaces the old, the store still holds the old one, matching its pin; the same command completes."""
    reference = tiny_grid_reference
    store = Store(tmp_path / "store")
    shutil.copytree(reference.store.results, store.results)
    shutil.copyfile(reference.store.inputs_lock, store.inputs_lock)
    only = ("--force", "--only", "none/seed1 target")
    (key,) = [k for k, label in reference.jobs.items() if label.endswith("+none/seed1 target:tiny_cls")]

    killed_at(reference.tasks, store, (KILL_AT_ENV, "checkpoint-built:1"), *only)
    assert (store.results / "checkpoints" / key).is_dir(), "--force removed the old checkpoint before the new"
    assert pin_problems(store.results) == []

    assert_resumes_to_the_reference(reference, store, *only, kills="a kill mid --force")
