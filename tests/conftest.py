"""Shared fixtures: a tiny BERT and word-level tokenizer built by the tests, and tiny task folders."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from grid_runs import GridReference

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny models run fastest on one thread (no OpenMP hand-offs); subprocesses inherit this.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from tiny_fixtures import build_tiny_model, write_tiny_tasks  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def tiny_tasks(tmp_path: Path, tiny_model: Path) -> Path:
    return write_tiny_tasks(tmp_path, tiny_model)


@pytest.fixture(scope="session")
def tiny_grid_reference(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> GridReference:
    """The tiny grid run once, uninterrupted, in process: the reference of the kill, two-driver and
    executor tests."""
    import time

    from grid_runs import GridReference, Store, start_run
    from store_digest import finished_store_problems

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
