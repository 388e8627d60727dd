"""Lock files, stored records, names used as paths and ``--only``: wrong shapes are one line, exit 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.models.lockfile import Lock

ENTRY = {"source": "embedded:me5-small", "files": {"config.json": "ab" * 32}}


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"version": 1, "checkpoints": []}, "checkpoints: "),
        ([ENTRY], "(top level): "),
        ({"version": 1, "checkpoints": {"m": {**ENTRY, "files": ["config.json"]}}}, "checkpoints.m.files: "),
        ({"version": 99, "checkpoints": {}}, "version: unknown lock version 99"),
        ({"version": 1, "checkpoints": {"m": {"files": {}}}}, "checkpoints.m.source: "),
        ({"version": 1, "checkpoints": {"m": {**ENTRY, "sha": "x"}}}, "checkpoints.m.sha: "),
        ({"version": 1, "checkpoints": {"m": {**ENTRY, "files": {"a": 1}}}}, "checkpoints.m.files.a: "),
    ],
)
def test_a_lock_of_the_wrong_shape_is_one_line(
    workspace: Path, refused: Callable, doc: object, field: str
) -> None:
    (workspace / "checkpoints.lock").write_text(json.dumps(doc), encoding="utf-8")
    refused("lock", "verify", "--lock", "checkpoints.lock", names=f"checkpoints.lock: {field}")
    refused(
        "plan", "tasks/grids/tiny.yaml", "--tasks-dir", "tasks", "--lock", "checkpoints.lock", names=field
    )


def test_a_lock_that_is_not_json_is_one_line(workspace: Path, refused: Callable) -> None:
    (workspace / "checkpoints.lock").write_text("{not json", encoding="utf-8")
    refused("lock", "verify", "--lock", "checkpoints.lock", names="checkpoints.lock:1: not valid JSON")


def test_a_lock_entry_deleted_by_hand_is_reported_by_verify(
    workspace: Path, tiny_model: Path, run_cli: Callable
) -> None:
    results = workspace / "results"
    (workspace / "checkpoints.lock").write_text('{"version": 1, "checkpoints": {}}', encoding="utf-8")
    folder = results / "checkpoints" / ("c0ffee" * 6)
    folder.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (folder / name).write_bytes((tiny_model / name).read_bytes())
    (folder / "cell.json").write_text("{}", encoding="utf-8")
    Lock(results / "checkpoints.lock").pin(folder.name, folder, "produced:test")
    assert run_cli("lock", "verify", "--lock", "checkpoints.lock", "--results", "results").code == 0

    (results / "checkpoints.lock").write_text('{"version": 1, "checkpoints": {}}', encoding="utf-8")
    outcome = run_cli("lock", "verify", "--lock", "checkpoints.lock", "--results", "results")
    assert outcome.code == 1
    assert len(outcome.errors) == 1 and "c0ffeec0ffee: checkpoint in" in outcome.errors[0]
    assert "has no pin" in outcome.errors[0]


def _record(**changes: object) -> dict:
    record = {
        "job_key": "c" * 16,
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
    record.update(changes)
    return record


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ([1, 2], "(top level): not a valid result record"),
        ({"job_key": "x"}, ": not a valid result record: Field required"),
        (_record(seed="one"), "seed: not a valid result record"),
        (_record(checkpoint={"name": "m"}), "checkpoint.key: not a valid result record"),
        (
            _record(main_score=7.5),
            "main_score: not a valid result record: Input should be less than or equal to 1",
        ),
        (_record(scores={"accuracy": -0.1}), "scores.accuracy: "),
        (
            _record(predictions="/etc/passwd"),
            "predictions: not a valid result record: must be a relative path",
        ),
        (_record(predictions="../../outside.jsonl"), "predictions: "),
        (_record(predictions="records/../../x.jsonl"), "predictions: "),
    ],
)
def test_a_stored_record_of_the_wrong_shape_is_one_line(
    workspace: Path, refused: Callable, doc: object, field: str
) -> None:
    path = workspace / "results" / "records" / "m+none" / "t.test.de.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    outcome = refused("summary", "--results", "results", names=field)
    assert outcome.errors[0].startswith(str(Path("results/records/m+none/t.test.de.json")))


def test_a_valid_record_passes(workspace: Path, run_cli: Callable) -> None:
    from harness.results.store import read_record

    path = workspace / "r.json"
    path.write_text(json.dumps(_record()), encoding="utf-8")
    assert read_record(path).main_score == 0.5


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (("eval", "some-folder", "--name", "<script>alert(1)</script>"), "--name: "),
        (("eval", "some-folder", "--name", "../../etc"), "--name: "),
        (("eval", "some-folder", "--name", "a" * 101), "--name: "),
        (("lock", "add", "../../etc", "embedded:me5-small", "--lock", "checkpoints.lock"), "NAME: "),
        (("lock", "add", "<b>x</b>", "embedded:me5-small", "--lock", "checkpoints.lock"), "NAME: "),
    ],
)
def test_hostile_names_are_refused_before_anything_is_written(
    workspace: Path, refused: Callable, argv: tuple[str, ...], field: str
) -> None:
    outcome = refused(*argv, names=field)
    assert "cannot be used as a name" in outcome.errors[0]


def test_only_matching_no_job_runs_nothing_and_names_the_closest(workspace: Path, refused: Callable) -> None:
    outcome = refused(
        "run",
        "tasks/grids/tiny.yaml",
        "--tasks-dir",
        "tasks",
        "--only",
        "tiny_clss/test/de",
        "--results",
        "results",
        "--lock",
        "checkpoints.lock",
        names="--only: 'tiny_clss/test/de' matches none",
    )
    assert "closest: 'tiny-bert+" in outcome.errors[0] and "tiny_cls/test/de" in outcome.errors[0]
    assert not (workspace / "checkpoints.lock").exists() and not (workspace / "results").exists()
