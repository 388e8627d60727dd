"""The Slurm executor, through submitit: one job array per wave, resources from a profile.

Each wave is one ``sbatch --array`` (``map_array``), at most ``array_parallelism`` tasks at once. A task
gets USR2 before its time limit (or from a preempting scheduler that signals); submitit then requeues it
with the same job (``RequeueOnPreemption`` is ``Checkpointable``), and the job picks up from its own
checkpoints; ``PreemptMode=REQUEUE`` requeues it the same way. Each job logs to ``log_dir/<slurm job id>/``.

Whether a job has ended is read from ``squeue`` (it works without Slurm's accounting database, which
submitit's ``sacct`` needs); a job that ends without a result file fails its future with ``JobEnded``.
"""

from __future__ import annotations

import contextlib
import math
import shlex
import subprocess
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.executors.base import Executor, JobEnded, JobFunction, driver_import_path

if TYPE_CHECKING:
    from harness.executors.profile import Profile

# squeue states of a job that may still produce its result
ACTIVE_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESIZING",
        "SUSPENDED",
        "PREEMPTED",
        "STAGE_OUT",
        "SIGNALING",
    }
)
# a finished job's result file may show up a little after squeue says so (shared file systems)
RESULT_GRACE_SECONDS = 5.0
SIGNAL_DELAY_SECONDS = 90  # USR2 this long before the time limit: time to requeue


def _submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise HarnessError(
            "submitit is not installed: pip install 'xtreme-harness[cluster]'", field="--executor"
        ) from None
    return submitit


def slurm_parameters(profile: Profile, *, import_path: str | None = None) -> dict[str, Any]:
    """submitit ``SlurmExecutor`` parameters (each one an ``#SBATCH --name``) from a profile."""
    resources = profile.resources
    parameters: dict[str, Any] = {
        "time": resources.time_min,
        "cpus_per_task": resources.cpus,
        "signal_delay_s": SIGNAL_DELAY_SECONDS,
    }
    if resources.gpus:
        parameters["gpus_per_node"] = int(resources.gpus)
    if resources.memory_gb is not None:
        parameters["mem"] = f"{math.ceil(resources.memory_gb * 1024)}M"
    for name in ("partition", "account", "qos", "constraint"):
        value = getattr(resources, name)
        if value is not None:
            parameters[name] = value
    if profile.array_parallelism is not None:
        parameters["array_parallelism"] = profile.array_parallelism
    setup = list(profile.setup)
    if import_path:
        setup.insert(0, f"export PYTHONPATH={shlex.quote(import_path)}")
    if setup:
        parameters["setup"] = setup
    return parameters


def _sbatch_flags(parameters: dict[str, Any]) -> list[str]:
    flags = []
    for name, value in parameters.items():
        if name in ("setup", "array_parallelism", "signal_delay_s"):
            continue
        flags.append(f"--{name.replace('_', '-')}={value}")
    flags.append(f"--signal=USR2@{parameters['signal_delay_s']}")
    return flags


def describe_submission(waves: Sequence[tuple[str, int]], profile: Profile) -> str:
    """What ``harness run --executor slurm`` would submit: one sbatch job array per wave, in order.

    ``waves``: (name, number of jobs) per wave; a wave is submitted when the one before it has finished."""
    parameters = slurm_parameters(profile)
    parallelism = profile.array_parallelism
    total = sum(count for _, count in waves)
    lines = [f"slurm: {len(waves)} job array(s), {total} job(s); each wave starts when the one before ends"]
    flags = " ".join(_sbatch_flags(parameters))
    for number, (name, count) in enumerate(waves, start=1):
        if count == 0:
            lines.append(f"  wave {number} {name}: nothing to run")
            continue
        array = f"0-{count - 1}" + (f"%{parallelism}" if parallelism else "")
        lines.append(f"  wave {number} {name}: sbatch --array={array} {flags}  ({count} task(s))")
    for line in profile.setup:
        lines.append(f"  before each job: {line}")
    return "\n".join(lines)


