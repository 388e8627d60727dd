"""The harness's own cache folder: built models, parsed builtin tables, leakage hashes, row counts."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "HARNESS_CACHE"


def default_cache_dir() -> Path:
    """``$HARNESS_CACHE`` when set, else ``~/.cache/harness``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "harness"
