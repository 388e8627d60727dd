"""``harness plan``: the expanded grid, what is done and what would run, without running anything."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.runner.plan import Plan


def plan_json(plan: Plan, runner: Any) -> dict[str, Any]:
    todo = {c.key for c in runner.needed_cells()}
    shared = Counter(c.parent for c in plan.cells if c.phase == "target")
    return {
        "grid": plan.grid.name,
        "cells": [
            {
                "key": c.key,
                "label": c.label,
                "phase": c.phase,
                "parent": c.parent,
                "done": runner.is_done(c),
                "would_run": c.key in todo,
            }
            for c in plan.cells
        ],
        "counts": dict(Counter(c.phase for c in plan.cells)),
        "would_run": dict(Counter(c.phase for c in plan.cells if c.key in todo)),
        "shared_intermediate": {c.key: shared[c.key] for c in plan.cells if c.phase == "intermediate"},
    }


def print_plan(plan: Plan, runner: Any, console: Console) -> None:
    data = plan_json(plan, runner)
    table = Table(title=f"grid {plan.grid.name}: cells")
    for column in ("phase", "cells", "done", "would run"):
        table.add_column(column)
    for phase in ("intermediate", "target", "evaluate"):
        total = data["counts"].get(phase, 0)
        todo = data["would_run"].get(phase, 0)
        table.add_row(phase, str(total), str(total - todo), str(todo))
    console.print(table)
    for key, n_targets in data["shared_intermediate"].items():
        console.print(f"intermediate checkpoint {key[:12]} is shared by {n_targets} target fine-tunings")
