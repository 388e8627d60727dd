"""Test-only hooks: SIGKILL this process at a named instant, or stall it there for an outside kill (a
``scancel``, a SIGKILL of a Ray worker), and log every job it computed.

The kill, concurrency and executor tests (tests/runner/test_kill_resume.py, test_concurrent_drivers.py,
tests/executors/test_grid_on_executors.py) set these variables on the ``harness run`` processes they start,
and the executors hand them to their workers; unset, every call here returns at once.
"""

from __future__ import annotations

import fnmatch
import json
import os
import signal
import time
from typing import Final

from harness.errors import HarnessError

# "POINT", "POINT:N" or "POINT:N:GLOB": SIGKILL the N-th time POINT is reached (for a target path matching GLOB)
KILL_AT_ENV: Final = "HARNESS_TEST_KILL_AT"
# "POINT:MARKER": the first process (of any run or worker) to reach POINT creates the file MARKER, writes
# {"pid": …, "slurm_job_id": …} into it and sleeps until something outside kills it; later arrivals pass
STALL_AT_ENV: Final = "HARNESS_TEST_STALL_AT"
STALL_S: Final = 3600
# a file: a line "KEY PID TIME LABEL" per job this process computed, TIME (Unix seconds) when it finished
JOB_LOG_ENV: Final = "HARNESS_TEST_JOB_LOG"

KILL_POINTS: Final = {
    "checkpoint-built": "a checkpoint's files are complete in its build folder, not yet published",
    "checkpoint-published": "a checkpoint is in place, not yet (or while being) hashed and pinned",
    "predictions-written": "an evaluation's predictions are on disk, its record not yet",
    "temp-written": "an atomic write's temp file is complete and synced, not yet renamed over its target",
}

_reached: dict[str, int] = {}


def _kill_spec() -> tuple[str, int, str] | None:
    spec = os.environ.get(KILL_AT_ENV, "")
    if not spec:
        return None
    point, _, rest = spec.partition(":")
    count, _, pattern = rest.partition(":")
    count = count or "1"
    if point not in KILL_POINTS or not count.isdigit() or int(count) < 1:
        raise HarnessError(
            f"expected POINT, POINT:N or POINT:N:GLOB (N >= 1), got {spec!r}",
            field=KILL_AT_ENV,
            allowed=sorted(KILL_POINTS),
        )
    return point, int(count), pattern or "*"


def fault_point(point: str, target: str | os.PathLike[str] = "") -> None:
    """SIGKILL this process if ``HARNESS_TEST_KILL_AT`` names ``point`` (and a glob ``target`` matches)
    and this is the N-th such arrival; stall it if ``HARNESS_TEST_STALL_AT`` names ``point``."""
    _stall(point)
    spec = _kill_spec()
    if spec is None or spec[0] != point or not fnmatch.fnmatch(os.fspath(target), spec[2]):
        return
    _reached[point] = _reached.get(point, 0) + 1
    if _reached[point] == spec[1]:
        os.kill(os.getpid(), signal.SIGKILL)


def _stall(point: str) -> None:
    spec = os.environ.get(STALL_AT_ENV, "")
    if not spec:
        return
    wanted, _, marker = spec.partition(":")
    if wanted not in KILL_POINTS or not marker:
        raise HarnessError(
            f"expected POINT:MARKER_FILE, got {spec!r}", field=STALL_AT_ENV, allowed=sorted(KILL_POINTS)
        )
    if wanted != point:
        return
    try:  # O_EXCL: exactly one process stalls, whichever run or worker it is
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return
    stalled = {"pid": os.getpid(), "slurm_job_id": _slurm_job_id()}
    try:
        os.write(fd, json.dumps(stalled).encode())
    finally:
        os.close(fd)
    time.sleep(STALL_S)


def _slurm_job_id() -> str | None:
    """What ``scancel`` takes for this task: ``<array>_<index>`` for an array task (``scancel`` of the
    task's own SLURM_JOB_ID is silently ignored by Slurm 22 for array tasks)."""
    array, index = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{index}" if array and index else os.environ.get("SLURM_JOB_ID")


def forwarded_env() -> dict[str, str]:
    """The hooks' variables this process has, for executors to hand to workers that do not inherit this
    process's environment (a Ray cluster joined by address)."""
    return {name: value for name, value in os.environ.items() if name.startswith("HARNESS_TEST_")}


def log_job(key: str, label: str) -> None:
    """Append one line for a job this process has just computed (the tests count jobs run twice)."""
    path = os.environ.get(JOB_LOG_ENV)
    if not path:
        return
    # one short O_APPEND write per line: lines of concurrent processes never interleave
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{key} {os.getpid()} {time.time():.3f} {label}\n".encode())
    finally:
        os.close(fd)
