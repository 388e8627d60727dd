"""Runs a plan's jobs: trains checkpoints, evaluates them, writes records. Resumable at any point.

A training job is complete when its checkpoint folder (built aside, then renamed into place) exists;
an evaluation job when its record exists. Both are written atomically, so a run killed at any moment
resumes with nothing lost or duplicated.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import datasets
import torch

from harness.catalogue.loader import Catalogue
from harness.catalogue.schema import GridSpec, TaskSpec
from harness.data.cache import TOKENIZER_FILES, FeatureCache, tokenizer_fingerprint
from harness.data.loaders import RowSet, load_rows
from harness.errors import HarnessError
from harness.kinds.registry import get_kind
from harness.models.frozen_prefix import frozen_prefix_cache
from harness.models.loading import attention_dropout_override, load_tokenizer
from harness.models.lockfile import JOB_FILE, Lineage, Lock
from harness.models.sources import resolve_model
from harness.results.atomic import atomic_publish_dir, atomic_write_json, clean_stale_temps
from harness.results.schema import BaselineInfo, CheckpointInfo, LineageStep, Record, SplitInfo, TaskInfo
from harness.results.store import ResultsStore
from harness.runner.conditions import effective_source_lang
from harness.runner.environment import code_version, hardware
from harness.runner.executor import Executor, LocalExecutor
from harness.runner.plan import Job, Plan, eval_limit, hyperparameters
from harness.runner.precision import check_precision
from harness.runner.progress import JobProgress
from harness.training.dev_split import DevSplit, declared_dev, held_out_dev
from harness.training.finetune import finetune, planned_steps
from harness.training.learning import (
    DevScorer,
    dev_scorer,
    kept_learning,
    learning_summary,
    not_trained,
    worst_of,
)
from harness.training.multitask import MixtureMember, collator_for, prepare_rows, train_multitask
from harness.training.source_mix import mix_rows

log = logging.getLogger("harness.runner")

KILL_AFTER_ENV = "HARNESS_TEST_KILL_AFTER_JOBS"  # test hook: SIGKILL this process after N completed jobs


@dataclass
class RunReport:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    wall_time_s: float = 0.0


def select_by_size(
    rows: datasets.Dataset,
    size: int | None,
    what: str,
    *,
    auto_id_prefix: str | None = None,
    file: Path | None = None,
    field: str = "intermediate.size",
) -> datasets.Dataset:
    """The first ``size`` items in a fixed hash order of their ids: the same items in every language.

    Rows without ids of their own get ``<split>-<lang>-<i>``; ``auto_id_prefix`` (that ``<split>-<lang>-``)
    is dropped before hashing, so line-aligned translations (XNLI-MT, PAWS-X) select the same items too."""
    if size is None:
        return rows
    if size > len(rows):
        raise HarnessError(
            f"{what}: asked for {size} examples but the data has {len(rows)}", file=file, field=field
        )

    def order_key(i: int) -> str:
        ident = str(rows[i]["id"])
        if auto_id_prefix and ident.startswith(auto_id_prefix):
            ident = ident[len(auto_id_prefix) :]
        return hashlib.sha1(ident.encode()).hexdigest()

    order = sorted(range(len(rows)), key=order_key)
    return rows.select(sorted(order[:size]))


def pin_base_models(grid: GridSpec, lock: Lock) -> dict[str, Path]:
    """Resolve every base model, verify its pin or pin it on first use. Run this before ``expand``:
    a base model's cache key is the digest of its pinned files."""
    folders = {}
    for spec in grid.models:
        resolved = resolve_model(spec)
        if spec.name in lock.entries:
            lock.verify(spec.name, resolved.folder)
        else:
            lock.pin(
                spec.name,
                resolved.folder,
                spec.source,
                revision=resolved.revision,
                note="pinned on first use by harness run",
            )
            log.info("pinned %s in %s", spec.name, lock.path)
        folders[spec.name] = resolved.folder
    return folders


def label_selected(label: str, only: str | None) -> bool:
    return only is None or fnmatch.fnmatch(label, f"*{only}*")


