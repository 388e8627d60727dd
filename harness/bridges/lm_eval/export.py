"""``harness export lm-eval``: the catalogue's targets as an lm-eval 0.4 task folder, data beside the YAMLs.

One lm-eval task per target × split (in-domain and every domain-shifted one) × language whose data can be
read here (local files, else the task's hub dataset unless offline), named and described as ``naming`` says. The documents are the rows the harness's evaluation
job scores for encoders: read through the same ``load_rows`` call (view, filter, label map and limit
included), so ids and gold labels are the same. The folder::

    OUT/manifest.json            every task with its HarnessMeta, the groups, what was left out and why
    OUT/tasks/<name>.yaml        one lm-eval task each, plus xh_metrics.py (process_results, stdlib only)
    OUT/groups/<group>.yaml      per target, per target × split, per language, and ``xh`` for all
    OUT/data/<target>/<name>.jsonl, OUT/data/<target>/fewshot.<lang>.jsonl

The YAMLs name their data by absolute path (lm-eval 0.4.13 resolves ``data_files`` against the working
directory, not the YAML): moving the folder needs a re-export (or an edit of the paths). The folder is
built beside OUT and swapped in, so a failed export leaves the previous one; the same inputs give the same
bytes.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from harness.bridges.lm_eval import naming
from harness.bridges.lm_eval.formulations import Formulation, formulation_for
from harness.bridges.lm_eval.naming import HarnessMeta
from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.catalogue.loader import Catalogue
    from harness.catalogue.schema import EvalSplit, TaskSpec

EXPORTED_KINDS = ("classification", "multiple_choice", "extractive_qa")
NOT_APPLICABLE: dict[str, str] = {
    "tagging": "per-token labels have no faithful single-prompt formulation (a generated tag sequence "
    "would need an aligner and would not be the same measurement as the encoders' first-sub-token tags)",
    "retrieval": "ranking a whole target-side pool by embedding similarity is not a prompted-model "
    "measurement (no per-example prompt over a thousand candidates)",
    "mining": "bitext mining thresholds margin scores over every sentence pair of two corpora: no "
    "per-example prompt",
    "masked_lm": "an intermediate training objective (masked-token accuracy), not an evaluation target",
}
MAX_ANSWER_TOKENS = 64
FEWSHOT_POOL = 256  # the first rows of the English dev (else train) split: lm-eval samples K of them
MANIFEST = "manifest.json"
METRICS_MODULE = "xh_metrics"
FORMAT = "xh-lm-eval-export"
AGGREGATE = "unweighted mean over the group's tasks (weight_by_size: false)"


@dataclass(frozen=True)
class ExportedTask:
    name: str
    meta: HarnessMeta
    yaml_path: Path


@dataclass(frozen=True)
class NotApplicable:
    task: str
    kind: str
    reason: str


@dataclass(frozen=True)
class Unavailable:
    task: str
    split: str
    language: str
    reason: str


@dataclass
class ExportResult:
    out_dir: Path
    tasks: list[ExportedTask] = field(default_factory=list)
    not_applicable: list[NotApplicable] = field(default_factory=list)
    unavailable: list[Unavailable] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)


# ---- entry point ---------------------------------------------------------------------------------------


def export_lm_eval(
    catalogue: Catalogue,
    out_dir: Path,
    *,
    patterns: Sequence[str] = (),
    shots: int = 0,
    data_dir: Path | None = None,
) -> ExportResult:
    """Write the lm-eval task folder for the targets matching ``patterns`` (shell-style, all targets when
    empty) to ``out_dir``; ``shots`` becomes every task's ``num_fewshot`` (examples from English dev, else
    train). ``data_dir`` replaces ``$HARNESS_DATA_DIR`` while reading. Bad input is a ``HarnessError``
    before anything is written."""
    if shots < 0:
        raise HarnessError(f"{shots} few-shot examples: give 0 or more", field="--shots")
    out_dir = Path(out_dir).absolute()
    _check_out_dir(out_dir)
    targets = _select_targets(catalogue, patterns)
    with _data_dir(data_dir):
        return _export(catalogue, targets, out_dir, shots)


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise HarnessError("the output folder is a file", file=out_dir, field="OUT_DIR")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MANIFEST).is_file():
        raise HarnessError(
            f"the output folder is not empty and holds no {MANIFEST} of an earlier export; "
            "name a new or empty folder",
            file=out_dir,
            field="OUT_DIR",
        )


def _select_targets(catalogue: Catalogue, patterns: Sequence[str]) -> list[TaskSpec]:
    from harness.catalogue.schema import TaskSpec

    targets = []
    for name in sorted(catalogue.tasks):
        task = catalogue.tasks[name].spec
        if isinstance(task, TaskSpec) and task.role == "target":
            targets.append(task)
    names = [t.name for t in targets]
    for pattern in patterns:
        if not fnmatch.filter(names, pattern):
            raise HarnessError(f"pattern {pattern!r} matches no target task", field="--tasks", allowed=names)
    if patterns:
        targets = [t for t in targets if any(fnmatch.fnmatchcase(t.name, p) for p in patterns)]
    return targets


@contextlib.contextmanager
def _data_dir(data_dir: Path | None) -> Iterator[None]:
    if data_dir is None:
        yield
        return
    if not Path(data_dir).is_dir():
        raise HarnessError("the data folder does not exist", file=data_dir, field="--data-dir")
    before = os.environ.get("HARNESS_DATA_DIR")
    os.environ["HARNESS_DATA_DIR"] = str(Path(data_dir).absolute())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HARNESS_DATA_DIR", None)
        else:
            os.environ["HARNESS_DATA_DIR"] = before


# ---- building --------------------------------------------------------------------------------------------


@dataclass
class _Files:
    """Relative path → bytes, written at the end in one go."""

    files: dict[str, bytes] = field(default_factory=dict)

    def add(self, rel: str, content: bytes) -> None:
        if rel in self.files:
            raise HarnessError(f"two exported files would be written to {rel!r}", field="names")
        self.files[rel] = content


def _export(catalogue: Catalogue, targets: list[TaskSpec], out_dir: Path, shots: int) -> ExportResult:
    result = ExportResult(out_dir)
    files = _Files()
    entries: list[dict[str, Any]] = []
    fewshot_sources: dict[str, str] = {}
    for task in targets:
        if task.kind not in EXPORTED_KINDS:
            reason = NOT_APPLICABLE.get(task.kind, f"kind {task.kind!r} has no prompted formulation")
            result.not_applicable.append(NotApplicable(task.name, task.kind, reason))
            continue
        base_dir = catalogue.task_path(task.name).parent
        cells = [(s, lang) for s in task.splits for lang in task.split_languages(s)]
        formulation = formulation_for(task.name, task.kind, task.labels, sorted({lang for _, lang in cells}))
        fewshot_rows: list[dict[str, Any]] | None = None
        if shots > 0:
            fewshot_rows, source = _fewshot_rows(task, base_dir)
            if fewshot_rows is None:
                for split, lang in cells:
                    result.unavailable.append(Unavailable(task.name, split.name, lang, source))
                continue
            fewshot_sources[task.name] = source
        written_fewshot: set[str] = set()
        for split, lang in cells:
            docs = _split_docs(task, split, lang, base_dir, formulation, result)
            if docs is None:
                continue
            name = naming.task_name(task.name, split.name, lang)
            data_rel = f"data/{naming.safe(task.name)}/{name}.jsonl"
            data = _jsonl(docs)
            files.add(data_rel, data)
            fewshot_rel = None
            if fewshot_rows is not None:
                fewshot_rel = f"data/{naming.safe(task.name)}/fewshot.{naming.safe(lang)}.jsonl"
                if fewshot_rel not in written_fewshot:
                    files.add(fewshot_rel, _jsonl(_documents(task, fewshot_rows, "en", lang, formulation)))
                    written_fewshot.add(fewshot_rel)
            meta = HarnessMeta.model_validate(
                {
                    "task": task.name,
                    "task_version": task.version,
                    "kind": task.kind,
                    "split": split.name,
                    "domain": split.domain,
                    "in_domain": split.in_domain,
                    "language": lang,
                    "main_metric": task.metric,
                    "metrics": naming.KIND_METRICS[task.kind],
                    "n_examples": len(docs),
                    "data_sha256": hashlib.sha256(data).hexdigest(),
                    "formulation": formulation.name,
                    "harness_version": _harness_version(),
                    "shots": shots,
                    "fewshot_source": fewshot_sources.get(task.name),
                }
            )
            yaml_rel = f"tasks/{name}.yaml"
            files.add(
                yaml_rel, _task_yaml(name, task, formulation, meta, out_dir, data_rel, fewshot_rel, shots)
            )
            result.tasks.append(ExportedTask(name, meta, out_dir / yaml_rel))
            entries.append({"name": name, "yaml": yaml_rel, "data": data_rel, "fewshot": fewshot_rel})
    result.groups = _groups(result.tasks)
    _check_unique(result)
    metric_kinds = {t.name: t.meta.kind for t in result.tasks}
    for group, members in result.groups.items():
        files.add(f"groups/{group}.yaml", _group_yaml(group, members, metric_kinds))
    files.add(f"tasks/{METRICS_MODULE}.py", (Path(__file__).parent / f"{METRICS_MODULE}.py").read_bytes())
    manifest = _manifest(result, entries, shots, fewshot_sources)
    files.add(MANIFEST, (json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode())
    _write_atomically(out_dir, files)
    return result


def _harness_version() -> str:
    """The installed distribution's version (the bridges layer does not import the ``harness`` root)."""
    try:
        return importlib.metadata.version("xtreme-harness")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _split_docs(
    task: TaskSpec,
    split: EvalSplit,
    lang: str,
    base_dir: Path,
    formulation: Formulation,
    result: ExportResult,
) -> list[dict[str, Any]] | None:
    """The split's documents, or None (recorded in ``result.unavailable``) when its data cannot be read
    here: local files, else the hub dataset the task names (``datasets.load_dataset``), unless offline."""
    from harness.data.loaders import load_rows
    from harness.data.split_views import availability

    missing = availability(task, split, lang, base_dir)
    if missing is not None:
        result.unavailable.append(Unavailable(task.name, split.name, lang, missing.reason))
        return None
    split_name = split.split or split.name
    # exactly the evaluation job's read (harness/runner/work.py evaluate_one), without a grid's eval_limit
    rows = load_rows(
        task,
        split=split_name,
        language=lang,
        base_dir=base_dir,
        dataset=split.dataset,
        limit=split.limit,
        view=split,
    ).rows
    try:
        return _documents(task, rows.to_list(), lang, lang, formulation)
    except _NoGold as exc:
        result.unavailable.append(Unavailable(task.name, split.name, lang, str(exc)))
        return None


