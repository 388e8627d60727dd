"""Score an XTREME (v1) submission folder exactly as the official ``evaluate.py`` does.

``score_submission(pred_dir, label_dir)`` returns ``(overall, detailed)`` with the official keys, nesting
and units (percent): ``detailed[task][metric][lang]``, ``detailed[task]["avg_<metric>"]`` (plain mean over
the task's languages, English included) and ``detailed[task]["avg_metric"]`` ((avg EM + avg F1) / 2 for
QA, else avg F1 or avg accuracy); ``overall`` holds a subgroup's mean of ``avg_metric`` only when every
task of the subgroup was scored, and ``all_task`` only when all nine were — the tasks and subgroups of
``tasks/targets/xtreme.yaml`` (``aggregate``).

What the official scorer does, and so do we:

- a task is scored only when it is a sub-folder of *both* folders; other folders and files are ignored;
- within a scored task every official language must have ``test-<lang>.tsv`` (``.json`` for QA) in
  both folders; files for other languages are ignored;
- ``.tsv`` files are read line by line with surrounding whitespace stripped (a whitespace-only line is
  still a line); tagging files are one tag per line with a blank line after each sentence;
- classification, tagging and Tatoeba need as many lines (sentences) as the labels; labels are
  compared as strings, so an unknown label is simply wrong;
- BUCC lines are compared as *sets* of pairs (duplicates count once, extra pairs lower precision);
- QA predictions are ``{question id: answer}``; unknown ids are ignored, missing ids score 0; a
  top-level ``"data"`` key is unwrapped (as for SQuAD files); a JSON list or string that contains none
  of the question ids answers nothing.

Where the official scorer crashes (a missing file, a line-count mismatch, an empty file, JSON it
cannot read, an answer that is not a string) we raise ``HarnessError`` naming the file instead.
The metric functions live in ``harness.scoring.qa``, ``.tagging`` and ``.bucc``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.catalogue.languages import XTREME_LANGUAGES
from harness.errors import HarnessError
from harness.resources import builtin_tasks_dir

if TYPE_CHECKING:
    from harness.catalogue.schema import GroupSpec

# The official TASK2LANGS order: tasks are scored (and the first problem reported) in this order. Which
# tasks form the groups and the overall score is tasks/targets/xtreme.yaml (``xtreme_group``).
XTREME_TASKS: tuple[str, ...] = (
    "pawsx",
    "xnli",
    "panx",
    "udpos",
    "bucc2018",
    "tatoeba",
    "xquad",
    "mlqa",
    "tydiqa",
)
QA_TASKS = frozenset({"xquad", "mlqa", "tydiqa"})
ACCURACY_TASKS = frozenset({"pawsx", "xnli", "tatoeba"})
TAGGING_TASKS = frozenset({"udpos", "panx"})
# the official key of the score over all of the group's tasks (``overall["all_task"]``)
OVERALL_KEY = "all_task"
XTREME_GROUP_FILE = Path("targets") / "xtreme.yaml"

Scores = dict[str, float]


def task_languages(task: str) -> list[str]:
    """The official languages of an XTREME task, in the official order."""
    return XTREME_LANGUAGES[task]


def submission_file(folder: Path, task: str, lang: str) -> Path:
    suffix = "json" if task in QA_TASKS else "tsv"
    return folder / task / f"test-{lang}.{suffix}"


# ---------------------------------------------------------------------------------------------- reading


def _read_text(path: Path) -> str:
    try:
        with path.open(encoding="utf-8") as handle:  # universal newlines, as the official open()
            return handle.read()
    except UnicodeDecodeError as exc:
        raise HarnessError(f"not UTF-8 text (byte {exc.start}: {exc.reason})", file=path) from None
    except OSError as exc:
        raise HarnessError(f"cannot read the file: {exc.strerror or exc}", file=path) from None


def read_lines(path: Path) -> list[str]:
    """Every line, stripped (the official ``read_label``).

    Lines end at LF, CRLF or CR only (not at the other characters ``str.splitlines`` knows); a final
    newline adds no line, a final whitespace-only line is a line."""
    lines = _read_text(path).split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.strip() for line in lines]


def read_tags(path: Path) -> list[list[str]]:
    """Sentences of tags (the official ``read_tag``, as ``harness.scoring.tagging`` reads it)."""
    from harness.scoring.tagging import read_tag_file

    try:
        return read_tag_file(path)
    except UnicodeDecodeError as exc:
        raise HarnessError(f"not UTF-8 text (byte {exc.start}: {exc.reason})", file=path) from None
    except OSError as exc:
        raise HarnessError(f"cannot read the file: {exc.strerror or exc}", file=path) from None


def read_json(path: Path) -> Any:
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise HarnessError(
            f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})", file=path
        ) from None


def squad_payload(obj: Any, path: Path) -> Any:
    """The official ``read_squad``: ``obj["data"]`` when ``"data" in obj``, else ``obj`` itself."""
    if isinstance(obj, dict):
        return obj.get("data", obj)
    if isinstance(obj, list | str):
        if "data" in obj:
            raise HarnessError(f"a JSON {type(obj).__name__} containing 'data' cannot be read", file=path)
        return obj
    raise HarnessError(f"expected a JSON object, found {_json_type(obj)}", file=path)


def _json_type(obj: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(obj), "a number")


# ------------------------------------------------------------------------------------------ QA parsing


def _expect(condition: bool, message: str, path: Path) -> None:
    if not condition:
        raise HarnessError(message, file=path)


def read_squad_labels(path: Path) -> list[dict]:
    """SQuAD-format gold articles, checked so that a malformed label file is one clear error."""
    articles = squad_payload(read_json(path), path)
    _expect(isinstance(articles, list), "expected SQuAD JSON: 'data' must be a list of articles", path)
    questions = 0
    for article in articles:
        _expect(
            isinstance(article, dict) and isinstance(article.get("paragraphs"), list),
            "every article needs a 'paragraphs' list",
            path,
        )
        for paragraph in article["paragraphs"]:
            _expect(
                isinstance(paragraph, dict) and isinstance(paragraph.get("qas"), list),
                "every paragraph needs a 'qas' list",
                path,
            )
            for qa in paragraph["qas"]:
                _check_question(qa, path)
                questions += 1
    _expect(questions > 0, "no questions: a QA label file needs at least one", path)
    return articles


def _check_question(qa: Any, path: Path) -> None:
    _expect(
        isinstance(qa, dict) and isinstance(qa.get("id"), str), "every question needs a string 'id'", path
    )
    answers = qa.get("answers")
    _expect(
        isinstance(answers, list)
        and all(isinstance(a, dict) and isinstance(a.get("text"), str) for a in answers),
        f"question {qa['id']}: 'answers' must be a list of {{'text': ...}}",
        path,
    )


def answered_questions(
    predictions: Any, articles: list[dict], path: Path, label_path: Path
) -> dict[str, str]:
    """``{question id: answer}`` for the gold questions that the submission answers.

    ``predictions`` is the submission after ``squad_payload``. Ids that are not gold questions are
    dropped (the official scorer never looks at them); membership is Python's ``in``, as official."""
    answered: dict[str, str] = {}
    for article in articles:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                qid = qa["id"]
                if qid not in predictions:
                    continue
                _expect(
                    isinstance(predictions, dict),
                    f"expected an object of answers, found {_json_type(predictions)}",
                    path,
                )
                answer = predictions[qid]
                _expect(
                    isinstance(answer, str),
                    f"question {qid}: the answer must be a string, found {_json_type(answer)}",
                    path,
                )
                _expect(bool(qa["answers"]), f"question {qid}: no gold answers", label_path)
                answered[qid] = answer
    return answered


