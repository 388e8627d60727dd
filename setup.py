"""Build hook: a wheel carries the repository's tasks/, data/ and leaderboards/templates/ inside the package.

They stay at the repository root, where researchers edit them; setuptools' package-data cannot reach outside
the package, so ``build_py`` copies them to ``harness/_shipped/`` (found by harness/resources.py). An
editable install skips the copy: there the checkout's own folders are used.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED_FOLDERS = ("tasks", "data", "leaderboards/templates")


class BuildWithShippedFolders(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "harness" / "_shipped"
        for folder in SHIPPED_FOLDERS:
            shutil.rmtree(target / folder, ignore_errors=True)
            shutil.copytree(
                root / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )


setup(cmdclass={"build_py": BuildWithShippedFolders})