def _fewshot_rows(task: TaskSpec, base_dir: Path) -> tuple[list[dict[str, Any]] | None, str]:
    """The English dev (else train) rows few-shot examples come from, with a description; (None, why)."""
    from harness.data.loaders import load_rows, plan_source
    from harness.data.split_views import offline

    tried = []
    for role, ref in (("dev", task.dev), ("train", task.train)):
        if ref is None:
            continue
        if ref.language != "en":
            tried.append(f"{role} is in {ref.language!r}, not English")
            continue
        dataset = ref.dataset or task.dataset
        try:
            origin = plan_source(dataset, ref.split, ref.language, base_dir, task).origin
        except HarnessError as exc:
            tried.append(f"{role}: {exc.message}")
            continue
        if origin == "hub" and offline():
            tried.append(f"{role}: on the hub only, and the hub is off (HF_HUB_OFFLINE)")
            continue
        limit = min(FEWSHOT_POOL, ref.limit) if ref.limit else FEWSHOT_POOL
        rows = load_rows(
            task, split=ref.split, language="en", base_dir=base_dir, dataset=ref.dataset, limit=limit
        )
        kept = [r for r in rows.rows.to_list() if task.kind != "extractive_qa" or _golds(r)]
        if not kept:
            tried.append(f"{role}: no row with a gold answer")
            continue
        return kept, f"English {role} split {ref.split!r}, first {len(kept)} rows"
    return None, "few-shot examples need English dev or train data (" + (
        "; ".join(tried) or "none declared"
    ) + ")"


