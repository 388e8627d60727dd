"""How a run publishes a checkpoint it built, and what it repairs at start-up, so that a kill at any instant
leaves either no checkpoint (the job runs again) or a published one that carries its pin and is in the
lock once ``recover_store`` has run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.models.lockfile import Lineage, Lock, LockEntry, write_pin
from harness.models.verify import PinRepair, repair_pins
from harness.results.atomic import atomic_publish_dir, atomic_replace_dir, clean_stale_temps


def publish_checkpoint(
    build: Path,
    final: Path,
    lock: Lock,
    source: str,
    *,
    lineage: Lineage | None = None,
    note: str = "",
    replace: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> LockEntry:
    """Pin a fully built folder (its ``pin.json``), publish it as ``final``, merge the pin into ``lock``.

    ``replace`` (``--force``): an existing ``final`` is swapped out only once the new one is whole; without
    it, a ``final`` another run published first is kept and its pin merged. ``on_step`` is called after
    each step by name ("pinned", the steps of ``atomic_replace_dir``, "published", "merged").
    """
    step = on_step or (lambda _name: None)
    write_pin(build, final.name, source, lineage=lineage, note=note)
    step("pinned")
    if replace and final.exists():
        atomic_replace_dir(build, final, on_step=step)
    else:
        atomic_publish_dir(build, final)
    step("published")
    lock.merge_pins([final])
    step("merged")
    return lock.entries[final.name]


def recover_store(results: Path, lock: Lock) -> PinRepair:
    """A run's start-up: remove dead runs' temps and builds, put back folders a killed ``--force`` moved
    aside, then merge the pins the lock lacks. In that order: a folder put back may need its pin merged."""
    clean_stale_temps(results)
    return repair_pins(results / "checkpoints", lock)
