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
    from harness.runner.precision import Device
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
    profile: Path | str | None = None,
) -> Plan:
    """Load and check everything that can be checked without training, then (``pin``) pin base models.

    Nothing is written before the checks pass: data files, lock shape and ``only`` come first. ``tasks``
    is a loaded catalogue (else the built-in tasks and ``tasks_dirs``); ``results`` is not read (the
    plan does not depend on what is done), it is accepted so ``plan`` and ``run`` take the same words.
    ``profile``: an executor profile whose jobs run on GPUs resolves ``precision: auto`` for them."""
    from harness.data.file_checks import check_grid_files
    from harness.models.lockfile import Lock
    from harness.runner.execute import check_only, pin_base_models
    from harness.runner.plan import expand

    del results
    found = tasks if tasks is not None else catalogue(tasks_dirs)
    spec, path = found.grid(str(grid))
    check_grid_files(spec, found)
    pins = Lock.load(Path(lock))
    device = job_device(profile)
    planned = expand(spec, path, found, pins, record_names=record_names, device=device)
    check_only(planned, only)
    if pin:
        before = dict(pins.entries)
        pin_base_models(spec, pins)
        if pins.entries != before:  # a base model pinned now: its key is part of every job's key
            planned = expand(spec, path, found, pins, record_names=record_names, device=device)
    return planned


def job_device(profile: Path | str | None) -> Device | None:
    """The device a profile's jobs run on: GPUs (assumed bf16-capable, Ampere or later: set
    ``precision: fp16`` in the grid for older ones), else None (this machine's)."""
    from harness.executors import load_profile
    from harness.runner.precision import Device

    if profile is None or load_profile(profile).resources.gpus == 0:
        return None
    return Device(cuda=True, cuda_bf16=True)


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


def submitter_for(
    name: str,
    store_root: Path,
    *,
    workers: int | None = None,
    profile: Path | str | None = None,
    ray_address: str | None = None,
) -> Submitter:
    """An executor by name (harness/executors), bound to the store; ``local`` with one worker runs each
    job in this process, as it is submitted."""
    from harness.executors import load_profile, make_executor
    from harness.executors.local import InProcessExecutor
    from harness.runner.driver import Bound, InProcess

    executor = make_executor(
        name,
        workers=workers,
        profile=load_profile(profile) if profile is not None else None,
        ray_address=ray_address,
        log_dir=Path(store_root) / "logs" / name,
    )
    if isinstance(executor, InProcessExecutor):
        return InProcess(Path(store_root))
    return Bound(executor, Path(store_root))


def check_executor(name: str, *, workers: int | None = None, profile: Path | str | None = None) -> None:
    """The executor's words checked before anything is pinned or started (no cluster is joined here)."""
    from harness.errors import HarnessError
    from harness.executors import EXECUTOR_NAMES, load_profile

    if name not in EXECUTOR_NAMES:
        raise HarnessError(f"unknown executor {name!r}", field="--executor", allowed=EXECUTOR_NAMES)
    if workers is not None and (workers < 1 or (workers > 1 and name != "local")):
        raise HarnessError(
            f"--workers {workers}: a number of local worker processes (1 or more, local executor only)",
            field="--workers",
        )
    if profile is not None:
        loaded = load_profile(profile)
        if loaded.executor != name:
            raise HarnessError(
                f"the profile is for executor {loaded.executor!r}, not {name!r}",
                file=profile,
                field="executor",
                allowed=[name],
            )


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
    workers: int | None = None,
    profile: Path | str | None = None,
    ray_address: str | None = None,
) -> RunReport:
    """Run (or resume) a grid: base models are pinned on first use, then every job not done runs.

    ``executor``: local (``workers`` processes; default 1, in this process), ray (``ray_address`` joins a
    running cluster) or slurm; ``profile`` (tasks/profiles/*.yaml) gives each job's resources."""
    if isinstance(executor, str):  # wrong words fail before anything is pinned or a cluster is joined
        check_executor(executor, workers=workers, profile=profile)
    planned = (
        grid
        if not isinstance(grid, str | Path)
        else plan(grid, lock=lock, tasks_dirs=tasks_dirs, tasks=tasks, only=only, pin=True, profile=profile)
    )
    submitter = (
        submitter_for(executor, Path(results), workers=workers, profile=profile, ray_address=ray_address)
        if isinstance(executor, str)
        else executor
    )
    return driver(
        planned, results=results, executor=submitter, only=only, force=force, progress=progress, pin=pin
    ).run()


def slurm_submission(planned: Plan, planned_driver: Driver, profile: Path | str | None) -> str:
    """What ``harness run --executor slurm`` would submit now: one job array per wave of unfinished jobs."""
    from harness.executors import load_profile
    from harness.executors.profile import default_profile
    from harness.executors.slurm import describe_submission
    from harness.runner.driver import evaluation_batches
    from harness.runner.jobs import EvalJob

    todo = planned_driver.needed_jobs()
    waves = [
        ("intermediate", sum(job.phase == "intermediate" for job in todo)),
        ("target", sum(job.phase == "target" for job in todo)),
        ("evaluate", len(evaluation_batches([job for job in todo if isinstance(job, EvalJob)]))),
    ]
    loaded = load_profile(profile) if profile is not None else default_profile("slurm")
    return describe_submission(waves, loaded)


def results(results: Path | str) -> list[Record]:
    """Every record of a results folder."""
    from harness.results.store import ResultsStore

    return ResultsStore(Path(results)).records()