class _NoGold(Exception):
    pass


def _golds(row: Mapping[str, Any]) -> list[str]:
    from harness.kinds.extractive_qa import gold_answers

    return [text for text, _ in gold_answers(row.get("answers"))]


def _documents(
    task: TaskSpec, rows: list[dict[str, Any]], row_lang: str, prompt_lang: str, formulation: Formulation
) -> list[dict[str, Any]]:
    """Rows as lm-eval documents: ``id``, the gold (``label`` / ``answers``), the inputs, ``prompt`` and
    ``choices`` rendered in ``prompt_lang``."""
    from harness.kinds.classification import label_index

    docs = []
    if task.kind == "extractive_qa":
        empty = [str(r["id"]) for r in rows if not _golds(r)]
        if empty:
            raise _NoGold(f"{len(empty)} of {len(rows)} questions have no gold answer (first: {empty[0]!r})")
    for row in rows:
        doc: dict[str, Any] = {"id": str(row["id"])}
        if task.kind == "classification":
            doc["label"] = label_index(task, row["label"])
            doc["text"] = row["text"]
            if row.get("text_pair") is not None:
                doc["text_pair"] = row["text_pair"]
        elif task.kind == "multiple_choice":
            doc["label"] = int(row["label"])
            doc["question"] = row["question"]
        else:
            doc["answers"] = _golds(row)
            doc["context"] = row["context"]
            doc["question"] = row["question"]
            doc["language"] = row_lang
        doc.update(formulation.render(row, prompt_lang))
        docs.append(doc)
    return docs


