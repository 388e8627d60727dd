"""The reference for the kill/resume and two-driver tests: the tiny grid run once, uninterrupted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from grid_runs import GridReference, Store, start_run
from store_digest import finished_store_problems


@pytest.fixture(scope="session")
def tiny_grid_reference(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> GridReference:
    from tiny_fixtures import write_tiny_tasks

    root = tmp_path_factory.mktemp("tiny-grid-reference")
    tasks = write_tiny_tasks(root, tiny_model)
    store = Store(root / "store")
    run = start_run(tasks, store, name="reference")
    assert run.wait_for_work(), run.describe()
    began = time.time()
    assert run.finish() == 0, run.describe()
    work_s = time.time() - began
    assert finished_store_problems(store.results, store.inputs_lock) == []
    computed = store.computed()
    jobs = {job.key: job.label for job in computed}
    assert len(jobs) == len(computed) == 17, "the job log hook (HARNESS_TEST_JOB_LOG) must log every job once"
    finished = [began] + [job.finished for job in computed]
    job_s = {
        job.key: max(0.0, end - start)
        for job, start, end in zip(computed, finished[:-1], finished[1:], strict=True)
    }
    return GridReference(tasks, store, store.digest(), jobs, work_s, job_s)
