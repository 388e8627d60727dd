"""Real clusters for the executor tests: a local Ray cluster (2 CPUs) and the machine's Slurm.

Slurm: as root, .ci/slurm-up.sh brings it up (or leaves a running one alone) and, when it was not running
before, .ci/slurm-down.sh stops it after the session; other users need a Slurm that answers ``sinfo``. A missing cluster skips its tests with the reason, or fails them when
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
    was_running = _sinfo_answers()
    if os.geteuid() == 0:
        # idempotent: a running cluster with this configuration (short requeue delay) is left alone
        up = subprocess.run([str(REPO / ".ci" / "slurm-up.sh")], capture_output=True, text=True, check=False)
        if up.returncode != 0:
            _missing(f"could not start Slurm with .ci/slurm-up.sh: {up.stderr.strip()[-500:]}")
    if not _sinfo_answers():
        _missing("no Slurm answers sinfo, and only root can start one (.ci/slurm-up.sh)")
    yield
    if not was_running:
        subprocess.run([str(REPO / ".ci" / "slurm-down.sh")], check=False)


@pytest.fixture(scope="session")
def ray_installed() -> None:
    """Ray importable (a ``harness run --executor ray`` process starts its own local cluster)."""
    if importlib.util.find_spec("ray") is None:
        _missing("ray is not installed (pip install 'xtreme-harness[cluster]')")
