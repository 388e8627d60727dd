"""Per-job leases: two drivers on one results folder never run the same job at once.

A lease is ``<results>/leases/<job key>.lease``, a JSON file naming its owner (host, boot, pid, process start
time, a random token); its modification time is the owner's heartbeat. It is stale when its owner is gone:
on the same host, when the pid is dead, belongs to a newer process, or was recorded under an earlier boot;
on another host (whose processes cannot be asked), when the heartbeat is older than the timeout.

Every change (create, take over, release) happens under an exclusive ``flock`` on ``leases/.guard``, so a
lease judged stale is replaced by exactly one taker. The file itself is always written whole: created by
``link`` of a complete temp file (exclusive, like ``O_CREAT|O_EXCL``), taken over by ``rename`` over it.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.results.atomic import exclusive_lock
from harness.results.owner import ProcessId, boot_id, host_name

LEASE_DIR = "leases"
HEARTBEAT_S = 30.0
# another host's lease is stale after this long without a heartbeat (ten missed beats)
TIMEOUT_S = 300.0


@dataclass(frozen=True)
class LeaseHolder:
    """What a lease file says about its owner."""

    host: str
    boot: str
    pid: int
    started: int
    token: str
    acquired: float

    @property
    def process(self) -> ProcessId:
        return ProcessId(self.host, self.pid, self.started)

    def gone(self, heartbeat: float, *, now: float, timeout_s: float) -> bool:
        """Whether the owner has ended (same host) or fallen silent for ``timeout_s`` (another host)."""
        if self.host == host_name():
            if self.boot and boot_id() and self.boot != boot_id():
                return True
            return not self.process.alive()
        return now - heartbeat > timeout_s


def lease_path(root: Path, job_key: str) -> Path:
    return root / LEASE_DIR / f"{job_key}.lease"


def read_lease(path: Path) -> tuple[LeaseHolder, float] | None:
    """The holder and heartbeat time of a lease file; None when there is none or it cannot be read."""
    try:
        heartbeat = path.stat().st_mtime
        data = json.loads(path.read_text(encoding="utf-8"))
        return LeaseHolder(**data), heartbeat
    except (OSError, ValueError, TypeError):
        return None


class Lease:
    """A held lease. ``with lease:`` beats the heartbeat in a thread and releases the lease at the end."""

    def __init__(self, path: Path, holder: LeaseHolder, *, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.path = path
        self.holder = holder
        self.heartbeat_s = heartbeat_s
        self.lost = False  # set when the lease turned out to be taken over (the owner was silent too long)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def job_key(self) -> str:
        return self.path.name.removesuffix(".lease")

    def _still_ours(self) -> bool:
        found = read_lease(self.path)
        return found is not None and found[0].token == self.holder.token

    def heartbeat(self) -> bool:
        """Touch the lease; False (and ``lost``) when it is no longer ours."""
        if not self._still_ours():
            self.lost = True
            return False
        try:
            os.utime(self.path)
        except FileNotFoundError:
            self.lost = True
            return False
        return True

    def release(self) -> None:
        self._stop_heartbeat()
        with exclusive_lock(self.path.parent / ".guard"):
            if self._still_ours():
                self.path.unlink()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            if not self.heartbeat():
                return

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None

    def __enter__(self) -> Lease:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{self.job_key[:12]}", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()


class LeaseKeeper:
    """Many held leases kept alive by one heartbeat thread (a driver with a whole wave in flight).

    ``with LeaseKeeper(root) as keeper:``; ``keeper.take(key)`` acquires and keeps a lease (None while a
    live owner holds it), ``keeper.release(key)`` when the job is done; the rest are released at the end.
    """

    def __init__(self, root: Path, *, heartbeat_s: float = HEARTBEAT_S, timeout_s: float = TIMEOUT_S) -> None:
        self.root = root
        self.heartbeat_s = heartbeat_s
        self.timeout_s = timeout_s
        self.held: dict[str, Lease] = {}
        self.lost: list[str] = []  # keys whose lease another driver took over (this one fell silent)
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def take(self, job_key: str) -> Lease | None:
        lease = acquire(self.root, job_key, timeout_s=self.timeout_s, heartbeat_s=self.heartbeat_s)
        if lease is not None:
            with self._guard:
                self.held[job_key] = lease
        return lease

    def release(self, job_key: str) -> None:
        with self._guard:
            lease = self.held.pop(job_key, None)
        if lease is not None:
            lease.release()

    def beat(self) -> None:
        """Touch every held lease once; a lease found taken over moves to ``lost``."""
        with self._guard:
            leases = list(self.held.values())
        for lease in leases:
            if not lease.heartbeat():
                with self._guard:
                    self.held.pop(lease.job_key, None)
                    self.lost.append(lease.job_key)

    def _run(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            self.beat()

    def __enter__(self) -> LeaseKeeper:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for key in list(self.held):
            self.release(key)


def acquire(
    root: Path,
    job_key: str,
    owner: ProcessId | None = None,
    *,
    timeout_s: float = TIMEOUT_S,
    heartbeat_s: float = HEARTBEAT_S,
) -> Lease | None:
    """The lease on ``job_key`` in the results folder ``root``, or None while a live owner holds it.

    A stale lease (see the module text) is taken over. After acquiring, check again whether the job is
    done: another driver may have finished it and released its lease a moment ago.
    """
    process = owner or ProcessId.current()
    path = lease_path(root, job_key)
    holder = LeaseHolder(
        process.host, boot_id(), process.pid, process.started, secrets.token_hex(8), time.time()
    )
    with exclusive_lock(path.parent / ".guard"):
        found = read_lease(path)  # an unreadable lease can only be a damaged one: treated as stale
        if found is not None and not found[0].gone(found[1], now=time.time(), timeout_s=timeout_s):
            return None
        _write_lease(path, asdict(holder), replace=path.exists())
    return Lease(path, holder, heartbeat_s=heartbeat_s)


def holder_of(root: Path, job_key: str) -> LeaseHolder | None:
    """Who holds the lease on ``job_key`` now (stale or not), for progress and status lines."""
    found = read_lease(lease_path(root, job_key))
    return found[0] if found else None


def _write_lease(path: Path, content: dict[str, Any], *, replace: bool) -> None:
    data = json.dumps(content, sort_keys=True).encode()
    tmp = path.with_name(f".{path.name}.{ProcessId.current().tag()}.{content['token']}.tmp")
    tmp.write_bytes(data)
    try:
        if replace:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)  # fails if the path exists: an exclusive create of a complete file
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            _create_exclusive(path, data)  # a file system without hard links
    finally:
        tmp.unlink(missing_ok=True)


def _create_exclusive(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def clear_stale_leases(root: Path, *, timeout_s: float = TIMEOUT_S) -> list[str]:
    """Remove the leases whose owners are gone (a killed run's); live owners' stay. Returns their keys."""
    folder = root / LEASE_DIR
    if not folder.is_dir():
        return []
    cleared = []
    for path in sorted(folder.glob("*.lease")):
        lease = acquire(root, path.name.removesuffix(".lease"), timeout_s=timeout_s)
        if lease is not None:  # it was stale (or just released): now ours, and gone
            lease.release()
            cleared.append(lease.job_key)
    return cleared
