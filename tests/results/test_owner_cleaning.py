"""``clean_stale_temps`` removes only what dead runs left: a live process's temp file and build folder
survive another process's cleaning; once that process is SIGKILLed they go."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import os
import signal
import time
from pathlib import Path

import pytest

from harness.results.atomic import atomic_write_json, clean_stale_temps, owned_build_dir
from harness.results.owner import ProcessId, host_name, owner_of

SPAWN = multiprocessing.get_context("spawn")
DAY = 24 * 3600.0


def _start_work_and_wait(store: Path, ready: multiprocessing.synchronize.Event) -> None:
    """A run in progress: a build folder half written and a temp file not yet renamed."""
    build = owned_build_dir(store / "checkpoints", "abc")
    build.mkdir(parents=True)
    (build / "model.safetensors").write_bytes(b"half")
    (build / f".training.json.{ProcessId.current().tag()}.x1y2z3.tmp").write_text("{")
    (store / "records").mkdir()
    (store / "records" / f".r.json.{ProcessId.current().tag()}.q8w7e6.tmp").write_text("{")
    ready.set()
    time.sleep(600)


def _names(store: Path) -> set[str]:
    return {p.name for p in store.rglob(".*")}


def test_a_live_runs_temps_survive_and_a_killed_runs_go(tmp_path: Path) -> None:
    ready = SPAWN.Event()
    child = SPAWN.Process(target=_start_work_and_wait, args=(tmp_path, ready))
    child.start()
    try:
        assert ready.wait(60)
        before = _names(tmp_path)
        assert len(before) == 3
        assert clean_stale_temps(tmp_path) == 0
        assert _names(tmp_path) == before
    finally:
        os.kill(child.pid or 0, signal.SIGKILL)
        child.join()
    assert clean_stale_temps(tmp_path) == 2  # the build folder (with its temp) and the record's temp
    assert _names(tmp_path) == set()


def test_atomic_writes_name_their_owner_in_the_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        seen.append(Path(src).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    atomic_write_json(tmp_path / ("r" * 250 + ".json"), {"a": 1})  # a long name still fits in a temp name
    assert len(seen) == 1 and len(seen[0]) < 256
    assert owner_of(seen[0]) == ProcessId.current()


def _dead_process() -> ProcessId:
    child = SPAWN.Process(target=time.sleep, args=(0,))
    child.start()
    child.join()
    return ProcessId(host_name(), child.pid or 0, 0)


def test_owners_are_judged_by_pid_start_time_host_and_age(tmp_path: Path) -> None:
    me = ProcessId.current()
    reused_pid = ProcessId(me.host, me.pid, me.started + 1)  # this pid, but a process that started earlier
    dead = _dead_process()
    other_host = ProcessId("another-node.cluster", 4242, 17)
    keep = [
        tmp_path / f".build-live.{me.tag()}",
        tmp_path / f".build-other-fresh.{other_host.tag()}",
        tmp_path / f".build-legacy-{me.pid}",  # a name from before owners: the pid of a live process
    ]
    remove = [
        tmp_path / f".build-reused.{reused_pid.tag()}",
        tmp_path / f".build-dead.{dead.tag()}",
        tmp_path / f".build-other-old.{other_host.tag()}",
        tmp_path / f".build-legacy-{dead.pid}",
    ]
    for folder in keep + remove:
        folder.mkdir()
        (folder / "config.json").write_text("{}")
    old_temp = tmp_path / ".r.json.ab12cd.tmp"  # no owner in the name: judged by age
    old_temp.write_text("{")
    fresh_temp = tmp_path / ".s.json.ef34gh.tmp"
    fresh_temp.write_text("{")
    week_ago = time.time() - 7 * DAY
    for path in (old_temp, remove[2], remove[2] / "config.json"):
        os.utime(path, (week_ago, week_ago))
    assert clean_stale_temps(tmp_path, other_host_timeout_s=DAY) == len(remove) + 1
    assert {p.name for p in tmp_path.iterdir()} == {p.name for p in keep} | {fresh_temp.name}


def test_owner_names_parse_back() -> None:
    owner = ProcessId("node-7.example.org", 123, 456)
    assert owner_of(f".build-k.{owner.tag()}") == owner
    assert owner_of(f".aside-k.{owner.tag()}") == owner
    assert owner_of(f".x.json.{owner.tag()}.a_b9.tmp") == owner
    assert owner_of(".x.json.a_b9.tmp") is None
