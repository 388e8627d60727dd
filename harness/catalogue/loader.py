"""Find, include and validate task, group and grid YAML files; the catalogue is their registry."""

from __future__ import annotations

import os
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from typing_extensions import is_typeddict

from harness.catalogue.schema import GridSpec, GroupSpec, TaskSpec
from harness.catalogue.yaml_lines import line_of, load_with_lines
from harness.errors import HarnessError, ValidationErrors, did_you_mean
from harness.kinds.registry import KINDS
from harness.resources import builtin_data_dir, resource_root, task_folders

# the folder holding tasks/ and data/: a checkout's root (tests and benchmarks read it), else the package's copy
REPO_ROOT = resource_root()


def default_data_dir() -> Path:
    env = os.environ.get("HARNESS_DATA_DIR")
    return Path(env) if env else builtin_data_dir()


@dataclass
class Loaded:
    """A validated YAML document and where it came from."""

    spec: TaskSpec | GroupSpec | GridSpec
    path: Path

    def as_task(self) -> TaskSpec:
        if not isinstance(self.spec, TaskSpec):
            raise HarnessError("not a task (a task has 'kind')", file=self.path)
        return self.spec

    def as_group(self) -> GroupSpec:
        if not isinstance(self.spec, GroupSpec):
            raise HarnessError("not a group (a group has 'group')", file=self.path)
        return self.spec

    def as_grid(self) -> GridSpec:
        if not isinstance(self.spec, GridSpec):
            raise HarnessError(
                "not a grid (a grid has 'models', 'intermediate' and 'targets')", file=self.path
            )
        return self.spec


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_with_includes(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict[str, Any], dict, Path]:
    data, lines = load_with_lines(path)
    if not isinstance(data, dict):
        raise HarnessError("expected a mapping at the top level", file=path, line=1)
    include = data.pop("include", None)
    if include is None:
        return data, lines, path
    includes = [include] if isinstance(include, str) else include
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise HarnessError(
            "must be a file name or a list of file names",
            file=path,
            line=lines.get(("include",)),
            field="include",
        )
    merged: dict[str, Any] = {}
    for name in includes:
        target = (path.parent / name).resolve()
        if target in seen:
            raise HarnessError(
                f"include cycle through {name}", file=path, line=lines.get(("include",)), field="include"
            )
        if not target.is_file():
            raise HarnessError(
                f"included file {name!r} not found", file=path, line=lines.get(("include",)), field="include"
            )
        base, _, _ = _read_with_includes(target, (*seen, target))
        merged = _merge(merged, base)
    return _merge(merged, data), lines, path


def _errors_from(exc: ValidationError, model: type[BaseModel], path: Path, lines: dict) -> list[HarnessError]:
    errors = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, loc[:-1])
            message = f"unknown key{did_you_mean(str(loc[-1]), allowed)}"
            errors.append(
                HarnessError(message, file=path, line=line_of(lines, loc), field=dotted, allowed=allowed)
            )
            continue
        if err["type"] == "literal_error":
            message = f"{message} (got {err.get('input')!r})"
        errors.append(HarnessError(message, file=path, line=line_of(lines, loc), field=dotted))
    return errors


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed in the mapping at ``loc``: a model's fields or a TypedDict's keys."""
    owner = _model_at(model, loc)
    if owner is None:
        return []
    if is_typeddict(owner):
        return sorted(owner.__annotations__)
    return sorted(owner.model_fields)


def _model_at(model: type[BaseModel], loc: tuple) -> Any:
    """The pydantic model (or TypedDict) that owns the field at ``loc`` (for the list of allowed keys)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        info = current.model_fields.get(str(part))
        if info is None:
            return None
        current = _unwrap(info.annotation)
    if is_typeddict(current):
        return current
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        inner = _unwrap(arg)
        if inner is not None and isinstance(inner, type):
            return inner
    return annotation


GRID_KEYS = frozenset({"models", "targets", "intermediate", "seeds", "training", "intermediate_training"})


