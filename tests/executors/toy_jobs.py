"""A toy job for the executor tests: module-level (picklable by reference), idempotent, atomic output.

Each attempt leaves a start marker (one file per attempt) and its pid; a finished job leaves its output,
written atomically, and one finish marker per computation. A job whose output exists returns it without
computing again, as the runner skips a job whose record exists."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from harness.errors import HarnessError
from harness.results.atomic import atomic_write_json, atomic_write_text


class ToyJob(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    number: int
    folder: str
    first_attempt_sleep_s: float = 0.0  # only the first attempt sleeps: a retry finishes at once
    wait_for_starts: int = 0  # block until this many jobs have started (proves they run side by side)
    fail_with: str | None = None  # raise a HarnessError with this message


def _count(folder: Path, prefix: str) -> int:
    return sum(1 for _ in folder.glob(f"{prefix}*")) if folder.is_dir() else 0


def run_toy_job(job: ToyJob, *, bonus: int = 0) -> dict[str, Any]:
    """``bonus``: bound with ``functools.partial``, as the driver binds the store to ``run_job``."""
    root = Path(job.folder)
    output = root / "outputs" / f"{job.name}.json"
    if output.exists():
        return {"name": job.name, "value": json.loads(output.read_text())["value"] + bonus}
    starts = root / "starts"
    starts.mkdir(parents=True, exist_ok=True)
    earlier_attempts = _count(starts, f"{job.name}.")
    atomic_write_text(starts / f"{job.name}.{uuid.uuid4().hex}", str(os.getpid()))
    (root / "pids").mkdir(exist_ok=True)
    atomic_write_text(root / "pids" / job.name, str(os.getpid()))
    if job.fail_with is not None:
        raise HarnessError(job.fail_with, field=job.name)
    deadline = time.monotonic() + 60
    while _count(starts, "") < job.wait_for_starts and time.monotonic() < deadline:
        time.sleep(0.05)
    if earlier_attempts == 0:
        time.sleep(job.first_attempt_sleep_s)
    value = job.number**2 + len(job.name)
    atomic_write_json(
        output,
        {
            "value": value,
            "pid": os.getpid(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "worker_index": os.environ.get("HARNESS_WORKER_INDEX"),
        },
    )
    (root / "finished").mkdir(exist_ok=True)
    atomic_write_text(root / "finished" / f"{job.name}.{uuid.uuid4().hex}", "")
    return {"name": job.name, "value": value + bonus}


def attempts(folder: Path, name: str) -> int:
    return _count(folder / "starts", f"{name}.")


def computations(folder: Path, name: str) -> int:
    return _count(folder / "finished", f"{name}.")


def wait_for_pid(folder: Path, name: str, timeout_s: float = 60) -> int:
    path = folder / "pids" / name
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {name} did not start within {timeout_s} s")
        time.sleep(0.1)
    return int(path.read_text())
