"""Errors a user sees: one line naming the file, the field and what is allowed.

The CLI turns every ``HarnessError`` into that one line and its exit code (see ``EXIT_CODES``); anything
else is a bug: one "internal error" line and exit 4, the traceback only with ``--debug``.
"""

from __future__ import annotations

import difflib
import errno
import os
import re
from collections.abc import Iterable
from pathlib import Path

EXIT_CODES: dict[int, str] = {
    0: "ok",
    1: "a checkpoint does not match its pin in checkpoints.lock",
    2: "bad input or usage (one line names the file, line and field)",
    3: "environment: disk full, read-only folder or missing permission (the line names the path)",
    4: "internal error: a bug (run again with --debug for the traceback)",
    130: "interrupted (run the same command again to resume)",
}


class HarnessError(Exception):
    """A problem with the user's input or environment. Exit code 2 unless a subclass says otherwise."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        allowed: Iterable[str] | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        self.allowed = list(allowed) if allowed is not None else None
        super().__init__(self.render())

    def render(self) -> str:
        where = ""
        if self.file:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
            where += ": "
        field = f"{self.field}: " if self.field else ""
        allowed = ""
        if self.allowed:
            shown = ", ".join(self.allowed[:25]) + (" …" if len(self.allowed) > 25 else "")
            allowed = f" (allowed: {shown})"
        return f"{where}{field}{self.message}{allowed}"


class ValidationErrors(HarnessError):
    """Several problems found at once (``harness tasks validate`` reports them all)."""

    def __init__(self, errors: list[HarnessError]) -> None:
        self.errors = errors
        super().__init__("\n".join(e.render() for e in errors))

    def render(self) -> str:  # the message is already the rendered list
        return self.message


class LockMismatch(HarnessError):
    """A checkpoint's files differ from its pin in checkpoints.lock."""

    exit_code = 1


class EnvironmentProblem(HarnessError):
    """The machine refused: disk full, read-only folder, missing permission. The input may be fine."""

    exit_code = 3


class UnsafeCheckpoint(HarnessError):
    """A checkpoint that can only be loaded through pickle, without the user's opt-in."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' — did you mean X?' suffix, or '' when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" — did you mean {close[0]!r}?" if close else ""


_ENVIRONMENT_ERRNOS = {
    errno.ENOSPC: "disk full (no space left on device); free space or write elsewhere",
    errno.EDQUOT: "disk quota exceeded; free space or write elsewhere",
    errno.EROFS: "read-only file system; write elsewhere or remount it read-write",
    errno.EACCES: "permission denied; fix the permissions or write elsewhere",
    errno.EPERM: "operation not permitted; fix the permissions or write elsewhere",
}
_INPUT_ERRNOS = {
    errno.ENOENT: "not found",
    errno.ENOTDIR: "not a folder (a file stands where a folder is expected)",
    errno.EISDIR: "is a folder, not a file",
}


_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def from_wrapped_os_error(exc: Exception) -> HarnessError | None:
    """An OS error that a library re-raised as its own type, saying only ``(os error N)`` in its message
    (safetensors and tokenizers are Rust: a full disk while saving weights arrives as a SafetensorError)."""
    found = _RUST_OS_ERROR.search(str(exc))
    if found is None:
        return None
    code = int(found.group(1))
    return from_os_error(OSError(code, os.strerror(code)))


def from_os_error(exc: OSError) -> HarnessError | None:
    """The one line for an OSError a user can act on (exit 3, or 2 for a wrong path); None for others."""
    path = exc.filename if exc.filename is not None else "(path not reported)"
    if exc.errno in _ENVIRONMENT_ERRNOS:
        return EnvironmentProblem(_ENVIRONMENT_ERRNOS[exc.errno], file=path)
    if exc.errno in _INPUT_ERRNOS:
        return HarnessError(_INPUT_ERRNOS[exc.errno], file=path)
    return None
