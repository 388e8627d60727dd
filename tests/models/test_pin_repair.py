"""A published checkpoint carries its pin: a run killed before merging it is repaired from the pin file at
start-up; a checkpoint whose bytes were flipped is refused before use and by ``lock verify``."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
from pathlib import Path

import pytest

from harness.errors import HarnessError, LockMismatch
from harness.models.lockfile import JOB_FILE, PIN_FILE, Lineage, Lock, read_pin, write_pin
from harness.models.verify import repair_pins, verify_checkpoint, verify_locks
from harness.results.atomic import atomic_publish_dir, atomic_replace_dir, owned_build_dir

SPAWN = multiprocessing.get_context("spawn")


def _build(results: Path, key: str, model: Path, *, seed: int = 1) -> Path:
    """A checkpoint as a run builds it: weights and job file, then its pin last; not yet published."""
    build = owned_build_dir(results / "checkpoints", key[:16])
    shutil.copytree(model, build)
    (build / JOB_FILE).write_text(json.dumps({"key": key}))
    write_pin(build, key, f"produced:{key}", lineage=Lineage(phase="target", seed=seed))
    return build


def _publish_and_die(results: Path, key: str, model: Path) -> None:
    """A run killed right after publishing, before merging the pin into the lock."""
    atomic_publish_dir(_build(results, key, model), results / "checkpoints" / key)
    os.kill(os.getpid(), signal.SIGKILL)


def _empty_repo_lock(folder: Path) -> Path:
    path = folder / "repo.lock"
    path.write_text(json.dumps({"version": 1, "checkpoints": {}}))
    return path


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_checkpoint_published_by_a_killed_run_is_repinned_from_its_pin_file(
    tmp_path: Path, tiny_model: Path
) -> None:
    child = SPAWN.Process(target=_publish_and_die, args=(tmp_path, "k" * 64, tiny_model))
    child.start()
    child.join()
    assert child.exitcode == -signal.SIGKILL
    lock = Lock.load(tmp_path / "checkpoints.lock")
    folder = tmp_path / "checkpoints" / ("k" * 64)
    assert folder.name not in lock.entries
    problems, _ = verify_locks(_empty_repo_lock(tmp_path), tmp_path)  # the lock knows nothing of it yet
    assert any("never merged" in p for p in problems)
    outcome = repair_pins(tmp_path / "checkpoints", lock)
    assert outcome.repaired == [folder.name] and outcome.refused == {}
    assert Lock.load(lock.path).entries[folder.name] == read_pin(folder)[1]
    verify_checkpoint(lock, folder.name, folder)
    assert repair_pins(tmp_path / "checkpoints", lock).repaired == []  # nothing left to repair


def test_a_flipped_unmerged_checkpoint_is_refused_not_repinned(tmp_path: Path, tiny_model: Path) -> None:
    key = "f" * 64
    folder = atomic_publish_dir(_build(tmp_path, key, tiny_model), tmp_path / "checkpoints" / key)
    _flip_a_byte(folder / "model.safetensors")
    lock = Lock.load(tmp_path / "checkpoints.lock")
    outcome = repair_pins(tmp_path / "checkpoints", lock)
    assert outcome.repaired == []
    assert "model.safetensors: sha256" in outcome.refused[key]
    assert not lock.path.exists()
    with pytest.raises(LockMismatch, match=f"does not match its own {PIN_FILE}: model.safetensors"):
        verify_checkpoint(lock, key, folder)
    problems, _ = verify_locks(_empty_repo_lock(tmp_path), tmp_path)
    assert any("differ from its own pin.json: model.safetensors" in p for p in problems)


def test_a_flipped_pinned_checkpoint_is_refused(tmp_path: Path, tiny_model: Path) -> None:
    key = "p" * 64
    folder = atomic_publish_dir(_build(tmp_path, key, tiny_model), tmp_path / "checkpoints" / key)
    lock = Lock.load(tmp_path / "checkpoints.lock")
    assert lock.merge_pins([folder]) == [key]
    verify_checkpoint(lock, key, folder)
    _flip_a_byte(folder / "model.safetensors")
    with pytest.raises(LockMismatch, match="model.safetensors"):
        verify_checkpoint(lock, key, folder)


def test_a_checkpoint_without_any_pin_is_refused(tmp_path: Path, tiny_model: Path) -> None:
    key = "n" * 64
    build = _build(tmp_path, key, tiny_model)
    (build / PIN_FILE).unlink()  # published by a harness from before pin files, never pinned
    folder = atomic_publish_dir(build, tmp_path / "checkpoints" / key)
    lock = Lock.load(tmp_path / "checkpoints.lock")
    assert key in repair_pins(tmp_path / "checkpoints", lock).refused
    with pytest.raises(LockMismatch, match="no pin in the lock and no pin.json") as caught:
        verify_checkpoint(lock, key, folder)
    assert caught.value.exit_code == 1


def test_a_force_replace_killed_before_the_merge_is_repinned_to_the_new_bytes(
    tmp_path: Path, tiny_model: Path
) -> None:
    key = "r" * 64
    final = atomic_publish_dir(_build(tmp_path, key, tiny_model, seed=1), tmp_path / "checkpoints" / key)
    lock = Lock.load(tmp_path / "checkpoints.lock")
    lock.merge_pins([final])
    rebuilt = _build(tmp_path, key, tiny_model, seed=2)
    _flip_a_byte(rebuilt / "model.safetensors")  # new weights: a rerun trained them differently
    write_pin(rebuilt, key, f"produced:{key}", lineage=Lineage(phase="target", seed=2))
    atomic_replace_dir(rebuilt, final)  # ... and the run dies here, before merging
    with pytest.raises(LockMismatch):
        verify_checkpoint(lock, key, final)  # the lock still pins the old bytes
    assert repair_pins(tmp_path / "checkpoints", lock).repaired == [key]
    verify_checkpoint(lock, key, final)
    assert lock.entries[key].lineage.seed == 2


def test_a_pin_file_for_another_folder_is_refused(tmp_path: Path, tiny_model: Path) -> None:
    build = _build(tmp_path, "a" * 64, tiny_model)
    folder = atomic_publish_dir(build, tmp_path / "checkpoints" / ("b" * 64))  # copied under another key
    lock = Lock.load(tmp_path / "checkpoints.lock")
    assert (
        "pins aaaaaaaaaaaa, not this folder"
        in repair_pins(tmp_path / "checkpoints", lock).refused[folder.name]
    )


def test_a_pin_file_of_the_wrong_shape_is_one_line(tmp_path: Path) -> None:
    (tmp_path / PIN_FILE).write_text("[]")
    with pytest.raises(HarnessError, match="expected an object") as caught:
        read_pin(tmp_path)
    assert caught.value.field == "(top level)"
