"""A canonical digest of a results store, and the checks a finished store must pass.

Two stores holding the same results have equal digests whatever runs made them (killed and resumed, two
drivers at once, another executor): fields that describe a run rather than its results are left out, and
the store's own absolute path is replaced by a placeholder.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

# keys whose values describe the run that wrote a file, not its results (dropped at any depth)
RUN_SPECIFIC = frozenset(
    {
        "created",
        "wall_time_s",
        "hardware",
        "executor",
        "pid",
        "pids",
        "host",
        "hostname",
        "owner",
        "heartbeat",
        "started",
        "finished",
    }
)
PRODUCED_LOCK = "checkpoints.lock"
# files that only exist to be flock'ed (results/lease.py, the lock's guard): they stay, empty, by design
FLOCK_GUARDS = frozenset({".guard", "checkpoints.lock.lock", ".checkpoints.lock.lock"})
STORE_PLACEHOLDER = "<results>"


@dataclass(frozen=True)
class StoreDigest:
    records: dict[str, Any]  # path in records/ -> record content without run-specific fields
    predictions: dict[str, str]  # path in records/ -> sha256 of the predictions file
    checkpoints: dict[str, dict[str, str]]  # checkpoint key -> {file name: digest of its canonical content}
    produced_lock: dict[str, Any]  # results/checkpoints.lock: name -> entry (files with their sha256)
    inputs_lock: dict[str, Any]  # the --lock file the runs pinned their base models in
    derived: dict[str, str]  # derived/ tables and unavailable.json -> digest of their canonical content

    def differences(self, other: StoreDigest, limit: int = 12) -> list[str]:
        """What differs, one line per item (the first ``limit``), for an assertion message."""
        lines: list[str] = []
        for part in fields(self):
            mine, theirs = getattr(self, part.name), getattr(other, part.name)
            for name in sorted(mine.keys() | theirs.keys()):
                if name not in theirs:
                    lines.append(f"{part.name}: {name} only in the first store")
                elif name not in mine:
                    lines.append(f"{part.name}: {name} only in the second store")
                elif mine[name] != theirs[name]:
                    lines.append(f"{part.name}: {name} differs")
        return lines[:limit] + ([f"… {len(lines) - limit} more"] if len(lines) > limit else [])


def canonical(value: Any, store: Path) -> Any:
    """``value`` without run-specific keys, the store's absolute path replaced by a placeholder."""
    if isinstance(value, dict):
        return {k: canonical(v, store) for k, v in sorted(value.items()) if k not in RUN_SPECIFIC}
    if isinstance(value, list):
        return [canonical(v, store) for v in value]
    if isinstance(value, str):
        return value.replace(str(store.resolve()), STORE_PLACEHOLDER).replace(str(store), STORE_PLACEHOLDER)
    return value


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_digest(path: Path, store: Path) -> str:
    """JSON by its canonical content, CSV by its rows without run-specific columns, the rest by bytes."""
    data = path.read_bytes()
    if path.suffix == ".json":
        content = canonical(json.loads(data), store)
        return _sha256(json.dumps(content, sort_keys=True).encode())
    if path.suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
        return _sha256(json.dumps(canonical(rows, store), sort_keys=True).encode())
    return _sha256(data)


