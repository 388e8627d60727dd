"""The tiny grid run as a user runs it: ``harness run`` in a process of its own, killable at will.

Used by the kill/resume, two-driver and executor tests (tests/runner/test_kill_resume.py,
test_concurrent_drivers.py, tests/executors/test_grid_on_executors.py). A store is a folder holding
``results/`` and the ``checkpoints.lock`` its runs pin base models in.

Each run is a process in a session of its own running ``harness.cli.main`` on its arguments, with its own
environment and output file. It is forked from a server that has already imported torch, transformers and
the harness (multiprocessing's forkserver), which saves each run the seconds those imports take; what runs
after the fork is what ``python -m harness.cli run`` runs. ``HARNESS_TEST_LAUNCH=exec`` starts
``python -m harness.cli`` instead.
"""

from __future__ import annotations

import multiprocessing
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NamedTuple, Protocol

from store_digest import StoreDigest, store_digest

KILL_AT_ENV = "HARNESS_TEST_KILL_AT"  # harness/fault_injection.py
JOB_LOG_ENV = "HARNESS_TEST_JOB_LOG"
KILL_AFTER_JOBS_ENV = "HARNESS_TEST_KILL_AFTER_JOBS"  # harness/runner/work.py
# extra arguments for every run, e.g. "--executor local --workers 2": the same tests through another executor
EXTRA_ARGS_ENV = "HARNESS_KILL_RUN_ARGS"
LAUNCH_ENV = "HARNESS_TEST_LAUNCH"  # "fork" (the default) or "exec"
RUN_TIMEOUT_S = 600
POLL_S = 0.02
# imported once by the fork server: what every `harness run` imports before it does anything
PRELOAD = ["harness.cli", "harness.runner.work", "harness.runner.driver", "harness.api"]


class RunProcess(Protocol):
    """What the tests need of a run's process: ``subprocess.Popen`` has it, and so has a forked run."""

    pid: int

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


def _cli_in_new_session(argv: Sequence[str], env: dict[str, str], output: str) -> None:
    """A forked run: what ``python -m harness.cli ARGV`` does, in a session of its own (killpg reaches
    its workers), with ``env`` as its whole environment and its output into the file ``output``."""
    os.setsid()
    fd = os.open(output, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.environ.clear()
    os.environ.update(env)
    from harness.cli import main

    sys.exit(main(list(argv)))


@cache
def _fork_server() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


class ForkedRun:
    """A run forked from the fork server, answering as ``subprocess.Popen`` does (signals as -N)."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], output: Path) -> None:
        self._process = _fork_server().Process(
            target=_cli_in_new_session, args=(list(argv), env, str(output)), daemon=False
        )
        self._process.start()
        self.pid = int(self._process.pid or 0)

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(f"harness run (pid {self.pid})", timeout or 0)
        return self._process.exitcode


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

    process: RunProcess
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
    argv = [
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
    output_file.touch()  # a file, not a pipe: a pipe nobody reads would block the run
    launched = time.time_ns()
    process: RunProcess
    if os.environ.get(LAUNCH_ENV, "fork") == "exec":
        with output_file.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "harness.cli", *argv],
                stdout=output,
                stderr=subprocess.STDOUT,
                env=full_env,
                start_new_session=True,
            )
    else:
        process = ForkedRun(argv, full_env, output_file)
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