def queue_states(job_ids: Sequence[str]) -> dict[str, str] | None:
    """squeue's state of each job (array tasks as ``<id>_<index>``); None when squeue cannot answer."""
    if not job_ids:
        return {}
    base_ids = sorted({job_id.split("_")[0] for job_id in job_ids})
    try:
        out = subprocess.run(
            ["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T", "-j", ",".join(base_ids)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0 and "Invalid job id" not in out.stderr:
        return None
    states = {}
    for line in out.stdout.splitlines():
        job_id, _, state = line.strip().partition("|")
        if job_id:
            states[job_id] = state.split()[0] if state else ""
    return states


@dataclass
class _Submitted:
    slurm_job: Any
    future: Future[Any]
    ended_since: float | None = None


class SlurmExecutor(Executor):
    name = "slurm"

    def __init__(self, profile: Profile, *, log_dir: Path, poll_seconds: float = 1.0) -> None:
        submitit = _submitit()
        self.profile = profile
        self.log_dir = Path(log_dir)
        self.poll_seconds = poll_seconds
        self._executor = submitit.SlurmExecutor(
            folder=self.log_dir / "%j", max_num_timeout=profile.max_requeues
        )
        self._executor.update_parameters(**slurm_parameters(profile, import_path=driver_import_path()))
        self._pending: list[_Submitted] = []
        self._slurm_ids: dict[int, str] = {}  # id(future) -> Slurm job id, for every future handed out
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def submit(self, fn: JobFunction, job: Any) -> Future[Any]:
        return self.submit_wave(fn, [job])[0]

    def submit_wave(self, fn: JobFunction, jobs: Sequence[Any]) -> list[Future[Any]]:
        if not jobs:
            return []
        from harness.executors.slurm_task import RequeueOnPreemption

        try:
            slurm_jobs = self._executor.map_array(RequeueOnPreemption(fn), list(jobs))
        # sbatch said no (no controller, an unknown partition): the user's words or the cluster, not a bug
        except _submitit().core.utils.FailedJobError as refused:
            raise HarnessError(
                f"sbatch refused the wave: {str(refused).strip().splitlines()[-1]}",
                field="--executor slurm",
            ) from None
        submitted = [_Submitted(slurm_job, Future()) for slurm_job in slurm_jobs]
        for item in submitted:
            item.future.set_running_or_notify_cancel()
        with self._lock:
            self._pending.extend(submitted)
            self._slurm_ids.update((id(item.future), item.slurm_job.job_id) for item in submitted)
            if self._watcher is None:  # it stops when nothing is pending; decided under this lock
                self._stop.clear()
                self._watcher = threading.Thread(target=self._watch, name="slurm-watcher", daemon=True)
                self._watcher.start()
        return [item.future for item in submitted]

    def job_ids(self, futures: Sequence[Future[Any]]) -> list[str]:
        """The Slurm ids (``<array>_<index>``) behind futures this executor returned (for logs, scancel)."""
        with self._lock:
            return [self._slurm_ids[id(future)] for future in futures if id(future) in self._slurm_ids]

    def _watch(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):  # a shared file system hiccup: the next poll asks again
                self.poll()
            with self._lock:
                if not self._pending:
                    self._watcher = None
                    return
            self._stop.wait(self.poll_seconds)

    def poll(self) -> None:
        """Settle the future of every job that has a result or has left the queue without one."""
        with self._lock:
            pending = list(self._pending)
        if not pending:
            return
        states = queue_states([item.slurm_job.job_id for item in pending])
        settled = []
        for item in pending:
            if self._settle(item, states):
                settled.append(item)
        with self._lock:
            self._pending = [item for item in self._pending if item not in settled]

    def _settle(self, item: _Submitted, states: dict[str, str] | None) -> bool:
        job = item.slurm_job
        if job.paths.result_pickle.exists():
            _deliver(job, item.future)
            return True
        if states is None:
            return False  # squeue did not answer: ask again later
        state = states.get(job.job_id, "GONE")
        if state in ACTIVE_STATES:
            item.ended_since = None
            return False
        now = time.monotonic()
        if item.ended_since is None:
            item.ended_since = now
        if now - item.ended_since < RESULT_GRACE_SECONDS:
            return False
        item.future.set_exception(
            JobEnded(f"slurm job {job.job_id} ended {state} without a result (log: {job.paths.stderr})")
        )
        return True

    def close(self) -> None:
        """Stop watching and cancel this executor's jobs that have not finished."""
        self._stop.set()
        with self._lock:
            watcher = self._watcher
        if watcher is not None:
            watcher.join(timeout=10)
        with self._lock:
            self._watcher = None
            unfinished = [item for item in self._pending if not item.future.done()]
            self._pending = []
        if unfinished:
            ids = [item.slurm_job.job_id for item in unfinished]
            subprocess.run(["scancel", *ids], capture_output=True, check=False, timeout=30)
            for item in unfinished:
                item.future.set_exception(JobEnded(f"slurm job {item.slurm_job.job_id} cancelled at close"))


def _deliver(slurm_job: Any, future: Future[Any]) -> None:
    try:
        outcome = slurm_job.result()
    except Exception as exc:  # noqa: BLE001 - submitit's own failure (a crash outside the job function)
        future.set_exception(exc)
        return
    from harness.executors.slurm_task import JobFailure

    if isinstance(outcome, JobFailure):
        future.set_exception(outcome.error)
    else:
        future.set_result(outcome)
