"""Executors: where the jobs of a wave run (this process, N worker processes, Ray, Slurm).

See docs/executors.md for running a grid on a cluster and docs/adding-an-executor.md for the contract."""

from harness.executors.base import Executor, JobEnded, Resources
from harness.executors.profile import Profile, load_profile
from harness.executors.registry import EXECUTOR_NAMES, make_executor

__all__ = ["EXECUTOR_NAMES", "Executor", "JobEnded", "Profile", "Resources", "load_profile", "make_executor"]
