"""Names that become folder or file names (models, conditions, checkpoints): one safe pattern for all."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from harness.errors import HarnessError

SAFE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$"
SAFE_NAME_RULE = "1-100 characters: letters, digits and . _ + -, starting with a letter or digit, no '..'"
_SAFE_NAME = re.compile(SAFE_NAME_PATTERN)


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be used as a path component, or None when it can."""
    if not _SAFE_NAME.fullmatch(name) or ".." in name:
        return f"{name!r} cannot be used as a name ({SAFE_NAME_RULE})"
    return None


def checked_name(name: str, *, field: str, file: str | None = None) -> str:
    """``name`` unchanged, or a HarnessError naming ``field`` (before anything is written)."""
    problem = name_problem(name)
    if problem:
        raise HarnessError(problem, file=file, field=field)
    return name


def _validate(name: str) -> str:
    problem = name_problem(name)
    if problem:
        raise ValueError(problem)
    return name


SafeName = Annotated[str, AfterValidator(_validate)]
