"""A wave sbatch refuses (here: a partition the cluster does not have) is one HarnessError naming the
executor and sbatch's own reason, not an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest
from toy_jobs import ToyJob, run_toy_job

from harness.errors import HarnessError
from harness.executors import make_executor
from harness.executors.base import Resources
from harness.executors.profile import Profile

pytestmark = pytest.mark.cluster


def test_a_wave_sbatch_refuses_is_one_clear_error(tmp_path: Path, slurm_cluster: None) -> None:
    profile = Profile(executor="slurm", resources=Resources(partition="no-such-partition", time_min=5))
    executor = make_executor("slurm", profile=profile, log_dir=tmp_path / "logs")
    job = ToyJob(name="refused", number=0, folder=str(tmp_path))
    try:
        with pytest.raises(HarnessError, match="sbatch refused the wave: .*partition") as refused:
            executor.submit_wave(run_toy_job, [job])
    finally:
        executor.close()
    assert refused.value.field == "--executor slurm"
