"""The installed wheels the demo reads: found through importlib, never through a hard-coded path."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from functools import cache
from pathlib import Path

from harness.errors import HarnessError
from harness.extras import demo_missing


def package_dir(module: str, distribution: str, feature: str, install: str | None = None) -> Path:
    """The folder of an installed package, found without importing it.

    A missing package is a one-line error naming the ``demo`` extra, or ``install`` for a package the
    extra cannot carry."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        if install is not None:
            raise HarnessError(f"{feature} needs the {module!r} package: {install}")
        raise demo_missing(feature, distribution)
    return Path(next(iter(spec.submodule_search_locations)))


@cache  # installed versions do not change while a plan asks for them once per builtin split
def package_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
