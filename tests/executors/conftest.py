"""Real clusters for the executor tests: a local Ray cluster (2 CPUs) and the machine's Slurm.

Slurm: used when ``sinfo`` answers; else, as root, started with .ci/slurm-up.sh and stopped after the
session with .ci/slurm-down.sh. A missing cluster skips its tests with the reason, or fails them when
``HARNESS_REQUIRE_CLUSTERS=1`` (what .ci/run sets)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _missing(reason: str) -> None:
    if os.environ.get("HARNESS_REQUIRE_CLUSTERS") == "1":
        pytest.fail(f"HARNESS_REQUIRE_CLUSTERS=1 but {reason}")
    pytest.skip(reason)


def _sinfo_answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    out = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True, check=False)
    return out.returncode == 0 and any(s.startswith(("idle", "mix", "alloc")) for s in out.stdout.split())


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    if importlib.util.find_spec("ray") is None:
        _missing("ray is not installed (pip install 'xtreme-harness[cluster]')")
    import ray

    from harness.executors.ray_tasks import start_local_cluster

    started = not ray.is_initialized()
    if started:
        start_local_cluster(cpus=2)
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[None]:
    if importlib.util.find_spec("submitit") is None:
        _missing("submitit is not installed (pip install 'xtreme-harness[cluster]')")
    if _sinfo_answers():
        yield
        return
    if os.geteuid() != 0:
        _missing("no Slurm answers sinfo, and only root can start one (.ci/slurm-up.sh)")
    up = subprocess.run([str(REPO / ".ci" / "slurm-up.sh")], capture_output=True, text=True, check=False)
    if up.returncode != 0 or not _sinfo_answers():
        _missing(f"could not start Slurm with .ci/slurm-up.sh: {up.stderr.strip()[-500:]}")
    yield
    subprocess.run([str(REPO / ".ci" / "slurm-down.sh")], check=False)
