"""Intermediate conditions → intermediate jobs: one task, a multi-task mixture, or an outside checkpoint.

Checked here, at plan time, with one error naming the grid file, line and field (exit 2):

- a source language the intermediate dataset does not declare (``intermediate[i].tasks[j].source_lang``);
- a size-matched pair (``matched_with``) whose sides train with different settings, so they would not
  take the same number of optimisation steps (equal ``size`` is checked by the grid schema);
- a ``size`` larger than the data where the data is on this machine (local files, builtin sources;
  their row counts are cached by data fingerprint); hub-only data is checked when the job runs;
- tasks sharing a ``head`` with different kinds or label sets; a ``source_type`` that contradicts the
  languages of the supervised tasks.

A training job whose data has no source on this machine (local-only data such as CCGbank that is
absent) is still planned — with an ``unavailable:`` data identity — and reported as blocked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

from harness.catalogue.loader import Catalogue
from harness.catalogue.schema import GridSpec, IntermediateSpec, ModelSpec, TaskSpec
from harness.catalogue.yaml_lines import line_of, load_with_lines
from harness.errors import HarnessError
from harness.training.source_mix import MIX_RULE

MASKED_LM = "masked_lm"
COUNT_CACHE = "row_counts.json"


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def effective_source_lang(cond: IntermediateSpec, catalogue: Catalogue) -> str | None:
    """The source language on records: ``source_lang`` when given; for a mixture the one language of its
    supervised (non-masked-LM) tasks, else ``mul`` (several)."""
    if cond.source_lang or not cond.is_multitask:
        return cond.record_lang
    langs = supervised_languages(cond, catalogue)
    return langs[0] if len(langs) == 1 else "mul"


def supervised_languages(cond: IntermediateSpec, catalogue: Catalogue) -> list[str]:
    langs: set[str] = set()
    for item in cond.tasks or []:
        if catalogue.task(item.task).kind != MASKED_LM:
            langs.update(item.languages)
    return sorted(langs)


class ConditionPlanner:
    def __init__(self, grid: GridSpec, grid_path: Path, catalogue: Catalogue) -> None:
        self.grid = grid
        self.grid_path = grid_path
        self.catalogue = catalogue
        self.lines = load_with_lines(grid_path)[1] if Path(grid_path).is_file() else {}

    # ---- errors and identities ----------------------------------------------------------------
    def error(self, message: str, *loc: Any, allowed: list[str] | None = None) -> HarnessError:
        return HarnessError(
            message, file=self.grid_path, line=line_of(self.lines, loc), field=_dotted(loc), allowed=allowed
        )

    def base_dir(self, task: TaskSpec) -> Path:
        return self.catalogue.task_path(task.name).parent

    def train_identity(self, task: TaskSpec, lang: str) -> tuple[str, str | None]:
        """The data identity of ``task``'s training split in ``lang``, or an ``unavailable:`` identity and
        the reason when no source (local files, hub id, builtin) can serve it here."""
        from harness.data.loaders import data_identity

        assert task.train is not None
        try:
            ident = data_identity(
                task,
                task.train.split,
                lang,
                self.base_dir(task),
                dataset=task.train.dataset,
                limit=task.train.limit,
            )
            return ident, None
        except HarnessError as exc:
            return "unavailable:" + hashlib.sha256(exc.message.encode()).hexdigest(), exc.message

    def target_train_identity(self, target: TaskSpec, index: int) -> str:
        from harness.data.loaders import data_identity

        assert target.train is not None
        ref = target.train
        try:
            return data_identity(
                target, ref.split, ref.language, self.base_dir(target), dataset=ref.dataset, limit=ref.limit
            )
        except HarnessError as exc:
            raise self.error(
                f"target {target.name!r} has no training data on this machine or the hub: {exc.message}",
                "targets",
                index,
            ) from None

    # ---- checks ------------------------------------------------------------------------------
    def check(self, model: ModelSpec) -> None:
        from harness.runner.plan import hyperparameters

        by_name = {c.name: c for c in self.grid.intermediate}
        for i, cond in enumerate(self.grid.intermediate):
            if cond.tasks is not None:
                self._check_mixture(i, cond)
            if cond.matched_with:
                other = by_name[cond.matched_with]
                if not (cond.trains and other.trains):
                    raise self.error("both sides of a size-matched pair must train a task", "intermediate", i)
                mine = self._settings(cond, model, hyperparameters)
                theirs = self._settings(other, model, hyperparameters)
                differ = sorted(k for k in mine if mine[k] != theirs.get(k))
                if differ:
                    raise self.error(
                        f"size-matched with {other.name!r} but trained with other settings ({', '.join(differ)}: "
                        f"{[mine[k] for k in differ]} vs {[theirs.get(k) for k in differ]}), so the two sides "
                        "would not take the same number of optimisation steps",
                        "intermediate",
                        i,
                        "matched_with",
                    )

    def _settings(self, cond: IntermediateSpec, model: ModelSpec, hyperparameters: Any) -> dict[str, Any]:
        first = cond.task if cond.task else (cond.tasks or [])[0].task
        return hyperparameters(
            self.catalogue.task(first), self.grid.intermediate_training, model
        ).model_dump()

    def _check_mixture(self, i: int, cond: IntermediateSpec) -> None:
        heads: dict[str, TaskSpec] = {}
        for j, item in enumerate(cond.tasks or []):
            if item.task not in self.catalogue.tasks:
                raise self.error(
                    f"unknown task {item.task!r}",
                    "intermediate",
                    i,
                    "tasks",
                    j,
                    "task",
                    allowed=sorted(self.catalogue.tasks),
                )
            task = self.catalogue.task(item.task)
            if task.train is None:
                raise self.error(
                    f"task {task.name!r} has no 'train' split", "intermediate", i, "tasks", j, "task"
                )
            for lang in item.languages:
                if lang not in task.languages:
                    raise self.error(
                        f"task {task.name!r} has no source language {lang!r}",
                        "intermediate",
                        i,
                        "tasks",
                        j,
                        "source_lang",
                        allowed=task.languages,
                    )
            head = item.head or task.name
            shared = heads.setdefault(head, task)
            if (shared.kind, shared.labels) != (task.kind, task.labels):
                raise self.error(
                    f"head {head!r} is shared by {shared.name!r} ({shared.kind}) and {task.name!r} ({task.kind}) "
                    "with different kinds or label sets",
                    "intermediate",
                    i,
                    "tasks",
                    j,
                    "head",
                )
        english = supervised_languages(cond, self.catalogue) in ([], ["en"])
        if english != (cond.source_type == "english"):
            raise self.error(
                f"source_type {cond.source_type!r} does not fit the supervised tasks' languages "
                f"{supervised_languages(cond, self.catalogue)} ('english' exactly when they are all 'en')",
                "intermediate",
                i,
                "source_type",
            )

    def check_size(self, task: TaskSpec, lang: str, size: int | None, *loc: Any) -> None:
        if size is None:
            return
        available = local_row_count(task, lang, self.base_dir(task))
        if available is not None and available < size:
            raise self.error(
                f"asked for {size} examples of {task.name!r} in {lang!r}, but the data on this machine "
                f"has {available}",
                *loc,
            )

    # ---- jobs -------------------------------------------------------------------------------
    def dev_identities(self, task: TaskSpec, languages: list[str]) -> list[str]:
        """Fingerprints of the declared dev split in each language (an ``unavailable:`` one where this
        machine cannot read it: training then goes on without a learning status)."""
        from harness.data.loaders import data_identity

        if task.dev is None:
            return []
        out = []
        for lang in languages:
            try:
                ident = data_identity(
                    task,
                    task.dev.split,
                    lang,
                    self.base_dir(task),
                    dataset=task.dev.dataset,
                    limit=task.dev.limit,
                )
            except HarnessError as exc:
                ident = "unavailable:" + hashlib.sha256(exc.message.encode()).hexdigest()
            out.append(ident)
        return out

    def task_ref(self, task: TaskSpec) -> Any:
        from harness.runner.jobs import TaskRef

        return TaskRef(spec=task, task_dir=str(self.base_dir(task)))

    def intermediate_job(
        self, model: ModelSpec, base: Any, index: int, root_lineage: list[dict[str, Any]], seed: int
    ) -> tuple[Any, str | None]:
        """The intermediate job of condition ``index`` (its lineage ends with its own step, without the
        key) and why it is blocked (or None)."""
        from harness.runner.jobs import MixtureJob, MixtureMemberJob, TrainJob
        from harness.runner.plan import hyperparameters, matched_max_steps

        cond = self.grid.intermediate[index]
        name = f"{model.name}+{cond.name}"
        root = base.key
        if cond.tasks is None:
            task = self.catalogue.task(cond.task or "")
            assert task.train is not None and cond.source_lang is not None
            idents, reason = [], None
            for lang in cond.languages:
                ident, why = self.train_identity(task, lang)
                idents.append(ident)
                if why is None:
                    self.check_size(task, lang, cond.size, "intermediate", index, "size")
                reason = reason or (f"{lang}: {why}" if why and cond.is_mix else why)
            hp = hyperparameters(task, self.grid.intermediate_training, model)
            step: dict[str, Any] = {
                "phase": "intermediate",
                "name": name,
                "task": task.name,
                "source_lang": cond.record_lang,
            }
            if cond.is_mix:
                step["languages"] = cond.languages
            single = TrainJob(
                base=base,
                condition=cond.name,
                seed=seed,
                parent=root,
                phase="intermediate",
                task_ref=self.task_ref(task),
                languages=cond.languages,
                size=cond.size,
                size_field=f"intermediate[{index}].size",
                # the rule that gives each item its language is part of what is trained on
                mix_rule=MIX_RULE if cond.is_mix else None,
                train_data=idents,
                dev_data=self.dev_identities(task, cond.languages),
                hyperparameters=matched_max_steps(self.grid, cond, hp),
                selection="last",  # intermediate training keeps its last step
                lineage=[*root_lineage, {**step, "seed": seed}],
                grid_file=str(self.grid_path),
            )
            return single, reason
        members, reasons = [], []
        for j, item in enumerate(cond.tasks):
            task = self.catalogue.task(item.task)
            idents = []
            for lang in item.languages:
                ident, why = self.train_identity(task, lang)
                idents.append(ident)
                if why:
                    reasons.append(f"{task.name}/{lang}: {why}")
                elif len(item.languages) == 1:
                    self.check_size(task, lang, item.size, "intermediate", index, "tasks", j, "size")
            members.append(
                MixtureMemberJob(
                    task_ref=self.task_ref(task),
                    languages=item.languages,
                    size=item.size,
                    size_field=f"intermediate[{index}].tasks[{j}].size",
                    head=item.head or task.name,
                    train_data=idents,
                    dev_data=self.dev_identities(task, item.languages),
                    hyperparameters=hyperparameters(task, self.grid.intermediate_training, model),
                )
            )
        first = self.catalogue.task(cond.tasks[0].task)
        label = "+".join(item.task for item in cond.tasks)
        step = {
            "phase": "intermediate",
            "name": name,
            "task": label,
            "tasks": [
                {"task": m.task_ref.spec.name, "source_lang": m.languages, "size": m.size} for m in members
            ],
            "sampling": cond.sampling,
            "source_lang": effective_source_lang(cond, self.catalogue),
        }
        mixture = MixtureJob(
            base=base,
            condition=cond.name,
            seed=seed,
            parent=root,
            members=members,
            sampling=cond.sampling,
            temperature=cond.temperature if cond.sampling == "temperature" else None,
            hyperparameters=hyperparameters(first, self.grid.intermediate_training, model),
            lineage=[*root_lineage, {**step, "seed": seed}],
            grid_file=str(self.grid_path),
        )
        return mixture, "; ".join(reasons) or None

    def pretrained_step(self, model: ModelSpec, cond: IntermediateSpec, root: str) -> dict[str, Any]:
        """The lineage of a checkpoint trained outside: its source *is* the intermediate checkpoint."""
        return {
            "phase": "intermediate" if cond.task else "base",
            "key": root,
            "name": model.name,
            "source": model.source,
            "task": cond.task,
            "source_lang": cond.record_lang,
            "external": True,
        }


# ---- row counts of local data, cached by data identity -----------------------------------------
def _count_cache_path() -> Path:
    from harness.cache_dir import default_cache_dir

    return default_cache_dir() / COUNT_CACHE


def local_row_count(task: TaskSpec, lang: str, base_dir: Path) -> int | None:
    """Rows of ``task``'s training split in ``lang`` when its data is on this machine, else None."""
    from harness.data.loaders import data_identity, load_rows, plan_source
    from harness.results.atomic import atomic_write_json

    assert task.train is not None
    dataset = task.train.dataset or task.dataset
    source = plan_source(dataset, task.train.split, lang, base_dir, task)
    if source.origin not in ("local", "builtin"):
        return None
    ident = data_identity(
        task, task.train.split, lang, base_dir, dataset=task.train.dataset, limit=task.train.limit
    )
    path = _count_cache_path()
    try:
        counts = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        counts = {}
    if ident not in counts:
        rows = load_rows(
            task,
            split=task.train.split,
            language=lang,
            base_dir=base_dir,
            dataset=task.train.dataset,
            limit=task.train.limit,
        )
        counts[ident] = len(rows)
        with contextlib.suppress(OSError):  # a read-only cache only costs a recount
            atomic_write_json(path, counts)
    return int(counts[ident])
