"""Where the built-in task YAMLs, page templates and shipped data are: a checkout's folders, else the package's.

In a git checkout (an editable install) ``tasks/``, ``leaderboards/templates/`` and ``data/`` at the repository
root are used, so an edited YAML takes effect at once. A wheel carries copies of the three under
``harness/_shipped/`` (see setup.py), found through ``importlib.resources``.
"""

from __future__ import annotations

import os
from functools import cache
from importlib import resources
from pathlib import Path

SHIPPED = "_shipped"  # the folder inside the installed package that holds tasks/, data/, leaderboards/
TASKS_ENV = "HARNESS_TASKS"  # extra task folders, os.pathsep-separated, after the built-in one


@cache  # the package does not move while it runs; a plan asks once per data file it fingerprints
def checkout_root() -> Path | None:
    """The repository root when the package runs from a source checkout, else None."""
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file() and (root / "tasks").is_dir():
        return root
    return None


def resource_root() -> Path:
    """The folder that holds ``tasks/``, ``data/`` and ``leaderboards/templates/``."""
    root = checkout_root()
    if root is not None:
        return root
    # a filesystem install: the Traversable is a real folder (zip imports are not supported)
    return Path(str(resources.files("harness").joinpath(SHIPPED)))


def builtin_tasks_dir() -> Path:
    return resource_root() / "tasks"


def templates_dir() -> Path:
    return resource_root() / "leaderboards" / "templates"


def builtin_data_dir() -> Path:
    return resource_root() / "data"


def task_folders(added: list[Path] | tuple[Path, ...] = ()) -> list[Path]:
    """The built-in tasks folder, then ``$HARNESS_TASKS``'s folders, then ``added`` (``--tasks-dir``).

    A later folder's task, group or grid replaces an earlier one of the same name."""
    from_env = [Path(part) for part in os.environ.get(TASKS_ENV, "").split(os.pathsep) if part]
    folders: list[Path] = []
    for folder in [builtin_tasks_dir(), *from_env, *added]:
        if all(folder.resolve() != seen.resolve() for seen in folders):
            folders.append(folder)
    return folders
