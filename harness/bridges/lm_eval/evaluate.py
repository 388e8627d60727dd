"""``harness eval-lm``: lm-eval in process on the exported tasks, each imported as soon as it finishes.

For every task: a run key (model, revision, shots, few-shot seed, limit, generation settings, dtype,
backend, lm-eval version, the task YAML's and data's hashes) is compared with the ``settings.run_key`` of
the checkpoint's stored records; a task already imported under that key is skipped. Otherwise
``lm_eval.simple_evaluate`` runs it (``log_samples=True``), lm-eval's own files (results JSON and samples
JSONL, written by its ``EvaluationTracker``) are moved into ``<results>/lm-eval/runs/<name>/`` (samples
first, the results file last, each by an atomic rename), and the task is imported at once. A kill loses
at most the running task; the same command again runs only what is missing.

Weights load from safetensors only and remote code stays off unless asked for.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import importlib.util
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness.bridges.lm_eval.export import ExportedTask, export_lm_eval
from harness.bridges.lm_eval.importer import ImportReport, import_results_file, stored_run_keys
from harness.bridges.lm_eval.naming import META_KEY, PREFIX, HarnessMeta, safe
from harness.catalogue.names import checked_name
from harness.errors import HarnessError

BACKENDS = ("hf", "vllm")
FEWSHOT_SEED = 1234  # lm-eval's default few-shot seed


@dataclass(frozen=True)
class TaskOutcome:
    task: str
    status: str  # "ran" or "done" (imported earlier under the same run key)
    main_metric: str | None = None
    main_score: float | None = None
    n_examples: int | None = None
    wall_s: float = 0.0


@dataclass
class EvalLmRun:
    name: str
    tasks_folder: Path
    runs_folder: Path
    outcomes: list[TaskOutcome] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def ran(self) -> list[TaskOutcome]:
        return [o for o in self.outcomes if o.status == "ran"]

    @property
    def done(self) -> list[TaskOutcome]:
        return [o for o in self.outcomes if o.status == "done"]


class _YamlLoader(yaml.SafeLoader):
    """lm-eval task YAMLs: ``!function module.name`` read as its text (the YAML is only inspected)."""


_YamlLoader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YamlLoader)  # noqa: S506 (safe subclass)
    except yaml.YAMLError as exc:
        raise HarnessError(f"not valid YAML: {exc}", file=path) from None
    if not isinstance(data, dict):
        return {}
    include = data.get("include")
    if isinstance(include, str) and (path.parent / include).is_file():
        return _read_yaml(path.parent / include) | {k: v for k, v in data.items() if k != "include"}
    return data


def folder_tasks(folder: Path, patterns: Sequence[str] = ()) -> list[ExportedTask]:
    """The harness tasks of an exported lm-eval task folder (YAMLs with ``metadata.harness``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise HarnessError("lm-eval task folder does not exist", file=folder)
    tasks, names = [], []
    for path in sorted(folder.rglob("*.yaml")):
        data = _read_yaml(path)
        metadata = data.get("metadata")
        raw = metadata.get(META_KEY) if isinstance(metadata, dict) else None
        if not isinstance(data.get("task"), str) or raw is None:
            continue
        try:
            meta = HarnessMeta.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise HarnessError(f"metadata.harness: {first['msg']}", file=path, field=where) from None
        names.append(data["task"])
        if patterns and not any(fnmatch.fnmatchcase(data["task"], p) for p in patterns):
            continue
        tasks.append(ExportedTask(data["task"], meta, path))
    if not tasks:
        raise HarnessError(
            "no exported harness task (a YAML with metadata.harness) matches --tasks",
            file=folder,
            field="--tasks",
            allowed=names,
        )
    return tasks


def exported_tasks(
    catalogue: Any, out_dir: Path, *, patterns: Sequence[str], shots: int, data_dir: Path | None
) -> list[ExportedTask]:
    """Export the tasks ``patterns`` name into ``out_dir``: a pattern is a target (``xnli``, ``sib*``) or
    an exported task (``xh_xnli_letters_*``). With a task pattern every target is exported, then the tasks
    are narrowed to those a pattern names."""
    task_patterns = [p for p in patterns if p.startswith(f"{PREFIX}_")]
    target_patterns = [p for p in patterns if not p.startswith(f"{PREFIX}_")]
    exported = tuple(target_patterns)
    if task_patterns:  # only the targets whose tasks the patterns can name (each one read costs a download)
        exported += tuple(_targets_named_by(catalogue, task_patterns)) or tuple(task_patterns)
    result = export_lm_eval(catalogue, out_dir, patterns=exported, shots=shots, data_dir=data_dir)
    tasks = [t for t in result.tasks]
    if task_patterns:
        tasks = [
            t
            for t in tasks
            if any(fnmatch.fnmatchcase(t.name, p) for p in task_patterns)
            or any(fnmatch.fnmatchcase(t.meta.task, p) for p in target_patterns)
        ]
    if not tasks:
        raise HarnessError(
            "no exported task matches --tasks (with data on this machine)",
            field="--tasks",
            allowed=[t.name for t in result.tasks][:20],
        )
    return tasks


def _targets_named_by(catalogue: Any, task_patterns: Sequence[str]) -> list[str]:
    """The targets an exported-task pattern can match: its text before the first wildcard must agree
    with the target's ``xh_<target>_`` prefix (every task name of the target starts with it)."""
    from harness.catalogue.schema import TaskSpec

    names = [
        name
        for name, entry in catalogue.tasks.items()
        if isinstance(entry.spec, TaskSpec) and entry.spec.role == "target"
    ]
    literal = [re.split(r"[*?\[]", p, maxsplit=1)[0] for p in task_patterns]
    out = []
    for name in sorted(names):
        prefix = f"{PREFIX}_{safe(name)}_"
        if any(prefix.startswith(lit) or lit.startswith(prefix) for lit in literal):
            out.append(name)
    return out


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_key(task: ExportedTask, settings: dict[str, Any]) -> str:
    """What decides a task's result before it runs: the settings and the task's own files."""
    parts = settings | {
        "task": task.name,
        "yaml_sha256": _file_sha256(task.yaml_path),
        "data_sha256": task.meta.data_sha256,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def model_reference(model: str) -> str:
    """A local folder as an absolute path (so the record points at it), else the hub id as given."""
    path = Path(model).expanduser()
    if model.startswith("hub:"):
        return model.removeprefix("hub:")
    if path.exists():
        if not path.is_dir():
            raise HarnessError("a model is a folder or a hub id ORG/NAME", file=path)
        return str(path.resolve())
    if model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise HarnessError("model folder does not exist (give a folder or a hub id ORG/NAME)", file=path)
    return model


def _check_weights(model: str, allow_pickle: bool) -> None:
    folder = Path(model)
    if allow_pickle or not folder.is_dir():
        return
    if not any(folder.glob("*.safetensors")):
        raise HarnessError(
            "no safetensors weights in the model folder (pickle weights need --allow-pickle)", file=folder
        )


def build_lm(
    model: str,
    *,
    backend: str,
    revision: str | None,
    device: str | None,
    dtype: str,
    batch_size: int | str,
    trust_remote_code: bool,
    allow_pickle: bool,
) -> Any:
    """The lm-eval model object, built once for all tasks."""
    if backend == "vllm":
        if importlib.util.find_spec("vllm") is None:
            raise HarnessError("--backend vllm needs the vllm package (pip install vllm)", field="--backend")
        from lm_eval.models.vllm_causallms import VLLM  # type: ignore[import-untyped]

        return VLLM(
            pretrained=model,
            revision=revision,
            dtype=dtype,
            batch_size=batch_size,
            trust_remote_code=trust_remote_code,
        )
    if backend != "hf":
        raise HarnessError(f"unknown backend {backend!r}", field="--backend", allowed=BACKENDS)
    _check_weights(model, allow_pickle)
    from lm_eval.models.huggingface import HFLM  # type: ignore[import-untyped]

    kwargs: dict[str, Any] = {} if allow_pickle else {"use_safetensors": True}
    try:
        return HFLM(
            pretrained=model,
            revision=revision or "main",
            device=device or _default_device(),
            dtype=dtype,
            batch_size=batch_size,
            trust_remote_code=trust_remote_code,
            **kwargs,
        )
    except OSError as exc:  # a hub id that cannot be fetched, a folder without a config
        raise HarnessError(f"cannot load the model: {str(exc).splitlines()[0]}", file=model) from None


def _task_manager(folder: Path, names: Sequence[str]) -> Any:
    """lm-eval's task index of the exported folder alone (indexing lm-eval's own thousands of task
    YAMLs takes half a minute); with them only when an exported task needs one of theirs."""
    from lm_eval.tasks import TaskManager  # type: ignore[import-untyped]

    manager = TaskManager(include_path=str(folder.resolve()), include_defaults=False)
    if all(name in manager.all_tasks for name in names):
        return manager
    return TaskManager(include_path=str(folder.resolve()))


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def lm_eval_version() -> str:
    from importlib.metadata import version

    return version("lm_eval")


@contextlib.contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """lm-eval's progress bars, per-request warnings and the ``git describe`` it runs in the working
    directory write to the process's stderr: into ``path`` instead, so the terminal shows one line per task."""
    import sys

    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("a", encoding="utf-8") as log:
        os.dup2(log.fileno(), 2)
        try:
            with contextlib.redirect_stderr(log):  # when sys.stderr is not fd 2 (pytest, notebooks)
                yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


@contextlib.contextmanager
def _staging(runs: Path) -> Iterator[Path]:
    runs.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".staging-", dir=runs))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def evaluate_task(
    lm: Any,
    task: ExportedTask,
    task_manager: Any,
    runs: Path,
    *,
    model_args: dict[str, Any],
    backend: str,
    shots: int,
    fewshot_seed: int,
    limit: int | None,
    gen_kwargs: dict[str, Any] | None,
    batch_size: int | str,
    device: str | None,
    quiet: bool = True,
) -> Path:
    """Run one task with ``lm_eval.simple_evaluate`` and keep lm-eval's files; returns the results JSON."""
    import lm_eval  # type: ignore[import-untyped]
    from lm_eval.loggers import EvaluationTracker  # type: ignore[import-untyped]

    tracker = EvaluationTracker()  # started before the run: it times it
    # the exported YAML says how many shots; lm-eval warns when told the same number again
    fixed = _read_yaml(task.yaml_path).get("num_fewshot")
    log = runs / "logs" / f"{task.name}.log"
    try:
        with _stderr_to(log) if quiet else contextlib.nullcontext():
            results = lm_eval.simple_evaluate(
                model=lm,
                model_args=model_args,
                tasks=[task.name],
                task_manager=task_manager,
                num_fewshot=None if fixed == shots else shots,
                fewshot_random_seed=fewshot_seed,
                log_samples=True,
                limit=limit,
                gen_kwargs=gen_kwargs,
                batch_size=batch_size,
                device=device,
                bootstrap_iters=0,  # lm-eval's stderr; the harness bootstraps from the per-example rows
            )
    except (AssertionError, ValueError) as exc:  # lm-eval's checks of the model against the task
        where = f" (lm-eval's output: {log})" if quiet else ""
        raise HarnessError(f"{task.name}: lm-eval stopped: {exc}{where}", file=task.yaml_path) from None
    if results is None or task.name not in results.get("results", {}):
        raise HarnessError(f"{task.name}: lm-eval returned no results", file=task.yaml_path)
    if int(results.get("n-shot", {}).get(task.name, shots)) != shots:
        raise HarnessError(
            f"{task.name}: ran {results['n-shot'][task.name]}-shot, not {shots} (the task YAML fixes "
            "num_fewshot; export it again with --shots)",
            file=task.yaml_path,
        )
    samples = results.pop("samples")
    with _staging(runs) as staging:
        tracker.output_path = str(staging)
        tracker.general_config_tracker.log_experiment_args(
            model_source=backend,
            model_args=model_args,
            system_instruction=None,
            chat_template=None,
            fewshot_as_multiturn=False,
        )
        tracker.save_results_aggregated(results=results, samples=samples)
        tracker.save_results_samples(task_name=task.name, samples=samples[task.name])
        written = {p.name: p for p in staging.rglob("*.json*")}
        results_file = next((p for n, p in written.items() if n.startswith("results_")), None)
        samples_file = next((p for n, p in written.items() if n.startswith("samples_")), None)
        if results_file is None or samples_file is None:
            raise HarnessError("lm-eval did not write its results and samples files", file=staging)
        final = runs / results_file.parent.relative_to(staging)
        final.mkdir(parents=True, exist_ok=True)
        os.replace(samples_file, final / samples_file.name)  # samples first: a results file means complete
        os.replace(results_file, final / results_file.name)
    return final / results_file.name


