"""What every executor is: it runs one picklable job function over jobs and hands back futures.

An executor decides *where* a job runs, never *what* runs: ``fn`` is a module-level function (the runner's
``run_job``) and ``job`` a picklable, frozen model, so the same pair runs in this process, in a spawned
worker, in a Ray task or in a Slurm array task. The driver alone owns progress, the lock and the store index;
an executor only reports each job's return value or its exception through a ``concurrent.futures.Future``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

JobFunction = Callable[[Any], Any]


class Resources(BaseModel):
    """What one job asks of the machine that runs it (per job, not per wave)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpus: int = Field(1, ge=1, description="CPU cores per job")
    gpus: float = Field(0, ge=0, description="GPUs per job (Ray allows fractions; Slurm whole GPUs)")
    memory_gb: float | None = Field(None, gt=0, description="memory per job; None: the scheduler's default")
    time_min: int = Field(60, ge=1, description="wall-clock limit per job (Slurm); a preempted job requeues")
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = Field(None, description="Slurm --constraint, e.g. a GPU type")


class Executor(Protocol):
    """Runs ``fn(job)`` somewhere; ``future.result()`` is its return value or raises its exception."""

    name: str

    def submit(self, fn: JobFunction, job: Any) -> Future[Any]: ...

    def submit_wave(self, fn: JobFunction, jobs: Sequence[Any]) -> list[Future[Any]]:
        """The jobs of one wave (no job depends on another of the same wave), in order."""
        return [self.submit(fn, job) for job in jobs]

    def close(self) -> None: ...


def finished_future(fn: JobFunction, job: Any) -> Future[Any]:
    """Run ``fn(job)`` now; a future already holding its value or its exception."""
    future: Future[Any] = Future()
    try:
        future.set_result(fn(job))
    except BaseException as exc:  # noqa: BLE001 - the future carries it to the driver
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        future.set_exception(exc)
    return future


def driver_import_path() -> str:
    """The driver's import path beyond the interpreter's own, as a PYTHONPATH for workers it starts.

    Workers on the same (or a shared) file system must import the job function from where the driver did:
    a checkout on PYTHONPATH, or the folder pytest put in front of ``sys.path``."""
    own = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    extra = [
        p
        for p in sys.path
        if p and os.path.isdir(p) and not any(os.path.realpath(p).startswith(root) for root in own)
    ]
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join(dict.fromkeys([*extra, *inherited]))


class JobEnded(RuntimeError):
    """A job's worker or cluster job ended without a result (cancelled, killed, out of memory, lost node).

    The job's outputs are atomic and keyed by content, so the driver may submit it again."""


def relay(
    inner: Future[Any],
    lost: tuple[type[BaseException], ...],
    where: str,
    unwrap: Callable[[BaseException], BaseException] = lambda error: error,
) -> Future[Any]:
    """A future with ``inner``'s outcome, except that a lost worker (an exception of a ``lost`` type, or a
    cancellation) becomes ``JobEnded``: the one signal the driver reads as "submit this job again".
    ``unwrap``: the job's own exception from the executor's wrapper around it."""
    outer: Future[Any] = Future()
    outer.set_running_or_notify_cancel()

    def pass_on(done: Future[Any]) -> None:
        if done.cancelled():
            outer.set_exception(JobEnded(f"{where}: cancelled before it finished"))
            return
        error = done.exception()
        if error is None:
            outer.set_result(done.result())
        elif isinstance(error, lost):
            outer.set_exception(JobEnded(f"{where}: the worker died without a result ({error})"))
        else:
            outer.set_exception(unwrap(error))

    inner.add_done_callback(pass_on)
    return outer
