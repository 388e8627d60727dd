"""Errors a user sees: one line naming the file, the field and what is allowed.

The CLI turns every ``HarnessError`` into that one line and its exit code; anything else is a bug
and shows a traceback only with ``--debug``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


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


class UnsafeCheckpoint(HarnessError):
    """A checkpoint that can only be loaded through pickle, without the user's opt-in."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' — did you mean X?' suffix, or '' when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" — did you mean {close[0]!r}?" if close else ""
