"""lm-eval's results JSON and ``--log_samples`` JSONL → one record per (task, split, language).

Only tasks whose config carries ``metadata.harness`` (``naming.HarnessMeta``) are imported; the rest are
reported as skipped. Every record gets per-example predictions built from the samples (``id`` from the
document, ``correct`` from the per-sample metric, ``f1`` for QA), so bootstrap intervals and paired
comparisons work as for the encoders' records. Before anything is written every task is checked: its
samples file exists, it has one sample per document, and the mean of each per-sample metric equals the
metric lm-eval reported (to 1e-9); any failure stops the import with one line and nothing written.

The record's job key hashes everything that determines the result (model and revision, lm-eval version,
the task's hash, shots, few-shot seed, generation settings, data hash, limit): importing the same results
again finds the same record and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.bridges.lm_eval.naming import META_KEY, HarnessMeta
from harness.catalogue.names import checked_name
from harness.errors import HarnessError
from harness.results.schema import CheckpointInfo, LineageStep, Record, SplitInfo, TaskInfo
from harness.results.store import ResultsStore, read_record

GRID = "lm-eval"
TOLERANCE = 1e-9
_RESULTS_FILE = re.compile(r"^results_(?P<date>.+)\.json$")


@dataclass(frozen=True)
class ModelOverride:
    """What ``eval-lm`` knows better than the results JSON (a model object leaves no id there)."""

    model: str
    revision: str | None
    model_source: str


@dataclass
class ImportReport:
    records: list[Record] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)  # new records (an identical one already stored: not)
    unchanged: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "task: reason" of results with no metadata.harness


@dataclass(frozen=True)
class _Planned:
    record: Record
    rows: list[dict[str, Any]]
    path: Path


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _sha256(value: Any) -> str:
    return hashlib.sha256(_canonical(value).encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def results_files(results_dir: Path) -> list[Path]:
    """Every lm-eval results JSON under ``results_dir`` (``results_<date>.json``), oldest first."""
    root = Path(results_dir)
    found = [
        p
        for p in root.rglob("results_*.json")
        if _RESULTS_FILE.match(p.name)
        and not any(
            part.startswith(".staging-") for part in p.relative_to(root).parts
        )  # eval-lm's, unfinished
    ]
    return sorted(found, key=lambda p: (_RESULTS_FILE.match(p.name)["date"], str(p)))  # type: ignore[index]


def samples_file(results_path: Path, task: str) -> Path:
    """Where EvaluationTracker writes ``task``'s samples beside ``results_path`` (same date id)."""
    match = _RESULTS_FILE.match(results_path.name)
    date = match["date"] if match else results_path.stem
    return results_path.with_name(f"samples_{task}_{date}.jsonl")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise HarnessError(f"not valid JSON: {exc.msg}", file=path, line=exc.lineno) from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise HarnessError("not an lm-eval results file (no 'results' object)", file=path)
    return data


