"""A wheel of the project, installed into a fresh venv, works from an unrelated folder (no checkout in sight).

The wheel is built offline from a copy of the repository (``--no-build-isolation``: the venv's setuptools),
installed with ``--no-deps`` into a venv that reads the current environment's site-packages through a
``.pth`` line (torch & co. are not reinstalled; that environment's editable-install hook is not run, so the
wheel's ``harness`` is the one imported). Markers added to the copy before the build prove that the task
YAMLs and the page templates come from inside the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from harness.catalogue.loader import Catalogue
from harness.resources import checkout_root
from harness.results.schema import CheckpointInfo, LineageStep, Record, SplitInfo, TaskInfo
from harness.results.store import ResultsStore

pytestmark = pytest.mark.slow

SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "harness", "tasks", "data")
MARKER_TASK = "wheel_marker_task"
MARKER_HTML = "<!-- templates from the installed wheel -->"


def _copy_repository(repo: Path, to: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    to.mkdir()
    for name in SOURCES:
        source = repo / name
        if source.is_dir():
            shutil.copytree(source, to / name, ignore=ignore)
        else:
            shutil.copy2(source, to / name)
    shutil.copytree(repo / "leaderboards" / "templates", to / "leaderboards" / "templates", ignore=ignore)
    sib = (to / "tasks" / "targets" / "sib200" / "sib200.yaml").read_text(encoding="utf-8")
    assert "name: sib200\n" in sib
    (to / "tasks" / "targets" / "sib200" / f"{MARKER_TASK}.yaml").write_text(
        sib.replace("name: sib200\n", f"name: {MARKER_TASK}\n"), encoding="utf-8"
    )
    base = to / "leaderboards" / "templates" / "base.html.j2"
    html = base.read_text(encoding="utf-8")
    assert html.count("</body>") == 1
    base.write_text(html.replace("</body>", MARKER_HTML + "\n</body>"), encoding="utf-8")


def _fresh_venv(folder: Path) -> Path:
    """A venv whose own site-packages come first, then the current environment's (via a .pth line)."""
    venv.EnvBuilder(with_pip=False).create(folder)
    python = folder / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    parents = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(site) / "_parent_environment.pth").write_text("\n".join(parents) + "\n", encoding="utf-8")
    return python


def _tiny_store(root: Path) -> None:
    """Two records of one checkpoint on the marker task (two languages, one seed)."""
    store = ResultsStore(root)
    for language, score in (("en", 0.8), ("de", 0.6)):
        record = Record(
            job_key=f"cell-{language}" * 4,
            grid="default",
            checkpoint=CheckpointInfo(
                name="tiny+none",
                key="key-tiny",
                model="tiny",
                model_source="embedded:tiny",
                condition="none",
                lineage=[LineageStep(phase="base", key="base", name="tiny")],
            ),
            seed=1,
            task=TaskInfo(name=MARKER_TASK, version=1, kind="classification", protocol="official"),
            split=SplitInfo(name="test", domain="flores", in_domain=True),
            language=language,
            n_examples=10,
            scores={"accuracy": score},
            main_metric="accuracy",
            main_score=score,
            data={"fingerprint": f"fp-{language}", "origin": f"data/{language}.tsv", "source": "test"},
            provenance={"code_version": "0.1.0", "created": "2025-01-01T00:00:00+00:00"},
            predictions=f"records/tiny+none/{MARKER_TASK}.test.{language}.predictions.jsonl",
        )
        path = store.record_path("tiny+none", MARKER_TASK, "test", language, record.job_key)
        store.write(record, [], path)


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_a_wheel_installed_elsewhere_lists_the_shipped_tasks_and_renders_with_the_shipped_templates(
    tmp_path: Path,
) -> None:
    repo = checkout_root()
    if repo is None:
        pytest.skip("needs the source checkout to build the wheel from")
    source, dist, elsewhere = tmp_path / "source", tmp_path / "dist", tmp_path / "elsewhere"
    elsewhere.mkdir()
    _copy_repository(repo, source)
    env = {
        k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "HARNESS_TASKS", "HARNESS_DATA_DIR"}
    }
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(dist), str(source)],
         elsewhere, env)  # fmt: skip
    (wheel,) = dist.glob("xtreme_harness-*.whl")
    python = _fresh_venv(tmp_path / "venv")
    _run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        elsewhere,
        env,
    )

    where = _run(
        [
            str(python),
            "-c",
            "import harness, harness.resources as r; print(harness.__file__); print(r.resource_root())",
        ],
        elsewhere,
        env,
    ).stdout.split()
    assert Path(where[0]).is_relative_to(tmp_path / "venv"), where
    assert Path(where[1]).name == "_shipped" and Path(where[1]).is_relative_to(tmp_path / "venv"), where

    harness = str(tmp_path / "venv" / "bin" / "harness")
    listed = json.loads(_run([harness, "tasks", "list", "--json"], elsewhere, env).stdout)
    names = {task["name"] for task in listed}
    assert names == set(Catalogue.load(repo / "tasks").tasks) | {MARKER_TASK}

    _tiny_store(elsewhere / "results")
    _run([harness, "report", "--results", "results", "--out", "site"], elsewhere, env)
    index = (elsewhere / "site" / "index.html").read_text(encoding="utf-8")
    assert MARKER_HTML in index and MARKER_TASK in index