def eval_lm(
    model: str,
    *,
    name: str,
    results: Path,
    tasks: Sequence[ExportedTask],
    tasks_folder: Path,
    shots: int = 0,
    batch_size: int | str = 1,
    device: str | None = None,
    dtype: str = "auto",
    limit: int | None = None,
    backend: str = "hf",
    revision: str | None = None,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
    fewshot_seed: int = FEWSHOT_SEED,
    gen_kwargs: dict[str, Any] | None = None,
    code_version: str | None = None,
    on_task: Callable[[TaskOutcome], None] | None = None,
    quiet: bool = True,
) -> EvalLmRun:
    """Evaluate ``model`` on ``tasks`` (already exported into ``tasks_folder``), resumably."""
    checked_name(name, field="--name")
    if importlib.util.find_spec("lm_eval") is None:
        raise HarnessError(
            "harness eval-lm needs lm-eval, which is not installed: pip install 'xtreme-harness[lm]'"
        )
    if backend not in BACKENDS:
        raise HarnessError(f"unknown backend {backend!r}", field="--backend", allowed=BACKENDS)
    if shots < 0:
        raise HarnessError("--shots must be 0 or more", field="--shots")
    if limit is not None and limit < 1:
        raise HarnessError("--limit must be 1 or more", field="--limit")
    began = time.perf_counter()
    reference = model_reference(model)
    if device is None and backend == "hf":
        device = _default_device()
    runs = Path(results) / "lm-eval" / "runs" / name
    run = EvalLmRun(name, Path(tasks_folder), runs)
    settings = {
        "model": reference,
        "revision": revision,
        "shots": shots,
        "fewshot_seed": fewshot_seed,
        "limit": limit,
        "gen_kwargs": gen_kwargs,
        "dtype": dtype,
        "backend": backend,
        "lm_eval_version": lm_eval_version(),
    }
    done = stored_run_keys(Path(results), name)
    model_args: dict[str, Any] = {"pretrained": reference, "dtype": dtype}
    if revision:
        model_args["revision"] = revision
    lm: Any = None
    task_manager: Any = None
    for task in tasks:
        key = run_key(task, settings)
        if key in done:
            outcome = TaskOutcome(task.name, "done")
        else:
            started = time.perf_counter()
            if lm is None:
                with _stderr_to(runs / "logs" / "model.log") if quiet else contextlib.nullcontext():
                    lm = build_lm(
                        reference,
                        backend=backend,
                        revision=revision,
                        device=device,
                        dtype=dtype,
                        batch_size=batch_size,
                        trust_remote_code=trust_remote_code,
                        allow_pickle=allow_pickle,
                    )
                task_manager = _task_manager(Path(tasks_folder), [t.name for t in tasks])
            results_file = evaluate_task(
                lm,
                task,
                task_manager,
                runs,
                model_args=model_args,
                backend=backend,
                shots=shots,
                fewshot_seed=fewshot_seed,
                limit=limit,
                gen_kwargs=gen_kwargs,
                batch_size=batch_size,
                device=device,
                quiet=quiet,
            )
            report: ImportReport = import_results_file(
                results_file,
                Path(results),
                name=name,
                tasks=[task.name],
                code_version=code_version,
                extra_provenance={"backend": backend, "eval_lm": True},
                run_key=key,
            )
            if not report.records:
                raise HarnessError(f"{task.name}: nothing imported", file=results_file)
            record = report.records[0]
            outcome = TaskOutcome(
                task.name,
                "ran",
                record.main_metric,
                record.main_score,
                record.n_examples,
                time.perf_counter() - started,
            )
        run.outcomes.append(outcome)
        if on_task is not None:
            on_task(outcome)
    run.wall_s = time.perf_counter() - began
    return run