def _lock_entries(path: Path, store: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    return canonical(json.loads(path.read_text(encoding="utf-8")).get("checkpoints", {}), store)


def _visible(path: Path, root: Path) -> bool:
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def store_digest(results: Path, inputs_lock: Path) -> StoreDigest:
    records: dict[str, Any] = {}
    predictions: dict[str, str] = {}
    records_dir = results / "records"
    for path in sorted(records_dir.rglob("*")) if records_dir.is_dir() else []:
        if not path.is_file() or not _visible(path, records_dir):
            continue
        name = str(path.relative_to(records_dir))
        if path.name.endswith(".predictions.jsonl"):
            predictions[name] = _sha256(path.read_bytes())
        elif path.suffix == ".json":
            records[name] = canonical(json.loads(path.read_text(encoding="utf-8")), results)
    checkpoints: dict[str, dict[str, str]] = {}
    checkpoints_dir = results / "checkpoints"
    for folder in sorted(checkpoints_dir.iterdir()) if checkpoints_dir.is_dir() else []:
        if folder.is_dir() and not folder.name.startswith("."):
            checkpoints[folder.name] = {
                str(p.relative_to(folder)): _file_digest(p, results)
                for p in sorted(folder.rglob("*"))
                if p.is_file() and _visible(p, folder)
            }
    derived = {
        str(p.relative_to(results)): _file_digest(p, results)
        for p in [*sorted((results / "derived").glob("*")), results / "unavailable.json"]
        if p.is_file() and not p.name.startswith(".")
    }
    return StoreDigest(
        records,
        predictions,
        checkpoints,
        _lock_entries(results / PRODUCED_LOCK, results),
        _lock_entries(inputs_lock, results),
        derived,
    )


def leftovers(results: Path) -> list[str]:
    """What a completed run must not leave behind: temp files, build and aside folders (hidden names)
    and job leases (a ``leases`` folder's contents or ``*.lease`` files); flock guard files may stay, and
    ``logs/`` is the executors' own (submitit keeps its submission scripts there)."""
    found = []
    for path in sorted(results.rglob("*")):
        relative = path.relative_to(results)
        if (path.name in FLOCK_GUARDS and path.is_file()) or relative.parts[0] == "logs":
            continue
        hidden = path.name.startswith(".")
        lease = path.suffix == ".lease" or ("leases" in relative.parts[:-1])
        if hidden or lease:
            found.append(str(relative))
    return found


def pin_problems(results: Path) -> list[str]:
    """Every checkpoint folder is pinned in the store's lock and matches its pin, and every pin has its
    folder: checked here by hashing, independently of the harness's own ``lock verify``."""
    lock_path = results / PRODUCED_LOCK
    entries = json.loads(lock_path.read_text(encoding="utf-8"))["checkpoints"] if lock_path.is_file() else {}
    checkpoints_dir = results / "checkpoints"
    folders = {
        p.name: p
        for p in (checkpoints_dir.iterdir() if checkpoints_dir.is_dir() else [])
        if p.is_dir() and not p.name.startswith(".")
    }
    problems = [f"checkpoint {key[:12]} on disk is not pinned" for key in sorted(folders.keys() - entries)]
    problems += [f"pinned checkpoint {key[:12]} has no folder" for key in sorted(entries.keys() - folders)]
    for key in sorted(entries.keys() & folders.keys()):
        for rel, digest in sorted(entries[key]["files"].items()):
            path = folders[key] / rel
            if not path.is_file():
                problems.append(f"checkpoint {key[:12]}: pinned file {rel} is missing")
            elif _sha256(path.read_bytes()) != digest:
                problems.append(f"checkpoint {key[:12]}: {rel} differs from its pin")
        for path in folders[key].rglob("*.safetensors"):
            if str(path.relative_to(folders[key])) not in entries[key]["files"]:
                problems.append(f"checkpoint {key[:12]}: weights {path.name} are not in its pin")
    return problems


def lock_verify_problems(results: Path, inputs_lock: Path) -> list[str]:
    """``harness lock verify``'s complaints about the store (empty when it passes)."""
    from harness.models.verify import verify_locks

    problems, _checked = verify_locks(inputs_lock, results)
    return problems


def finished_store_problems(results: Path, inputs_lock: Path) -> list[str]:
    """Everything wrong with a store a run has completed: unpinned or altered checkpoints, leftovers."""
    return [
        *pin_problems(results),
        *lock_verify_problems(results, inputs_lock),
        *(f"left over: {name}" for name in leftovers(results)),
    ]
