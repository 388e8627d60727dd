"""``run_job``: the one function every executor calls. A job (or a batch of evaluation jobs) in, its
outputs in the store, a ``JobResult`` per job out.

It reads nothing but the job and, in the store, the checkpoints of the job's parents: no catalogue, no
grid, no runner, no progress display, no shared state. A training job builds its checkpoint aside and
publishes it with one rename; an evaluation job writes its record atomically. Data read from a task
folder must have the fingerprint the job holds (the folder is a location, not part of the key).

``python -m harness.runner.work JOB.json --store DIR`` runs one job from its JSON (a Slurm or Ray worker).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datasets
import torch

from harness.catalogue.schema import ModelSpec, SplitRef, TaskSpec
from harness.data.cache import FeatureCache, tokenizer_fingerprint
from harness.data.loaders import RowSet, load_rows
from harness.errors import HarnessError, LockMismatch
from harness.fault_injection import fault_point, log_job
from harness.kinds.registry import get_kind
from harness.models.frozen_prefix import frozen_prefix_cache
from harness.models.loading import attention_dropout_override, load_tokenizer
from harness.models.lockfile import JOB_FILE, Lineage, Lock, LockEntry, write_pin
from harness.models.sources import resolve_model
from harness.models.verify import verify_checkpoint
from harness.results.atomic import (
    atomic_publish_dir,
    atomic_replace_dir,
    atomic_write_json,
    owned_build_dir,
)
from harness.results.schema import BaselineInfo, CheckpointInfo, LineageStep, Record, SplitInfo, TaskInfo
from harness.results.store import ResultsStore
from harness.runner.environment import code_version, hardware
from harness.runner.execute import copy_tokenizer_files
from harness.runner.jobs import (
    BaseModelRef,
    EvalBatch,
    EvalJob,
    MixtureJob,
    TaskRef,
    TrainJob,
    work_from_json,
)
from harness.training.dev_split import DevSplit, declared_dev, held_out_dev
from harness.training.finetune import finetune
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

KILL_AFTER_ENV = "HARNESS_TEST_KILL_AFTER_JOBS"  # test hook: SIGKILL this process after N finished jobs
_finished_here = 0  # jobs this process finished (the test hook's count only)

Work = TrainJob | MixtureJob | EvalJob | EvalBatch


@dataclass(frozen=True)
class JobResult:
    """What the driver needs from a finished job: the record's path, or the published checkpoint's folder
    with its file hashes and lineage (to pin it in ``checkpoints.lock``)."""

    key: str
    label: str
    phase: str
    path: str
    files: dict[str, str] = field(default_factory=dict)  # checkpoint: rel path -> sha256 as published
    lineage: dict[str, Any] = field(
        default_factory=dict
    )  # checkpoint: parent, phase, task, source_lang, seed


def run_job(work: Work, store_root: Path | str, *, executor: str = "local") -> list[JobResult]:
    """Run one job (or one batch of evaluation jobs of one checkpoint and task): one result per job.
    ``executor`` is the name written in records' provenance."""
    worker = _Worker(ResultsStore(Path(store_root)), executor)
    if isinstance(work, EvalBatch):
        return worker.evaluate(work.jobs)
    if isinstance(work, EvalJob):
        return worker.evaluate([work])
    if isinstance(work, MixtureJob):
        return [worker.train_mixture(work)]
    return [worker.train(work)]


def note_finished() -> None:
    """The test hook: count a finished job (a record written; a checkpoint once the driver pinned it)."""
    global _finished_here
    _finished_here += 1
    kill_after = int(os.environ.get(KILL_AFTER_ENV, "0") or 0)
    if kill_after and _finished_here >= kill_after:
        os.kill(os.getpid(), signal.SIGKILL)


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


