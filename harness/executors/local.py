"""Local executors: in this process (``--workers 1``), or N spawned worker processes (``--workers N``).

Worker processes are spawned, never forked: a fork would copy the driver's threads, its open CUDA context
and its progress display. Each worker runs one job at a time; where there are GPUs each worker sees one of
them (``CUDA_VISIBLE_DEVICES`` = the GPU at its index modulo the GPU count), so N workers on N GPUs use one
GPU each.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from harness.executors.base import Executor, JobFunction, finished_future, relay

WORKER_INDEX_ENV = "HARNESS_WORKER_INDEX"


class InProcessExecutor(Executor):
    """Runs each job at submission, in this process: the reference every other executor must equal."""

    name = "local"

    def submit(self, fn: JobFunction, job: Any) -> Future[Any]:
        return finished_future(fn, job)

    def close(self) -> None:
        pass


def visible_gpu_count() -> int:
    """GPUs this process may use (0 without torch's CUDA)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def gpu_ids(gpu_count: int) -> list[str]:
    """The ids to hand out: the driver's own ``CUDA_VISIBLE_DEVICES`` entries when it has them (a job on
    GPUs 2 and 3 keeps to them), else ``0 … gpu_count-1``."""
    inherited = [
        part.strip() for part in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if part.strip()
    ]
    return inherited[:gpu_count] if len(inherited) >= gpu_count else [str(i) for i in range(gpu_count)]


def _claim_worker_slot(next_index: Synchronized, devices: list[str]) -> None:
    """Runs first in every worker process: take the next index and, with GPUs, the matching device.

    This runs before the job function imports torch, so the process never sees the other GPUs."""
    with next_index.get_lock():
        index = next_index.value
        next_index.value += 1
    os.environ[WORKER_INDEX_ENV] = str(index)
    if devices:
        os.environ["CUDA_VISIBLE_DEVICES"] = devices[index % len(devices)]


class WorkerPoolExecutor(Executor):
    """``workers`` spawned processes, each running one job at a time.

    ``gpu_count``: the GPUs to spread the workers over (default: what torch sees here; 0 leaves
    ``CUDA_VISIBLE_DEVICES`` alone)."""

    name = "local"

    def __init__(self, workers: int, *, gpu_count: int | None = None) -> None:
        self.workers = workers
        self.gpu_count = visible_gpu_count() if gpu_count is None else gpu_count
        self._context = multiprocessing.get_context("spawn")
        self._next_index = self._context.Value("i", 0)
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=self._context,
            initializer=_claim_worker_slot,
            initargs=(self._next_index, gpu_ids(self.gpu_count)),
        )

    def submit(self, fn: JobFunction, job: Any) -> Future[Any]:
        try:
            inner = self._pool.submit(fn, job)
        except BrokenProcessPool:
            # a worker died (killed, out of memory): the pool refuses work, so start a fresh one
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            inner = self._pool.submit(fn, job)
        return relay(inner, (BrokenProcessPool,), f"local worker pool ({self.workers} workers)")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
