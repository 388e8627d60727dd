"""What each package of harness/ may import (docs/architecture.md): a new dependency is a decision, made
here and in the doc, not an accident. Lazy imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[1] / "harness"
BASE = {"errors", "resources", "cache_dir", "extras", "fault_injection"}

# package -> packages of harness it may import (besides itself); "pkg.module" allows one module only
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "resources": set(),
    "cache_dir": set(),
    "extras": {"errors"},
    "fault_injection": {"errors"},
    "demo": {"errors", "cache_dir", "extras", "results.atomic"},
    "catalogue": BASE | {"kinds", "data.split_checks", "scoring.xtreme"},
    "data": BASE | {"catalogue", "kinds", "models.lockfile", "results.atomic"},
    "models": BASE | {"catalogue", "data.cache", "results.atomic", "results.reading", "training.freezing"},
    "kinds": BASE
    | {
        "catalogue",
        "data",
        "models.loading",
        "models.precision",
        "scoring.bucc",
        "scoring.qa",
        "scoring.tagging",
    },
    "training": BASE | {"catalogue", "data", "models", "scoring.bootstrap", "scoring.example_stats"},
    "results": BASE | {"scoring.derived", "scoring.example_stats"},
    "scoring": BASE | {"catalogue", "kinds", "results", "report.contrast"},
    "report": BASE | {"catalogue", "models.lockfile", "results", "scoring"},
    "executors": BASE | {"catalogue.yaml_lines"},
    "runner": BASE
    | {
        "catalogue",
        "data",
        "kinds",
        "models",
        "training",
        "executors",
        "results",
        "scoring.derived",
        "report.site",
        "report.site_safety",
        "harness",
    },
    "bridges": BASE | {"catalogue", "data", "kinds", "results"},
    "cli": {"*"},
    "api": {"*"},
    "__init__": set(),
}


def _package(path: Path) -> str:
    parts = path.relative_to(HARNESS).with_suffix("").parts
    return parts[0]


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("harness"):
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("harness"))
    return out


def _allowed(source: str, module: str) -> bool:
    rules = ALLOWED[source]
    if "*" in rules:
        return True
    parts = module.split(".")[1:]
    if not parts:
        return "harness" in rules
    if parts[0] == source:
        return True
    return parts[0] in rules or ".".join(parts[:2]) in rules


def test_every_package_imports_only_what_the_architecture_allows() -> None:
    found = []
    for path in sorted(HARNESS.rglob("*.py")):
        source = _package(path)
        assert source in ALLOWED, f"{source}: a new package of harness/; add it to ALLOWED and the doc"
        found += [
            f"{path.relative_to(HARNESS)} imports {m}" for m in _imports(path) if not _allowed(source, m)
        ]
    assert not found, "\n".join(found)


def test_the_rules_are_not_wider_than_the_code_needs() -> None:
    used: dict[str, set[str]] = {name: set() for name in ALLOWED}
    for path in HARNESS.rglob("*.py"):
        source = _package(path)
        for module in _imports(path):
            parts = module.split(".")[1:]
            if parts and parts[0] != source:
                used[source].update({parts[0], ".".join(parts[:2])})
            elif not parts:
                used[source].add("harness")
    stale = {
        f"{src} → {rule}"
        for src, rules in ALLOWED.items()
        for rule in rules - {"*"} - BASE
        if rule not in used[src]
    }
    assert not stale, f"allowed but unused (drop them here and in docs/architecture.md): {sorted(stale)}"
