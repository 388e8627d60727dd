"""Atomic file writes: a temp file in the same folder, fsync, then rename over the target.

Temp files and build folders carry their owner in their name (``own-PID-START@HOST``), so a run cleans
up only what a dead run left, never a live run's work in progress.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from harness.fault_injection import fault_point
from harness.results.owner import ProcessId, owner_of

# another host's leftovers: its processes cannot be asked, so only files untouched this long are removed
OTHER_HOST_TIMEOUT_S = 24 * 3600.0
_NAME_PART = 80  # of the target's name in its temp name: keeps temp names within the 255-byte limit


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes | bytearray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    owner = ProcessId.current().tag()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:_NAME_PART]}.{owner}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        fault_point("temp-written", path)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename is None:  # a failed write (disk full) names no file; the user needs the path
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def dumps(obj: Any) -> str:
    """Deterministic JSON (sorted keys), so equal content gives equal bytes."""
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, dumps(obj))


def atomic_write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    text = "".join(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n" for row in rows)
    atomic_write_text(path, text)


def owned_build_dir(parent: Path, stem: str) -> Path:
    """Where to build a folder before publishing it: ``parent/.build-STEM.own-PID-START@HOST``."""
    return parent / f".build-{stem}.{ProcessId.current().tag()}"


def atomic_publish_dir(build: Path, final: Path) -> Path:
    """Move a fully built folder into place; if another process won the race, keep theirs."""
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(build, final)
    except OSError:
        if final.exists():
            shutil.rmtree(build, ignore_errors=True)
        else:
            raise
    _fsync_dir(final.parent)
    return final


def _aside_name(final: Path) -> str:
    return f".aside-{final.name}.{ProcessId.current().tag()}"


def atomic_replace_dir(build: Path, final: Path, *, on_step: Callable[[str], None] | None = None) -> Path:
    """Swap a fully built folder in for ``final``: old moved aside, new renamed in, old deleted.

    A kill at any instant leaves ``final`` holding the old or the new folder, or (between the two
    renames) the old one aside, which ``clean_stale_temps`` renames back. ``on_step`` is called after
    each step by name (tests kill the process there).
    """
    step = on_step or (lambda _name: None)
    final.parent.mkdir(parents=True, exist_ok=True)
    if not final.exists():
        os.rename(build, final)
        _fsync_dir(final.parent)
        step("renamed-in")
        return final
    aside = final.parent / _aside_name(final)
    os.rename(final, aside)
    _fsync_dir(final.parent)
    step("moved-aside")
    os.rename(build, final)
    _fsync_dir(final.parent)
    step("renamed-in")
    shutil.rmtree(aside)
    step("removed-old")
    return final


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created when missing) for the ``with`` block.

    The lock is released by the kernel when the holder dies, so a killed process never leaves it held.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the flock


@contextmanager
def locked_for_replace(path: Path, empty: bytes) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the file at ``path`` itself, which the holder may then replace
    atomically (a missing file is first created holding ``empty``).

    A waiter that wakes up holding the lock of a file already replaced tries again on the new one, so at
    most one process at a time holds the lock of the current file; no sidecar file is left beside it.
    """
    while True:
        if not path.exists():
            _create_exclusive(path, empty)
        try:
            fd = _open_for_lock(path)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held, current = os.fstat(fd), _stat_or_none(path)
            if current is not None and (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino):
                yield
                return
        finally:
            os.close(fd)  # closing the descriptor releases the flock


def _open_for_lock(path: Path) -> int:
    """A descriptor to ``flock``: read-write where allowed (NFS needs it for an exclusive lock), else
    read-only (a read-only lock file in a writable folder is still replaced by rename)."""
    try:
        return os.open(path, os.O_RDWR)
    except PermissionError:
        return os.open(path, os.O_RDONLY)


def _stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def _create_exclusive(path: Path, data: bytes) -> None:
    """Create ``path`` whole with ``data`` unless it exists (a hard link of a complete temp file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name[:_NAME_PART]}.{ProcessId.current().tag()}.", suffix=".tmp", dir=path.parent
    )
    try:
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            if exc.filename is None:  # a failed write (disk full) names no file; the user needs the path
                raise OSError(exc.errno, exc.strerror, str(path)) from exc
            raise
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            with suppress(FileExistsError):  # a file system without hard links
                _write_new(path, data)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _newest_mtime(path: Path) -> float:
    try:
        newest = path.lstat().st_mtime
    except FileNotFoundError:
        return time.time()
    if path.is_dir():
        for inner in path.rglob("*"):
            try:
                newest = max(newest, inner.lstat().st_mtime)
            except FileNotFoundError:
                continue
    return newest


def _abandoned(path: Path, other_host_timeout_s: float) -> bool:
    """Left by a run that is gone: its owner is dead (this host) or silent for the timeout (another
    host, or a name that records no owner)."""
    owner = owner_of(path.name)
    if owner is not None and owner.on_this_host():
        return not owner.alive()
    return time.time() - _newest_mtime(path) > other_host_timeout_s


def _restore_aside(aside: Path) -> bool:
    """A dead run's folder moved aside by ``atomic_replace_dir``: back in place if the new one never
    arrived, else deleted. True when it was put back."""
    name = aside.name.removeprefix(".aside-")
    final = aside.parent / name[: name.rfind(".own-")] if ".own-" in name else None
    if final is not None and not final.exists():
        try:
            os.rename(aside, final)
        except OSError:
            pass
        else:
            _fsync_dir(final.parent)
            return True
    shutil.rmtree(aside, ignore_errors=True)
    return False


def clean_stale_temps(folder: Path, *, other_host_timeout_s: float = OTHER_HOST_TIMEOUT_S) -> int:
    """Remove temp files and build folders left by dead runs and put back folders a dead
    ``atomic_replace_dir`` moved aside; a live run's are left alone. Returns how many were handled."""
    if not folder.exists():
        return 0
    handled = 0
    for aside in sorted(folder.rglob(".aside-*")):
        if aside.is_dir() and _abandoned(aside, other_host_timeout_s):
            _restore_aside(aside)
            handled += 1
    builds = [p for p in folder.rglob(".build-*") if p.is_dir()]
    for build in builds:
        if _abandoned(build, other_host_timeout_s):
            shutil.rmtree(build, ignore_errors=True)
            handled += 1
    for temp in folder.rglob(".*.tmp"):
        if any(build in temp.parents for build in builds):
            continue  # its folder's owner decides
        if temp.is_file() and _abandoned(temp, other_host_timeout_s):
            temp.unlink(missing_ok=True)
            handled += 1
    return handled
