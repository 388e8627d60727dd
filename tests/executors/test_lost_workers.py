"""A job whose worker dies mid-job completes exactly once: Ray retries it; a preempted Slurm job is
requeued; a cancelled one is submitted again with its wave, and nothing that had finished runs twice."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from toy_jobs import ToyJob, attempts, computations, run_toy_job, wait_for_pid

from harness.executors import JobEnded, make_executor
from harness.executors.local import WorkerPoolExecutor
from harness.executors.profile import Profile
from harness.executors.slurm import SlurmExecutor, queue_states


def test_a_killed_local_worker_fails_its_job_with_job_ended_and_the_job_runs_again_once(
    tmp_path: Path,
) -> None:
    job = ToyJob(name="slow", number=5, folder=str(tmp_path), first_attempt_sleep_s=120)
    executor = WorkerPoolExecutor(2, gpu_count=0)
    try:
        future = executor.submit(run_toy_job, job)
        worker_pid = wait_for_pid(tmp_path, "slow")
        os.kill(worker_pid, signal.SIGKILL)
        assert isinstance(future.exception(timeout=60), JobEnded)
        again = executor.submit(run_toy_job, job).result(timeout=60)
    finally:
        executor.close()

    assert again == {"name": "slow", "value": 5**2 + 4}
    assert (attempts(tmp_path, "slow"), computations(tmp_path, "slow")) == (2, 1)


@pytest.mark.cluster
def test_a_ray_worker_killed_mid_job_is_retried_and_the_job_completes_once(
    ray_cluster: None, tmp_path: Path
) -> None:
    job = ToyJob(name="slow", number=7, folder=str(tmp_path), first_attempt_sleep_s=120)
    executor = make_executor("ray", profile=Profile(executor="ray", max_retries=2))
    try:
        future = executor.submit(run_toy_job, job)
        worker_pid = wait_for_pid(tmp_path, "slow")
        os.kill(worker_pid, signal.SIGKILL)
        result = future.result(timeout=120)
    finally:
        executor.close()

    assert result == {"name": "slow", "value": 7**2 + 4}
    assert attempts(tmp_path, "slow") == 2
    assert computations(tmp_path, "slow") == 1
    assert int((tmp_path / "pids" / "slow").read_text()) != worker_pid


@pytest.mark.cluster
@pytest.mark.slow
def test_a_cancelled_slurm_job_completes_when_its_wave_is_submitted_again(
    slurm_cluster: None, tmp_path: Path
) -> None:
    wave = [
        ToyJob(name="quick", number=2, folder=str(tmp_path)),
        ToyJob(name="slow", number=3, folder=str(tmp_path), first_attempt_sleep_s=300),
    ]
    executor = make_executor("slurm", log_dir=tmp_path / "logs", profile=Profile(executor="slurm"))
    assert isinstance(executor, SlurmExecutor)
    try:
        quick, slow = executor.submit_wave(run_toy_job, wave)
        slurm_ids = executor.job_ids([quick, slow])
        assert quick.result(timeout=120) == {"name": "quick", "value": 9}
        wait_for_pid(tmp_path, "slow")
        subprocess.run(["scancel", *executor.job_ids([slow])], check=True)
        assert isinstance(slow.exception(timeout=120), JobEnded)

        resubmitted = executor.submit_wave(run_toy_job, wave)
        slurm_ids += executor.job_ids(resubmitted)
        again = [future.result(timeout=120) for future in resubmitted]
    finally:
        executor.close()

    assert again == [{"name": "quick", "value": 9}, {"name": "slow", "value": 13}]
    assert (attempts(tmp_path, "quick"), computations(tmp_path, "quick")) == (1, 1)
    assert (attempts(tmp_path, "slow"), computations(tmp_path, "slow")) == (2, 1)
    assert sorted(p.name for p in (tmp_path / "outputs").iterdir()) == ["quick.json", "slow.json"]
    assert len(set(slurm_ids)) == 4
    for slurm_id in slurm_ids:  # each array task logs in its own folder under the store
        assert (tmp_path / "logs" / slurm_id / f"{slurm_id}_0_log.out").is_file()


def _wait_for_state(job_id: str, wanted: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if queue_states([job_id]) == {job_id: wanted}:
            return
        time.sleep(0.2)
    raise TimeoutError(f"slurm job {job_id} never reached {wanted} (now {queue_states([job_id])})")


@pytest.mark.cluster
def test_a_preempted_slurm_job_is_requeued_and_completes_once(slurm_cluster: None, tmp_path: Path) -> None:
    job = ToyJob(name="preempted", number=6, folder=str(tmp_path), first_attempt_sleep_s=300)
    executor = make_executor("slurm", log_dir=tmp_path / "logs", profile=Profile(executor="slurm"))
    assert isinstance(executor, SlurmExecutor)
    try:
        future = executor.submit(run_toy_job, job)
        wait_for_pid(tmp_path, "preempted")
        [slurm_id] = executor.job_ids([future])
        # what Slurm sends before preempting a job or at its time limit
        subprocess.run(["scancel", "--signal=USR2", slurm_id], check=True)
        _wait_for_state(slurm_id, "PENDING")  # requeued, not failed: it may start again after cred_expire
        result = future.result(timeout=120)
    finally:
        executor.close()

    assert result == {"name": "preempted", "value": 6**2 + 9}
    assert (attempts(tmp_path, "preempted"), computations(tmp_path, "preempted")) == (2, 1)