def _jsonl(docs: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(d, ensure_ascii=False, sort_keys=True) + "\n" for d in docs).encode()


# ---- YAML ------------------------------------------------------------------------------------------------

_METRICS = {
    "multiple_choice": ("multiple_choice", ["acc", "xh_main"]),
    "extractive_qa": (None, ["exact_match", "f1", "em_f1_mean", "xh_main"]),
}


def _dump(data: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, width=100)


def _task_yaml(
    name: str,
    task: TaskSpec,
    formulation: Formulation,
    meta: HarnessMeta,
    out_dir: Path,
    data_rel: str,
    fewshot_rel: str | None,
    shots: int,
) -> bytes:
    files = {"test": str(out_dir / data_rel)}
    if fewshot_rel is not None:
        files["fewshot"] = str(out_dir / fewshot_rel)
    body: dict[str, Any] = {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": files},
        "test_split": "test",
    }
    if fewshot_rel is not None:
        body["fewshot_split"] = "fewshot"
    body["num_fewshot"] = shots
    body["output_type"] = formulation.output_type
    body["doc_to_text"] = "prompt"
    if task.kind == "extractive_qa":
        body["doc_to_target"] = "{{answers[0]}}"
        body["target_delimiter"] = formulation.target_delimiter
        # lm-eval's xquad/mlqa settings, with the answer capped at 64 tokens (lm-eval's default is 256:
        # a span answer that long is never right, and a short-context model could not take the prompt)
        body["generation_kwargs"] = {
            "until": ["\n"],
            "do_sample": False,
            "temperature": 0.0,
            "max_gen_toks": MAX_ANSWER_TOKENS,
        }
        metrics = _METRICS["extractive_qa"][1]
        function = "qa_mlqa" if _metric_style(task) == "mlqa" else "qa_squad"
    else:
        body["doc_to_choice"] = "choices"
        body["doc_to_target"] = "label"
        body["target_delimiter"] = formulation.target_delimiter
        metrics = _METRICS["multiple_choice"][1]
        function = "multiple_choice"
    body["metric_list"] = [{"metric": m, "aggregation": "mean", "higher_is_better": True} for m in metrics]
    body["metadata"] = {"version": float(task.version), naming.META_KEY: meta.model_dump(mode="json")}
    head = f"# exported by harness export lm-eval from target {task.name!r}: do not edit\n"
    return (head + _dump(body) + f"process_results: !function {METRICS_MODULE}.{function}\n").encode()


