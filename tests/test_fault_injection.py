"""The test-only hooks the kill and two-driver tests steer ``harness run`` with (harness/fault_injection.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.fault_injection import (
    JOB_LOG_ENV,
    KILL_AT_ENV,
    STALL_AT_ENV,
    fault_point,
    forwarded_env,
    log_job,
)

# reaches "temp-written" for a.json, b.lock, c.json, d.json, printing each arrival it survives
ARRIVALS = """
from harness.fault_injection import fault_point
for name in ("a.json", "b.lock", "c.json", "d.json"):
    fault_point("temp-written", "/store/" + name)
    print(name, flush=True)
"""


def _arrivals(spec: str, variable: str = KILL_AT_ENV) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, variable: spec, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run(
        [sys.executable, "-c", ARRIVALS], capture_output=True, text=True, env=env, timeout=60
    )


@pytest.mark.parametrize(
    ("spec", "survived"),
    [
        ("temp-written", []),
        ("temp-written:3", ["a.json", "b.lock"]),
        ("temp-written:2:*.json", ["a.json", "b.lock"]),
        ("temp-written:1:*/b.lock", ["a.json"]),
    ],
)
def test_the_process_dies_at_the_nth_matching_arrival(spec: str, survived: list[str]) -> None:
    done = _arrivals(spec)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout.split() == survived


def test_another_point_or_no_match_never_kills() -> None:
    for spec in ("checkpoint-built", "temp-written:1:*.csv", "temp-written:5"):
        done = _arrivals(spec)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["a.json", "b.lock", "c.json", "d.json"]


@pytest.mark.parametrize("spec", ["mid-save", "temp-written:0", "temp-written:x"])
def test_a_bad_spec_names_the_variable_and_the_points(monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    monkeypatch.setenv(KILL_AT_ENV, spec)
    with pytest.raises(HarnessError) as caught:
        fault_point("temp-written")
    assert caught.value.field == KILL_AT_ENV
    assert caught.value.allowed is not None and "checkpoint-published" in caught.value.allowed


def test_the_job_log_gets_a_line_per_job(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    log = tmp_path / "jobs.log"
    monkeypatch.setenv(JOB_LOG_ENV, str(log))
    log_job("k1", "tiny-bert+none/seed1 target:tiny_cls")
    log_job("k2", "tiny-bert+none/seed1 evaluate:tiny_cls/test/en")
    lines = [line.split(" ", 3) for line in log.read_text().splitlines()]
    assert [(key, pid, label) for key, pid, _time, label in lines] == [
        ("k1", str(os.getpid()), "tiny-bert+none/seed1 target:tiny_cls"),
        ("k2", str(os.getpid()), "tiny-bert+none/seed1 evaluate:tiny_cls/test/en"),
    ]
    assert float(lines[0][2]) <= float(lines[1][2])
    monkeypatch.delenv(JOB_LOG_ENV)
    log_job("k3", "not logged")
    assert len(log.read_text().splitlines()) == 2


def test_exactly_one_process_stalls_at_the_point_and_says_which(tmp_path: Path) -> None:
    marker = tmp_path / "stalled.json"
    env = {
        **os.environ,
        STALL_AT_ENV: f"temp-written:{marker}",
        "SLURM_ARRAY_JOB_ID": "41",
        "SLURM_ARRAY_TASK_ID": "3",
        "SLURM_JOB_ID": "44",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    first = subprocess.Popen([sys.executable, "-c", ARRIVALS], stdout=subprocess.PIPE, env=env, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (marker.is_file() and marker.read_text()):
            assert first.poll() is None and time.monotonic() < deadline, "the first arrival never stalled"
            time.sleep(0.05)
        # scancel takes an array task as <array>_<index>: its own job id is ignored by Slurm 22
        assert json.loads(marker.read_text()) == {"pid": first.pid, "slurm_job_id": "41_3"}
        second = _arrivals(f"temp-written:{marker}", STALL_AT_ENV)
        assert second.returncode == 0 and second.stdout.split() == ["a.json", "b.lock", "c.json", "d.json"]
        assert first.poll() is None, "the stalled process waits to be killed"
    finally:
        first.kill()
        first.wait()
    assert first.stdout is not None and first.stdout.read() == "", "it stalled at its first arrival"


def test_a_bad_stall_spec_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STALL_AT_ENV, "mid-save")
    with pytest.raises(HarnessError) as caught:
        fault_point("temp-written")
    assert caught.value.field == STALL_AT_ENV


def test_only_the_hooks_variables_are_forwarded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(JOB_LOG_ENV, "/tmp/jobs.log")
    monkeypatch.setenv("HARNESS_CACHE", "/elsewhere")
    forwarded = forwarded_env()
    assert forwarded[JOB_LOG_ENV] == "/tmp/jobs.log"
    assert all(name.startswith("HARNESS_TEST_") for name in forwarded)
