"""What a Slurm array task runs (imported on the compute node, where submitit is installed)."""

from __future__ import annotations

import pickle
import traceback
from dataclasses import dataclass
from typing import Any

from submitit.helpers import Checkpointable

from harness.executors.base import JobFunction


@dataclass(frozen=True)
class JobFailure:
    """An exception raised by the job, carried back in the result file (its type survives pickling)."""

    error: BaseException


class RequeueOnPreemption(Checkpointable):
    """``fn(job)``; when Slurm preempts the task (or its time runs out) submitit requeues it with the same
    job, which resumes from its own checkpoints (``Checkpointable.checkpoint`` resubmits ``self(job)``)."""

    def __init__(self, fn: JobFunction) -> None:
        self.fn = fn

    def __call__(self, job: Any) -> Any:
        try:
            return self.fn(job)
        except Exception as exc:  # noqa: BLE001 - carried back whole; submitit would flatten it to text
            try:
                pickle.dumps(exc)
            except Exception:  # noqa: BLE001 - an exception that cannot travel: its traceback does
                return JobFailure(RuntimeError("".join(traceback.format_exception(exc))))
            return JobFailure(exc)