def _metric_style(task: TaskSpec) -> str:
    return str(task.params.get("metric_style", "squad"))


def _groups(tasks: list[ExportedTask]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for t in tasks:
        m = t.meta
        for group in (
            naming.target_group(m.task),
            naming.split_group(m.task, m.split),
            naming.language_group(m.language),
            naming.PREFIX,
        ):
            groups.setdefault(group, []).append(t.name)
    return {g: sorted(members) for g, members in sorted(groups.items())}


def _check_unique(result: ExportResult) -> None:
    seen: dict[str, str] = {}
    for t in result.tasks:
        what = f"task {t.meta.task} split {t.meta.split} language {t.meta.language}"
        if t.name in seen:
            raise HarnessError(
                f"exported name {t.name!r} of {what} clashes with {seen[t.name]}", field="names"
            )
        seen[t.name] = what
    for group in result.groups:
        if group in seen:
            raise HarnessError(f"group name {group!r} clashes with {seen[group]}", field="names")
        seen[group] = f"group {group}"


def _group_yaml(group: str, members: list[str], kinds: Mapping[str, str]) -> bytes:
    member_kinds = {kinds[m] for m in members}
    metrics = ["xh_main"]
    if member_kinds == {"extractive_qa"}:
        metrics += ["exact_match", "f1", "em_f1_mean"]
    elif "extractive_qa" not in member_kinds:
        metrics += ["acc"]
    body = {
        "group": group,
        "task": members,
        "aggregate_metric_list": [
            {"metric": m, "aggregation": "mean", "weight_by_size": False} for m in metrics
        ],
        "metadata": {"version": 1.0},
    }
    return (f"# exported by harness export lm-eval; aggregate: {AGGREGATE}\n" + _dump(body)).encode()


def _manifest(
    result: ExportResult, entries: list[dict[str, Any]], shots: int, fewshot_sources: dict[str, str]
) -> dict[str, Any]:
    metas = {t.name: t.meta.model_dump(mode="json") for t in result.tasks}
    return {
        "format": FORMAT,
        "version": 1,
        "shots": shots,
        "fewshot_sources": fewshot_sources,
        "aggregate": AGGREGATE + "; xh_main is acc (choices) or (EM + F1) / 2 (QA) per example",
        "data_paths": "absolute in the task YAMLs (lm-eval resolves data_files against the working "
        "directory): re-export after moving the folder",
        "tasks": [{**e, "harness": metas[e["name"]]} for e in entries],
        "groups": result.groups,
        "not_applicable": [asdict(n) for n in result.not_applicable],
        "unavailable": [asdict(u) for u in result.unavailable],
    }


# ---- writing ---------------------------------------------------------------------------------------------


def _write_atomically(out_dir: Path, files: _Files) -> None:
    """Everything into a fresh sibling folder, then swapped in for ``out_dir``."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for rel, content in sorted(files.files.items()):
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        staging.chmod(0o755)
        old = None
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            out_dir.rename(old)
        staging.rename(out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
