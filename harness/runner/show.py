"""``harness plan``: the expanded grid, what is done and what would run, without running anything."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.runner.jobs import Job
from harness.runner.plan import Plan


def _status(job: Job, plan: Plan, done: bool, todo: set[str]) -> str:
    if done:
        return "done"
    if job.key in plan.blocked:
        return "not available"
    return "would run" if job.key in todo else "not selected"


def plan_json(plan: Plan, runner: Any) -> dict[str, Any]:
    from harness.runner.estimate import estimate

    todo = {c.key for c in runner.needed_jobs()}
    feeds: dict[str, set[str]] = {}  # intermediate checkpoint -> the targets it feeds (trained or scored)
    for c in plan.jobs:
        if c.phase in ("target", "evaluate"):
            feeds.setdefault(c.parent, set()).add(c.task)
    done = {c.key: runner.is_done(c) for c in plan.jobs}
    status = {c.key: _status(c, plan, done[c.key], todo) for c in plan.jobs}
    return {
        "grid": plan.grid.name,
        "jobs": [
            {
                "key": c.key,
                "label": c.label,
                "phase": c.phase,
                "parent": c.parent,
                "done": done[c.key],
                "would_run": c.key in todo,
                "status": status[c.key],
                **({"blocked": plan.blocked[c.key]} if c.key in plan.blocked else {}),
            }
            for c in plan.jobs
        ],
        "counts": dict(Counter(c.phase for c in plan.jobs)),
        "would_run": dict(Counter(c.phase for c in plan.jobs if c.key in todo)),
        "not_available": dict(Counter(c.phase for c in plan.jobs if status[c.key] == "not available")),
        "shared_intermediate": {
            c.key: len(feeds.get(c.key, ())) for c in plan.jobs if c.phase == "intermediate"
        },
        "intermediate_checkpoints": [
            {
                "key": c.key,
                "checkpoint": c.checkpoint_name,
                "seed": c.seed,
                "tasks": c.task,
                "feeds_targets": sorted(feeds.get(c.key, ())),
                "status": status[c.key],
            }
            for c in plan.jobs
            if c.phase == "intermediate"
        ],
        "models": [
            {
                "name": m.name,
                "source": m.source,
                "key": plan.base_keys[m.name],
                "pinned": plan.pinned.get(m.name, False),
            }
            for m in plan.grid.models
        ],
        "estimate": estimate(plan, todo),
        "unavailable": list(plan.unavailable),
        "leakage": {
            "allowed": [o.describe() for o in plan.leakage.allowed],
            "not_checked": list(plan.leakage.notes),
        },
    }


def print_plan(plan: Plan, runner: Any, console: Console) -> None:
    data = plan_json(plan, runner)
    for model in data["models"]:
        pin = "pinned" if model["pinned"] else "unpinned (pinned on first run; key from the source only)"
        console.print(
            f"model {model['name']}: {model['source']} — key {model['key'][:12]} {pin}", markup=False
        )
    table = Table(title=f"grid {plan.grid.name}: jobs")
    for column in ("phase", "jobs", "done", "would run", "not available"):
        table.add_column(column, justify="right")
    statuses = Counter((c["phase"], c["status"]) for c in data["jobs"])
    for phase in ("intermediate", "target", "evaluate"):
        table.add_row(
            phase,
            str(data["counts"].get(phase, 0)),
            str(statuses[(phase, "done")]),
            str(statuses[(phase, "would run")]),
            str(statuses[(phase, "not available")]),
        )
    console.print(table)
    for ckpt in data["intermediate_checkpoints"]:
        console.print(
            f"intermediate {ckpt['checkpoint']}/seed{ckpt['seed']} ({ckpt['tasks']}, {ckpt['key'][:12]}, "
            f"{ckpt['status']}) feeds {len(ckpt['feeds_targets'])} targets",
            markup=False,
        )
    print_estimate(data["estimate"], console)
    print_unavailable(plan.unavailable, console)
    for overlap in plan.leakage.allowed:
        console.print(f"allowed overlap (rows badged 'not zero-shot'): {overlap.describe()}", markup=False)
    for note in plan.leakage.notes:
        console.print(note, markup=False)


def print_unavailable(entries: list[dict[str, Any]], console: Console) -> None:
    """Declared splits whose data is not on this machine, one row per (task, split): "not available"."""
    if not entries:
        return
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for entry in entries:
        grouped.setdefault((entry["task"], entry["split"]), []).append(entry)
    table = Table(title=f"not available here: {len(entries)} declared (task, split, language), never scored")
    for column in ("task", "split", "domain", "languages", "status", "reason", "expected"):
        table.add_column(column, overflow="fold")
    for (task, split), group in sorted(grouped.items()):
        first = group[0]
        table.add_row(
            task,
            split,
            first["domain"] + ("" if first["in_domain"] else " (shifted)"),
            " ".join(e["language"] for e in group),
            "not available",
            first["reason"],
            first["expected"][0] if first["expected"] else "",
        )
    console.print(table)


def print_estimate(est: dict[str, Any], console: Console) -> None:
    table = Table(title="compute estimate (training)", caption=f"assumed: {est['assumption']}")
    for column in ("phase", "jobs", "size unknown", "trained tokens", "GPU-hours", "of which would run"):
        table.add_column(column, justify="right")
    for phase, row in est["phases"].items():
        table.add_row(
            phase,
            str(row["jobs"]),
            str(row["size_unknown"]),
            f"{row['tokens']:.3g}",
            f"{row['gpu_hours']:,.3g}",
            f"{row['would_run_gpu_hours']:,.3g}",
        )
    total = est["total"]
    table.add_row(
        "total",
        "",
        str(total["size_unknown"]),
        f"{total['tokens']:.3g}",
        f"{total['gpu_hours']:,.3g}",
        f"{total['would_run_gpu_hours']:,.3g}",
        style="bold",
    )
    console.print(table)
    for name, model in est["models"].items():
        console.print(
            f"  {name}: {model['non_embedding_params'] / 1e6:.0f}M non-embedding parameters ({model['from']})"
        )
