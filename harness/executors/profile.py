"""Executor profiles (``tasks/profiles/*.yaml``): where and with what each job of a grid runs.

A profile is strict: an unknown key, a wrong type or a value out of range is one ``HarnessError`` naming
the file, the line and the field, with the allowed keys or values where there is a list of them.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.catalogue.yaml_lines import line_of, load_with_lines
from harness.errors import HarnessError, ValidationErrors, did_you_mean
from harness.executors.base import Resources

ExecutorName = Literal["local", "ray", "slurm"]


class Profile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    executor: ExecutorName
    resources: Resources = Field(default_factory=Resources)
    workers: int = Field(1, ge=1, description="local: worker processes (one GPU each where there are GPUs)")
    cluster_cpus: int | None = Field(
        None, ge=1, description="ray without an address: the local cluster's CPUs"
    )
    max_retries: int = Field(3, ge=0, description="ray: retries of a job whose worker died")
    array_parallelism: int | None = Field(None, ge=1, description="slurm: array tasks running at once")
    max_requeues: int = Field(3, ge=0, description="slurm: requeues of a job that reached its time limit")
    setup: list[str] = Field(default_factory=list, description="slurm: shell lines run before each job")


def default_profile(executor: str) -> Profile:
    """One job per CPU, no GPU, the scheduler's defaults: what runs without ``--profile``."""
    return Profile.model_validate({"executor": executor})


def load_profile(path: Path | str) -> Profile:
    path = Path(path)
    data, lines = load_with_lines(path)
    if not isinstance(data, dict):
        raise HarnessError(
            "expected a mapping (executor:, resources:, …)",
            file=path,
            line=1,
            allowed=sorted(Profile.model_fields),
        )
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        errors = [_error(err, path, lines) for err in exc.errors()]
        raise errors[0] if len(errors) == 1 else ValidationErrors(errors) from None
    if profile.executor == "slurm" and profile.resources.gpus != int(profile.resources.gpus):
        raise HarnessError(
            f"Slurm allocates whole GPUs (got {profile.resources.gpus})",
            file=path,
            line=line_of(lines, ("resources", "gpus")),
            field="resources.gpus",
        )
    return profile


def _error(err: Any, path: Path, lines: dict) -> HarnessError:
    loc = tuple(err["loc"])
    dotted = ".".join(str(part) for part in loc) or "(top level)"
    line = line_of(lines, loc)
    owner = Resources if loc[:1] == ("resources",) else Profile
    if err["type"] == "extra_forbidden":
        allowed = sorted(owner.model_fields)
        return HarnessError(
            f"unknown key{did_you_mean(str(loc[-1]), allowed)}",
            file=path,
            line=line,
            field=dotted,
            allowed=allowed,
        )
    if err["type"] == "missing":
        return HarnessError("missing", file=path, line=line, field=dotted)
    info = owner.model_fields.get(str(loc[-1])) if loc else None
    literal = (
        [str(v) for v in typing.get_args(info.annotation)] if info and _is_literal(info.annotation) else []
    )
    message = err["msg"].removeprefix("Value error, ")
    return HarnessError(
        f"{message} (got {err.get('input')!r})", file=path, line=line, field=dotted, allowed=literal or None
    )


def _is_literal(annotation: Any) -> bool:
    return typing.get_origin(annotation) is Literal
