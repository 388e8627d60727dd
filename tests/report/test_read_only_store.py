"""`summary` and `report` read a store they cannot write: derived tables stay in memory, nothing under the
store changes. Tests run as root, whom chmod does not stop, so writes under the store are refused by
patching the os calls every write goes through (as a read-only mount would: EROFS)."""

from __future__ import annotations

import builtins
import errno
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_site_safety import tiny_store, tree

from harness.cli import main
from harness.results.store import ResultsStore
from harness.scoring.derived import can_write, write_derived

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    return tiny_store(tmp_path / "results")


@pytest.fixture
def read_only(store: ResultsStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every create, write, rename or delete under the store raises EROFS."""
    root = store.root.resolve()

    def under(path: Any) -> bool:
        try:
            return Path(os.fsdecode(path)).resolve().is_relative_to(root)
        except (TypeError, ValueError):
            return False

    def refuse(path: Any) -> None:
        raise OSError(errno.EROFS, "Read-only file system", os.fsdecode(path))

    def guard(
        real: Callable[..., Any], *, paths: int = 1, writes: Callable[..., bool] = lambda *a, **k: True
    ):
        def patched(*args: Any, **kwargs: Any) -> Any:
            for path in args[:paths]:
                if under(path) and writes(*args, **kwargs):
                    refuse(path)
            return real(*args, **kwargs)

        return patched

    def opens_for_writing(path: Any, flags: int, *args: Any, **kwargs: Any) -> bool:
        return bool(flags & WRITE_FLAGS)

    def mode_writes(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> bool:
        return isinstance(file, (str, bytes, os.PathLike)) and any(c in mode for c in "wax+")

    monkeypatch.setattr(os, "open", guard(os.open, writes=opens_for_writing))
    for name in ("mkdir", "unlink", "remove", "rmdir", "utime", "chmod"):
        monkeypatch.setattr(os, name, guard(getattr(os, name)))
    for name in ("replace", "rename"):
        monkeypatch.setattr(os, name, guard(getattr(os, name), paths=2))
    patched_open = guard(builtins.open, writes=mode_writes)
    monkeypatch.setattr(builtins, "open", patched_open)
    monkeypatch.setattr(io, "open", patched_open)
    with pytest.raises(OSError, match="Read-only"):  # the patch itself works, or the tests prove nothing
        (store.root / "probe.txt").write_text("x")
    with pytest.raises(OSError, match="Read-only"):
        (store.root / "derived").mkdir()
    yield store.root


def test_summary_reads_a_read_only_store(
    store: ResultsStore, read_only: Path, capsys: pytest.CaptureFixture
) -> None:
    before = tree(store.root)
    assert main(["summary", "--results", str(store.root)]) == 0
    out = capsys.readouterr()
    assert "Verdict:" in out.out and f"{store.root} is read-only: derived/ not updated" in out.out
    assert out.err == ""
    assert tree(store.root) == before and not (store.root / "derived").exists()


def test_report_renders_a_read_only_store(
    store: ResultsStore, read_only: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    before = tree(store.root)
    site = tmp_path / "site"
    assert main(["report", "--results", str(store.root), "--out", str(site)]) == 0
    assert "read-only: derived/ not updated" in capsys.readouterr().out
    assert tree(store.root) == before and not (store.root / "derived").exists()
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "m+mmlu-en" in index and "m+none" in index


def test_write_derived_writes_nothing_on_a_read_only_store(store: ResultsStore, read_only: Path) -> None:
    assert not can_write(store.root / "derived")
    assert write_derived(store, n_boot=50) == []


def test_a_full_disk_is_not_mistaken_for_a_read_only_store(
    store: ResultsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device", str(store.root / "derived"))

    monkeypatch.setattr("harness.scoring.derived.tempfile.mkstemp", full)
    with pytest.raises(OSError) as caught:
        write_derived(store, n_boot=50)
    assert caught.value.errno == errno.ENOSPC


def test_a_writable_store_still_gets_its_derived_tables(store: ResultsStore) -> None:
    written = write_derived(store, n_boot=50)
    assert [p.name for p in written][:2] == ["checkpoints.csv", "checkpoints.json"] and len(written) == 12
    assert not [p for p in (store.root / "derived").iterdir() if p.name.startswith(".")]  # no probe left
