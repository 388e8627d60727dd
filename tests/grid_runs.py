"""The tiny grid run as a user runs it: ``python -m harness.cli run`` in a subprocess, killable at will.

Used by the kill/resume and two-driver tests (tests/runner/test_kill_resume.py, test_concurrent_drivers.py).
A store is a folder holding ``results/`` and the ``checkpoints.lock`` its runs pin base models in.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from store_digest import StoreDigest, store_digest

KILL_AT_ENV = "HARNESS_TEST_KILL_AT"  # harness/fault_injection.py
JOB_LOG_ENV = "HARNESS_TEST_JOB_LOG"
KILL_AFTER_JOBS_ENV = "HARNESS_TEST_KILL_AFTER_JOBS"  # harness/runner/execute.py
# extra arguments for every run, e.g. "--executor local --workers 2": the same tests through another executor
EXTRA_ARGS_ENV = "HARNESS_KILL_RUN_ARGS"
RUN_TIMEOUT_S = 600
POLL_S = 0.02


class Computed(NamedTuple):
    """A line of a job log (harness/fault_injection.py)."""

    key: str
    pid: int
    finished: float  # Unix time
    label: str


@dataclass(frozen=True)
class Store:
    root: Path

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def inputs_lock(self) -> Path:
        return self.root / "checkpoints.lock"

    @property
    def logs(self) -> Path:
        return self.root / "job-logs"

    def digest(self) -> StoreDigest:
        return store_digest(self.results, self.inputs_lock)

    def computed(self) -> list[Computed]:
        """Every job any run on this store logged as computed, in order of finishing."""
        jobs = []
        for log in sorted(self.logs.glob("*.log")) if self.logs.is_dir() else []:
            for line in log.read_text(encoding="utf-8").splitlines():
                key, pid, finished, label = line.split(" ", 3)
                jobs.append(Computed(key, int(pid), float(finished), label))
        return sorted(jobs, key=lambda job: job.finished)


@dataclass
class GridRun:
    """One ``harness run`` process on a store."""

    process: subprocess.Popen[bytes]
    store: Store
    launched_ns: int
    name: str
    output_file: Path

    def started_work(self) -> bool:
        """The run has planned and begun its jobs: it rewrites ``unavailable.json`` as its first act."""
        marker = self.store.results / "unavailable.json"
        try:
            return marker.stat().st_mtime_ns >= self.launched_ns
        except FileNotFoundError:
            return False

    def wait_for_work(self) -> bool:
        """Block until the run begins its jobs (True) or exits first (False)."""
        while self.process.poll() is None:
            if self.started_work():
                return True
            time.sleep(POLL_S)
        return False

    def kill(self) -> bool:
        """SIGKILL the run, workers included (its process group), if it still runs; True when it landed."""
        landed = self.process.poll() is None
        if landed:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:  # it ended between the poll and the kill
                landed = False
        self.finish()
        return landed

    def finish(self) -> int:
        return self.process.wait(timeout=RUN_TIMEOUT_S)

    @property
    def output(self) -> str:
        """What the process printed (stdout and stderr interleaved)."""
        return self.output_file.read_text(encoding="utf-8", errors="replace")

    def describe(self) -> str:
        return f"{self.name} exited {self.process.returncode}:\n{self.output[-3000:]}"


def start_run(
    tasks: Path, store: Store, *args: str, env: dict[str, str] | None = None, name: str = "run"
) -> GridRun:
    """Start ``harness run`` of the tiny grid on ``store``; its computed jobs go to a log of its own."""
    store.logs.mkdir(parents=True, exist_ok=True)
    stem = f"{time.time_ns()}-{name}"
    log = store.logs / f"{stem}.log"
    output_file = store.logs / f"{stem}.out"
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", JOB_LOG_ENV: str(log), **(env or {})}
    command = [
        sys.executable,
        "-m",
        "harness.cli",
        "run",
        str(tasks / "grids" / "tiny.yaml"),
        "--results",
        str(store.results),
        "--lock",
        str(store.inputs_lock),
        "--tasks-dir",
        str(tasks),
        *args,
        *shlex.split(os.environ.get(EXTRA_ARGS_ENV, "")),
    ]
    launched = time.time_ns()
    with output_file.open("wb") as output:  # a file, not a pipe: a pipe nobody reads would block the run
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=full_env, start_new_session=True
        )
    return GridRun(process, store, launched, name, output_file)


def run_to_end(tasks: Path, store: Store, *args: str, env: dict[str, str] | None = None) -> GridRun:
    run = start_run(tasks, store, *args, env=env, name="to-end")
    run.finish()
    return run


def killed_at(tasks: Path, store: Store, spec: tuple[str, str], *args: str) -> GridRun:
    """A run killed by its own hook (``spec`` = (variable, value)); asserts that the kill happened."""
    run = start_run(tasks, store, *args, env={spec[0]: spec[1]}, name="killed")
    run.finish()
    assert run.process.returncode == -signal.SIGKILL, f"the hook {spec} never fired: {run.describe()}"
    return run


@dataclass(frozen=True)
class GridReference:
    """The tiny grid run once, uninterrupted (the session fixture ``tiny_grid_reference``)."""

    tasks: Path  # every store of these tests uses this folder: its data paths are part of the job keys
    store: Store
    digest: StoreDigest
    jobs: dict[str, str]  # key -> label of every job of the grid
    work_s: float  # from the run beginning its jobs to its exit: where random kills are drawn
    job_s: dict[str, float]  # key -> seconds the job took (since the previous one finished)

    def remaining_s(self, done: set[str]) -> float:
        """The uninterrupted run's work time less what the jobs in ``done`` took."""
        return max(0.0, self.work_s - sum(self.job_s.get(key, 0.0) for key in done))
