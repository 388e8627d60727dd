"""Task and grid YAML: metric names, hyperparameters, empty or misplaced files, hostile names."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

TINY_GRID = "tasks/grids/tiny.yaml"


def _grid_with(workspace: Path, extra: str, name: str = "bad.yaml") -> str:
    text = (workspace / TINY_GRID).read_text(encoding="utf-8") + extra
    (workspace / name).write_text(text, encoding="utf-8")
    return name


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("main_metric: acuracy\n", "main_metric"),
        ("metrics: [accuracy, f1]\n", "metrics.1"),
    ],
)
def test_a_metric_the_kind_cannot_compute_fails_validate_and_plan(
    workspace: Path, refused: Callable, line: str, field: str
) -> None:
    task = workspace / "tasks/targets/tiny_cls.yaml"
    task.write_text(task.read_text(encoding="utf-8") + line, encoding="utf-8")
    for argv in (("tasks", "validate", "--tasks-dir", "tasks"), ("plan", TINY_GRID, "--tasks-dir", "tasks")):
        outcome = refused(*argv, names=f"tiny_cls.yaml:{_last_line(task)}: {field}: ")
        assert "(allowed: accuracy)" in outcome.errors[0]


def _last_line(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ("training: {learning_rate: -1}\n", "training.learning_rate"),
        ('training: {batch_size: "big"}\n', "training.batch_size"),
        ("training: {batch_size: 2.5}\n", "training.batch_size"),
        ("training: {epochs: 0}\n", "training.epochs"),
        ("training: {learning_rate: .inf}\n", "training.learning_rate"),
        ("training: {warmup_ratio: 2}\n", "training.warmup_ratio"),
        ("training: {bogus: 1}\n", "training.bogus"),
        ("intermediate_training: {max_length: 4}\n", "intermediate_training.max_length"),
        ("intermediate_training: {attention_dropout: 1.0}\n", "intermediate_training.attention_dropout"),
    ],
)
def test_grid_hyperparameters_are_checked_when_the_grid_loads(
    workspace: Path, refused: Callable, block: str, field: str
) -> None:
    grid = _grid_with(workspace, block)
    line = _last_line(workspace / grid)
    refused("plan", grid, "--tasks-dir", "tasks", names=f"bad.yaml:{line}: {field}: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("# only a comment\n", "empty file"),
        ("- a\n- list\n", "expected a mapping"),
        ("name: [unclosed\n", "malformed YAML"),
        ("? [a, b]\n: c\n", "malformed YAML"),
    ],
)
def test_an_empty_or_shapeless_grid_file_is_one_line(
    workspace: Path, refused: Callable, text: str, message: str
) -> None:
    (workspace / "g.yaml").write_text(text, encoding="utf-8")
    refused(
        "plan",
        "g.yaml",
        "--tasks-dir",
        "tasks",
        names=f"g.yaml: {message}" if "empty" in message else message,
    )


def test_a_non_utf8_grid_file_is_one_line(workspace: Path, refused: Callable) -> None:
    (workspace / "g.yaml").write_bytes(b"name: caf\xe9\n")
    refused("plan", "g.yaml", "--tasks-dir", "tasks", names="g.yaml: not UTF-8")


def test_a_task_file_given_as_the_grid_is_not_reported_as_a_task(workspace: Path, refused: Callable) -> None:
    refused("plan", "tasks/targets/tiny_cls.yaml", "--tasks-dir", "tasks", names="tiny_cls.yaml: not a grid")


def test_a_grid_named_where_a_task_is_expected(workspace: Path, refused: Callable) -> None:
    grid = workspace / "bad.yaml"
    text = (
        (workspace / TINY_GRID)
        .read_text(encoding="utf-8")
        .replace("targets: [tiny_cls, tiny_ret]", "targets: [tiny]")
    )
    grid.write_text(text.replace("name: tiny\n", "name: tiny2\n"), encoding="utf-8")
    refused("plan", "bad.yaml", "--tasks-dir", "tasks", names="'tiny' is a grid, not a task")


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("name: tiny-bert", "name: '<script>x</script>'", "models.0.name"),
        ("name: tiny-bert", "name: ../../etc", "models.0.name"),
        ("name: none", "name: a..b", "intermediate.0.name"),
        ("name: tiny\n", "name: ../grid\n", "name"),
    ],
)
def test_hostile_names_in_a_grid_are_refused_at_load(
    workspace: Path, refused: Callable, old: str, new: str, field: str
) -> None:
    text = (workspace / TINY_GRID).read_text(encoding="utf-8").replace(old, new, 1)
    (workspace / "bad.yaml").write_text(text, encoding="utf-8")
    refused("plan", "bad.yaml", "--tasks-dir", "tasks", names=f": {field}: ")
