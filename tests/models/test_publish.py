"""A run SIGKILLed at every step of publishing a checkpoint (new, or replacing one under ``--force``)
leaves, once ``recover_store`` has run, the old or the new checkpoint whole and pinned in the lock to
exactly its bytes, or none when the new one was not published yet; never a published, unpinned one."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from harness.models.lockfile import JOB_FILE, Lineage, Lock, read_pin
from harness.models.publish import publish_checkpoint, recover_store
from harness.models.verify import verify_checkpoint
from harness.results.atomic import owned_build_dir

SPAWN = multiprocessing.get_context("spawn")
KEY = "c" * 64


def _build(results: Path, generation: int) -> Path:
    build = owned_build_dir(results / "checkpoints", KEY[:16])
    build.mkdir(parents=True)
    (build / "model.safetensors").write_text(f"weights of generation {generation}\n" * 100)
    (build / "config.json").write_text(json.dumps({"generation": generation}))
    (build / JOB_FILE).write_text(json.dumps({"key": KEY}))
    return build


def _publish_and_die_at(results: Path, die_at: str, replace: bool) -> None:
    def step(name: str) -> None:
        if name == die_at:
            os.kill(os.getpid(), signal.SIGKILL)

    build = _build(results, 2)
    step("built")
    publish_checkpoint(
        build,
        results / "checkpoints" / KEY,
        Lock.load(results / "checkpoints.lock"),
        f"produced:{KEY}",
        lineage=Lineage(phase="target", seed=2),
        replace=replace,
        on_step=step,
    )


def _generation(folder: Path) -> int:
    return int(json.loads((folder / "config.json").read_text())["generation"])


def _after_a_kill(results: Path, die_at: str, replace: bool) -> Lock:
    child = SPAWN.Process(target=_publish_and_die_at, args=(results, die_at, replace))
    child.start()
    child.join()
    assert child.exitcode == -signal.SIGKILL
    lock = Lock.load(results / "checkpoints.lock")
    recover_store(results, lock)
    assert [p.name for p in (results / "checkpoints").iterdir()] in ([], [KEY])  # no build, no aside left
    return lock


@pytest.mark.parametrize(
    ("die_at", "published"),
    [("built", False), ("pinned", False), ("published", True), ("merged", True)],
)
def test_a_kill_while_publishing_a_new_checkpoint(tmp_path: Path, die_at: str, published: bool) -> None:
    lock = _after_a_kill(tmp_path, die_at, replace=False)
    final = tmp_path / "checkpoints" / KEY
    assert final.exists() == published
    if published:
        assert lock.entries[KEY] == read_pin(final)[1]
        verify_checkpoint(lock, KEY, final)
    else:
        assert KEY not in lock.entries  # the job is not done: it runs again


@pytest.mark.parametrize(
    ("die_at", "generation"),
    [
        ("built", 1),
        ("pinned", 1),
        ("moved-aside", 1),
        ("renamed-in", 2),
        ("removed-old", 2),
        ("published", 2),
        ("merged", 2),
    ],
)
def test_a_kill_while_replacing_a_checkpoint_with_force(tmp_path: Path, die_at: str, generation: int) -> None:
    publish_checkpoint(
        _build(tmp_path, 1),
        tmp_path / "checkpoints" / KEY,
        Lock.load(tmp_path / "checkpoints.lock"),
        f"produced:{KEY}",
        lineage=Lineage(phase="target", seed=1),
    )
    lock = _after_a_kill(tmp_path, die_at, replace=True)
    final = tmp_path / "checkpoints" / KEY
    assert _generation(final) == generation
    assert lock.entries[KEY] == read_pin(final)[1]
    assert lock.entries[KEY].lineage.seed == generation
    verify_checkpoint(lock, KEY, final)


def test_without_replace_a_checkpoint_published_first_by_another_run_is_kept(tmp_path: Path) -> None:
    lock = Lock.load(tmp_path / "checkpoints.lock")
    final = tmp_path / "checkpoints" / KEY
    publish_checkpoint(_build(tmp_path, 1), final, lock, f"produced:{KEY}")
    entry = publish_checkpoint(_build(tmp_path, 2), final, lock, f"produced:{KEY}")
    assert _generation(final) == 1
    assert entry == read_pin(final)[1] == Lock.load(lock.path).entries[KEY]
    assert [p.name for p in final.parent.iterdir()] == [KEY]
