"""``make_executor``: the ``--executor`` name (and its options) to an executor."""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import HarnessError
from harness.executors.base import Executor
from harness.executors.profile import Profile, default_profile

EXECUTOR_NAMES = ("local", "ray", "slurm")


def make_executor(
    name: str,
    *,
    workers: int | None = None,
    profile: Profile | None = None,
    ray_address: str | None = None,
    log_dir: Path | str | None = None,
) -> Executor:
    """An executor by name. ``profile`` gives per-job resources; ``workers`` (local; default: the
    profile's, else 1) and ``ray_address`` (ray) come from the command line; ``log_dir`` (slurm: required)
    is where each job logs."""
    if name not in EXECUTOR_NAMES:
        raise HarnessError(f"unknown executor {name!r}", field="--executor", allowed=EXECUTOR_NAMES)
    if profile is not None and profile.executor != name:
        raise HarnessError(
            f"the profile is for executor {profile.executor!r}, not {name!r}",
            field="--profile",
            allowed=[profile.executor],
        )
    if workers is not None and workers < 1:
        raise HarnessError(f"must be at least 1 (got {workers})", field="--workers")
    if workers is not None and workers > 1 and name != "local":
        raise HarnessError(
            f"--workers is for the local executor; {name} takes its parallelism from the profile",
            field="--workers",
        )
    profile = profile or default_profile(name)
    if name == "local":
        from harness.executors.local import InProcessExecutor, WorkerPoolExecutor

        count = workers if workers is not None else profile.workers
        return WorkerPoolExecutor(count) if count > 1 else InProcessExecutor()
    if name == "ray":
        from harness.executors.ray_tasks import RayExecutor

        return RayExecutor(
            profile.resources,
            ray_address=ray_address,
            local_cpus=profile.cluster_cpus or os.cpu_count() or 1,
            max_retries=profile.max_retries,
        )
    if log_dir is None:
        raise HarnessError(
            "the slurm executor needs a log folder the compute nodes can write (under the results store)",
            field="log_dir",
        )
    from harness.executors.slurm import SlurmExecutor

    return SlurmExecutor(profile, log_dir=Path(log_dir))
