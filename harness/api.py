"""The harness as a small Python API: plan a grid, run it, read its results.

``harness run``, ``harness plan``, ``harness eval`` and the tests go through these three functions, so
the catalogue, the lock, the plan and the driver are put together in one place::

    from harness import api

    planned = api.plan("tasks/grids/paper.yaml", lock="checkpoints.lock")
    report = api.run("tasks/grids/paper.yaml", results="results", only="xnli")
    records = api.results("results")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.catalogue.loader import Catalogue
    from harness.results.schema import Record
    from harness.runner.driver import Driver, PinHook, RunReport, Submitter
    from harness.runner.plan import Plan
    from harness.runner.progress import JobProgress

DEFAULT_LOCK = Path("checkpoints.lock")


def catalogue(tasks_dirs: Sequence[Path | str] = ()) -> Catalogue:
    """The built-in tasks, then ``$HARNESS_TASKS``'s folders, then ``tasks_dirs`` (later ones win)."""
    from harness.catalogue.loader import Catalogue
    from harness.resources import task_folders

    return Catalogue.load(task_folders([Path(d) for d in tasks_dirs]))


def plan(
    grid: str | Path,
    *,
    results: Path | str | None = None,
    lock: Path | str = DEFAULT_LOCK,
    tasks_dirs: Sequence[Path | str] = (),
    tasks: Catalogue | None = None,
    only: str | None = None,
    pin: bool = False,
    record_names: dict[str, str] | None = None,
) -> Plan:
    """Load and check everything that can be checked without training, then (``pin``) pin base models.

    Nothing is written before the checks pass: data files, lock shape and ``only`` come first. ``tasks``
    is a loaded catalogue (else the built-in tasks and ``tasks_dirs``); ``results`` is not read (the
    plan does not depend on what is done), it is accepted so ``plan`` and ``run`` take the same words."""
    from harness.data.file_checks import check_grid_files
    from harness.models.lockfile import Lock
    from harness.runner.execute import check_only, pin_base_models
    from harness.runner.plan import expand

    del results
    found = tasks if tasks is not None else catalogue(tasks_dirs)
    spec, path = found.grid(str(grid))
    check_grid_files(spec, found)
    pins = Lock.load(Path(lock))
    planned = expand(spec, path, found, pins, record_names=record_names)
    check_only(planned, only)
    if pin:
        before = dict(pins.entries)
        pin_base_models(spec, pins)
        if pins.entries != before:  # a base model pinned now: its key is part of every job's key
            planned = expand(spec, path, found, pins, record_names=record_names)
    return planned


def driver(
    planned: Plan,
    *,
    results: Path | str,
    executor: str | Submitter = "local",
    only: str | None = None,
    force: bool = False,
    progress: JobProgress | None = None,
    pin: PinHook | None = None,
) -> Driver:
    """The driver of a plan over one results folder (``harness plan`` asks it what is done)."""
    from harness.results.store import ResultsStore
    from harness.runner.driver import Driver

    store = ResultsStore(Path(results))
    submitter = submitter_for(executor, store.root) if isinstance(executor, str) else executor
    return Driver(planned, store, submitter=submitter, force=force, only=only, progress=progress, pin=pin)


def submitter_for(name: str, store_root: Path) -> Submitter:
    """An executor by name, bound to the store (``local`` runs in this process)."""
    from harness.runner.driver import InProcess
    from harness.runner.executor import make_executor

    make_executor(name)  # an unknown name: one error listing the known ones
    return InProcess(store_root)


def run(
    grid: str | Path | Plan,
    *,
    results: Path | str,
    lock: Path | str = DEFAULT_LOCK,
    tasks_dirs: Sequence[Path | str] = (),
    tasks: Catalogue | None = None,
    executor: str | Submitter = "local",
    only: str | None = None,
    force: bool = False,
    progress: JobProgress | None = None,
    pin: PinHook | None = None,
) -> RunReport:
    """Run (or resume) a grid: base models are pinned on first use, then every job not done runs."""
    if isinstance(executor, str):
        submitter_for(executor, Path(results))  # an unknown executor fails before anything is pinned
    planned = (
        grid
        if not isinstance(grid, str | Path)
        else plan(grid, lock=lock, tasks_dirs=tasks_dirs, tasks=tasks, only=only, pin=True)
    )
    return driver(
        planned, results=results, executor=executor, only=only, force=force, progress=progress, pin=pin
    ).run()


def results(results: Path | str) -> list[Record]:
    """Every record of a results folder."""
    from harness.results.store import ResultsStore

    return ResultsStore(Path(results)).records()
