"""``Record.job_key`` (the key of the evaluation job that wrote a record) was stored as ``cell`` before:
such records still load, and every record written now says ``job_key``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.results.schema import Record
from harness.results.store import ResultsStore, read_record

KEY = "ab" * 32


def _stored(key_field: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        key_field: KEY,
        "grid": "tiny",
        "checkpoint": {
            "name": "m+none",
            "key": "k",
            "model": "m",
            "model_source": "embedded:m",
            "condition": "none",
            "lineage": [{"phase": "base", "key": "k", "name": "m"}],
        },
        "seed": 1,
        "task": {"name": "t", "version": 1, "kind": "classification"},
        "split": {"name": "test", "domain": "d", "in_domain": True},
        "language": "de",
        "n_examples": 2,
        "scores": {"accuracy": 0.5},
        "main_metric": "accuracy",
        "main_score": 0.5,
        "predictions": "records/m+none/t.test.de.predictions.jsonl",
    }


def _write(store: ResultsStore, document: dict[str, Any]) -> Path:
    path = store.record_path("m+none", "t", "test", "de", KEY)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_a_record_stored_with_cell_loads_with_its_job_key(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    path = _write(store, _stored("cell"))
    record = read_record(path)
    assert record.job_key == KEY
    assert [r.job_key for r in store.records()] == [KEY]
    dumped = record.model_dump(mode="json")
    assert dumped["job_key"] == KEY and "cell" not in dumped  # the old name is not carried as an extra field


def test_a_record_written_now_says_job_key_and_reads_back_the_same(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    record = Record.model_validate(_stored("job_key"))
    path = store.record_path("m+none", "t", "test", "de", record.job_key)
    store.write(record, [{"id": 0, "prediction": 1, "label": 1, "correct": True}], path)
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert on_disk["job_key"] == KEY and "cell" not in on_disk
    assert read_record(path) == record
    assert path.name == f"t.test.de.{KEY[:16]}.json"  # stored file names did not change


def test_a_record_without_its_job_key_is_one_line_naming_the_field(tmp_path: Path) -> None:
    document = _stored("job_key")
    del document["job_key"]
    path = _write(ResultsStore(tmp_path), document)
    with pytest.raises(HarnessError, match="job_key: not a valid result record: Field required"):
        read_record(path)
