"""Disk full, read-only and permission errors exit 3 naming the path; bugs exit 4; Ctrl-C exits 130."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import harness.results.atomic as atomic
from harness.cli import main


class _FullDisk:
    def __init__(self, fd: int, *_: object) -> None:
        os.close(fd)

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def write(self, _: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def _refuse_temp_files(code: int, message: str) -> Callable[..., object]:
    def mkstemp(*_: object, dir: Path, **__: object) -> object:  # noqa: A002 - tempfile's keyword
        raise OSError(code, message, str(Path(dir) / ".checkpoints.lock.x.tmp"))

    return mkstemp


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (("os", "fdopen", _FullDisk), "disk full"),
        (("tempfile", "mkstemp", _refuse_temp_files(errno.EDQUOT, "Disk quota exceeded")), "quota"),
        (("tempfile", "mkstemp", _refuse_temp_files(errno.EROFS, "Read-only file system")), "read-only"),
        (("tempfile", "mkstemp", _refuse_temp_files(errno.EACCES, "Permission denied")), "permission denied"),
        (
            ("tempfile", "mkstemp", _refuse_temp_files(errno.EPERM, "Operation not permitted")),
            "not permitted",
        ),
    ],
)
def test_the_environment_refusing_a_write_exits_3_naming_the_path(
    workspace: Path,
    tiny_model: Path,
    refused: Callable,
    monkeypatch: pytest.MonkeyPatch,
    patch: tuple,
    message: str,
) -> None:
    module, name, replacement = patch
    monkeypatch.setattr(getattr(atomic, module), name, replacement)
    outcome = refused(
        "lock", "add", "tiny", str(tiny_model), "--lock", "checkpoints.lock", code=3, names=message
    )
    assert "checkpoints.lock" in outcome.errors[0]
    assert not list(workspace.glob(".checkpoints.lock.*"))


def test_an_unexpected_exception_is_one_internal_error_line_and_exit_4(
    workspace: Path, refused: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr("harness.catalogue.validate.validate_paths", boom)
    outcome = refused("tasks", "validate", code=4)
    assert outcome.errors[0] == (
        "internal error: RuntimeError: boom second line (a bug; run with --debug for the traceback)"
    )
    with pytest.raises(RuntimeError):
        main(["--debug", "tasks", "validate"])


def test_ctrl_c_is_one_line_and_exit_130(
    workspace: Path, refused: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("harness.catalogue.validate.validate_paths", interrupted)
    refused("tasks", "validate", code=130, names="interrupted")


def test_a_usage_error_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["plan"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "harness: error: the following arguments are required: grid (see 'harness --help')"
    ]


def test_help_lists_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for code in ("0", "1", "2", "3", "4", "130"):
        assert f"\n  {code:>3}  " in text


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [(b"name: caf\xe9\n", 2, "not UTF-8")],
)
def test_smoke_the_installed_command_prints_one_line(
    tmp_path: Path, content: bytes, code: int, message: str
) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_bytes(content)
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "plan", str(grid)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "HARNESS_TASKS_DIR": str(Path(__file__).parents[2] / "tasks")},
        timeout=120,
    )
    assert done.returncode == code, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{grid}: {message}"), lines


def test_a_full_disk_inside_a_rust_library_is_exit_3_not_a_bug(
    workspace: Path, refused: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """safetensors re-raises the OS error as its own type, saying only "(os error 28)"."""
    from safetensors import SafetensorError

    def full(*_: object, **__: object) -> None:
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr("harness.catalogue.validate.validate_paths", full)
    outcome = refused("tasks", "validate", code=3, names="disk full")
    assert "internal error" not in outcome.errors[0]