# ------------------------------------------------------------------------------------------ per language


def accuracy(labels: list[str], predictions: list[str]) -> Scores:
    """Percentage of lines equal to the gold line (strings, already stripped)."""
    correct = sum(int(p == g) for p, g in zip(predictions, labels, strict=True))
    return {"accuracy": float(correct) / len(predictions) * 100}


def _check_counts(n_pred: int, n_gold: int, unit: str, pred_file: Path, label_file: Path) -> None:
    if n_pred != n_gold:
        raise HarnessError(f"{n_pred} {unit}, but the labels {label_file} have {n_gold}", file=pred_file)
    if n_gold == 0:
        raise HarnessError(f"no {unit} in the submission or in the labels {label_file}", file=pred_file)


def score_accuracy_file(pred_file: Path, label_file: Path) -> Scores:
    predictions, labels = read_lines(pred_file), read_lines(label_file)
    _check_counts(len(predictions), len(labels), "lines", pred_file, label_file)
    return accuracy(labels, predictions)


def score_tagging_file(pred_file: Path, label_file: Path) -> Scores:
    from harness.scoring.tagging import seqeval_scores

    predictions, labels = read_tags(pred_file), read_tags(label_file)
    _check_counts(len(predictions), len(labels), "sentences", pred_file, label_file)
    for index, (pred, gold) in enumerate(zip(predictions, labels, strict=True)):
        if len(pred) != len(gold):
            raise HarnessError(
                f"sentence {index + 1} has {len(pred)} tags, but the labels {label_file} have {len(gold)}",
                file=pred_file,
            )
    return seqeval_scores(labels, predictions)


def score_bucc_file(pred_file: Path, label_file: Path) -> Scores:
    from harness.scoring.bucc import bucc_scores

    return bucc_scores(read_lines(label_file), read_lines(pred_file))


