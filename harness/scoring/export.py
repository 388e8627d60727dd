"""Write stored predictions as an official XTREME submission folder (what ``evaluate.py`` reads).

``out_dir/<task>/test-<lang>.tsv`` (``.json`` for QA), one file per (task, language) record, lines in the
order of the record's per-example predictions file:

- pawsx, xnli: one predicted label per line;
- udpos, panx: one predicted tag per line per word, a blank line after each sentence
  (``prediction`` is the list of tags of one sentence);
- bucc2018: ``xx-id<TAB>en-id`` per mined pair. Either the row's ``id`` is the pair line and
  ``prediction`` says whether it was mined (1/0, as the ``mining`` kind stores it), or ``prediction`` is
  the English id paired with the row's ``id``, a full ``"xx-id<TAB>en-id"`` line, a ``[xx-id, en-id]``
  pair, or null/"" (nothing mined);
- tatoeba: the index of the retrieved English sentence, one integer per line;
- xquad, mlqa, tydiqa: ``{question id: answer text}`` (null is the empty answer).

Rows that did not follow XTREME's protocol (``protocol`` other than ``xtreme``) or were not zero-shot
(``zero_shot``: ``translate-train`` or ``not zero-shot``) are still exported, but listed in
``PROTOCOL-NOTE.txt`` beside the task folders (``protocol_warnings``): their scores are not comparable
with XTREME's published zero-shot numbers. So are the rows of a prompted checkpoint (a decoder LM given
k examples, imported from lm-eval: ``checkpoint.regime == "prompted"``), whatever their task protocol
says: prompting with k examples is not XTREME's fine-tune-then-transfer protocol.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from harness.catalogue.protocol import is_xtreme
from harness.errors import HarnessError
from harness.results.atomic import atomic_write_text
from harness.results.schema import Record
from harness.results.store import ResultsStore
from harness.scoring.xtreme import QA_TASKS, XTREME_TASKS, submission_file

Row = dict[str, Any]
RecordAndPredictions = tuple[Record, Sequence[Row]]
_LINE_BREAKS = ("\n", "\r")
PROTOCOL_NOTE = "PROTOCOL-NOTE.txt"


def _where(record: Record, index: int) -> str:
    return f"{record.task.name}/{record.language} ({record.predictions}, row {index + 1})"


def _one_line(value: Any, record: Record, index: int, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise HarnessError(f"{_where(record, index)}: the {what} must be a string, got {value!r}")
    text = str(value)
    if any(brk in text for brk in _LINE_BREAKS):
        raise HarnessError(f"{_where(record, index)}: the {what} {text!r} contains a line break")
    return text


def classification_lines(record: Record, rows: Sequence[Row]) -> str:
    return "".join(_one_line(row["prediction"], record, i, "label") + "\n" for i, row in enumerate(rows))


def tatoeba_lines(record: Record, rows: Sequence[Row]) -> str:
    out = []
    for i, row in enumerate(rows):
        value = row["prediction"]
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise HarnessError(f"{_where(record, i)}: a Tatoeba prediction must be an integer, got {value!r}")
        out.append(f"{value}\n")
    return "".join(out)


def tagging_lines(record: Record, rows: Sequence[Row]) -> str:
    out = []
    for i, row in enumerate(rows):
        tags = row["prediction"]
        if not isinstance(tags, list):
            raise HarnessError(
                f"{_where(record, i)}: a tagging prediction must be a list of tags, got {tags!r}"
            )
        for tag in tags:
            text = _one_line(tag, record, i, "tag")
            if not text.strip():
                raise HarnessError(f"{_where(record, i)}: an empty tag would end the sentence")
            out.append(text + "\n")
        out.append("\n")
    return "".join(out)


def bucc_pair(row: Row, record: Record, index: int) -> str | None:
    value = row["prediction"]
    if value in (0, 1) and "\t" in str(row["id"]):
        return (
            _one_line(row["id"], record, index, "pair") if value else None
        )  # a candidate pair, mined or not
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple) and len(value) == 2:
        src, tgt = (_one_line(v, record, index, "id") for v in value)
    elif isinstance(value, str) and "\t" in value:
        return _one_line(value, record, index, "pair")
    else:
        src, tgt = _one_line(row["id"], record, index, "id"), _one_line(value, record, index, "id")
    return f"{src}\t{tgt}"


def bucc_lines(record: Record, rows: Sequence[Row]) -> str:
    pairs = (bucc_pair(row, record, i) for i, row in enumerate(rows))
    return "".join(f"{pair}\n" for pair in pairs if pair is not None)


def qa_json(record: Record, rows: Sequence[Row]) -> str:
    answers: dict[str, str] = {}
    for i, row in enumerate(rows):
        qid, answer = str(row["id"]), row["prediction"]
        if answer is None:
            answer = ""
        if not isinstance(answer, str):
            raise HarnessError(
                f"{_where(record, i)}: a QA prediction must be the answer text, got {answer!r}"
            )
        if qid in answers:
            raise HarnessError(f"{_where(record, i)}: question id {qid!r} appears twice")
        answers[qid] = answer
    return json.dumps(answers, ensure_ascii=False, indent=1) + "\n"


def submission_text(record: Record, rows: Sequence[Row]) -> str:
    """The content of one submission file for one record."""
    task = record.task.name
    if task in QA_TASKS:
        return qa_json(record, rows)
    if task in ("pawsx", "xnli"):
        return classification_lines(record, rows)
    if task in ("udpos", "panx"):
        return tagging_lines(record, rows)
    if task == "bucc2018":
        return bucc_lines(record, rows)
    if task == "tatoeba":
        return tatoeba_lines(record, rows)
    raise HarnessError(f"task {task!r} is not an XTREME task", allowed=XTREME_TASKS)


def protocol_warnings(records: Iterable[Record]) -> list[str]:
    """One line per task whose exported rows are not XTREME protocol, not zero-shot or prompted."""
    problems: dict[str, set[str]] = {}
    for record in records:
        found = problems.setdefault(record.task.name, set())
        if not is_xtreme(record.task.protocol):
            found.add(f"not XTREME protocol ({record.task.protocol})")
        zero_shot = getattr(record.task, "zero_shot", None)
        if zero_shot not in (None, "zero-shot"):
            found.add(str(zero_shot))
        badge = record.checkpoint.badge
        if badge is not None:
            found.add(f"{badge}: a prompted decoder LM, not XTREME's fine-tuned zero-shot transfer")
    return [f"{task}: {', '.join(sorted(found))}" for task, found in sorted(problems.items()) if found]


def protocol_note(warnings: Sequence[str]) -> str:
    lines = [
        "These predictions are not all XTREME's zero-shot protocol; their scores are not comparable with",
        "published XTREME numbers:",
        *(f"- {w}" for w in warnings),
    ]
    return "\n".join(lines) + "\n"


def export_xtreme(records_and_predictions: Iterable[RecordAndPredictions], out_dir: Path) -> list[Path]:
    """Write one submission file per (record, predictions), and ``PROTOCOL-NOTE.txt`` when some rows
    are not XTREME protocol or not zero-shot (an older note is removed otherwise); returns the files
    written."""
    out_dir = Path(out_dir)
    pending: dict[Path, str] = {}
    records_and_predictions = list(records_and_predictions)
    warnings = protocol_warnings(record for record, _ in records_and_predictions)
    for record, rows in records_and_predictions:
        path = submission_file(out_dir, record.task.name, record.language)
        text = submission_text(record, rows)  # checks the task name before anything is written
        if path in pending:
            raise HarnessError(
                f"two records for {record.task.name}/{record.language}; export one seed at a time"
            )
        pending[path] = text
    note = out_dir / PROTOCOL_NOTE
    if warnings:
        pending[note] = protocol_note(warnings)
    for path, text in pending.items():
        atomic_write_text(path, text)
    if not warnings:
        note.unlink(missing_ok=True)
    return list(pending)


# ---------------------------------------------------------------------------------------- selection


def is_xtreme_test(record: Record) -> bool:
    return record.task.name in XTREME_TASKS and record.split.name == "test" and record.split.in_domain


def _pick(kind: str, wanted: Any, available: Sequence[Any], results: Path) -> Any:
    if wanted is not None:
        if wanted not in available:
            raise HarnessError(
                f"no in-domain test records of the XTREME tasks for {kind} {wanted!r}",
                file=results,
                allowed=[str(a) for a in available],
            )
        return wanted
    if len(available) != 1:
        raise HarnessError(
            f"several {kind}s have XTREME test records; name one with --{kind}",
            file=results,
            allowed=[str(a) for a in available],
        )
    return available[0]


def select_xtreme_records(
    store: ResultsStore, checkpoint: str | None = None, seed: int | None = None
) -> list[RecordAndPredictions]:
    """The in-domain ``test`` records of the nine XTREME tasks for one checkpoint and seed, with their
    per-example predictions. Without a checkpoint (seed) name, there must be exactly one."""
    records = [r for r in store.records() if is_xtreme_test(r)]
    if not records:
        raise HarnessError(
            "no in-domain test records of the XTREME tasks in this results folder",
            file=store.root,
            allowed=XTREME_TASKS,
        )
    name = _pick("checkpoint", checkpoint, sorted({r.checkpoint.name for r in records}), store.root)
    records = [r for r in records if r.checkpoint.name == name]
    chosen_seed = _pick("seed", seed, sorted({r.seed for r in records}), store.root)
    return [(r, store.predictions(r)) for r in records if r.seed == chosen_seed]
