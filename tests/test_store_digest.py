"""The store digest the kill and two-driver tests compare stores with (tests/store_digest.py): blind to
what describes a run, not blind to results, pins or leftovers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from store_digest import leftovers, pin_problems, store_digest

KEY = "ab" * 32


def _write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value), encoding="utf-8")


def make_store(root: Path, *, created: str = "2026-01-01T00:00:00+00:00", wall: float = 1.5) -> Path:
    results = root / "results"
    record = results / "records" / "m+none" / "cls.test.en.0123456789abcdef.json"
    _write_json(
        record,
        {
            "job_key": "k" * 64,
            "main_score": 0.75,
            "data": {"origin": f"local:{results}/data.tsv"},
            "provenance": {"created": created, "wall_time_s": wall, "hardware": {"cpu_count": 2}},
        },
    )
    record.with_suffix(".predictions.jsonl").write_text('{"id": "a", "correct": true}\n', encoding="utf-8")
    folder = results / "checkpoints" / KEY
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights")
    _write_json(folder / "cell.json", {"key": KEY, "created": created})
    _write_json(folder / "training.json", {"training": {"best_epoch": 3, "wall_time_s": wall}})
    pinned = {"model.safetensors": hashlib.sha256(b"weights").hexdigest()}
    _write_json(results / "checkpoints.lock", {"version": 1, "checkpoints": {KEY: {"files": pinned}}})
    _write_json(root / "checkpoints.lock", {"version": 1, "checkpoints": {}})
    return results


def test_run_specific_fields_and_the_store_path_do_not_count(tmp_path: Path) -> None:
    first = make_store(tmp_path / "a")
    second = make_store(tmp_path / "b", created="2026-02-02T00:00:00+00:00", wall=9.0)
    assert store_digest(first, first.parent / "checkpoints.lock") == store_digest(
        second, second.parent / "checkpoints.lock"
    )


def test_results_checkpoints_and_pins_do_count(tmp_path: Path) -> None:
    reference = make_store(tmp_path / "ref")
    digest = store_digest(reference, reference.parent / "checkpoints.lock")
    changes = {
        "records": lambda r: _edit(next((r / "records").rglob("*.0123456789abcdef.json")), "main_score", 0.5),
        "predictions": lambda r: next((r / "records").rglob("*.jsonl")).write_text("{}\n"),
        "checkpoints": lambda r: (r / "checkpoints" / KEY / "model.safetensors").write_bytes(b"other"),
        "produced_lock": lambda r: _edit(r / "checkpoints.lock", "checkpoints", {}),
    }
    for part, change in changes.items():
        changed = make_store(tmp_path / part)
        change(changed)
        other = store_digest(changed, changed.parent / "checkpoints.lock")
        assert other != digest
        assert [line.split(":")[0] for line in digest.differences(other)] == [part]


def _edit(path: Path, field: str, value: object) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data[field] = value
    path.write_text(json.dumps(data), encoding="utf-8")


def test_unpinned_or_altered_checkpoints_and_leftovers_are_found(tmp_path: Path) -> None:
    results = make_store(tmp_path)
    assert pin_problems(results) == [] and leftovers(results) == []
    (results / "checkpoints" / KEY / "model.safetensors").write_bytes(b"flipped")
    (results / "checkpoints" / ("cd" * 32)).mkdir()
    (results / "records" / ".x.json.own-1-2@h.abc.tmp").write_text("{")
    (results / "checkpoints" / ".build-cdcd-77").mkdir()
    (results / "leases").mkdir()
    (results / "leases" / f"{KEY}.lease").write_text("{}")
    (results / "leases" / ".guard").write_text("")
    assert pin_problems(results) == [
        f"checkpoint {'cd' * 6} on disk is not pinned",
        f"checkpoint {KEY[:12]}: model.safetensors differs from its pin",
    ]
    assert leftovers(results) == [
        "checkpoints/.build-cdcd-77",
        f"leases/{KEY}.lease",
        "records/.x.json.own-1-2@h.abc.tmp",
    ]
