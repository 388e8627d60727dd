"""``harness lock verify``: re-hash every pinned checkpoint that can be found on this machine; and the
checks a run makes on produced checkpoints: repair the lock from pin files at start-up, verify before use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.catalogue.schema import ModelSpec
from harness.errors import HarnessError, LockMismatch
from harness.models.lockfile import JOB_FILE, PIN_FILE, Lock, read_pin


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
    for key in unpinned_checkpoints(results / "checkpoints", lock):
        problems.append(f"{produced}: {key[:12]}: {_unpinned_problem(results / 'checkpoints' / key)}")
    return problems, checked


def _unpinned_problem(folder: Path) -> str:
    if not (folder / PIN_FILE).is_file():
        return (
            f"checkpoint in {folder.parent} has no pin (entry deleted by hand?); "
            "re-run its job with --force or remove the folder"
        )
    differences = _pin_file_differences(folder)
    if differences:
        return f"not in the lock, and its files differ from its own {PIN_FILE}: {differences[0]}"
    return f"published but its {PIN_FILE} was never merged into the lock; the next harness run merges it"


def _pin_file_differences(folder: Path) -> list[str]:
    """Differences between a checkpoint's files and its own pin file (its name must be the folder's)."""
    name, entry = read_pin(folder)
    if name != folder.name:
        return [f"{PIN_FILE} pins {name[:12]}, not this folder {folder.name[:12]}"]
    return Lock(folder / PIN_FILE, {name: entry}).check(name, folder)


@dataclass
class PinRepair:
    """What ``repair_pins`` did: names re-pinned from their pin files, and the checkpoints it refused."""

    repaired: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # key -> why (no pin file, bytes differ)


def repair_pins(checkpoints: Path, lock: Lock) -> PinRepair:
    """Merge into ``lock`` the pin of every published checkpoint that the lock lacks or pins otherwise.

    Call it at a run's start-up: a run killed between publishing a checkpoint and merging its pin (or
    during a ``--force`` replace) leaves exactly that. A checkpoint whose bytes differ from its own pin
    file, or that has none, is not merged: ``verify_checkpoint`` refuses it when a job wants it.
    """
    outcome = PinRepair()
    lock.reload()
    candidates: list[Path] = []
    for folder in _published(checkpoints):
        if not (folder / PIN_FILE).is_file():
            if folder.name not in lock.entries:
                outcome.refused[folder.name] = _unpinned_problem(folder)
            continue
        _, entry = read_pin(folder)
        if lock.entries.get(folder.name) == entry:
            continue
        differences = _pin_file_differences(folder)
        if differences:
            outcome.refused[folder.name] = f"its files differ from its own {PIN_FILE}: {differences[0]}"
        else:
            candidates.append(folder)
    outcome.repaired = lock.merge_pins(candidates)
    return outcome


def verify_checkpoint(lock: Lock, key: str, folder: Path) -> None:
    """Before a produced checkpoint is used: its files must match its lock entry or, when the lock has
    none yet, its own pin file. Anything else is one ``LockMismatch`` naming the checkpoint."""
    if key in lock.entries:
        lock.verify(key, folder)
        return
    if not (folder / PIN_FILE).is_file():
        raise LockMismatch(
            f"checkpoint {key[:12]} has no pin in the lock and no {PIN_FILE}; "
            "re-run its job with --force or remove the folder",
            file=folder,
        )
    differences = _pin_file_differences(folder)
    if differences:
        raise LockMismatch(
            f"checkpoint {key[:12]} does not match its own {PIN_FILE}: {differences[0]}"
            + (f" (+{len(differences) - 1} more)" if len(differences) > 1 else ""),
            file=folder,
        )


def _published(checkpoints: Path) -> list[Path]:
    if not checkpoints.is_dir():
        return []
    return sorted(
        path
        for path in checkpoints.iterdir()
        if not path.name.startswith(".") and path.is_dir() and (path / JOB_FILE).is_file()
    )


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
