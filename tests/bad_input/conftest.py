"""The bad-input suite: every input a hostile but realistic user tried gets one line and its exit code.

Each case runs the CLI in-process (``harness.cli.main``) and asserts three things: the exit code, exactly
one stderr line naming the file or field, and that no file under the workspace was written or deleted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.cli import main


@dataclass
class Outcome:
    code: int
    stdout: str
    errors: list[str]


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` and the sha256 of its bytes (what 'nothing written or deleted' means)."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def workspace(tiny_tasks: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny tasks folder's parent (tasks/, data/), as the working directory."""
    root = tiny_tasks.parent
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    def run(*argv: str) -> Outcome:
        code = main(list(argv))
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err.splitlines())

    return run


@pytest.fixture
def refused(workspace: Path, run_cli: Callable[..., Outcome]) -> Callable[..., Outcome]:
    """Run a command that must fail: one stderr line, no traceback, the workspace untouched."""

    def run(*argv: str, code: int = 2, names: str | None = None) -> Outcome:
        before = tree_digest(workspace)
        outcome = run_cli(*argv)
        assert outcome.code == code, outcome
        assert len(outcome.errors) == 1, outcome.errors
        assert "Traceback" not in outcome.errors[0]
        if names is not None:
            assert names in outcome.errors[0], outcome.errors[0]
        assert tree_digest(workspace) == before
        return outcome

    return run
