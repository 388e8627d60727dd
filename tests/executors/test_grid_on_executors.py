"""The tiny grid through every executor, as a user runs it (``harness run --executor …``), with one worker
lost mid-job on the way: a local worker SIGKILLed, a Ray worker SIGKILLed on a cluster joined with
``--ray-address``, a Slurm array task ``scancel``led. Each store equals the in-process run's — the same
jobs, records, predictions, checkpoints and lock — nothing is left over and every job is computed once."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from grid_runs import GridReference, GridRun, Store, start_run
from store_digest import finished_store_problems

from harness.fault_injection import STALL_AT_ENV

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

RAY_PROFILE = "executor: ray\nresources: {cpus: 1}\n"
SLURM_PROFILE = "executor: slurm\nresources: {cpus: 1, memory_gb: 2, time_min: 10}\narray_parallelism: 2\n"
# the worker stalls with the first checkpoint complete in its build folder, not yet published
STALL_POINT = "checkpoint-built"
STALL_TIMEOUT_S = 300


def _wait_for_stall(run: GridRun, marker: Path) -> dict[str, object]:
    deadline = time.monotonic() + STALL_TIMEOUT_S
    while not marker.is_file() or not marker.read_text(encoding="utf-8"):
        assert run.process.poll() is None, f"the run ended before any worker stalled: {run.describe()}"
        assert time.monotonic() < deadline, f"no worker reached {STALL_POINT}: {run.describe()}"
        time.sleep(0.1)
    return json.loads(marker.read_text(encoding="utf-8"))


def run_losing_a_worker(
    reference: GridReference, tmp_path: Path, kill: str, *args: str
) -> tuple[GridRun, dict[str, object]]:
    """Run the grid through an executor; the first worker to build a checkpoint stalls and is killed
    (``kill``: ``sigkill`` its process or ``scancel`` its Slurm job); the run must still finish."""
    store = Store(tmp_path / "store")
    marker = tmp_path / "stalled.json"
    run = start_run(reference.tasks, store, *args, env={STALL_AT_ENV: f"{STALL_POINT}:{marker}"})
    try:
        stalled = _wait_for_stall(run, marker)
        if kill == "scancel":
            subprocess.run(["scancel", str(stalled["slurm_job_id"])], check=True)
        else:
            os.kill(int(str(stalled["pid"])), signal.SIGKILL)
        assert run.finish() == 0, run.describe()
    finally:
        run.kill()

    problems = "\n".join(finished_store_problems(store.results, store.inputs_lock))
    assert problems == "", f"{' '.join(args)}: the store has problems:\n{problems}"
    differences = "\n".join(store.digest().differences(reference.digest))
    assert differences == "", f"{' '.join(args)}: the store differs from the in-process run's:\n{differences}"
    counts = Counter(job.key for job in store.computed())
    assert set(counts) == set(reference.jobs), "every job of the grid ran"
    assert max(counts.values()) == 1, f"jobs computed twice: {[k for k, n in counts.items() if n > 1]}"
    return run, stalled


def test_two_local_workers_make_the_in_process_store_when_one_is_killed(
    tiny_grid_reference: GridReference, tmp_path: Path
) -> None:
    run, stalled = run_losing_a_worker(
        tiny_grid_reference, tmp_path, "sigkill", "--executor", "local", "--workers", "2"
    )
    assert stalled["pid"] != run.process.pid, "the stalled job ran in a worker process"
    assert "submitting it again" in run.output, "the driver resubmitted the lost job"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _kill_processes_mentioning(text: str) -> None:
    """Every process whose command line holds ``text``: the head's own, never another Ray's."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in command:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)


@pytest.fixture
def ray_head(ray_installed: None, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A Ray head started as a user starts one (``ray start --head``, token authentication on), in a temp
    folder of its own; yields its address and the environment a client on this machine has (the token
    file), and stops only this head."""
    folder = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths have a limit
    token = folder / "auth_token"
    token.write_text(secrets.token_hex(32), encoding="utf-8")
    port = _free_port()
    head_env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    ray = Path(sys.executable).with_name("ray")
    command = [str(ray), "start", "--head", "--port", str(port), "--num-cpus", "2", "--block"]
    command += ["--include-dashboard=false", "--disable-usage-stats", "--temp-dir", str(folder / "t")]
    head = subprocess.Popen(
        command,
        env=head_env,
        stdout=(folder / "head.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while b"will now block" not in (folder / "head.log").read_bytes():
            assert head.poll() is None, (folder / "head.log").read_text(errors="replace")[-2000:]
            assert time.monotonic() < deadline, "ray start --head did not come up in 120 s"
            time.sleep(0.2)
        yield f"127.0.0.1:{port}", {"RAY_AUTH_TOKEN_PATH": str(token)}
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            head.kill()
        _kill_processes_mentioning(str(folder))  # the head's GCS and raylet outlive `ray start --block`
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def test_ray_joined_by_address_makes_the_in_process_store_when_a_worker_is_killed(
    tiny_grid_reference: GridReference,
    tmp_path: Path,
    ray_head: tuple[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    address, client_env = ray_head
    for name, value in client_env.items():
        monkeypatch.setenv(name, value)  # start_run passes this process's environment on
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)  # the harness turns token mode on by itself
    profile = tmp_path / "ray.yaml"
    profile.write_text(RAY_PROFILE, encoding="utf-8")
    run, _ = run_losing_a_worker(
        tiny_grid_reference,
        tmp_path,
        "sigkill",
        *("--executor", "ray", "--profile", str(profile), "--ray-address", address),
    )
    # Ray retried the task itself (max_retries): the driver never saw the job end
    assert "submitting it again" not in run.output


def test_slurm_makes_the_in_process_store_when_a_task_is_cancelled(
    tiny_grid_reference: GridReference, tmp_path: Path, slurm_cluster: None
) -> None:
    profile = tmp_path / "slurm.yaml"
    profile.write_text(SLURM_PROFILE, encoding="utf-8")
    run, stalled = run_losing_a_worker(
        tiny_grid_reference, tmp_path, "scancel", "--executor", "slurm", "--profile", str(profile)
    )
    assert stalled["slurm_job_id"], "the stalled job ran as a Slurm task"
    assert "submitting it again" in run.output, "the driver resubmitted the cancelled task"
    store = tmp_path / "store" / "results"
    assert any((store / "logs" / "slurm").rglob("*_log.out")), "each Slurm task logs under the store"
