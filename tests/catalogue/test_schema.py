"""Task and grid YAML validation: every problem as FILE:LINE: field: message, exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.catalogue.loader import Catalogue, load_document
from harness.catalogue.schema import TaskSpec
from harness.cli import main
from harness.errors import HarnessError, ValidationErrors

GOOD = """\
name: toy
kind: classification
version: 2
dataset:
  format: tsv
  path: "{lang}.tsv"
labels: [a, b]
languages: [en, de]
train: {split: train, language: en}
splits:
  - {name: test, domain: news}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_good_task_loads(tmp_path: Path) -> None:
    spec = load_document(write(tmp_path, "toy.yaml", GOOD)).spec
    assert isinstance(spec, TaskSpec)
    assert spec.version == 2 and spec.split_languages(spec.splits[0]) == ["en", "de"]


def test_unknown_key_names_line_and_suggests(tmp_path: Path) -> None:
    path = write(tmp_path, "toy.yaml", GOOD.replace("labels:", "lables:"))
    with pytest.raises(ValidationErrors) as info:
        load_document(path)
    rendered = [e.render() for e in info.value.errors]
    assert any(f"{path}:7: lables: unknown key — did you mean 'labels'?" in r for r in rendered)


def test_nested_unknown_key_lists_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, "toy.yaml", GOOD.replace("  format: tsv", "  format: tsv\n  pth: x"))
    with pytest.raises(HarnessError) as info:
        load_document(path)
    text = info.value.render()
    assert f"{path}:6: dataset.pth: unknown key — did you mean 'path'?" in text
    assert "allowed:" in text


def test_unknown_kind_and_language(tmp_path: Path) -> None:
    with pytest.raises(
        HarnessError, match=r"toy.yaml:2: kind: unknown task kind 'clasification' — did you mean"
    ):
        load_document(
            write(tmp_path, "toy.yaml", GOOD.replace("kind: classification", "kind: clasification"))
        )
    with pytest.raises(HarnessError, match=r"toy.yaml:8: languages: unknown language code 'xx'"):
        load_document(write(tmp_path, "toy.yaml", GOOD.replace("[en, de]", "[en, xx]")))


def test_malformed_yaml_reports_line(tmp_path: Path) -> None:
    path = write(tmp_path, "toy.yaml", GOOD.replace("labels: [a, b]", "labels: [a, b"))
    with pytest.raises(HarnessError, match=r"toy.yaml:\d+: malformed YAML"):
        load_document(path)


def test_include_merges_base(tmp_path: Path) -> None:
    write(tmp_path, "_base.yaml", GOOD.replace("name: toy\n", ""))
    spec = load_document(
        write(tmp_path, "de_only.yaml", "include: _base.yaml\nname: toy_de\nlanguages: [de]\n")
    ).spec
    assert spec.name == "toy_de" and spec.languages == ["de"] and spec.labels == ["a", "b"]


def test_group_and_grid_cross_checks(tmp_path: Path) -> None:
    write(tmp_path, "toy.yaml", GOOD)
    write(tmp_path, "grp.yaml", "group: g\ntasks: [toy, nope]\n")
    with pytest.raises(HarnessError, match="group names unknown task 'nope'"):
        Catalogue.load(tmp_path)
    (tmp_path / "grp.yaml").unlink()
    grid = write(
        tmp_path,
        "grids/g.yaml",
        "name: g\nmodels: [{name: m, source: 'hub:org/m'}]\nintermediate: [{name: none}]\ntargets: [toy, tyo]\n",
    )
    with pytest.raises(HarnessError, match=r"g.yaml:4: targets.1: unknown task 'tyo'"):
        Catalogue.load(tmp_path).grid(str(grid))


def test_grid_source_language_must_exist(tmp_path: Path) -> None:
    write(
        tmp_path, "toy.yaml", GOOD.replace("kind: classification", "kind: classification\nrole: intermediate")
    )
    grid = write(
        tmp_path,
        "grids/g.yaml",
        "name: g\nmodels: [{name: m, source: 'embedded:me5-small'}]\n"
        "intermediate:\n  - {name: x, task: toy, source_lang: fr, source_type: translated}\ntargets: [toy]\n",
    )
    with pytest.raises(HarnessError, match="has no source language 'fr'") as info:
        Catalogue.load(tmp_path).grid(str(grid))
    assert info.value.allowed == ["en", "de"]


def test_cli_validate_reports_all_problems_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write(tmp_path, "a.yaml", GOOD.replace("version: 2", "version: -1"))
    write(
        tmp_path,
        "b.yaml",
        GOOD.replace("name: toy", "name: toy2").replace("kind: classification", "kind: nope"),
    )
    code = main(["tasks", "validate", str(tmp_path), "--tasks-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{tmp_path / 'a.yaml'}:3: version:" in err
    assert f"{tmp_path / 'b.yaml'}:2: kind: unknown task kind 'nope'" in err
    assert "Traceback" not in err


def test_repository_tasks_are_valid(capsys: pytest.CaptureFixture) -> None:
    root = Path(__file__).resolve().parents[2] / "tasks"
    assert main(["tasks", "validate", "--tasks-dir", str(root)]) == 0


def test_bad_flag_is_one_line_exit_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "grid.yaml", "--bogus"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "--bogus" in proc.stderr


def test_missing_grid_file_and_debug_traceback(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "harness.cli"]
    proc = subprocess.run([*base, "plan", str(tmp_path / "none.yaml")], capture_output=True, text=True)
    assert proc.returncode == 2 and "grid file not found" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [*base, "--debug", "plan", str(tmp_path / "none.yaml")], capture_output=True, text=True
    )
    assert "Traceback" in proc.stderr


def test_grid_model_path_must_exist(tmp_path: Path) -> None:
    write(tmp_path, "toy.yaml", GOOD)
    grid = write(
        tmp_path,
        "grids/g.yaml",
        "name: g\nmodels:\n  - {name: m, source: /nowhere/model}\n"
        "intermediate: [{name: none}]\ntargets: [toy]\n",
    )
    with pytest.raises(
        HarnessError, match=r"g.yaml:3: models.0.source: model path '/nowhere/model' does not exist"
    ):
        Catalogue.load(tmp_path).grid(str(grid))
