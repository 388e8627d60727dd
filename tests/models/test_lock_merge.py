"""Many processes pinning into one checkpoints.lock at once lose no pin; a merge of any pin sets is
independent of order and grouping."""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.synchronize
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import HarnessError
from harness.models.lockfile import PIN_FILE, Lineage, Lock, LockEntry, read_pin, write_pin
from harness.results.atomic import atomic_write_json

SPAWN = multiprocessing.get_context("spawn")
WORKERS = 4
PINS_EACH = 5
ROUNDS = 20


def _checkpoint(folder: Path, content: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_text(content)
    (folder / "config.json").write_text("{}")
    return folder


def _pin_concurrently(
    root: Path, worker: int, rounds: int, start: multiprocessing.synchronize.Barrier
) -> None:
    """Each round: write this worker's pins one at a time into a fresh lock, alongside the others.
    Odd workers merge pin files (the driver's way), even ones call ``pin`` (``harness lock add``)."""
    for round_no in range(rounds):
        lock = Lock(root / f"round-{round_no}" / "checkpoints.lock")
        folders = [
            _checkpoint(root / f"w{worker}-r{round_no}-{i}", f"w{worker} r{round_no} {i}")
            for i in range(PINS_EACH)
        ]
        for folder in folders:
            write_pin(folder, folder.name, "produced:test")
        start.wait()
        for folder in folders:
            if worker % 2:
                lock.merge_pins([folder])
            else:
                lock.pin(folder.name, folder, "produced:test")


def test_concurrent_pinners_lose_no_pin(tmp_path: Path) -> None:
    start = SPAWN.Barrier(WORKERS)
    workers = [
        SPAWN.Process(target=_pin_concurrently, args=(tmp_path, w, ROUNDS, start)) for w in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0
    for round_no in range(ROUNDS):
        entries = Lock.load(tmp_path / f"round-{round_no}" / "checkpoints.lock").entries
        expected = {f"w{w}-r{round_no}-{i}" for w in range(WORKERS) for i in range(PINS_EACH)}
        assert set(entries) == expected, f"round {round_no} lost {sorted(expected - set(entries))}"


def test_a_stale_in_memory_lock_does_not_drop_another_process_s_pin(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.lock"
    first, second = Lock.load(path), Lock.load(path)  # two runs that loaded the lock before either pinned
    first.pin("a", _checkpoint(tmp_path / "a", "a"), "produced:a")
    second.pin("b", _checkpoint(tmp_path / "b", "b"), "produced:b")
    assert second.remove("a")
    assert not second.remove("a")
    assert set(Lock.load(path).entries) == {"b"}
    assert set(second.entries) == {"b"}


def test_merge_reads_the_published_checkpoints_of_a_folder_and_skips_builds(tmp_path: Path) -> None:
    checkpoints = tmp_path / "checkpoints"
    for name in ("k1", "k2", ".build-k3.own-1-0@host"):
        write_pin(_checkpoint(checkpoints / name, name), name, f"produced:{name}", lineage=Lineage(seed=1))
    lock = Lock(tmp_path / "checkpoints.lock")
    assert sorted(lock.merge_pins(checkpoints)) == ["k1", "k2"]
    assert lock.entries["k1"].lineage.seed == 1
    assert lock.entries["k1"].files == read_pin(checkpoints / "k1")[1].files
    assert PIN_FILE not in lock.entries["k1"].files  # the pin does not pin itself


def test_a_malformed_pin_file_names_its_file_and_field_and_changes_nothing(tmp_path: Path) -> None:
    folder = _checkpoint(tmp_path / "k1", "x")
    (folder / PIN_FILE).write_text(
        json.dumps({"version": 1, "name": "k1", "entry": {"source": 3, "files": {}}})
    )
    lock = Lock(tmp_path / "checkpoints.lock")
    with pytest.raises(HarnessError) as caught:
        lock.merge_pins([folder])
    assert str(folder / PIN_FILE) in caught.value.render()
    assert caught.value.field == "entry.source"
    assert not lock.path.exists()


entries = st.builds(
    LockEntry,
    source=st.text(min_size=1, max_size=8),
    files=st.dictionaries(
        st.sampled_from(["a.safetensors", "config.json", "vocab.txt"]),
        st.text("0123456789abcdef", min_size=64, max_size=64),
        min_size=1,
    ),
    lineage=st.builds(Lineage, seed=st.none() | st.integers(0, 5)),
)


@settings(max_examples=40, deadline=None)
@given(
    pins=st.dictionaries(st.text("0123456789abcdef", min_size=4, max_size=8), entries, max_size=8),
    order=st.randoms(use_true_random=False),
    cut=st.integers(0, 8),
)
def test_merging_pin_sets_is_independent_of_order_and_grouping(
    pins: dict[str, LockEntry], order, cut: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = []
        for name, entry in pins.items():
            path = root / "pins" / f"{name}.json"
            atomic_write_json(path, {"version": 1, "name": name, "entry": entry.to_json()})
            files.append(path)
        at_once = Lock(root / "at-once.lock")
        at_once.merge_pins(files)
        shuffled = list(files)
        order.shuffle(shuffled)
        in_parts = Lock(root / "in-parts.lock")
        in_parts.merge_pins(shuffled[:cut])
        in_parts.merge_pins(shuffled[cut:])
        in_parts.merge_pins(shuffled[:cut])  # merging a pin again changes nothing
        if pins:
            assert at_once.path.read_bytes() == in_parts.path.read_bytes()
        assert Lock.load(in_parts.path).entries == pins


def test_a_read_only_lock_file_in_a_writable_folder_still_takes_pins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = Lock(tmp_path / "checkpoints.lock")
    lock.pin("a", _checkpoint(tmp_path / "a", "a"), "produced:a")
    real_open = os.open

    def read_only(path: str, flags: int, *args: int) -> int:  # chmod does not stop root: refuse by hand
        if Path(path) == lock.path and flags & os.O_RDWR:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    lock.pin("b", _checkpoint(tmp_path / "b", "b"), "produced:b")
    assert set(Lock.load(lock.path).entries) == {"a", "b"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no sidecar, no temp
