"""The grid's one progress display: in a log, one plain line per finished job and no library bars."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from test_tiny_grid import make_runner

from harness.runner.progress import JobProgress, clock_text

LINE = re.compile(r"^\[(\d+)/(\d+)\] (\d+h)?(\d+m)?\d+s (\S.*) \(\d+\.\d s\)$")


def log_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=80), out


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0, "0s"), (59.9, "59s"), (60, "1m00s"), (192, "3m12s"), (7500, "2h05m")]
)
def test_clock_text(seconds: float, shown: str) -> None:
    assert clock_text(seconds) == shown


def test_a_log_gets_one_line_per_finished_job_with_its_time() -> None:
    now = [100.0]
    console, out = log_console()
    with JobProgress(console, clock=lambda: now[0]) as progress:
        progress.start(2)
        progress.started("m+a/seed1 target:t")
        now[0] += 14.25
        progress.finished("m+a/seed1 target:t")
        progress.started("m+a/seed1 evaluate:t/test/de")
        now[0] += 180
        progress.finished("m+a/seed1 evaluate:t/test/de")
    # a label longer than the console is not wrapped: one line per job, whatever the width
    assert out.getvalue().splitlines() == [
        "[1/2] 14s m+a/seed1 target:t (14.2 s)",
        "[2/2] 3m14s m+a/seed1 evaluate:t/test/de (180.0 s)",
    ]


def test_a_non_tty_run_of_the_tiny_grid_logs_each_job_once(
    tiny_tasks: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    console, out = log_console()
    with JobProgress(console) as progress:
        report = make_runner(tiny_tasks, tmp_path / "results", progress=progress).run()
    lines = out.getvalue().splitlines()
    assert len(lines) == len(report.ran) == 17
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    assert [int(m.group(1)) for m in matches] == list(range(1, 18))  # type: ignore[union-attr]
    assert {int(m.group(2)) for m in matches} == {17}  # type: ignore[union-attr]
    assert [m.group(5) for m in matches] == report.ran  # type: ignore[union-attr]
    captured = capfd.readouterr()
    assert "it/s" not in captured.err + captured.out  # no Trainer or loading bars
    assert "'loss'" not in captured.err + captured.out  # nor the Trainer's printed loss logs
