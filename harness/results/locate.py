"""Find the results store a reading command (``summary``, ``report``, ``compare``) was pointed at.

A misspelt ``--results`` must not read as an empty store: ``report`` would then replace a published
site with a "0 records" one. A store is a folder holding ``records/`` or ``unavailable.json`` (a run
that could score nothing still writes the latter).
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError

STORE_SIGNS = "records/ or unavailable.json"


def require_store(path: Path) -> Path:
    """``path`` if it holds a results store; otherwise one line naming the folder (exit 2)."""
    path = Path(path)
    if not path.exists():
        raise HarnessError(
            f"no such folder (a results store holds {STORE_SIGNS})", file=path, field="--results"
        )
    if not path.is_dir():
        raise HarnessError("is a file, not a results store folder", file=path, field="--results")
    if not (path / "records").is_dir() and not (path / "unavailable.json").is_file():
        raise HarnessError(
            f"not a results store: it holds neither {STORE_SIGNS} (run 'harness run' first)",
            file=path,
            field="--results",
        )
    return path