def document_model(data: dict[str, Any]) -> type[TaskSpec] | type[GroupSpec] | type[GridSpec]:
    """Which schema a YAML mapping is written against, from its keys (a grid may name its ``group``)."""
    if "kind" not in data and GRID_KEYS & data.keys():
        return GridSpec
    if "group" in data:
        return GroupSpec
    return TaskSpec


def load_document(path: Path) -> Loaded:
    """Load one YAML file: a task (has ``kind``), a group (has ``group``) or a grid (has ``targets``)."""
    data, lines, path = _read_with_includes(path)
    if not data:
        raise HarnessError(
            "empty file: expected a task (has 'kind'), a group ('group') or a grid ('models', 'targets')",
            file=path,
        )
    model = document_model(data)
    try:
        spec = model.model_validate(data)
    except ValidationError as exc:
        errors = _errors_from(exc, model, path, lines)
        raise ValidationErrors(errors) from None
    if isinstance(spec, TaskSpec) and spec.kind not in KINDS:
        raise HarnessError(
            f"unknown task kind {spec.kind!r}{did_you_mean(spec.kind, KINDS)}",
            file=path,
            line=lines.get(("kind",)),
            field="kind",
            allowed=sorted(KINDS),
        )
    if isinstance(spec, TaskSpec):
        _check_kind_fields(spec, path, lines)
    return Loaded(spec, path)


def _check_metrics(task: TaskSpec, path: Path, lines: dict) -> None:
    """``main_metric`` and ``metrics`` must be keys the kind's scorer returns (else a KeyError after training)."""
    allowed = KINDS[task.kind].metrics
    named: list[tuple[str, tuple[str | int, ...], str]] = [
        (f"metrics.{i}", ("metrics", i), m) for i, m in enumerate(task.metrics)
    ]
    named.append(("main_metric", ("main_metric",), task.metric))
    for field_name, loc, metric in named:
        if metric not in allowed:
            raise HarnessError(
                f"kind {task.kind!r} does not compute metric {metric!r}{did_you_mean(metric, allowed)}",
                file=path,
                line=line_of(lines, loc),
                field=field_name,
                allowed=allowed,
            )


TYPE_WORDS = {int: "an integer", float: "a number", str: "a text", bool: "true or false"}


def allowed_values(annotation: Any) -> list[str]:
    """What a field admits when its type lists values (a ``Literal``, or a union with one); else []."""
    if typing.get_origin(annotation) is typing.Annotated:
        return allowed_values(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) is typing.Literal:
        return [str(a) for a in typing.get_args(annotation)]
    members = [
        typing.get_args(a)[0] if typing.get_origin(a) is typing.Annotated else a
        for a in typing.get_args(annotation)
    ]
    if not any(typing.get_origin(m) is typing.Literal for m in members):
        return []
    values = [value for m in members for value in allowed_values(m)]
    return values + [
        TYPE_WORDS.get(m, getattr(m, "__name__", str(m)))
        for m in members
        if typing.get_origin(m) is not typing.Literal
    ]


def _check_params(task: TaskSpec, path: Path, lines: dict) -> None:
    """``params`` against the kind's typed model: one error per field, with its line and allowed values."""
    model = KINDS[task.kind].params
    try:
        model.model_validate(task.params)
    except ValidationError as exc:
        by_field: dict[str, list[Any]] = {}
        for err in exc.errors():
            by_field.setdefault(str(err["loc"][0]) if err["loc"] else "", []).append(err)
        errors = []
        for name, errs in by_field.items():
            loc = ("params", name) if name else ("params",)
            info = model.model_fields.get(name)
            allowed = allowed_values(info.annotation) if info is not None else sorted(model.model_fields)
            if errs[0]["type"] == "extra_forbidden":
                message = f"kind {task.kind!r} has no parameter {name!r}{did_you_mean(name, allowed)}"
            elif allowed:
                message = f"{errs[0]['input']!r} is not allowed"
            else:
                message = f"{errs[0]['msg'].removeprefix('Value error, ')} (got {errs[0]['input']!r})"
            errors.append(
                HarnessError(
                    message,
                    file=path,
                    line=line_of(lines, loc),
                    field=".".join(loc),
                    allowed=allowed or None,
                )
            )
        raise errors[0] if len(errors) == 1 else ValidationErrors(errors) from None


