"""The machine-readable task list (``harness tasks list --json``). Outside tools read this shape."""

from __future__ import annotations

from typing import Any

from harness.catalogue.loader import Catalogue


def describe_tasks(catalogue: Catalogue) -> list[dict[str, Any]]:
    out = []
    for name in sorted(catalogue.tasks):
        task = catalogue.task(name)
        out.append(
            {
                "name": task.name,
                "kind": task.kind,
                "version": task.version,
                "role": task.role,
                "languages": list(task.languages),
                "splits": [
                    {
                        "name": s.name,
                        "languages": task.split_languages(s),
                        "domain": s.domain,
                        "in_domain": s.in_domain,
                    }
                    for s in task.splits
                ],
                "source": task.source,
            }
        )
    return out
