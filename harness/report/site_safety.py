"""Where the site may be written, and what a render may delete there.

A site folder carries ``.harness-site.json``: the files the last render wrote, sorted. A render deletes
only files listed there that it did not write again (and the folders that leaves empty); nothing else,
ever. ``check_site_folder`` refuses an ``--out`` folder that is, is inside or contains a results store or
a checkpoint folder, that is or contains a repository root, or that is non-empty without a manifest.

"Inside" is checked up to the nearest repository root: the default ``leaderboards/site`` lives inside a
checkout, and what lies above the project (a home folder with a ``records/`` of its own) is not the
site's business. Files the manifest lists are the site's own (its ``data/unavailable.json`` is not a
store), so they never count as signs of anything.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from pathlib import Path

from harness.errors import HarnessError
from harness.results.atomic import atomic_write_json

SITE_MANIFEST = ".harness-site.json"
MANIFEST_VERSION = 1
MAX_CHECKED_ENTRIES = 100_000  # below a site folder; beyond this it is not a site
REPO_SIGNS = (".git", "pyproject.toml")
STORE_DIRS = ("records", "derived")
STORE_FILES = ("unavailable.json",)  # not checkpoints.lock: a project folder pins its models in one too
CHECKPOINT_FILES = ("config.json", "training.json")
CHECKPOINT_SUFFIX = ".safetensors"
ADVICE = "choose a new or empty folder for --out"


def _refuse(out: Path, why: str) -> HarnessError:
    return HarnessError(f"refusing to write the site here: {why}; {ADVICE}", file=out)


def _names(folder: Path, skip: frozenset[str] = frozenset()) -> tuple[set[str], set[str]]:
    """(folder names, other names) in ``folder``; symlinks count as what they point at."""
    dirs: set[str] = set()
    files: set[str] = set()
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name in skip:
                    continue
                (dirs if entry.is_dir() else files).add(entry.name)
    except OSError:  # unreadable: nothing known about it
        pass
    return dirs, files


def _kind(dirs: set[str], files: set[str], *, repo_counts: bool = True) -> str | None:
    """What a folder with these entries is, worded for the message, or None for an ordinary folder."""
    repo = next((name for name in REPO_SIGNS if name in dirs or name in files), None)
    if repo and repo_counts:
        return f"a repository root (it has {repo})"
    store = next((f"{name}/" for name in STORE_DIRS if name in dirs), None)
    store = store or next((name for name in STORE_FILES if name in files), None)
    if store:
        return f"a results store (it has {store})"
    checkpoint = sorted(n for n in files if n in CHECKPOINT_FILES or n.endswith(CHECKPOINT_SUFFIX))
    return f"a checkpoint folder (it has {checkpoint[0]})" if checkpoint else None


def _ancestors(out: Path) -> Iterator[Path]:
    """The existing folders above ``out``, nearest first, up to the nearest repository root."""
    for folder in out.parents:
        if not folder.is_dir():
            continue
        yield folder
        if any((folder / name).exists() for name in REPO_SIGNS):
            return


def read_manifest(out: Path) -> frozenset[str] | None:
    """The files the last render wrote (relative, POSIX), or None when the folder has no manifest."""
    path = out / SITE_MANIFEST
    if not path.exists() and not path.is_symlink():
        return None
    bad = HarnessError(
        f"not a site manifest (expected {{'version': {MANIFEST_VERSION}, 'files': [relative paths]}}); {ADVICE}",
        file=path,
    )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        raise bad from None
    if not isinstance(doc, dict) or doc.get("version") != MANIFEST_VERSION:
        raise bad
    files = doc.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) and _is_plain_relative(f) for f in files):
        raise bad
    return frozenset(files)


def _is_plain_relative(name: str) -> bool:
    """A canonical relative POSIX path: no empty, '.' or '..' part, no leading '/', no NUL."""
    parts = name.split("/")
    return "\x00" not in name and all(p not in ("", ".", "..") for p in parts) and name != SITE_MANIFEST


def _walk_below(out: Path, managed: frozenset[str]) -> None:
    """Refuse when a store, checkpoint or repository lies anywhere below ``out`` (symlinks not followed)."""
    by_folder: dict[str, set[str]] = defaultdict(set)
    for name in managed:
        parent, _, leaf = name.rpartition("/")
        by_folder[parent].add(leaf)
    queue: deque[tuple[Path, str]] = deque([(out, "")])
    seen = 0
    while queue:
        folder, rel = queue.popleft()
        dirs, files = _names(folder, frozenset(by_folder.get(rel, ())))
        seen += len(dirs) + len(files)
        if seen > MAX_CHECKED_ENTRIES:
            raise _refuse(out, f"it holds more than {MAX_CHECKED_ENTRIES} entries, too many for a site")
        if rel:
            what = _kind(dirs, files)
            if what:
                raise _refuse(out, f"it contains {rel}, {what}")
        for name in sorted(dirs):
            if not (folder / name).is_symlink():
                queue.append((folder / name, f"{rel}/{name}" if rel else name))


def _refuse_a_protected_child(out: Path, limit: int = 1000) -> None:
    dirs, _ = _names(out)
    for name in sorted(dirs)[:limit]:
        what = _kind(*_names(out / name))
        if what:
            raise _refuse(out, f"it contains {name}, {what}")


def check_site_folder(out_dir: Path) -> frozenset[str]:
    """Raise HarnessError unless the site may be written into ``out_dir``; return the files the previous
    render wrote there (empty for a new or empty folder). Nothing is written."""
    out = Path(out_dir).resolve()
    if out.exists() and not out.is_dir():
        raise _refuse(out, "it is a file, not a folder")
    previous = read_manifest(out) if out.is_dir() else None
    managed = previous or frozenset()
    if out.is_dir():
        top = frozenset(m for m in managed if "/" not in m)
        what = _kind(*_names(out, top))
        if what:
            raise _refuse(out, f"it is {what}")
    for folder in _ancestors(out):
        what = _kind(*_names(folder), repo_counts=False)
        if what:
            raise _refuse(out, f"it is inside {folder}, {what}")
    if out.is_dir():
        if previous is None and any(out.iterdir()):
            _refuse_a_protected_child(out)  # the more telling line for `--out .` beside results/
            raise _refuse(out, f"it is a non-empty folder that no render wrote (it has no {SITE_MANIFEST})")
        _walk_below(out, managed)
    return managed


def claim_site_folder(out_dir: Path) -> None:
    """Mark a new site folder as the site's before anything else is written: a render interrupted half-way
    leaves a folder the next render may use, not a non-empty folder without a manifest."""
    if not (Path(out_dir) / SITE_MANIFEST).exists():
        write_manifest(out_dir, [])


def write_manifest(out_dir: Path, files: Iterable[str]) -> None:
    atomic_write_json(
        Path(out_dir) / SITE_MANIFEST, {"version": MANIFEST_VERSION, "files": sorted(set(files))}
    )


def prune_stale(out_dir: Path, previous: frozenset[str], written: Iterable[str]) -> list[str]:
    """Delete the files the previous render wrote and this one did not, then the folders left empty
    below ``out_dir``; return what was deleted. Nothing outside the manifest is touched."""
    out = Path(out_dir)
    root = out.resolve()
    removed = []
    for rel in sorted(previous - set(written)):
        path = out / rel
        if not path.parent.resolve().is_relative_to(root):  # a symlinked folder leading out of the site
            continue
        if path.is_symlink() or path.is_file():
            path.unlink()
            removed.append(rel)
        for folder in path.parents:
            if folder == out or not folder.is_relative_to(out):
                break
            try:
                folder.rmdir()  # only succeeds when empty
            except OSError:
                break
    return removed