def _check_kind_fields(task: TaskSpec, path: Path, lines: dict) -> None:
    _check_metrics(task, path, lines)
    _check_params(task, path, lines)
    info = KINDS[task.kind]
    if info.needs_labels and not task.labels:
        raise HarnessError(
            f"kind {task.kind!r} needs a label list", file=path, line=lines.get(()), field="labels"
        )
    if not info.trains and task.train is not None:
        raise HarnessError(
            f"kind {task.kind!r} is not fine-tuned; remove 'train'",
            file=path,
            line=lines.get(("train",)),
            field="train",
        )
    if task.role == "target" and info.trains and task.train is None:
        raise HarnessError(
            "a target of a trained kind needs 'train' (its English training split)",
            file=path,
            line=lines.get(()),
            field="train",
        )


def _is_fragment(path: Path) -> bool:
    """Files named ``_*.yaml`` are include-only fragments, never loaded on their own."""
    return path.name.startswith("_")


PROFILES_FOLDER = "profiles"  # executor profiles (harness/executors/profile.py), not catalogue documents


def is_catalogue_file(path: Path, folder: Path) -> bool:
    """A task, group or grid file of the tasks folder ``folder``: not a fragment, not an executor profile."""
    return not _is_fragment(path) and path.relative_to(folder).parts[0] != PROFILES_FOLDER


