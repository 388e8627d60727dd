"""checkpoints.lock: every checkpoint pinned by the sha256 of its files, with its lineage.

The repository's lock pins inputs (base models, checkpoints brought in with ``harness eval``); the
results store keeps a lock of its own for the checkpoints a grid produces. Same format for both.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import HarnessError, LockMismatch
from harness.results.atomic import atomic_write_json
from harness.results.reading import read_json

LOCK_VERSION: Final = 1
PINNED_SUFFIXES = (".safetensors", ".bin", ".json", ".model", ".txt")
# the job that built a checkpoint folder; the file keeps its first name so existing checkpoints still count
JOB_FILE = "cell.json"
IGNORED_NAMES = {JOB_FILE, "training.json"}


@dataclass
class Lineage:
    parent: str | None = None
    phase: str = "base"
    task: str | None = None
    source_lang: str | None = None
    seed: int | None = None


@dataclass
class LockEntry:
    source: str
    files: dict[str, str]
    revision: str | None = None
    lineage: Lineage = field(default_factory=Lineage)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LockEntry:
        return cls(
            source=data["source"],
            files=dict(data["files"]),
            revision=data.get("revision"),
            lineage=Lineage(**data.get("lineage", {})),
            note=data.get("note", ""),
        )


class _LockModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class LineageSchema(_LockModel):
    parent: str | None = None
    phase: str = "base"
    task: str | None = None
    source_lang: str | None = None
    seed: int | None = None


class EntrySchema(_LockModel):
    source: str
    files: dict[str, str]
    revision: str | None = None
    lineage: LineageSchema = Field(default_factory=LineageSchema)
    note: str = ""


class LockDocument(_LockModel):
    """The file's shape: ``{"version": 1, "checkpoints": {NAME: {"source", "files": {PATH: SHA256}, ...}}}``."""

    version: Literal[1] = LOCK_VERSION
    checkpoints: dict[str, EntrySchema] = Field(default_factory=dict)


def read_lock_document(path: Path) -> LockDocument:
    """The parsed lock, or one line naming the file and the first field that has the wrong shape."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise HarnessError(
            f"expected an object {{'version': {LOCK_VERSION}, 'checkpoints': {{...}}}}, got a {type(data).__name__}",
            file=path,
            field="(top level)",
        )
    try:
        return LockDocument.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        message = first["msg"]
        if where == "version":
            message = (
                f"unknown lock version {data.get('version')!r}; this harness reads version {LOCK_VERSION}"
            )
        raise HarnessError(message, file=path, field=where) from None


@lru_cache(maxsize=256)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    stat = path.stat()
    return _sha256_cached(str(path), stat.st_size, stat.st_mtime_ns)


def hash_folder(folder: Path) -> dict[str, str]:
    """sha256 of every weight, config and tokenizer file in a model folder."""
    files = {
        str(p.relative_to(folder)): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and p.suffix in PINNED_SUFFIXES
        and p.name not in IGNORED_NAMES
        and not p.name.startswith(".")
    }
    if not files:
        raise HarnessError("no model files to pin", file=folder)
    return files


def folder_digest(files: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


class Lock:
    def __init__(self, path: Path, entries: dict[str, LockEntry] | None = None) -> None:
        self.path = Path(path)
        self.entries = entries or {}

    @classmethod
    def load(cls, path: Path) -> Lock:
        if not Path(path).is_file():
            return cls(path)
        document = read_lock_document(Path(path))
        entries = {
            name: LockEntry.from_json(entry.model_dump()) for name, entry in document.checkpoints.items()
        }
        return cls(path, entries)

    def save(self) -> None:
        atomic_write_json(
            self.path,
            {
                "version": LOCK_VERSION,
                "checkpoints": {n: e.to_json() for n, e in sorted(self.entries.items())},
            },
        )

    def pin(
        self,
        name: str,
        folder: Path,
        source: str,
        *,
        lineage: Lineage | None = None,
        revision: str | None = None,
        note: str = "",
    ) -> LockEntry:
        entry = LockEntry(source, hash_folder(folder), revision, lineage or Lineage(), note)
        self.entries[name] = entry
        self.save()
        return entry

    def check(self, name: str, folder: Path) -> list[str]:
        """Differences between the folder and its pin: changed, missing or unpinned weight files."""
        entry = self.entries[name]
        actual = hash_folder(folder)
        problems = []
        for rel, digest in entry.files.items():
            if rel not in actual:
                problems.append(f"{rel}: missing")
            elif actual[rel] != digest:
                problems.append(f"{rel}: sha256 {actual[rel][:12]}… differs from the pinned {digest[:12]}…")
        for rel in actual.keys() - entry.files.keys():
            if rel.endswith(".safetensors") or rel.endswith(".bin"):
                problems.append(f"{rel}: weight file not in the lock")
        return problems

    def verify(self, name: str, folder: Path) -> None:
        problems = self.check(name, folder)
        if problems:
            raise LockMismatch(
                f"checkpoint {name!r} does not match its pin: {problems[0]}"
                + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""),
                file=self.path,
            )
