"""checkpoints.lock: every checkpoint pinned by the sha256 of its files, with its lineage.

The repository's lock pins inputs (base models, checkpoints brought in with ``harness eval``); the
results store keeps a lock of its own for the checkpoints a grid produces. Same format for both.

Several processes may pin into one lock at once (two drivers, workers on a cluster): every change is a
read-modify-write of the file on disk under an exclusive ``flock`` on the lock file itself, never a
rewrite from one process's memory. A produced checkpoint carries its own pin (``pin.json``, written into
the build folder before it is published), so a kill between publishing and merging loses nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import HarnessError, LockMismatch
from harness.results.atomic import atomic_write_json, dumps, locked_for_replace
from harness.results.reading import read_json

LOCK_VERSION: Final = 1
PINNED_SUFFIXES = (".safetensors", ".bin", ".json", ".model", ".txt")
# the job that built a checkpoint folder; the file keeps its first name so existing checkpoints still count
JOB_FILE = "cell.json"
# a checkpoint's own pin, written last into its build folder: {"version", "name", "entry": {...}}
PIN_FILE = "pin.json"
IGNORED_NAMES = {JOB_FILE, "training.json", PIN_FILE}


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
        # by hand: ``asdict`` deep-copies and was most of the time of a merge into a lock of 1,000 entries
        return {
            "source": self.source,
            "files": dict(self.files),
            "revision": self.revision,
            "lineage": vars(self.lineage).copy(),
            "note": self.note,
        }

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


@lru_cache(maxsize=4096)
def _sha256_cached(files: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for path, _size, _mtime_ns in files:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()


def sha256_files(paths: tuple[Path, ...]) -> str:
    """One sha256 over the files' bytes in order, hashed once per process while each file's size and
    modification time stay (a plan fingerprints the same data files for every job that reads them)."""
    return _sha256_cached(tuple((str(p), (st := p.stat()).st_size, st.st_mtime_ns) for p in paths))


def sha256_file(path: Path) -> str:
    return sha256_files((path,))


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


def _read_entries(path: Path) -> dict[str, LockEntry]:
    if not path.is_file():
        return {}
    document = read_lock_document(path)
    return {name: LockEntry.from_json(entry.model_dump()) for name, entry in document.checkpoints.items()}


def folder_digest(files: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


class PinDocument(_LockModel):
    """A checkpoint's ``pin.json``: the lock entry it is merged in as, under its name."""

    version: Literal[1] = LOCK_VERSION
    name: str
    entry: EntrySchema


def folder_entry(
    folder: Path, source: str, *, lineage: Lineage | None, revision: str | None, note: str
) -> LockEntry:
    """A lock entry for a folder as it is on disk now (its files' sha256)."""
    return LockEntry(source, hash_folder(folder), revision, lineage or Lineage(), note)


def write_pin(
    folder: Path,
    name: str,
    source: str,
    *,
    lineage: Lineage | None = None,
    revision: str | None = None,
    note: str = "",
) -> LockEntry:
    """Hash a built folder and write its pin into it. Call it last, just before publishing."""
    entry = folder_entry(folder, source, lineage=lineage, revision=revision, note=note)
    atomic_write_json(folder / PIN_FILE, {"version": LOCK_VERSION, "name": name, "entry": entry.to_json()})
    return entry


def read_pin(folder_or_file: Path) -> tuple[str, LockEntry]:
    """A pin file's name and entry (a folder means its ``pin.json``); one line naming the field if malformed."""
    path = folder_or_file / PIN_FILE if folder_or_file.is_dir() else folder_or_file
    if not path.is_file():
        raise HarnessError("pin file not found", file=path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise HarnessError(
            f"expected an object {{'version', 'name', 'entry'}}, got a {type(data).__name__}",
            file=path,
            field="(top level)",
        )
    try:
        document = PinDocument.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise HarnessError(first["msg"], file=path, field=where) from None
    return document.name, LockEntry.from_json(document.entry.model_dump())


class Lock:
    def __init__(self, path: Path, entries: dict[str, LockEntry] | None = None) -> None:
        self.path = Path(path)
        self.entries = entries or {}

    @classmethod
    def load(cls, path: Path) -> Lock:
        return cls(path, _read_entries(Path(path)))

    def reload(self) -> None:
        self.entries = _read_entries(self.path)

    @contextmanager
    def _transaction(self) -> Iterator[dict[str, LockEntry]]:
        """The entries on disk, for changing in place; written back atomically when the block ends."""
        empty = dumps({"version": LOCK_VERSION, "checkpoints": {}}).encode()
        with locked_for_replace(self.path, empty):
            entries = _read_entries(self.path)
            yield entries
            atomic_write_json(
                self.path,
                {
                    "version": LOCK_VERSION,
                    "checkpoints": {n: e.to_json() for n, e in sorted(entries.items())},
                },
            )
            self.entries = entries

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
        entry = folder_entry(folder, source, lineage=lineage, revision=revision, note=note)
        with self._transaction() as entries:
            entries[name] = entry
        return entry

    def merge_pins(self, pins: Path | Iterable[Path]) -> list[str]:
        """Merge checkpoints' pin files into the lock; returns the names merged.

        ``pins``: a folder of checkpoint folders (each ``*/pin.json`` found there), or checkpoint folders
        and pin files. A pin replaces an entry of the same name (a ``--force`` rerun's new bytes).
        """
        if isinstance(pins, Path):
            # published checkpoints only: build and aside folders start with a dot
            found = (p for p in pins.glob(f"*/{PIN_FILE}") if not p.parent.name.startswith("."))
            paths = sorted(found) if pins.is_dir() and not (pins / PIN_FILE).is_file() else [pins]
        else:
            paths = list(pins)
        read = [read_pin(path) for path in paths]  # every pin parsed before the lock is touched
        if not read:
            return []
        with self._transaction() as entries:
            for name, entry in read:
                entries[name] = entry
        return [name for name, _ in read]

    def remove(self, name: str) -> bool:
        """Drop an entry; False when it was not there."""
        with self._transaction() as entries:
            return entries.pop(name, None) is not None

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
