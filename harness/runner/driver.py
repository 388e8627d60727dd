"""The driver: runs a plan's jobs wave by wave (intermediate → target → evaluate) through an executor.

The driver alone owns the progress display, ``checkpoints.lock``, the store index (``unavailable``), the
run report and the ``--only`` / ``--force`` selection. Executors only run ``run_job`` (runner.work) on
jobs and hand back futures of ``JobResult``s; the driver pins every published checkpoint it is told of.

A training job is done when its checkpoint folder (built aside, then renamed into place) exists; an
evaluation job when its record exists. Both are written atomically, so a run killed at any moment
resumes with nothing lost or duplicated.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.errors import HarnessError
from harness.executors import Executor, JobEnded
from harness.models.lockfile import JOB_FILE, Lock
from harness.models.publish import recover_store
from harness.results.atomic import clean_stale_temps
from harness.results.lease import LeaseKeeper, clear_stale_leases
from harness.results.store import ResultsStore
from harness.runner.execute import check_only, label_selected
from harness.runner.jobs import EvalBatch, EvalJob, Job
from harness.runner.plan import Plan
from harness.runner.progress import JobProgress
from harness.runner.work import JobResult, Work, note_finished, record_path, run_job

log = logging.getLogger("harness.runner")

PRODUCED_LOCK = "checkpoints.lock"
LEASE_POLL_S = 2.0
RESUBMISSIONS = 2  # a job whose worker died without a result is submitted again this many times  # how often a driver looks again at jobs another driver holds  # in the results folder: the checkpoints this store produced


@dataclass
class RunReport:
    grid: str = ""
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    wall_time_s: float = 0.0


class Submitter(Protocol):
    """What the driver hands work to: futures of the jobs' results (``run_job``'s). ``inline``: the job ran
    when it was submitted (in this process), so the driver claims and submits one job at a time."""

    name: str
    inline: bool

    def submit(self, work: Work) -> Future[list[JobResult]]: ...

    def submit_wave(self, works: Sequence[Work]) -> list[Future[list[JobResult]]]: ...

    def close(self) -> None: ...


class InProcess:
    """Runs each job in this process, when it is submitted (the sequential ``local`` executor)."""

    name = "local"
    inline = True

    def __init__(self, store_root: Path) -> None:
        self.store_root = store_root

    def submit(self, work: Work) -> Future[list[JobResult]]:
        future: Future[list[JobResult]] = Future()
        try:
            future.set_result(run_job(work, self.store_root, executor=self.name))
        except Exception as exc:  # the driver re-raises it from future.result()
            future.set_exception(exc)
        return future

    def submit_wave(self, works: Sequence[Work]) -> list[Future[list[JobResult]]]:
        return [self.submit(work) for work in works]

    def close(self) -> None:
        pass


class Bound:
    """An executor of harness/executors bound to a store: it runs ``run_job(job, store_root)`` wherever it
    runs jobs (worker processes, Ray tasks, Slurm array tasks). ``functools.partial`` of a module-level
    function pickles, so every executor takes it."""

    inline = False

    def __init__(self, executor: Executor, store_root: Path) -> None:
        self.executor = executor
        self.name = executor.name
        self.work = functools.partial(run_job, store_root=str(store_root), executor=executor.name)

    def submit(self, work: Work) -> Future[list[JobResult]]:
        return self.executor.submit(self.work, work)

    def submit_wave(self, works: Sequence[Work]) -> list[Future[list[JobResult]]]:
        return self.executor.submit_wave(self.work, works)

    def close(self) -> None:
        self.executor.close()


PinHook = Callable[[JobResult], None]


class ProducedLock:
    """The default pin hook: merges the published checkpoint's own ``pin.json`` (written by the worker
    before it published) into the store's ``checkpoints.lock``, under the lock file's flock."""

    def __init__(self, store: ResultsStore) -> None:
        self.lock = Lock.load(store.root / PRODUCED_LOCK)

    def __call__(self, result: JobResult) -> None:
        self.lock.merge_pins([Path(result.path)])


class Driver:
    def __init__(
        self,
        plan: Plan,
        store: ResultsStore,
        *,
        submitter: Submitter | None = None,
        force: bool = False,
        only: str | None = None,
        progress: JobProgress | None = None,
        pin: PinHook | None = None,
    ) -> None:
        check_only(plan, only)
        self.plan = plan
        self.store = store
        self.submitter = submitter or InProcess(store.root)
        self.force = force
        self.only = only
        self.progress = progress
        self.pin = pin or ProducedLock(store)
        self.report = RunReport(plan.grid.name)
        self.untrusted: set[str] = set()  # published checkpoints whose bytes differ from their pin

    # ---- selection and status -------------------------------------------------------------
    def selected(self, job: Job) -> bool:
        return label_selected(job.label, self.only)

    def is_done(self, job: Job) -> bool:
        if isinstance(job, EvalJob):
            return record_path(self.store, job).is_file()
        if job.key in self.untrusted:  # its bytes differ from its own pin: built again
            return False
        return (self.store.checkpoints_dir / job.key / JOB_FILE).is_file()

    def needed_jobs(self) -> list[Job]:
        """Selected jobs that are not done, plus the unfinished training jobs they depend on."""
        by_key = {c.key: c for c in self.plan.jobs}
        wanted: dict[str, Job] = {}

        def want(job: Job) -> None:
            if job.key in self.plan.blocked:  # its training data has no source here (see harness plan)
                return
            if job.key in wanted or (self.is_done(job) and not (self.force and self.selected(job))):
                return
            wanted[job.key] = job
            if job.parent in by_key:
                want(by_key[job.parent])

        for job in self.plan.jobs:
            if self.selected(job):
                want(job)
        return [c for c in self.plan.jobs if c.key in wanted]

    # ---- the run ------------------------------------------------------------------------------
    def run(self) -> RunReport:
        started = time.perf_counter()
        self.recover()
        self.store.write_unavailable(self.plan.unavailable)  # declared splits without data: skipped, listed
        todo = self.needed_jobs()
        self.report.skipped = [c.label for c in self.plan.jobs if c not in todo and self.selected(c)]
        if self.progress is not None:
            self.progress.start(len(todo))
        try:
            with LeaseKeeper(self.store.root) as leases:
                for phase in ("intermediate", "target"):
                    self.run_wave([c for c in todo if c.phase == phase], leases)
                self.run_wave(evaluation_batches([c for c in todo if isinstance(c, EvalJob)]), leases)
            clean_stale_temps(self.store.root)  # what workers that died mid-job left (Ray retries on its own)
        finally:
            self.submitter.close()
        self.report.wall_time_s = time.perf_counter() - started
        return self.report

    def recover(self) -> None:
        """What a killed run left: dead runs' temps and builds go, a ``--force`` swap half done is put
        back, published checkpoints whose pins never reached the lock are pinned from their pin files;
        one whose bytes differ from its own pin is not trusted (its job runs again)."""
        lock = (
            self.pin.lock
            if isinstance(self.pin, ProducedLock)
            else Lock.load(self.store.root / PRODUCED_LOCK)
        )
        repair = recover_store(self.store.root, lock)
        clear_stale_leases(self.store.root)
        for key in repair.repaired:
            log.info("pinned %s from its pin file (a run was stopped before it pinned it)", key[:12])
        for key, why in repair.refused.items():
            log.warning("checkpoint %s is not trusted (%s): its job runs again", key[:12], why)
        self.untrusted = set(repair.refused)

    def run_wave(self, wave: Sequence[Work], leases: LeaseKeeper) -> None:
        """Run every job of a wave (its parents are done) whose lease this driver holds. In process, one job
        is claimed and run at a time, so an error stops the run there and two drivers share the wave; a
        process or cluster executor gets the whole claimed wave at once (one Slurm array). Jobs another live
        driver holds are waited for until it finishes them (or its lease goes stale)."""
        first = True
        while wave:
            held_elsewhere: list[Work] = []
            claimed: list[Work] = []
            for work in wave:
                mine, theirs = self.claim(work, leases, first=first)
                if theirs is not None:
                    held_elsewhere.append(theirs)
                if mine is None:
                    continue
                if self.submitter.inline:
                    self.started(mine)
                    self.collect(mine, self.submitter.submit(mine), leases)
                else:
                    claimed.append(mine)
            if claimed:
                for work in claimed:
                    self.started(work)
                futures = self.submitter.submit_wave(claimed)
                for work, future in zip(claimed, futures, strict=True):
                    self.collect(work, future, leases)
            wave, first = held_elsewhere, False
            if wave:
                time.sleep(LEASE_POLL_S)

    def started(self, work: Work) -> None:
        if self.progress is not None:
            for job in _jobs_of(work):
                self.progress.started(job.label)

    def collect(self, work: Work, future: Future[list[JobResult]], leases: LeaseKeeper) -> None:
        """The results of ``work``; a worker or cluster job that ended without a result (killed, preempted
        past its requeues, node lost) is submitted again: its outputs are atomic and keyed by content."""
        for attempt in range(RESUBMISSIONS + 1):
            try:
                results = future.result()
                break
            except JobEnded as ended:
                if attempt == RESUBMISSIONS:
                    raise HarnessError(
                        f"{_jobs_of(work)[0].label}: {ended}; submitted {RESUBMISSIONS + 1} times. "
                        "Run the same command again to resume: finished jobs are kept",
                        field="--executor",
                    ) from None
                log.warning("%s; submitting it again", ended)
                clean_stale_temps(self.store.root)  # the ended worker's half-built checkpoint or temp file
                future = self.submitter.submit(work)
        self.take(results, _jobs_of(work), leases)

    def claim(self, work: Work, leases: LeaseKeeper, *, first: bool) -> tuple[Work | None, Work | None]:
        """The part of ``work`` this driver now holds leases for, and the part another driver holds.
        Done is checked after the lease is taken: another driver may have finished the job meanwhile."""
        mine: list[Job] = []
        theirs: list[Job] = []
        for job in _jobs_of(work):
            if leases.take(job.key) is None:
                theirs.append(job)
            elif self.is_done(job) and not (first and self.force and self.selected(job)):
                leases.release(job.key)
                self.done_elsewhere(job)
            else:
                mine.append(job)
        return _as_work(work, mine), _as_work(work, theirs)

    def done_elsewhere(self, job: Job) -> None:
        self.report.skipped.append(job.label)
        if self.progress is not None:
            self.progress.finished(job.label)

    def take(self, results: list[JobResult], jobs: list[Job], leases: LeaseKeeper) -> None:
        for result in results:
            if result.files:
                self.pin(result)
                note_finished()  # a training job is finished once its checkpoint is pinned
            self.report.ran.append(result.label)
            if self.progress is not None:
                self.progress.finished(result.label)
        for job in jobs:
            leases.release(job.key)


def evaluation_batches(jobs: list[EvalJob]) -> list[EvalBatch]:
    """One batch per (checkpoint, task); one task's checkpoints back to back, so the frozen-layer states
    of conditions sharing them are still in memory."""
    groups: dict[tuple[str, str], list[EvalJob]] = {}
    for job in jobs:
        groups.setdefault((job.parent, job.task), []).append(job)
    by_task = sorted(groups.items(), key=lambda item: item[0][1])
    return [EvalBatch(jobs=batch) for _, batch in by_task]


def _jobs_of(work: Work) -> list[Job]:
    return list(work.jobs) if isinstance(work, EvalBatch) else [work]


def _as_work(work: Work, jobs: list[Job]) -> Work | None:
    """``work`` narrowed to ``jobs`` (a batch keeps the ones given, in order); None when none are left."""
    if not jobs:
        return None
    if isinstance(work, EvalBatch):
        return EvalBatch(jobs=[job for job in jobs if isinstance(job, EvalJob)])
    return work
