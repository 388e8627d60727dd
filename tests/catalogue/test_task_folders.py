"""Task folders: the built-in one, then ``$HARNESS_TASKS``, then ``--tasks-dir``; the last folder wins."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.catalogue.loader import Catalogue
from harness.cli import main
from harness.resources import TASKS_ENV, builtin_tasks_dir, checkout_root, resource_root, task_folders

SIB200 = builtin_tasks_dir() / "targets" / "sib200" / "sib200.yaml"


def sib200_version(folder: Path, version: int, file_name: str = "sib200.yaml") -> Path:
    """A copy of the built-in sib200 task in ``folder`` that differs only in its version."""
    text = SIB200.read_text(encoding="utf-8")
    assert "\nversion: 1\n" in text
    folder.mkdir(parents=True, exist_ok=True)
    (folder / file_name).write_text(
        text.replace("\nversion: 1\n", f"\nversion: {version}\n"), encoding="utf-8"
    )
    return folder


def listed_versions(capsys: pytest.CaptureFixture, *argv: str) -> dict[str, int]:
    assert main(["tasks", "list", "--json", *argv]) == 0
    return {task["name"]: task["version"] for task in json.loads(capsys.readouterr().out)}


def test_in_a_checkout_the_repository_folders_are_used() -> None:
    root = checkout_root()
    assert root is not None and resource_root() == root
    assert builtin_tasks_dir() == root / "tasks" and (root / "tasks" / "grids" / "default.yaml").is_file()


def test_a_tasks_dir_overrides_a_builtin_task_and_keeps_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TASKS_ENV, raising=False)
    builtin = listed_versions(capsys)
    mine = sib200_version(tmp_path / "mine", 7)
    versions = listed_versions(capsys, "--tasks-dir", str(mine))
    assert versions == {**builtin, "sib200": 7}
    assert Catalogue.load(task_folders([mine])).task_path("sib200") == mine / "sib200.yaml"


def test_the_command_line_folder_wins_over_the_environment_and_the_last_one_wins(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_a, env_b = sib200_version(tmp_path / "a", 2), sib200_version(tmp_path / "b", 3)
    monkeypatch.setenv(TASKS_ENV, os.pathsep.join([str(env_a), "", str(env_b)]))
    assert listed_versions(capsys)["sib200"] == 3
    cli_c, cli_d = sib200_version(tmp_path / "c", 4), sib200_version(tmp_path / "d", 5)
    assert listed_versions(capsys, "--tasks-dir", str(cli_c))["sib200"] == 4
    assert listed_versions(capsys, "--tasks-dir", str(cli_d), "--tasks-dir", str(cli_c))["sib200"] == 4


def test_a_clash_inside_one_added_folder_is_still_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TASKS_ENV, raising=False)
    mine = sib200_version(tmp_path / "mine", 2)
    sib200_version(mine, 3, file_name="again.yaml")
    assert main(["tasks", "list", "--tasks-dir", str(mine)]) == 2
    err = capsys.readouterr().err
    assert "name 'sib200' is already defined in" in err and "again.yaml" in err


def test_a_missing_tasks_dir_is_one_line_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["tasks", "list", "--tasks-dir", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "nope" in err[0] and "tasks folder not found" in err[0]


def test_validate_checks_the_added_folder_too(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    mine = sib200_version(tmp_path / "mine", 2)
    (mine / "bad.yaml").write_text("name: bad\nkind: nonsense\n", encoding="utf-8")
    assert main(["tasks", "validate", "--tasks-dir", str(mine)]) == 2
    assert "bad.yaml" in capsys.readouterr().err


FOLDER_NAME = st.text(st.sampled_from("abc_-1"), min_size=1, max_size=4)


@given(names=st.lists(FOLDER_NAME, max_size=6), added=st.lists(FOLDER_NAME, max_size=3))
def test_task_folders_keep_order_and_drop_repeats(names: list[str], added: list[str]) -> None:
    previous = os.environ.get(TASKS_ENV)
    os.environ[TASKS_ENV] = os.pathsep.join(["", *names, ""])
    try:
        folders = task_folders([Path(name) for name in added])
    finally:
        if previous is None:
            del os.environ[TASKS_ENV]
        else:
            os.environ[TASKS_ENV] = previous
    assert folders[0] == builtin_tasks_dir()
    assert folders[1:] == [Path(name) for name in dict.fromkeys([*names, *added])]