def check_fingerprint(rows: RowSet, expected: str | None, task_dir: str) -> None:
    """The data read is the data the job was keyed on (an ``unavailable:`` identity checks nothing: the
    plan could not fingerprint it, and reading it failing or not is the answer)."""
    if expected is None or expected.startswith("unavailable:") or rows.fingerprint == expected:
        return
    raise HarnessError(
        f"{rows.task} {rows.split}/{rows.language}: the data read has fingerprint {rows.fingerprint[:12]}… "
        f"but the job was planned on {expected[:12]}… (the data changed since the plan; plan again)",
        file=Path(task_dir),
    )


class _Worker:
    def __init__(self, store: ResultsStore, executor: str) -> None:
        self.store = store
        self.executor = executor
        self.features = FeatureCache(store.cache_dir / "features")

    # ---- inputs -------------------------------------------------------------------------------
    def folder_of(self, key: str, base: BaseModelRef) -> Path:
        if key == base.key:
            return base_folder(base)
        folder = self.store.checkpoints_dir / key
        if not (folder / JOB_FILE).is_file():
            raise HarnessError(f"checkpoint {key[:12]} is not built yet", file=folder)
        # against its lock entry, or its own pin file when the driver has not merged it yet
        verify_checkpoint(Lock.load(self.store.root / "checkpoints.lock"), key, folder)
        return folder

    def rows(
        self,
        ref: TaskRef,
        split: str,
        lang: str,
        *,
        dataset: Any = None,
        limit: int | None = None,
        view: Any = None,
        expected: str | None = None,
    ) -> RowSet:
        rows = load_rows(
            ref.spec,
            split=split,
            language=lang,
            base_dir=Path(ref.task_dir),
            dataset=dataset,
            limit=limit,
            view=view,
        )
        check_fingerprint(rows, expected, ref.task_dir)
        return rows

    def split_ref_rows(self, ref: TaskRef, split: SplitRef, expected: str | None) -> RowSet:
        return self.rows(
            ref, split.split, split.language, dataset=split.dataset, limit=split.limit, expected=expected
        )

    def features_of(
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

    # ---- training -----------------------------------------------------------------------------
    def train(self, job: TrainJob) -> JobResult:
        ref = job.task_ref
        task = ref.spec
        kind = get_kind(task.kind)
        parent = self.folder_of(job.parent, job.base)
        tokenizer = load_tokenizer(str(parent))
        hp = job.hyperparameters
        assert task.train is not None
        dev_language: str | None
        if job.phase == "intermediate":
            sources = {
                lang: self.source_rows(job, lang, expected, dev)
                for lang, expected, dev in zip(
                    job.languages, job.train_data, _padded(job.dev_data, len(job.languages)), strict=True
                )
            }
            is_mix = job.mix_rule is not None
            dev_language = None if is_mix else job.languages[0]
            train, dev = sources[job.languages[0]] if not is_mix else self.mixed(job, sources)
        else:
            train = self.split_ref_rows(ref, task.train, job.train_data[0])
            # the target's selection split as declared (it is part of the job's key): never capped
            dev = (
                DevSplit(
                    self.split_ref_rows(ref, task.dev, job.dev_data[0]), f"declared split {task.dev.split!r}"
                )
                if task.dev
                else None
            )
            dev_language = task.dev.language if task.dev else None
        declared_task = task
        task, train.rows = prepare_rows(task, train.rows)
        features = self.features_of(train, tokenizer, parent, task, hp.max_length)
        torch.manual_seed(job.seed)
        model = kind.load_model(
            str(parent),
            task,
            allow_pickle=job.base.allow_pickle,
            **attention_dropout_override(parent, hp.attention_dropout),
        )
        score_dev, baseline, dev_info = None, None, {"origin": "none: no dev split", "n": 0}
        if dev is not None:
            score_dev, baseline, dev_info = self.dev_scoring(
                job.key, kind, declared_task, task, dev, train.rows, tokenizer, parent, hp, dev_language
            )
        outcome = finetune(
            model,
            features,
            collator_for(kind, tokenizer, task),
            hp,
            job.seed,
            score_dev=score_dev,
            selection=job.selection,
            dev_baseline=baseline,
            metric=task.metric,
        )
        return self.save_checkpoint(
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

    def source_rows(
        self, job: TrainJob, lang: str, expected: str, dev_expected: str | None
    ) -> tuple[RowSet, DevSplit | None]:
        """An intermediate task's training items in one source language (``size`` of them) and its dev."""
        ref = job.task_ref
        task = ref.spec
        assert task.train is not None
        train = self.rows(
            ref, task.train.split, lang, dataset=task.train.dataset, limit=task.train.limit, expected=expected
        )
        every_item = train.rows
        train.rows = self.sized(train.rows, job.size, job, task, lang, task.train.split, job.size_field)
        return train, self.intermediate_dev(ref, lang, train, every_item, dev_expected)

    def mixed(
        self, job: TrainJob, sources: dict[str, tuple[RowSet, DevSplit | None]]
    ) -> tuple[RowSet, DevSplit | None]:
        """A multilingual mix (harness/training/source_mix.py) of the same items, and of their dev items."""
        task = job.task_ref.spec
        assert task.train is not None
        what = f"{job.condition}: {task.name}"
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

    def intermediate_dev(
        self,
        ref: TaskRef,
        lang: str,
        train: RowSet,
        every_item: datasets.Dataset,
        expected: str | None,
    ) -> DevSplit | None:
        """The declared dev split in the source language, else the items ``size`` left out (dev_split)."""
        task = ref.spec

        def selector(split: str) -> Callable[[datasets.Dataset, int], datasets.Dataset]:
            """The same id-hash order as ``size``, so parallel data keeps the same items in every language."""
            return lambda rows, n: select_by_size(
                rows, n, f"{task.name} dev", auto_id_prefix=f"{split}-{lang}-"
            )

        if task.dev is not None:
            try:
                rows = self.rows(
                    ref,
                    task.dev.split,
                    lang,
                    dataset=task.dev.dataset,
                    limit=task.dev.limit,
                    expected=expected,
                )
            except HarnessError as exc:  # a dev split this machine cannot read must not stop the training
                if expected is not None and not expected.startswith("unavailable:"):
                    raise  # it was readable at plan time: a changed or vanished file is an error
                log.warning(
                    "%s: no dev split in %s (%s); its learning status is unknown", task.name, lang, exc
                )
                return None
            return declared_dev(rows, selector(task.dev.split))
        if len(train.rows) == len(every_item):
            return None
        full = RowSet(train.task, train.split, train.language, every_item, train.fingerprint, train.origin)
        return held_out_dev(full, train.rows, selector(task.train.split if task.train else "train"))

    def dev_scoring(
        self,
        key: str,
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
        dev_features = self.features_of(dev.rows, tokenizer, parent, task, hp.max_length)
        trivial = kind.baseline(train_rows, dev.rows.rows, task, language=language)
        baseline = trivial.scores.get(task.metric)
        scorer = dev_scorer(
            kind, task, dev.rows.rows, dev_features, tokenizer, hp.eval_batch_size, language, (key,)
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

    def sized(
        self,
        rows: datasets.Dataset,
        size: int | None,
        job: TrainJob | MixtureJob,
        task: TaskSpec,
        lang: str,
        split: str,
        size_field: str,
    ) -> datasets.Dataset:
        return select_by_size(
            rows,
            size,
            f"{job.condition}: {task.name} in {lang}",
            auto_id_prefix=f"{split}-{lang}-",
            file=Path(job.grid_file) if job.grid_file else None,
            field=size_field,
        )

    def train_mixture(self, job: MixtureJob) -> JobResult:
        """One shared body trained on every task of a multi-task condition (harness.training.multitask)."""
        parent = self.folder_of(job.parent, job.base)
        tokenizer = load_tokenizer(str(parent))
        torch.manual_seed(job.seed)
        members: list[MixtureMember] = []
        models: dict[str, torch.nn.Module] = {}
        devs: list[tuple[DevSplit | None, TaskSpec, datasets.Dataset]] = []
        for item in job.members:
            ref = item.task_ref
            task = ref.spec
            train = task.train
            assert train is not None  # an intermediate task declares its training split (schema)
            hp = item.hyperparameters
            parts = [
                self.rows(ref, train.split, lang, dataset=train.dataset, limit=train.limit, expected=expected)
                for lang, expected in zip(item.languages, item.train_data, strict=True)
            ]
            rows = (
                parts[0].rows if len(parts) == 1 else datasets.concatenate_datasets([p.rows for p in parts])
            )
            if len(parts) == 1:
                rows = self.sized(rows, item.size, job, task, item.languages[0], train.split, item.size_field)
            else:
                rows = select_by_size(
                    rows,
                    item.size,
                    f"{job.condition}: {task.name}",
                    file=Path(job.grid_file) if job.grid_file else None,
                    field=item.size_field,
                )
            dev = self.member_dev(
                ref, item.languages, parts, rows, _padded(item.dev_data, len(item.languages))
            )
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
            features = self.features_of(pooled, tokenizer, parent, task, hp.max_length)
            kind = get_kind(task.kind)
            if item.head not in models:
                models[item.head] = kind.load_model(
                    str(parent),
                    task,
                    allow_pickle=job.base.allow_pickle,
                    **attention_dropout_override(parent, hp.attention_dropout),
                )
            members.append(
                MixtureMember(
                    f"{task.name}/{'+'.join(item.languages)}",
                    task,
                    item.head,
                    features,
                    collator_for(kind, tokenizer, task),
                    hp.batch_size,
                    len(rows),
                    item.languages,
                )
            )
        shared_hp = job.hyperparameters
        outcome = train_multitask(
            models, members, shared_hp, job.seed, sampling=job.sampling, temperature=job.temperature or 2.0
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
            score_dev, baseline, summary["dev"] = self.dev_scoring(
                job.key, get_kind(member.task.kind), declared_task, member.task, dev, train_rows,
                tokenizer, parent, shared_hp, language,
            )  # fmt: skip
            scored = score_dev(models[member.head])
            summary["learning"] = learning_summary(member.task.name, member.task.metric, scored, baseline)
        return self.save_checkpoint(
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
                    "temperature": job.temperature if job.temperature is not None else 2.0,
                    "p": outcome.probabilities,
                },
            },
        )

    def member_dev(
        self,
        ref: TaskRef,
        languages: list[str],
        parts: list[RowSet],
        selected: datasets.Dataset,
        expected: list[str | None],
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
            return self.intermediate_dev(ref, languages[0], chosen, parts[0].rows, expected[0])
        per_language = [
            self.intermediate_dev(ref, lang, part, part.rows, dev_expected)
            for lang, part, dev_expected in zip(languages, parts, expected, strict=True)
        ]
        found = [d for d in per_language if d is not None]
        if len(found) < len(per_language):
            return None
        pooled = RowSet(
            ref.spec.name,
            found[0].rows.split,
            "+".join(languages),
            datasets.concatenate_datasets([d.rows.rows for d in found]),
            hashlib.sha256("|".join(d.rows.fingerprint for d in found).encode()).hexdigest(),
            ",".join(d.rows.origin for d in found),
        )
        return DevSplit(pooled, "; ".join(d.origin for d in found))

    def save_checkpoint(
        self, job: TrainJob | MixtureJob, model: Any, parent: Path, training: dict[str, Any]
    ) -> JobResult:
        checkpoints = self.store.checkpoints_dir
        final = checkpoints / job.key
        build = owned_build_dir(checkpoints, job.key[:16])
        # An intermediate checkpoint keeps only the encoder body: the target gets a fresh head.
        to_save = model.base_model if job.phase == "intermediate" else model
        to_save.save_pretrained(build, safe_serialization=True)
        copy_tokenizer_files(parent, build)
        atomic_write_json(build / "training.json", training)
        lineage = [*job.lineage[:-1], {**job.lineage[-1], "key": job.key}]
        atomic_write_json(
            build / JOB_FILE,
            {
                "key": job.key,
                "phase": job.phase,
                "label": job.label,
                "job": job.model_dump(mode="json"),
                "lineage": lineage,
                "created": _now(),
            },
        )
        step = lineage[-1]
        lineage_of_pin = Lineage(
            parent=job.parent,
            phase=job.phase,
            task=job.task,
            source_lang=step.get("source_lang"),
            seed=job.seed,
        )
        # the pin travels inside the checkpoint: a kill after publishing leaves it for the next start-up
        entry = write_pin(build, job.key, f"produced:{job.label}", lineage=lineage_of_pin)
        fault_point("checkpoint-built", final)
        if final.exists():  # --force (or a run that lost its lease): the old one goes only once this is whole
            atomic_replace_dir(build, final)
        else:
            atomic_publish_dir(build, final)
        fault_point("checkpoint-published", final)
        log_job(job.key, job.label)
        return JobResult(job.key, job.label, job.phase, str(final), entry.files, asdict(lineage_of_pin))

    # ---- evaluation ---------------------------------------------------------------------------
    def record_path(self, job: EvalJob) -> Path:
        return record_path(self.store, job)

    def evaluate(self, jobs: Sequence[EvalJob]) -> list[JobResult]:
        first = jobs[0]
        ref = first.task_ref
        task = ref.spec
        kind = get_kind(task.kind)
        folder = self.folder_of(first.parent, first.base)
        tokenizer = load_tokenizer(str(folder))
        model = kind.load_model(str(folder), task, allow_pickle=first.base.allow_pickle)
        if torch.cuda.is_available():
            model = model.to("cuda")
        training = _read_json(folder / "training.json")
        train_rows = None
        if task.train is not None:
            train_rows = self.split_ref_rows(ref, task.train, first.baseline_data).rows
        frozen = (training.get("hyperparameters") or {}).get("freeze_layers", first.base.freeze_layers)
        results = []
        with frozen_prefix_cache(model, frozen):  # conditions sharing the frozen layers share their states
            for job in jobs:
                results.append(self.evaluate_one(job, kind, model, tokenizer, folder, training, train_rows))
        return results

    def evaluate_one(
        self,
        job: EvalJob,
        kind: Any,
        model: torch.nn.Module,
        tokenizer: Any,
        folder: Path,
        training: dict[str, Any],
        train_rows: datasets.Dataset | None,
    ) -> JobResult:
        started = time.perf_counter()
        task = job.task_ref.spec
        split = job.split_spec
        rows = self.rows(
            job.task_ref,
            split.split or split.name,
            job.language,
            dataset=split.dataset,
            limit=job.limit,
            view=split,
            expected=job.data,
        )
        features = self.features_of(rows, tokenizer, folder, task, job.max_length)
        preds = kind.predict(
            model,
            features,
            rows.rows,
            task,
            tokenizer,
            task.hyperparameters.eval_batch_size,
            job.precision,
            language=job.language,
        )
        scores = kind.score(preds, task)
        baseline = kind.baseline(train_rows, rows.rows, task, language=job.language)
        path = self.record_path(job)
        record = self.record(job, rows, scores, baseline, training, time.perf_counter() - started, path)
        self.store.write(record, (p.to_json() for p in preds), path)
        log_job(job.key, job.label)
        note_finished()
        return JobResult(job.key, job.label, job.phase, str(path))

    def record(
        self,
        job: EvalJob,
        rows: RowSet,
        scores: dict[str, float],
        baseline: Any,
        training: dict[str, Any],
        wall: float,
        path: Path,
    ) -> Record:
        task = job.task_ref.spec
        split = job.split_spec
        cond = job.condition_info
        base = job.base
        hp = training.get("hyperparameters") if training else None
        train_info = training.get("training", {}) if training else {}
        return Record(
            job_key=job.key,
            grid=job.grid,
            checkpoint=CheckpointInfo(
                name=job.record_name,
                key=job.parent,
                model=base.name,
                model_source=base.source,
                model_revision=base.revision,
                model_sha256=dict(base.files) if base.files else None,
                condition=cond.name,
                intermediate_task=cond.intermediate_task,
                source_lang=cond.source_lang,
                source_type=cond.source_type,
                intermediate_size=cond.intermediate_size,
                matched_with=cond.matched_with,
                frozen_embeddings=base.freeze_embeddings,
                lineage=[LineageStep(**step) for step in job.parent_lineage],
                learning=self.intermediate_learning(job),
            ),
            seed=job.seed,
            task=TaskInfo(
                name=task.name,
                version=task.version,
                kind=task.kind,
                protocol=task.protocol,
                items=task.items,
                zero_shot=job.zero_shot,
            ),
            split=SplitInfo(name=split.name, domain=split.domain, in_domain=split.in_domain),
            language=job.language,
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
                "precision": job.precision,
                "primary_endpoint": job.primary_endpoint,
                "params": task.params,
                "frozen_embeddings": base.freeze_embeddings,
                "n_train_examples": training.get("n_train_examples") if training else None,
                "train_steps": train_info.get("steps"),
            },
            provenance={
                "code_version": code_version(),
                "created": _now(),
                "wall_time_s": round(wall, 3),
                "hardware": hardware(),
                "executor": self.executor,
            },
            predictions=str(path.with_suffix(".predictions.jsonl").relative_to(self.store.root)),
        )

    def intermediate_learning(self, job: EvalJob) -> dict[str, Any]:
        """Whether the intermediate phase behind ``job`` learned: from its checkpoint's training.json."""
        cond = job.condition_info
        if not cond.has_intermediate:
            return not_trained()
        steps = job.parent_lineage
        step = next((s for s in steps if s.get("phase") == "intermediate" and not s.get("external")), None)
        training = _read_json(self.store.checkpoints_dir / step["key"] / "training.json") if step else {}
        return training.get("learning") or learning_summary(
            cond.intermediate_task, None, None, None, "unknown"
        )


def record_path(store: ResultsStore, job: EvalJob) -> Path:
    return store.record_path(job.record_name, job.task, job.split, job.language, job.key)


_verified_bases: set[tuple[str, str]] = set()  # (folder, base key) verified in this process: hashing is slow


def base_folder(base: BaseModelRef) -> Path:
    """The base model's folder on this machine, verified against the file hashes pinned in the job."""
    if base.files is None:
        raise HarnessError(f"base model {base.name!r} is not pinned; pin it first (harness lock add)")
    spec = ModelSpec(name=base.name, source=base.source, allow_pickle=base.allow_pickle)
    folder = resolve_model(spec).folder
    if (str(folder), base.key) in _verified_bases:
        return folder
    check = Lock(
        Path("checkpoints.lock"), {base.name: LockEntry(base.source, dict(base.files), base.revision)}
    )
    try:
        check.verify(base.name, folder)
    except LockMismatch as exc:
        raise LockMismatch(exc.message, file=folder) from None
    _verified_bases.add((str(folder), base.key))
    return folder


def _padded(values: list[str], n: int) -> list[str | None]:
    return [*values, *([None] * (n - len(values)))][:n]


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _relative_origin(origin: str) -> str:
    """Origins without machine-specific absolute paths, so records compare across machines."""
    from harness.catalogue.loader import REPO_ROOT

    return origin.replace(str(REPO_ROOT) + os.sep, "")


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.runner.work", description=__doc__)
    parser.add_argument("job", type=Path, help="a job's JSON (TrainJob, MixtureJob, EvalJob or EvalBatch)")
    parser.add_argument("--store", type=Path, required=True, help="the results folder")
    parser.add_argument("--executor", default="local", help="the executor name written on records")
    args = parser.parse_args(argv)
    work = work_from_json(args.job.read_text(encoding="utf-8"))
    for result in run_job(work, args.store, executor=args.executor):
        print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
