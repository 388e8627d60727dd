"""``harness eval``: rank a checkpoint trained outside the harness against an existing grid.

The checkpoint (a folder, or a hub id) is pinned in ``checkpoints.lock`` with its lineage (phase
intermediate, task, source language) — or, when it is already pinned, verified against that pin (a
changed file stops everything: exit 1). Then it becomes the grid's only model with one condition marked
``pretrained`` (nothing is intermediate-trained), so the plan holds exactly its own jobs: target
fine-tuning for every trained target and seed, and evaluation in every language and split the grid's
targets declare. Its job keys derive from the pinned file hashes, so nothing of the existing grid
matches or re-runs, and running the same command again runs nothing. The leaderboard is re-rendered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.catalogue.loader import Catalogue
from harness.catalogue.schema import IntermediateSpec, ModelSpec
from harness.errors import HarnessError
from harness.models.lockfile import Lineage, Lock
from harness.models.sources import resolve_model
from harness.results.store import ResultsStore
from harness.runner.driver import Driver, RunReport
from harness.runner.plan import Plan, expand

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")
SOURCE_TYPES = ("english", "translated", "native")


@dataclass
class ExternalRun:
    name: str
    plan: Plan
    report: RunReport
    pinned_now: bool
    site_files: int


def checkpoint_source(checkpoint: str) -> str:
    """``hub:ORG/NAME[@REV]`` or an existing folder; a path that does not exist is an error (exit 2)."""
    if checkpoint.startswith("hub:"):
        return checkpoint
    path = Path(checkpoint).expanduser()
    if path.exists():
        return str(path.resolve())
    if HUB_ID.match(checkpoint) and not checkpoint.startswith((".", "/", "~")):
        return f"hub:{checkpoint}"
    raise HarnessError("checkpoint folder does not exist (give a folder or a hub id ORG/NAME)", file=path)


def external_condition(
    catalogue: Catalogue, task: str | None, source_lang: str | None, source_type: str | None
) -> IntermediateSpec:
    if task is None:
        if source_lang or source_type:
            raise HarnessError(
                "--source-lang and --source-type need --intermediate TASK", field="--intermediate"
            )
        return IntermediateSpec(name="external", pretrained=True)
    spec = catalogue.task(task)
    if not source_lang:
        raise HarnessError(
            "--intermediate needs --source-lang", field="--source-lang", allowed=spec.languages
        )
    if source_lang not in spec.languages:
        raise HarnessError(
            f"task {task!r} has no source language {source_lang!r}",
            field="--source-lang",
            allowed=spec.languages,
        )
    kind = source_type or ("english" if source_lang == "en" else None)
    if kind not in SOURCE_TYPES:
        raise HarnessError(
            "--source-type is needed for a non-English source",
            field="--source-type",
            allowed=list(SOURCE_TYPES),
        )
    if (source_lang == "en") != (kind == "english"):
        raise HarnessError(
            "source type 'english' goes with source language 'en' and only with it", field="--source-type"
        )
    return IntermediateSpec(
        name=f"{task}-{source_lang}", task=task, source_lang=source_lang, source_type=kind, pretrained=True
    )


def eval_checkpoint(
    checkpoint: str,
    name: str,
    *,
    grid: str,
    results: Path,
    lock_path: Path,
    out: Path | None,
    catalogue: Catalogue,
    intermediate: str | None = None,
    source_lang: str | None = None,
    source_type: str | None = None,
    allow_pickle: bool = False,
    progress: Any = None,
) -> ExternalRun:
    if out is not None:  # a refused --out is known before anything is pinned or trained
        from harness.report.site_safety import check_site_folder

        check_site_folder(out)
    base_grid, grid_path = catalogue.grid(grid)
    cond = external_condition(catalogue, intermediate, source_lang, source_type)
    template = base_grid.models[0]  # fine-tuned as the rows it is ranked against: the same frozen parts
    model = ModelSpec.model_validate(
        template.model_dump()
        | {"name": name, "source": checkpoint_source(checkpoint), "allow_pickle": allow_pickle}
    )
    resolved = resolve_model(model)  # missing folder, no weights, pickle-only without opt-in: exit 2
    lock = Lock.load(lock_path)
    pinned_now = name not in lock.entries
    if pinned_now:
        lineage = Lineage(
            phase="intermediate" if cond.task else "base", task=cond.task, source_lang=cond.record_lang
        )
        lock.pin(
            name,
            resolved.folder,
            model.source,
            lineage=lineage,
            revision=resolved.revision,
            note="harness eval",
        )
    else:
        lock.verify(name, resolved.folder)  # LockMismatch: exit 1
    spec = base_grid.model_copy(update={"models": [model], "intermediate": [cond]})
    plan = expand(spec, grid_path, catalogue, lock, record_names={name: name})
    store = ResultsStore(results)
    report = Driver(plan, store, progress=progress).run()
    written = 0
    if out is not None:  # as `harness report`: derived statistics first, then the site (checked again)
        from harness.report.site import render_site
        from harness.scoring.derived import write_derived

        records = store.records()
        if records:
            write_derived(store)
        written = len(render_site(records, out, store.root))
    return ExternalRun(name, plan, report, pinned_now, written)
