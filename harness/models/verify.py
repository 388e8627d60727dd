"""``harness lock verify``: re-hash every pinned checkpoint that can be found on this machine."""

from __future__ import annotations

from pathlib import Path

from harness.catalogue.schema import ModelSpec
from harness.errors import HarnessError
from harness.models.lockfile import JOB_FILE, Lock


def verify_locks(lock_path: Path, results: Path) -> tuple[list[str], int]:
    problems: list[str] = []
    checked = 0
    repo_lock = Lock.load(lock_path)
    if not repo_lock.entries and not lock_path.is_file():
        raise HarnessError("lock file not found", file=lock_path)
    for name, entry in sorted(repo_lock.entries.items()):
        from harness.models.sources import resolve_model

        try:
            folder = resolve_model(ModelSpec(name=_safe(name), source=entry.source, allow_pickle=True)).folder
        except HarnessError as exc:
            problems.append(f"{lock_path}: {name}: cannot be found: {exc.render()}")
            continue
        problems.extend(f"{lock_path}: {name}: {p}" for p in repo_lock.check(name, folder))
        checked += 1
    produced = results / "checkpoints.lock"
    lock = Lock.load(produced)
    for key in sorted(lock.entries):
        folder = results / "checkpoints" / key
        if not folder.is_dir():
            problems.append(f"{produced}: {key[:12]}: checkpoint folder missing")
            continue
        problems.extend(f"{produced}: {key[:12]}: {p}" for p in lock.check(key, folder))
        checked += 1
    problems.extend(
        f"{produced}: {key[:12]}: checkpoint in {results / 'checkpoints'} has no pin (entry deleted by hand?); "
        "re-run its job with --force or remove the folder"
        for key in unpinned_checkpoints(results / "checkpoints", lock)
    )
    return problems, checked


def unpinned_checkpoints(folder: Path, lock: Lock) -> list[str]:
    """Keys of finished checkpoints (a job file; every one is pinned when saved) that the lock lacks."""
    if not folder.is_dir():
        return []
    return sorted(
        path.name
        for path in folder.iterdir()
        if not path.name.startswith(".") and (path / JOB_FILE).is_file() and path.name not in lock.entries
    )


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_.+-" else "-" for ch in name) or "model"