def check_only(plan: Plan, only: str | None) -> None:
    """``--only`` must select a job: a typo would otherwise run nothing and exit 0."""
    labels = sorted({job.label for job in plan.jobs})
    if only is None or any(label_selected(label, only) for label in labels):
        return
    closest = ", ".join(repr(label) for label in closest_labels(only, labels)) or "(the plan has no jobs)"
    raise HarnessError(f"{only!r} matches none of the {len(labels)} jobs; closest: {closest}", field="--only")


def closest_labels(pattern: str, labels: list[str], n: int = 3) -> list[str]:
    """Labels most like ``pattern``, comparing it with each label and each of the label's parts."""

    def likeness(label: str) -> float:
        parts = [label, *re.split(r"[ /:+]", label)]
        return max(difflib.SequenceMatcher(None, pattern, part).ratio() for part in parts)

    return sorted(labels, key=lambda label: (-likeness(label), label))[:n]


class GridRunner:
    def __init__(
        self,
        plan: Plan,
        catalogue: Catalogue,
        store: ResultsStore,
        lock: Lock,
        *,
        executor: Executor | None = None,
        force: bool = False,
        only: str | None = None,
        progress: JobProgress | None = None,
    ) -> None:
        check_precision(plan.grid, plan.grid_path)  # before any job: emulated bf16 is 7x slower
        check_only(plan, only)
        self.plan = plan
        self.catalogue = catalogue
        self.store = store
        self.lock = lock
        self.produced = Lock.load(store.root / "checkpoints.lock")
        self.executor = executor or LocalExecutor()
        self.force = force
        self.only = only
        self.progress = progress
        self.features = FeatureCache(store.cache_dir / "features")
        self.report = RunReport()
        self._base_folders: dict[str, Path] = {}
        self._completed = 0
        self._kill_after = int(os.environ.get(KILL_AFTER_ENV, "0") or 0)

    # ---- selection and status -------------------------------------------------------------
    def selected(self, job: Job) -> bool:
        return label_selected(job.label, self.only)

    def checkpoint_dir(self, key: str) -> Path:
        return self.store.checkpoints_dir / key

    def record_path(self, job: Job) -> Path:
        return self.store.record_path(
            job.checkpoint_name, job.task, job.split or "", job.language or "", job.key
        )

    def is_done(self, job: Job) -> bool:
        if job.phase == "evaluate":
            return self.record_path(job).is_file()
        return (self.checkpoint_dir(job.key) / JOB_FILE).is_file()

    def needed_jobs(self) -> list[Job]:
        """Selected jobs that are not done, plus the unfinished training jobs they depend on."""
        by_key = {c.key: c for c in self.plan.jobs}
        wanted: dict[str, Job] = {}

        def want(job: Job) -> None:
            if job.key in self.plan.blocked:  # its training data has no source here (see harness plan)
                return
            if job.key in wanted or (self.is_done(job) and not (self.force and self.selected(job))):
                return
            wanted[job.key] = job
            if job.parent in by_key:
                want(by_key[job.parent])

        for job in self.plan.jobs:
            if self.selected(job):
                want(job)
        return [c for c in self.plan.jobs if c.key in wanted]

    # ---- the run ------------------------------------------------------------------------------
    def run(self) -> RunReport:
        started = time.perf_counter()
        clean_stale_temps(self.store.root)
        self.store.write_unavailable(self.plan.unavailable)  # declared splits without data: skipped, listed
        todo = self.needed_jobs()
        self.report.skipped = [c.label for c in self.plan.jobs if c not in todo and self.selected(c)]
        if self.progress is not None:
            self.progress.start(len(todo))
        for phase in ("intermediate", "target"):
            wave = [c for c in todo if c.phase == phase]
            self.executor.map(self.train_job, wave)
        groups: dict[tuple[str, str], list[Job]] = {}
        for job in todo:
            if job.phase == "evaluate":
                groups.setdefault((job.parent, job.task), []).append(job)
        # one task's checkpoints back to back: their frozen-layer states are still in memory
        by_task = sorted(groups.items(), key=lambda item: item[0][1])
        self.executor.map(self.evaluate_group, [jobs for _, jobs in by_task])
        self.report.wall_time_s = time.perf_counter() - started
        return self.report

    def _job_finished(self, job: Job) -> None:
        self.report.ran.append(job.label)
        if self.progress is not None:
            self.progress.finished(job.label)
        self._completed += 1
        if self._kill_after and self._completed >= self._kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    # ---- checkpoints --------------------------------------------------------------------------
    def base_folder(self, model_name: str) -> Path:
        if model_name not in self._base_folders:
            spec = self.plan.model_spec(model_name)
            if model_name not in self.lock.entries:
                raise HarnessError(
                    f"base model {model_name!r} is not pinned; pin it first (harness lock add)",
                    file=self.lock.path,
                )
            resolved = resolve_model(spec)
            self.lock.verify(model_name, resolved.folder)
            self._base_folders[model_name] = resolved.folder
        return self._base_folders[model_name]

    def folder_of(self, key: str, model_name: str) -> Path:
        if key == self.plan.base_keys[model_name]:
            return self.base_folder(model_name)
        folder = self.checkpoint_dir(key)
        if not (folder / JOB_FILE).is_file():
            raise HarnessError(f"checkpoint {key[:12]} is not built yet", file=folder)
        if key in self.produced.entries:
            self.produced.verify(key, folder)
        return folder

    def _rows(
        self,
        task: TaskSpec,
        split: str,
        lang: str,
        *,
        dataset: Any = None,
        limit: int | None = None,
        view: Any = None,
    ) -> RowSet:
        return load_rows(
            task,
            split=split,
            language=lang,
            base_dir=self.catalogue.task_path(task.name).parent,
            dataset=dataset,
            limit=limit,
            view=view,
        )

    def _split_ref_rows(self, task: TaskSpec, ref: Any) -> RowSet:
        return self._rows(task, ref.split, ref.language, dataset=ref.dataset, limit=ref.limit)

    def _features(
        self, rows: RowSet, tokenizer: Any, folder: Path, task: TaskSpec, max_length: int
    ) -> datasets.Dataset:
        kind = get_kind(task.kind)
        parts = {
            "data": rows.fingerprint,
            "n": len(rows),
            "tokenizer": tokenizer_fingerprint(folder),
            "task": task.name,
            "version": task.version,
            "kind": task.kind,
            "max_length": max_length,
            "params": task.params,
        }
        return self.features.get_or_build(
            parts, lambda: kind.features(rows.rows, tokenizer, task, max_length)
        )

    def _job_started(self, job: Job) -> None:
        if self.progress is not None:
            self.progress.started(job.label)

    def train_job(self, job: Job) -> None:
        self._job_started(job)
        if job.phase == "intermediate" and self.plan.condition(job.condition).is_multitask:
            self.train_mixture_job(job)
            return
        task = self.catalogue.task(job.task)
        kind = get_kind(task.kind)
        model_spec = self.plan.model_spec(job.model)
        parent = self.folder_of(job.parent, job.model)
        tokenizer = load_tokenizer(str(parent))
        assert task.train is not None
        if job.phase == "intermediate":
            cond = self.plan.condition(job.condition)
            hp = hyperparameters(task, self.plan.grid.intermediate_training, model_spec)
            sources = {
                lang: self._source_rows(task, lang, cond.size, job.condition) for lang in cond.languages
            }
            dev_language: str | None = None if cond.is_mix else cond.languages[0]
            train, dev = (
                sources[cond.languages[0]] if not cond.is_mix else self._mixed(task, sources, job.condition)
            )
        else:
            hp = hyperparameters(task, self.plan.grid.training, model_spec)
            train = self._split_ref_rows(task, task.train)
            # the target's selection split as declared (it is part of the job's key): never capped
            dev = (
                DevSplit(self._split_ref_rows(task, task.dev), f"declared split {task.dev.split!r}")
                if task.dev
                else None
            )
            dev_language = task.dev.language if task.dev else None
        declared_task = task
        task, train.rows = prepare_rows(task, train.rows)
        features = self._features(train, tokenizer, parent, task, hp.max_length)
        if job.phase == "intermediate":
            hp = self._step_matched(hp, job.condition, len(train), len(features))
        torch.manual_seed(job.seed)
        model = kind.load_model(
            str(parent),
            task,
            allow_pickle=model_spec.allow_pickle,
            **attention_dropout_override(parent, hp.attention_dropout),
        )
        score_dev, baseline, dev_info = None, None, {"origin": "none: no dev split", "n": 0}
        if dev is not None:
            score_dev, baseline, dev_info = self._dev_scoring(
                job, kind, declared_task, task, dev, train.rows, tokenizer, parent, hp, dev_language
            )
        outcome = finetune(
            model,
            features,
            collator_for(kind, tokenizer, task),
            hp,
            job.seed,
            score_dev=score_dev,
            # intermediate training keeps its last step: its dev split only shows whether it learned
            selection=self.plan.grid.selection if job.phase == "target" else "last",
            dev_baseline=baseline,
            metric=task.metric,
        )
        self._save_checkpoint(
            job,
            model,
            parent,
            {
                "training": asdict(outcome),
                "hyperparameters": hp.model_dump(),
                "n_train_examples": len(train),
                "train_data": {"fingerprint": train.fingerprint, "origin": train.origin},
                "new_weights": getattr(model, "loading_report", {}).get("new", []),
                "dev": dev_info,
                "learning": kept_learning(
                    task.name, task.metric, outcome.dev_history, outcome.best_epoch, baseline
                ),
            },
        )
        self._job_finished(job)

    def _source_rows(
        self, task: TaskSpec, lang: str, size: int | None, condition: str
    ) -> tuple[RowSet, DevSplit | None]:
        """An intermediate task's training items in one source language (``size`` of them) and its dev."""
        assert task.train is not None
        train = self._rows(task, task.train.split, lang, dataset=task.train.dataset, limit=task.train.limit)
        every_item = train.rows
        train.rows = self._sized(train.rows, size, task, lang, task.train.split, condition)
        return train, self._intermediate_dev(task, lang, train, every_item)

    def _mixed(
        self, task: TaskSpec, sources: dict[str, tuple[RowSet, DevSplit | None]], condition: str
    ) -> tuple[RowSet, DevSplit | None]:
        """A multilingual mix (harness/training/source_mix.py) of the same items, and of their dev items."""
        assert task.train is not None
        what = f"{condition}: {task.name}"
        train, counts = mix_rows(
            {lang: rows for lang, (rows, _) in sources.items()},
            {lang: f"{task.train.split}-{lang}-" for lang in sources},
            what,
        )
        devs = {lang: dev for lang, (_, dev) in sources.items()}
        if any(dev is None for dev in devs.values()):
            return train, None
        dev_split = task.dev.split if task.dev else task.train.split
        dev_rows, dev_counts = mix_rows(
            {lang: dev.rows for lang, dev in devs.items() if dev is not None},
            {lang: f"{dev_split}-{lang}-" for lang in devs},
            f"{what} dev",
        )
        shares = ", ".join(f"{lang} {n}" for lang, n in dev_counts.items())
        log.info("%s: mixed %s training items; dev %s", what, counts, shares)
        return train, DevSplit(dev_rows, f"multilingual mix of the dev items ({shares}): {dev_rows.origin}")

    def _intermediate_dev(
        self, task: TaskSpec, lang: str, train: RowSet, every_item: datasets.Dataset
    ) -> DevSplit | None:
        """The declared dev split in the source language, else the items ``size`` left out (dev_split)."""

        def selector(split: str) -> Callable[[datasets.Dataset, int], datasets.Dataset]:
            """The same id-hash order as ``size``, so parallel data keeps the same items in every language."""
            return lambda rows, n: select_by_size(
                rows, n, f"{task.name} dev", auto_id_prefix=f"{split}-{lang}-"
            )

        if task.dev is not None:
            try:
                rows = self._rows(task, task.dev.split, lang, dataset=task.dev.dataset, limit=task.dev.limit)
            except HarnessError as exc:  # a dev split this machine cannot read must not stop the training
                log.warning(
                    "%s: no dev split in %s (%s); its learning status is unknown", task.name, lang, exc
                )
                return None
            return declared_dev(rows, selector(task.dev.split))
        if len(train.rows) == len(every_item):
            return None
        full = RowSet(train.task, train.split, train.language, every_item, train.fingerprint, train.origin)
        return held_out_dev(full, train.rows, selector(task.train.split if task.train else "train"))

    def _dev_scoring(
        self,
        job: Job,
        kind: Any,
        declared_task: TaskSpec,
        task: TaskSpec,
        dev: DevSplit,
        train_rows: datasets.Dataset,
        tokenizer: Any,
        parent: Path,
        hp: Any,
        language: str | None,
    ) -> tuple[DevScorer, float | None, dict[str, Any]]:
        """The dev scorer (score and 95 % CI), the trivial baseline's dev score, and what training.json
        records about the dev split."""
        _, dev.rows.rows = prepare_rows(declared_task, dev.rows.rows)
        dev_features = self._features(dev.rows, tokenizer, parent, task, hp.max_length)
        trivial = kind.baseline(train_rows, dev.rows.rows, task, language=language)
        baseline = trivial.scores.get(task.metric)
        scorer = dev_scorer(
            kind, task, dev.rows.rows, dev_features, tokenizer, hp.eval_batch_size, language, (job.key,)
        )
        info = {
            "origin": dev.origin,
            "language": language,
            "n": len(dev.rows),
            "metric": task.metric,
            "baseline_name": trivial.name,
            "baseline": baseline,
        }
        return scorer, baseline, info

    def _sized(
        self, rows: datasets.Dataset, size: int | None, task: TaskSpec, lang: str, split: str, condition: str
    ) -> datasets.Dataset:
        index = [c.name for c in self.plan.grid.intermediate].index(condition)
        return select_by_size(
            rows,
            size,
            f"{condition}: {task.name} in {lang}",
            auto_id_prefix=f"{split}-{lang}-",
            file=self.plan.grid_path,
            field=f"intermediate[{index}].size",
        )

    def _step_matched(self, hp: Any, condition: str, n_rows: int, n_features: int) -> Any:
        """A size-matched condition takes ceil(size / batch) × epochs steps even where an example gives
        several features (QA windows, long sentences), so both sides of the pair take the same steps."""
        cond = self.plan.condition(condition)
        matched = cond.matched_with or any(c.matched_with == cond.name for c in self.plan.grid.intermediate)
        if not (matched and cond.size) or hp.max_steps or n_features == n_rows:
            return hp
        return hp.model_copy(update={"max_steps": planned_steps(cond.size, hp)})

    def train_mixture_job(self, job: Job) -> None:
        """One shared body trained on every task of a multi-task condition (harness.training.multitask)."""
        cond = self.plan.condition(job.condition)
        model_spec = self.plan.model_spec(job.model)
        parent = self.folder_of(job.parent, job.model)
        tokenizer = load_tokenizer(str(parent))
        overrides = self.plan.grid.intermediate_training
        torch.manual_seed(job.seed)
        members: list[MixtureMember] = []
        models: dict[str, torch.nn.Module] = {}
        devs: list[tuple[DevSplit | None, TaskSpec, datasets.Dataset]] = []
        for item in cond.tasks or []:
            task = self.catalogue.task(item.task)
            train = task.train
            assert train is not None  # an intermediate task declares its training split (schema)
            hp = hyperparameters(task, overrides, model_spec)
            parts = [
                self._rows(task, train.split, lang, dataset=train.dataset, limit=train.limit)
                for lang in item.languages
            ]
            rows = (
                parts[0].rows if len(parts) == 1 else datasets.concatenate_datasets([p.rows for p in parts])
            )
            if len(parts) == 1:
                rows = self._sized(rows, item.size, task, item.languages[0], train.split, cond.name)
            else:
                rows = select_by_size(rows, item.size, f"{cond.name}: {task.name}", file=self.plan.grid_path)
            dev = self._member_dev(task, item.languages, parts, rows)
            declared_task = task
            task, rows = prepare_rows(task, rows)
            devs.append((dev, declared_task, rows))
            pooled = RowSet(
                task.name,
                train.split,
                "+".join(item.languages),
                rows,
                hashlib.sha256("|".join(p.fingerprint for p in parts).encode()).hexdigest(),
                ",".join(p.origin for p in parts),
            )
            features = self._features(pooled, tokenizer, parent, task, hp.max_length)
            kind = get_kind(task.kind)
            head = item.head or task.name
            if head not in models:
                models[head] = kind.load_model(
                    str(parent),
                    task,
                    allow_pickle=model_spec.allow_pickle,
                    **attention_dropout_override(parent, hp.attention_dropout),
                )
            members.append(
                MixtureMember(
                    f"{task.name}/{'+'.join(item.languages)}",
                    task,
                    head,
                    features,
                    collator_for(kind, tokenizer, task),
                    hp.batch_size,
                    len(rows),
                    item.languages,
                )
            )
        shared_hp = hyperparameters(self.catalogue.task(members[0].task.name), overrides, model_spec)
        outcome = train_multitask(
            models, members, shared_hp, job.seed, sampling=cond.sampling, temperature=cond.temperature
        )
        for member, summary, (dev, declared_task, train_rows) in zip(
            members, outcome.tasks, devs, strict=True
        ):
            summary["learning"] = learning_summary(
                member.task.name, member.task.metric, None, None, "unknown"
            )
            if dev is None:
                continue
            language = member.languages[0] if len(member.languages) == 1 else None
            score_dev, baseline, summary["dev"] = self._dev_scoring(
                job, get_kind(member.task.kind), declared_task, member.task, dev, train_rows,
                tokenizer, parent, shared_hp, language,
            )  # fmt: skip
            scored = score_dev(models[member.head])
            summary["learning"] = learning_summary(member.task.name, member.task.metric, scored, baseline)
        self._save_checkpoint(
            job,
            next(iter(models.values())),
            parent,
            {
                "training": asdict(outcome.training),
                "hyperparameters": shared_hp.model_dump(),
                "n_train_examples": sum(m.n_examples for m in members),
                "mixture": outcome.tasks,
                "learning": worst_of([t["learning"] for t in outcome.tasks]),
                "sampling": {
                    "rule": outcome.sampling,
                    "temperature": cond.temperature,
                    "p": outcome.probabilities,
                },
            },
        )
        self._job_finished(job)

    def _member_dev(
        self, task: TaskSpec, languages: list[str], parts: list[RowSet], selected: datasets.Dataset
    ) -> DevSplit | None:
        """A mixture task's dev split: as for one task; pooled languages need declared dev splits."""
        if len(parts) == 1:
            chosen = RowSet(
                parts[0].task,
                parts[0].split,
                parts[0].language,
                selected,
                parts[0].fingerprint,
                parts[0].origin,
            )
            return self._intermediate_dev(task, languages[0], chosen, parts[0].rows)
        per_language = [
            self._intermediate_dev(task, lang, part, part.rows)
            for lang, part in zip(languages, parts, strict=True)
        ]
        found = [d for d in per_language if d is not None]
        if len(found) < len(per_language):
            return None
        pooled = RowSet(
            task.name,
            found[0].rows.split,
            "+".join(languages),
            datasets.concatenate_datasets([d.rows.rows for d in found]),
            hashlib.sha256("|".join(d.rows.fingerprint for d in found).encode()).hexdigest(),
            ",".join(d.rows.origin for d in found),
        )
        return DevSplit(pooled, "; ".join(d.origin for d in found))

    def _save_checkpoint(self, job: Job, model: Any, parent: Path, training: dict[str, Any]) -> None:
        final = self.checkpoint_dir(job.key)
        if final.exists():  # a --force rerun replaces it
            shutil.rmtree(final)
        build = self.store.checkpoints_dir / f".build-{job.key[:16]}-{os.getpid()}"
        shutil.rmtree(build, ignore_errors=True)
        # An intermediate checkpoint keeps only the encoder body: the target gets a fresh head.
        to_save = model.base_model if job.phase == "intermediate" else model
        to_save.save_pretrained(build, safe_serialization=True)
        copy_tokenizer_files(parent, build)
        atomic_write_json(build / "training.json", training)
        atomic_write_json(
            build / JOB_FILE,
            {
                "key": job.key,
                "phase": job.phase,
                "label": job.label,
                "inputs": job.inputs,
                "lineage": self.plan.lineage.get(job.key, []),
                "created": _now(),
            },
        )
        atomic_publish_dir(build, final)
        step = self.plan.lineage[job.key][-1]
        self.produced.pin(
            job.key,
            final,
            f"produced:{job.label}",
            lineage=Lineage(
                parent=job.parent,
                phase=job.phase,
                task=job.task,
                source_lang=step.get("source_lang"),
                seed=job.seed,
            ),
        )

    # ---- evaluation ---------------------------------------------------------------------------
    def evaluate_group(self, jobs: list[Job]) -> None:
        first = jobs[0]
        task = self.catalogue.task(first.task)
        kind = get_kind(task.kind)
        model_spec = self.plan.model_spec(first.model)
        folder = self.folder_of(first.parent, first.model)
        tokenizer = load_tokenizer(str(folder))
        model = kind.load_model(str(folder), task, allow_pickle=model_spec.allow_pickle)
        if torch.cuda.is_available():
            model = model.to("cuda")
        training = _read_json(folder / "training.json")
        train_rows = None
        if task.train is not None:
            train_rows = self._split_ref_rows(task, task.train).rows
        frozen = (training.get("hyperparameters") or {}).get("freeze_layers", model_spec.freeze_layers)
        with frozen_prefix_cache(model, frozen):  # conditions sharing the frozen layers share their states
            self._evaluate_jobs(jobs, task, kind, model, tokenizer, folder, training, train_rows)

    def _evaluate_jobs(
        self,
        jobs: list[Job],
        task: TaskSpec,
        kind: Any,
        model: torch.nn.Module,
        tokenizer: Any,
        folder: Path,
        training: dict[str, Any],
        train_rows: datasets.Dataset | None,
    ) -> None:
        for job in jobs:
            self._job_started(job)
            started = time.perf_counter()
            split = task.split_named(job.split or "")
            limit = eval_limit(split.limit, self.plan.grid.eval_limit)
            rows = self._rows(
                task,
                split.split or split.name,
                job.language or "",
                dataset=split.dataset,
                limit=limit,
                view=split,
            )
            features = self._features(rows, tokenizer, folder, task, task.hyperparameters.max_length)
            preds = kind.predict(
                model,
                features,
                rows.rows,
                task,
                tokenizer,
                task.hyperparameters.eval_batch_size,
                self.plan.grid.precision,
                language=job.language,
            )
            scores = kind.score(preds, task)
            baseline = kind.baseline(train_rows, rows.rows, task, language=job.language)
            record = self._record(
                job, task, split, rows, scores, baseline, training, time.perf_counter() - started
            )
            path = self.record_path(job)
            self.store.write(record, (p.to_json() for p in preds), path)
            self._job_finished(job)

    def _record(
        self,
        job: Job,
        task: TaskSpec,
        split: Any,
        rows: RowSet,
        scores: dict[str, float],
        baseline: Any,
        training: dict[str, Any],
        wall: float,
    ) -> Record:
        cond = self.plan.condition(job.condition)
        model_spec = self.plan.model_spec(job.model)
        base_entry = self.lock.entries.get(job.model)
        path = self.record_path(job)
        hp = training.get("hyperparameters") if training else None
        train_info = training.get("training", {}) if training else {}
        return Record(
            job_key=job.key,
            grid=self.plan.grid.name,
            checkpoint=CheckpointInfo(
                name=job.checkpoint_name,
                key=job.parent,
                model=job.model,
                model_source=model_spec.source,
                model_revision=base_entry.revision if base_entry else None,
                model_sha256=base_entry.files if base_entry else None,
                condition=cond.name,
                intermediate_task=cond.task or ("+".join(cond.task_names) or None),
                source_lang=effective_source_lang(cond, self.catalogue),
                source_type=cond.source_type,
                intermediate_size=cond.size,
                matched_with=cond.matched_with,
                frozen_embeddings=model_spec.freeze_embeddings,
                lineage=[LineageStep(**step) for step in self.plan.lineage.get(job.parent, [])],
                learning=self._intermediate_learning(job),
            ),
            seed=job.seed,
            task=TaskInfo(
                name=task.name,
                version=task.version,
                kind=task.kind,
                protocol=task.protocol,
                items=task.items,
                zero_shot=self.plan.leakage.label(cond.name, task.name, split.name, job.language or ""),
            ),
            split=SplitInfo(name=split.name, domain=split.domain, in_domain=split.in_domain),
            language=job.language or "",
            n_examples=len(rows),
            scores=scores,
            main_metric=task.metric,
            main_score=scores[task.metric],
            baseline=BaselineInfo(name=baseline.name, scores=baseline.scores),
            data={
                "fingerprint": rows.fingerprint,
                "origin": _relative_origin(rows.origin),
                "source": task.source,
            },
            settings={
                "hyperparameters": hp,
                "selection_rule": train_info.get("selection_rule", "none (not fine-tuned)"),
                "best_epoch": train_info.get("best_epoch"),
                "dev_history": train_info.get("dev_history", []),
                "precision": self.plan.grid.precision,
                "primary_endpoint": self.plan.grid.primary_endpoint,
                "params": task.params,
                "frozen_embeddings": model_spec.freeze_embeddings,
                "n_train_examples": training.get("n_train_examples") if training else None,
                "train_steps": train_info.get("steps"),
            },
            provenance={
                "code_version": code_version(),
                "created": _now(),
                "wall_time_s": round(wall, 3),
                "hardware": hardware(),
                "executor": self.executor.name,
            },
            predictions=str(path.with_suffix(".predictions.jsonl").relative_to(self.store.root)),
        )

    def _intermediate_learning(self, job: Job) -> dict[str, Any]:
        """Whether the intermediate phase behind ``job`` learned: from its checkpoint's training.json."""
        cond = self.plan.condition(job.condition)
        if not (cond.trains or cond.pretrained):
            return not_trained()
        steps = self.plan.lineage.get(job.parent, [])
        step = next((s for s in steps if s.get("phase") == "intermediate" and not s.get("external")), None)
        training = _read_json(self.checkpoint_dir(step["key"]) / "training.json") if step else {}
        task = cond.task or ("+".join(cond.task_names) or None)
        return training.get("learning") or learning_summary(task, None, None, None, "unknown")


TOKENIZER_COPIED = (*TOKENIZER_FILES, "added_tokens.json", "tokenizer.model")


def copy_tokenizer_files(parent: Path, build: Path) -> None:
    """The parent's tokenizer files, byte for byte: training never changes a tokenizer, and
    ``save_pretrained`` would re-serialise it with the last call's truncation settings, so every
    checkpoint would get a different tokenizer fingerprint (no shared feature cache, no shared load)."""
    copied = [name for name in TOKENIZER_COPIED if (parent / name).is_file()]
    if not copied:
        raise HarnessError("no tokenizer files to copy into the new checkpoint", file=parent)
    for name in copied:
        shutil.copyfile(parent / name, build / name)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _relative_origin(origin: str) -> str:
    """Origins without machine-specific absolute paths, so records compare across machines."""
    from harness.catalogue.loader import REPO_ROOT

    return origin.replace(str(REPO_ROOT) + os.sep, "")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
