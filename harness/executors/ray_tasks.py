"""The Ray executor: one Ray task per job, with the profile's CPUs, GPUs and memory.

``ray_address`` joins a running cluster (``ray start --head`` on the nodes, the harness installed on each
and the results store on a shared file system); without it a local cluster starts in this process with
``cpus`` CPUs. A task whose worker dies (a killed process, a lost node) is retried by Ray up to
``max_retries`` times; an exception raised by the job itself is not retried (it would fail again).
"""

from __future__ import annotations

import os
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.executors.base import Executor, JobFunction, Resources, driver_import_path, relay
from harness.fault_injection import forwarded_env

OBJECT_STORE_BYTES = 256 * 1024**2  # jobs pass small models (jobs, results); weights go through the store


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise HarnessError(
            "Ray is not installed: pip install 'xtreme-harness[cluster]'", field="--executor"
        ) from None
    return ray


def _call(fn: JobFunction, job: Any) -> Any:
    """The Ray task: ``fn`` travels as an argument, so any picklable callable works (a
    ``functools.partial`` of ``run_job`` with the store bound), not only what ``ray.remote`` accepts."""
    return fn(job)


def start_local_cluster(cpus: int, gpus: int | None = None) -> None:
    """A Ray cluster on this machine whose workers import what this process imports."""
    ray = _ray()
    ray.init(
        address="local",  # a new cluster, even when `ray start` left one's address on this machine
        num_cpus=cpus,
        num_gpus=gpus,
        include_dashboard=False,
        object_store_memory=OBJECT_STORE_BYTES,
        runtime_env={"env_vars": {"PYTHONPATH": driver_import_path()}},
        log_to_driver=False,
    )


def use_cluster_token() -> None:
    """Join a token-authenticated cluster (one whose ``ray start`` ran under ``RAY_AUTH_MODE=token``) with the
    token this machine has: a client joining by address does not look for one unless ``RAY_AUTH_MODE=token`` is set. The
    token is Ray's own: ``RAY_AUTH_TOKEN``, the file ``RAY_AUTH_TOKEN_PATH``, or ``~/.ray/auth_token``."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
    if os.environ.get("RAY_AUTH_TOKEN") or token_file.is_file():
        os.environ["RAY_AUTH_MODE"] = "token"


class RayExecutor(Executor):
    name = "ray"

    def __init__(
        self,
        resources: Resources,
        *,
        ray_address: str | None = None,
        local_cpus: int = 2,
        max_retries: int = 3,
    ) -> None:
        if ray_address is not None:
            use_cluster_token()  # before Ray is imported: it reads RAY_AUTH_MODE once
        ray = _ray()
        self.resources = resources
        self.max_retries = max_retries
        self._started_here = False
        if not ray.is_initialized():
            if ray_address is not None:
                # the cluster's workers have the environment of `ray start`, not this process's
                ray.init(address=ray_address, log_to_driver=False, runtime_env={"env_vars": forwarded_env()})
            else:
                start_local_cluster(local_cpus)
            self._started_here = True
        self._remote: Any = None  # the task, made at the first submission

    def _task_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "num_cpus": self.resources.cpus,
            "num_gpus": self.resources.gpus,
            "max_retries": self.max_retries,
            "retry_exceptions": False,
        }
        if self.resources.memory_gb is not None:
            options["memory"] = int(self.resources.memory_gb * 1024**3)
        return options

    def submit(self, fn: JobFunction, job: Any) -> Future[Any]:
        if self._remote is None:
            self._remote = _ray().remote(_call).options(**self._task_options())
        exceptions = _ray().exceptions
        lost = (exceptions.WorkerCrashedError, exceptions.NodeDiedError, exceptions.TaskCancelledError)
        return relay(
            self._remote.remote(fn, job).future(),
            lost,
            f"ray task (after {self.max_retries} retries)",
            _job_error,
        )

    def close(self) -> None:
        if self._started_here:
            _ray().shutdown()
            self._started_here = False


def _job_error(error: BaseException) -> BaseException:
    """The job's own exception, not Ray's wrapper (whose text carries the worker's traceback): the driver
    prints a ``HarnessError`` as its one line."""
    cause = getattr(error, "cause", None)
    return (
        cause
        if isinstance(error, _ray().exceptions.RayTaskError) and isinstance(cause, BaseException)
        else error
    )