def score_qa_file(pred_file: Path, label_file: Path, lang: str, task: str) -> Scores:
    from harness.scoring.qa import mlqa_evaluate, squad_evaluate

    predictions = squad_payload(read_json(pred_file), pred_file)  # official order: predictions first
    articles = read_squad_labels(label_file)
    answered = answered_questions(predictions, articles, pred_file, label_file)
    if task == "mlqa":
        return mlqa_evaluate(articles, answered, lang)
    return squad_evaluate(articles, answered)


def score_language(task: str, pred_file: Path, label_file: Path, lang: str) -> Scores:
    """One language of one task: ``{metric: percent}``."""
    if task in ACCURACY_TASKS:
        scores = score_accuracy_file(pred_file, label_file)
    elif task in TAGGING_TASKS:
        scores = score_tagging_file(pred_file, label_file)
    elif task == "bucc2018":
        scores = score_bucc_file(pred_file, label_file)
    elif task in QA_TASKS:
        scores = score_qa_file(pred_file, label_file, lang, task)
    else:
        raise HarnessError(f"not an XTREME task: {task!r}", allowed=XTREME_TASKS)
    return {metric: float(value) for metric, value in scores.items()}


# ------------------------------------------------------------------------------------------ per task


def score_task(task: str, pred_dir: Path, label_dir: Path) -> dict[str, Any]:
    """``{metric: {lang: score}, "avg_<metric>": mean, "avg_metric": task score}`` for one task."""
    per_metric: dict[str, dict[str, float]] = {}
    for lang in task_languages(task):
        pred_file = submission_file(pred_dir, task, lang)
        label_file = submission_file(label_dir, task, lang)
        for path, what in ((pred_file, "submission"), (label_file, "labels")):
            if not path.exists():
                raise HarnessError(
                    f"missing: the {what} of {task} must have a file for every official language "
                    f"({', '.join(task_languages(task))})",
                    file=path,
                )
        for metric, value in score_language(task, pred_file, label_file, lang).items():
            per_metric.setdefault(metric, {})[lang] = value
    result: dict[str, Any] = dict(per_metric)
    for metric, values in per_metric.items():
        result[f"avg_{metric}"] = sum(values.values()) / len(values)
    result["avg_metric"] = task_score(task, result)
    return result


def task_score(task: str, scores: Mapping[str, Any]) -> float:
    """The official ``avg_metric``: QA (avg EM + avg F1) / 2, else avg F1, else avg accuracy."""
    if task in QA_TASKS:
        return (scores["avg_exact_match"] + scores["avg_f1"]) / 2
    if "avg_f1" in scores:
        return scores["avg_f1"]
    return scores["avg_accuracy"]


def official_main_metric(task: str) -> str | None:
    """The harness metric whose mean over languages is the official ``avg_metric`` of an XTREME task
    (``task_score``): None for a task the official scorer does not know."""
    if task in QA_TASKS:
        return "em_f1_mean"
    if task in ACCURACY_TASKS:
        return "accuracy"
    return "f1" if task in XTREME_TASKS else None


@cache
def xtreme_group() -> GroupSpec:
    """The built-in ``tasks/targets/xtreme.yaml``: the official scorer's tasks and groups."""
    from harness.catalogue.loader import load_document
    from harness.catalogue.schema import GroupSpec

    spec = load_document(builtin_tasks_dir() / XTREME_GROUP_FILE).spec
    assert isinstance(spec, GroupSpec) and spec.metric_rule == "xtreme", XTREME_GROUP_FILE
    return spec


def aggregate(detailed: Mapping[str, Mapping[str, Any]], group: GroupSpec | None = None) -> dict[str, float]:
    """Group and overall scores from per-task ``avg_metric`` values (a pure function of its inputs).

    ``all_task`` is the mean over the group's tasks (XTREME's nine) and exists only when all are present;
    each subgroup (classification, tagging, qa, retrieval) only when all of its tasks are. Other keys of
    ``detailed`` are ignored. ``group``: default ``xtreme_group()``."""
    group = group or xtreme_group()
    wanted = {OVERALL_KEY: group.tasks, **group.subgroups}
    return {
        key: sum(detailed[t]["avg_metric"] for t in tasks) / len(tasks)
        for key, tasks in wanted.items()
        if all(task in detailed for task in tasks)
    }


def _task_folders(folder: Path, what: str) -> set[str]:
    if not folder.is_dir():
        raise HarnessError(f"the {what} folder does not exist or is not a folder", file=folder)
    return {child.name for child in folder.iterdir() if child.is_dir()}


def score_submission(pred_dir: Path, label_dir: Path) -> tuple[dict[str, float], dict[str, dict[str, Any]]]:
    """``(overall, detailed)`` exactly as the official ``evaluate(pred_dir, label_dir, "xtreme")``."""
    pred_dir, label_dir = Path(pred_dir), Path(label_dir)
    present = _task_folders(pred_dir, "prediction") & _task_folders(label_dir, "label")
    detailed = {task: score_task(task, pred_dir, label_dir) for task in XTREME_TASKS if task in present}
    return aggregate(detailed), detailed