@dataclass
class Catalogue:
    """Every task, group and grid under one or more tasks folders, by name.

    Folders are read in order; a later folder's document replaces an earlier one of the same name
    (a user's folder overrides the built-in tasks), while a clash inside one folder is an error."""

    folders: list[Path]
    tasks: dict[str, Loaded] = field(default_factory=dict)
    groups: dict[str, Loaded] = field(default_factory=dict)
    grids: dict[str, Loaded] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.folders[0]

    @classmethod
    def load(cls, root: Path | str | Sequence[Path] | None = None) -> Catalogue:
        """One folder, several (later ones override), or by default the built-in folder, then
        ``$HARNESS_TASKS``'s."""
        if root is None:
            folders = task_folders()
        else:
            folders = [Path(root)] if isinstance(root, (str, os.PathLike)) else [Path(r) for r in root]
        for folder in folders:
            if not folder.is_dir():
                raise HarnessError("tasks folder not found", file=folder)
        cat = cls(folders)
        errors: list[HarnessError] = []
        for folder in folders:
            defined_here: set[tuple[str, str]] = set()
            for path in sorted(folder.rglob("*.yaml")):
                if not is_catalogue_file(path, folder):
                    continue
                try:
                    cat.add(load_document(path), defined_here)
                except ValidationErrors as exc:
                    errors.extend(exc.errors)
                except HarnessError as exc:
                    errors.append(exc)
        errors.extend(cat.cross_check())
        if errors:
            raise errors[0] if len(errors) == 1 else ValidationErrors(errors)
        return cat

    def add(self, loaded: Loaded, defined_here: set[tuple[str, str]] | None = None) -> None:
        """Register a document; ``defined_here`` holds the (table, name)s its folder defined so far."""
        spec = loaded.spec
        kind, table, name = (
            ("task", self.tasks, spec.name)
            if isinstance(spec, TaskSpec)
            else ("group", self.groups, spec.group)
            if isinstance(spec, GroupSpec)
            else ("grid", self.grids, spec.name)
        )
        clash = name in table if defined_here is None else (kind, name) in defined_here
        if clash:
            raise HarnessError(
                f"name {name!r} is already defined in {table[name].path}", file=loaded.path, field="name"
            )
        if defined_here is not None:
            defined_here.add((kind, name))
        table[name] = loaded

    def cross_check(self) -> list[HarnessError]:
        errors = []
        for loaded in self.groups.values():
            errors.extend(self._group_problems(loaded))
        return errors

    def _group_problems(self, loaded: Loaded) -> list[HarnessError]:
        """A group's tasks must be tasks of the catalogue; under ``metric_rule: xtreme`` each must be an
        XTREME task whose main metric is the one the official scorer averages."""
        from harness.scoring.xtreme import official_main_metric

        group = loaded.as_group()
        _, lines = load_with_lines(loaded.path)
        errors = []

        def problem(i: int, message: str) -> HarnessError:
            return HarnessError(
                message, file=loaded.path, line=line_of(lines, ("tasks", i)), field=f"tasks.{i}"
            )

        for i, name in enumerate(group.tasks):
            if name not in self.tasks:
                errors.append(problem(i, f"group names {self._unknown_task(name)}"))
                continue
            if group.metric_rule != "xtreme":
                continue
            official = official_main_metric(name)
            metric = self.task(name).metric
            if official is None:
                errors.append(problem(i, f"metric_rule xtreme: {name!r} is not an XTREME task"))
            elif metric != official:
                errors.append(
                    problem(
                        i,
                        f"metric_rule xtreme: task {name!r} has main metric {metric!r}, but the official "
                        f"scorer averages {official!r}",
                    )
                )
        return errors

    def task(self, name: str) -> TaskSpec:
        try:
            return self.tasks[name].as_task()
        except KeyError:
            raise HarnessError(
                f"unknown task {name!r}{did_you_mean(name, self.tasks)}", allowed=sorted(self.tasks)
            ) from None

    def _unknown_task(self, name: str) -> str:
        if name in self.grids or name in self.groups:
            what = "grid" if name in self.grids else "group"
            return f"{name!r} is a {what}, not a task{did_you_mean(name, self.tasks)}"
        return f"unknown task {name!r}{did_you_mean(name, self.tasks)}"

    def task_path(self, name: str) -> Path:
        return self.tasks[name].path

    def grid(self, name_or_path: str) -> tuple[GridSpec, Path]:
        """A grid by file path or by name."""
        path = Path(name_or_path)
        if path.suffix in {".yaml", ".yml"} or path.exists():
            if not path.is_file():
                raise HarnessError("grid file not found", file=path)
            data, _, _ = _read_with_includes(path)
            if data and document_model(data) is not GridSpec:
                raise HarnessError(
                    "not a grid (a grid has 'models', 'intermediate' and 'targets')", file=path
                )
            grid = load_document(path).as_grid()
        elif name_or_path in self.grids:
            loaded = self.grids[name_or_path]
            grid, path = loaded.as_grid(), loaded.path
        else:
            raise HarnessError(f"unknown grid {name_or_path!r}", allowed=sorted(self.grids))
        self.check_grid(grid, path)
        return grid, path

    def check_grid(self, grid: GridSpec, path: Path) -> None:
        _, lines = load_with_lines(path)
        for i, model in enumerate(grid.models):
            if (
                not model.source.startswith(("embedded:", "hub:"))
                and not Path(model.source).expanduser().exists()
            ):
                raise HarnessError(
                    f"model path {model.source!r} does not exist (use a folder, hub:ORG/NAME[@REV] or embedded:NAME)",
                    file=path,
                    line=line_of(lines, ("models", i, "source")),
                    field=f"models.{i}.source",
                )
        if grid.group is not None and grid.group not in self.groups:
            raise HarnessError(
                f"unknown group {grid.group!r}{did_you_mean(grid.group, self.groups)}",
                file=path,
                line=line_of(lines, ("group",)),
                field="group",
                allowed=sorted(self.groups),
            )
        for i, name in enumerate(grid.targets):
            if name not in self.tasks:
                raise HarnessError(
                    self._unknown_task(name),
                    file=path,
                    line=line_of(lines, ("targets", i)),
                    field=f"targets.{i}",
                )
        for i, cond in enumerate(grid.intermediate):
            if cond.task is None:
                continue
            if cond.task not in self.tasks:
                raise HarnessError(
                    self._unknown_task(cond.task),
                    file=path,
                    line=line_of(lines, ("intermediate", i, "task")),
                    field=f"intermediate.{i}.task",
                )
            task = self.task(cond.task)
            for lang in cond.languages:
                if lang in task.languages:
                    continue
                raise HarnessError(
                    f"task {task.name!r} has no source language {lang!r}",
                    file=path,
                    line=line_of(lines, ("intermediate", i, "source_lang")),
                    field=f"intermediate.{i}.source_lang",
                    allowed=task.languages,
                )
