"""Executors run the jobs of one phase; the runner hands them over wave by wave, in dependency order.

Only the local, sequential executor exists now. A cluster executor (Ray, Slurm via submitit) maps the
same picklable job function over a wave; the job keys and atomic records make it safe to retry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from harness.errors import HarnessError

Job = TypeVar("Job")


class Executor(Protocol):
    name: str

    def map(self, work: Callable[[Job], None], jobs: Sequence[Job]) -> None: ...


class LocalExecutor:
    name = "local"

    def map(self, work: Callable[[Job], None], jobs: Sequence[Job]) -> None:
        for job in jobs:
            work(job)


EXECUTORS: dict[str, Callable[[], Executor]] = {"local": LocalExecutor}


def make_executor(name: str) -> Executor:
    try:
        return EXECUTORS[name]()
    except KeyError:
        raise HarnessError(
            f"unknown executor {name!r}", field="--executor", allowed=sorted(EXECUTORS)
        ) from None
