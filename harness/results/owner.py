"""Who owns a temp file, a build folder or a lease, and whether that owner is still running.

An owner is a process: host name, pid and the process's start time (so a pid the kernel has handed to a
new process does not count as the old owner). On the same host liveness is asked of the kernel; on another
host it cannot be, so callers fall back to the age of the owner's last sign of life.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# ".build-KEY.own-PID-START@HOST" and ".NAME.own-PID-START@HOST.RANDOM.tmp"; START is 0 when unknown
_TAG = re.compile(r"\.own-(?P<pid>\d+)-(?P<started>\d+)@(?P<host>[A-Za-z0-9._-]+?)(?=\.[^.]*\.tmp$|$)")
# names written before owners were recorded: ".build-KEY-PID"
_LEGACY_BUILD = re.compile(r"^\.build-.*-(?P<pid>\d+)$")


@lru_cache(maxsize=1)
def host_name() -> str:
    """This host's name, reduced to characters that are safe in a file name."""
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "localhost"


@lru_cache(maxsize=1)
def boot_id() -> str:
    """This boot of this host (Linux); a process recorded under another boot id has ended. "" if unknown."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_start_time(pid: int) -> int | None:
    """Clock ticks since boot at which ``pid`` started (Linux); None when unknown or the pid is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its closing parenthesis
    fields = stat[stat.rfind(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has exited; only its exit status waits to be read
        return None
    return int(fields[19])


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    if Path("/proc").is_dir():
        return process_start_time(pid) is not None or not Path(f"/proc/{pid}").exists()
    return True


@dataclass(frozen=True)
class ProcessId:
    host: str
    pid: int
    started: int  # process start time in clock ticks since boot; 0 when unknown

    @classmethod
    def current(cls) -> ProcessId:
        return cls(host_name(), os.getpid(), process_start_time(os.getpid()) or 0)

    def tag(self) -> str:
        """The owner as a file-name part: ``own-PID-START@HOST``."""
        return f"own-{self.pid}-{self.started}@{self.host}"

    def on_this_host(self) -> bool:
        return self.host == host_name()

    def alive(self) -> bool:
        """Whether this process still runs; only meaningful on this host (see ``on_this_host``)."""
        if not pid_alive(self.pid):
            return False
        if self.started == 0:
            return True
        return process_start_time(self.pid) in (self.started, None)


def owner_of(name: str) -> ProcessId | None:
    """The owner written into a temp or build name; a legacy build name gives a pid on this host."""
    found = _TAG.search(name)
    if found:
        return ProcessId(found["host"], int(found["pid"]), int(found["started"]))
    legacy = _LEGACY_BUILD.match(name)
    if legacy:
        return ProcessId(host_name(), int(legacy["pid"]), 0)
    return None
