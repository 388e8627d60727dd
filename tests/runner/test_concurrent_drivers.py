"""Two ``harness run`` drivers on one results folder: together they finish the grid, no job is computed
twice (each job a process computes is logged through HARNESS_TEST_JOB_LOG), no pin is lost, neither
crashes, and the store equals an uninterrupted run's (tests/store_digest.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from grid_runs import GridReference, Store, run_to_end, start_run
from store_digest import finished_store_problems, leftovers, lock_verify_problems, pin_problems

pytestmark = pytest.mark.slow


def jobs_computed_twice(reference: GridReference, store: Store) -> list[str]:
    counts = Counter(job.key for job in store.computed())
    return sorted(f"{reference.jobs.get(key, key)} ({n}×)" for key, n in counts.items() if n > 1)


def assert_equals_the_reference(reference: GridReference, store: Store) -> None:
    problems = "\n".join(finished_store_problems(store.results, store.inputs_lock))
    assert problems == "", f"the store has problems:\n{problems}"
    differences = "\n".join(store.digest().differences(reference.digest))
    assert differences == "", f"the store differs from the uninterrupted run's:\n{differences}"


@pytest.mark.parametrize("second_starts", ["together", "once-the-first-is-working"])
def test_two_drivers_on_one_store_compute_every_job_once(
    tiny_grid_reference: GridReference, tmp_path: Path, second_starts: str
) -> None:
    reference = tiny_grid_reference
    store = Store(tmp_path / "store")
    first = start_run(reference.tasks, store, name="driver-1")
    if second_starts == "once-the-first-is-working":  # its start-up must not take the first's work away
        assert first.wait_for_work(), first.describe()
    second = start_run(reference.tasks, store, name="driver-2")
    for driver in (first, second):
        assert driver.finish() == 0, driver.describe()

    assert jobs_computed_twice(reference, store) == []
    assert {job.key for job in store.computed()} == reference.jobs.keys()
    assert_equals_the_reference(reference, store)


def test_two_drivers_with_different_only_lose_no_pin(
    tiny_grid_reference: GridReference, tmp_path: Path
) -> None:
    reference = tiny_grid_reference
    store = Store(tmp_path / "store")
    drivers = [start_run(reference.tasks, store, "--only", cond, name=cond) for cond in ("mc-en", "mc-de")]
    for driver in drivers:
        assert driver.finish() == 0, driver.describe()

    trained = {
        key
        for key, label in reference.jobs.items()
        if any(f"+{cond}/" in label for cond in ("mc-en", "mc-de")) and "evaluate:" not in label
    }
    assert len(trained) == 4  # an intermediate and a target checkpoint per condition
    problems = "\n".join(pin_problems(store.results) + lock_verify_problems(store.results, store.inputs_lock))
    assert problems == "", f"after two runs with different --only:\n{problems}"
    assert set(store.digest().produced_lock) == trained
    assert leftovers(store.results) == []
    assert jobs_computed_twice(reference, store) == []

    # the rest of the grid on top of the two partial runs: the store is the uninterrupted run's
    final = run_to_end(reference.tasks, store)
    assert final.process.returncode == 0, final.describe()
    assert jobs_computed_twice(reference, store) == []
    assert_equals_the_reference(reference, store)