def _read_samples(path: Path, results_path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise HarnessError(
            f"no per-example samples for this results file (expected {path.name}); "
            "run lm-eval with --log_samples",
            file=results_path,
        )
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise HarnessError(f"not valid JSON: {exc.msg}", file=path, line=number) from None
    return rows


def harness_meta(config: Mapping[str, Any]) -> HarnessMeta | None:
    metadata = config.get("metadata")
    raw = metadata.get(META_KEY) if isinstance(metadata, Mapping) else None
    if raw is None:
        return None
    return HarnessMeta.model_validate(raw)


def _filter_of(task: str, task_results: Mapping[str, Any], metric: str, where: Path) -> str:
    """The one filter the metric was reported under ("none" for the exported tasks)."""
    filters = sorted(k.split(",", 1)[1] for k in task_results if k.startswith(f"{metric},"))
    if not filters:
        raise HarnessError(f"{task}: lm-eval reported no {metric!r}", file=where, field="results")
    if "none" in filters:
        return "none"
    if len(filters) > 1:
        raise HarnessError(
            f"{task}: {metric!r} was reported under several filters; the exported tasks use none",
            file=where,
            field="results",
            allowed=filters,
        )
    return filters[0]


def _prediction(meta: HarnessMeta, sample: Mapping[str, Any]) -> Any:
    responses = sample.get("filtered_resps")
    if meta.kind == "extractive_qa":
        while isinstance(responses, list):
            responses = responses[0] if responses else ""
        return responses
    # multiple choice: one (loglikelihood, is_greedy) per choice; the prediction is the argmax
    lls = [float(r[0] if isinstance(r, list) else r) for r in responses or []]
    return max(range(len(lls)), key=lls.__getitem__) if lls else None


def _rows(meta: HarnessMeta, samples: list[dict[str, Any]], where: Path) -> list[dict[str, Any]]:
    gold = "answers" if meta.kind == "extractive_qa" else "label"
    for sample in samples:
        doc = sample.get("doc")
        if not isinstance(doc, dict) or "id" not in doc or gold not in doc:
            raise HarnessError(
                f"sample {sample.get('doc_id')}: its document lacks 'id' or {gold!r} "
                "(not a task exported by the harness?)",
                file=where,
                field="doc",
            )
    rows = []
    correct_key = meta.metrics["exact_match" if meta.kind == "extractive_qa" else "accuracy"]
    for sample in sorted(samples, key=lambda s: int(s["doc_id"])):
        doc = sample["doc"]
        row: dict[str, Any] = {
            "id": str(doc["id"]),
            "correct": float(sample[correct_key]),
            "prediction": _prediction(meta, sample),
            "label": doc["answers"] if meta.kind == "extractive_qa" else int(doc["label"]),
        }
        if meta.kind == "extractive_qa":
            row["f1"] = float(sample[meta.metrics["f1"]])
        rows.append(row)
    return rows


def _check_samples(
    task: str, meta: HarnessMeta, data: dict[str, Any], samples: list[dict[str, Any]], where: Path
) -> tuple[dict[str, float], str]:
    """The task's scores by harness metric (lm-eval's numbers, each checked against its samples)."""
    reported = data["results"].get(task, {})
    filt = _filter_of(task, reported, next(iter(meta.metrics.values())), where)
    samples[:] = [s for s in samples if s.get("filter", filt) == filt]
    doc_ids = [int(s["doc_id"]) for s in samples]
    if len(set(doc_ids)) != len(doc_ids):
        raise HarnessError(f"{task}: a document has several samples under filter {filt!r}", file=where)
    scores: dict[str, float] = {}
    for metric, key in meta.metrics.items():
        value = reported.get(f"{key},{filt}")
        if not isinstance(value, (int, float)):
            raise HarnessError(f"{task}: lm-eval reported no {key!r} under filter {filt!r}", file=where)
        try:
            per_sample = [float(s[key]) for s in samples]
        except (KeyError, TypeError, ValueError):
            raise HarnessError(f"{task}: a sample has no numeric {key!r}", file=where) from None
        mean = math.fsum(per_sample) / len(per_sample) if per_sample else float("nan")
        if not abs(mean - float(value)) <= TOLERANCE:
            raise HarnessError(
                f"{task}: the mean of the samples' {key!r} is {mean!r} but lm-eval reported {value!r} "
                "(a filter or limit that differs from the samples?); not imported",
                file=where,
            )
        if not 0.0 <= float(value) <= 1.0 or any(not 0.0 <= v <= 1.0 for v in per_sample):
            raise HarnessError(f"{task}: {key!r} is not a fraction in [0, 1]", file=where)
        scores[metric] = float(value)
    return scores, filt


def _model_identity(data: Mapping[str, Any], override: ModelOverride | None) -> tuple[str, str | None, str]:
    if override is not None:
        return override.model, override.revision, override.model_source
    config = data.get("config") or {}
    args = config.get("model_args")
    if isinstance(args, str):
        args = dict(part.split("=", 1) for part in args.split(",") if "=" in part)
    args = args if isinstance(args, dict) else {}
    model = args.get("pretrained") or data.get("model_name") or config.get("model")
    if not model:
        raise HarnessError("the results name no model (config.model_args pretrained=…)", field="config")
    model = str(model)
    revision = config.get("model_sha") or args.get("revision") or config.get("model_revision")
    source = str(Path(model).resolve()) if Path(model).exists() else f"hub:{model}"
    return model, (str(revision) if revision else None), source


def _task_hash(data: Mapping[str, Any], task: str, samples: list[dict[str, Any]]) -> str:
    recorded = (data.get("task_hashes") or {}).get(task)
    if recorded:
        return str(recorded)
    joined = "".join(
        f"{s.get('doc_hash', '')}{s.get('prompt_hash', '')}{s.get('target_hash', '')}" for s in samples
    )
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def _plan_task(
    store: ResultsStore,
    results_path: Path,
    data: dict[str, Any],
    task: str,
    meta: HarnessMeta,
    *,
    name: str,
    override: ModelOverride | None,
    code_version: str | None,
    extra_provenance: Mapping[str, Any],
    run_key: str | None,
) -> _Planned:
    samples = _read_samples(samples_file(results_path, task), results_path)
    scores, filt = _check_samples(task, meta, data, samples, samples_file(results_path, task))
    config = data.get("config") or {}
    limit = config.get("limit")
    if len(samples) != meta.n_examples and limit is None:
        raise HarnessError(
            f"{task}: {len(samples)} samples for {meta.n_examples} documents and no limit recorded",
            file=samples_file(results_path, task),
        )
    if meta.main_metric in scores:
        main = scores[meta.main_metric]
    elif meta.main_metric == "em_f1_mean" and {"exact_match", "f1"} <= scores.keys():
        main = scores["em_f1_mean"] = (scores["exact_match"] + scores["f1"]) / 2
    else:
        raise HarnessError(
            f"{task}: main metric {meta.main_metric!r} is not among the imported metrics",
            file=results_path,
            allowed=list(scores),
        )
    model, revision, source = _model_identity(data, override)
    shots = int((data.get("n-shot") or {}).get(task, 0))
    seed = config.get("fewshot_seed")
    task_config = (data.get("configs") or {}).get(task, {})
    generation = task_config.get("generation_kwargs")
    lm_eval_version = data.get("lm_eval_version")
    task_hash = _task_hash(data, task, samples)
    key_parts = {
        "model": model,
        "revision": revision,
        "lm_eval_version": lm_eval_version,
        "task": task,
        "task_hash": task_hash,
        "shots": shots,
        "fewshot_seed": seed,
        "gen_kwargs": config.get("gen_kwargs"),
        "generation_kwargs": generation,
        "data_sha256": meta.data_sha256,
        "limit": limit,
        "filter": filt,
    }
    job_key = _sha256(key_parts)
    checkpoint_key = _sha256({"model": model, "revision": revision})[:16]
    path = store.record_path(name, meta.task, meta.split, meta.language, job_key)
    record = Record(
        job_key=job_key,
        grid=GRID,
        checkpoint=CheckpointInfo(
            name=name,
            key=checkpoint_key,
            model=model,
            model_source=source,
            model_revision=revision,
            condition="prompted",
            source_type="none",
            lineage=[LineageStep(phase="base", key=checkpoint_key, name=model, source=source)],
            regime="prompted",
            shots=shots,
        ),
        seed=int(seed) if isinstance(seed, int) else 0,
        task=TaskInfo(
            name=meta.task, version=meta.task_version, kind=meta.kind, protocol=f"prompted {shots}-shot"
        ),
        split=SplitInfo(name=meta.split, domain=meta.domain, in_domain=meta.in_domain),
        language=meta.language,
        n_examples=len(samples),
        scores=scores,
        main_metric=meta.main_metric,
        main_score=main,
        data={"sha256": meta.data_sha256, "lm_eval_task": task, "formulation": meta.formulation},
        settings={
            "shots": shots,
            "fewshot_seed": seed,
            "limit": limit,
            "filter": filt,
            "generation_kwargs": generation,
            "gen_kwargs": config.get("gen_kwargs"),
            "output_type": task_config.get("output_type"),
        }
        | ({"run_key": run_key} if run_key else {}),
        provenance={
            "code_version": code_version,
            "created": _now(),
            "lm_eval": {
                "version": lm_eval_version,
                "git_hash": data.get("git_hash"),
                "task": task,
                "task_version": (data.get("versions") or {}).get(task),
                "task_hash": task_hash,
                "model": model,
                "model_revision": revision,
                "model_sha": config.get("model_sha"),
                "model_args": config.get("model_args"),
                "model_dtype": config.get("model_dtype"),
                "batch_size": config.get("batch_size"),
                "device": config.get("device"),
                "date": data.get("date"),
                "transformers_version": data.get("transformers_version"),
                "results_file": _shown(results_path, store.root),
                "samples_file": samples_file(results_path, task).name,
            }
            | dict(extra_provenance),
            "job_key_parts": key_parts,
        },
        predictions=str(path.with_suffix(".predictions.jsonl").relative_to(store.root)),
    )
    return _Planned(record, _rows(meta, samples, samples_file(results_path, task)), path)


def _shown(path: Path, root: Path) -> str:
    """``path`` relative to the results folder when inside it (eval-lm's runs), else absolute."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path(root).resolve()))
    except ValueError:
        return str(resolved)


def import_results_file(
    results_path: Path,
    store_root: Path,
    *,
    name: str,
    tasks: Iterable[str] | None = None,
    override: ModelOverride | None = None,
    code_version: str | None = None,
    extra_provenance: Mapping[str, Any] | None = None,
    run_key: str | None = None,
) -> ImportReport:
    """Import the harness tasks of one results file (``tasks``: only these)."""
    data = _read_json(Path(results_path))
    wanted = None if tasks is None else set(tasks)
    selected = {t: data for t in data["results"] if wanted is None or t in wanted}
    return _import(
        {t: Path(results_path) for t in selected},
        {Path(results_path): data},
        store_root,
        name=name,
        override=override,
        code_version=code_version,
        extra_provenance=extra_provenance or {},
        run_key=run_key,
    )


def import_lm_eval(
    results_dir: Path,
    store_root: Path,
    *,
    name: str,
    code_version: str | None = None,
    override: ModelOverride | None = None,
) -> ImportReport:
    """Every harness task found under ``results_dir`` (its newest results file) into the store."""
    results_dir = Path(results_dir)
    if not results_dir.exists():
        raise HarnessError("results folder does not exist", file=results_dir)
    files = results_files(results_dir) if results_dir.is_dir() else [results_dir]
    if not files:
        raise HarnessError("no lm-eval results file (results_<date>.json) in this folder", file=results_dir)
    loaded = {path: _read_json(path) for path in files}
    newest: dict[str, Path] = {}
    for path, data in loaded.items():  # oldest first: later files win
        for task in data["results"]:
            newest[task] = path
    return _import(
        newest,
        loaded,
        store_root,
        name=name,
        override=override,
        code_version=code_version,
        extra_provenance={},
        run_key=None,
    )


def _import(
    newest: dict[str, Path],
    loaded: dict[Path, dict[str, Any]],
    store_root: Path,
    *,
    name: str,
    override: ModelOverride | None,
    code_version: str | None,
    extra_provenance: Mapping[str, Any],
    run_key: str | None,
) -> ImportReport:
    checked_name(name, field="--name")
    store = ResultsStore(Path(store_root))
    report = ImportReport()
    models = {_model_identity(loaded[path], override)[:2] for path in set(newest.values())}
    if len(models) > 1:
        shown = sorted(f"{model}@{revision}" for model, revision in models)
        raise HarnessError(
            "these results are of several models; import one model's folder at a time under its name",
            file=next(iter(sorted(set(newest.values())))).parent,
            allowed=shown,
        )
    planned: list[_Planned] = []
    for task, path in sorted(newest.items()):
        data = loaded[path]
        config = (data.get("configs") or {}).get(task)
        if not isinstance(config, Mapping):  # a group's aggregate row: its subtasks have their own
            report.skipped.append(f"{task}: a group (its tasks are imported one by one)")
            continue
        try:
            meta = harness_meta(config)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise HarnessError(
                f"{task}: metadata.harness is not valid: {first['msg']}",
                file=path,
                field=".".join(str(p) for p in first["loc"]),
            ) from None
        if meta is None:
            report.skipped.append(f"{task}: not a harness task (no metadata.harness)")
            continue
        planned.append(
            _plan_task(
                store,
                path,
                data,
                task,
                meta,
                name=name,
                override=override,
                code_version=code_version,
                extra_provenance=extra_provenance,
                run_key=run_key,
            )
        )
    # everything checked: now write (predictions first, the record last, each atomic)
    for item in planned:
        existing = _existing(item.path, item.record.job_key)
        if existing is not None:
            report.records.append(existing)
            report.unchanged.append(item.path)
            continue
        store.write(item.record, item.rows, item.path)
        report.records.append(item.record)
        report.written.append(item.path)
    return report


def _existing(path: Path, job_key: str) -> Record | None:
    if not path.is_file() or not path.with_suffix(".predictions.jsonl").is_file():
        return None
    try:
        record = read_record(path)
    except HarnessError:
        return None
    return record if record.job_key == job_key else None


def stored_run_keys(store_root: Path, name: str) -> set[str]:
    """The ``settings.run_key`` of ``name``'s stored records whose predictions are there (eval-lm's resume)."""
    folder = ResultsStore(Path(store_root)).records_dir / name
    keys: set[str] = set()
    if not folder.is_dir():
        return keys
    for path in sorted(folder.glob("*.json")):
        try:
            record = read_record(path)
        except HarnessError:
            continue
        if path.with_suffix(".predictions.jsonl").is_file():
            run_key = record.settings.get("run_key")
            if isinstance(run_key, str):
                keys.add(run_key)
    return keys
