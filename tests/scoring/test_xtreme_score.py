"""``harness.scoring.xtreme`` against numbers produced by RUNNING XTREME's official ``evaluate.py``.

Every submission below is built from the tiny label folder in ``fixtures/xtreme/labels``. For those the
official scorer scores, ``fixtures/xtreme/expected/<case>.json`` holds its ``(overall, detailed)``; for
those it crashes on, ``expected/crashes.json`` names the exception it raised. Regenerate both with

    python tests/scoring/test_xtreme_score.py --official /path/to/google-research/xtreme

(see ``fixtures/xtreme/README.md``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.catalogue.languages import XTREME_LANGUAGES
from harness.cli import main
from harness.errors import HarnessError
from harness.results.schema import Record
from harness.results.store import ResultsStore
from harness.scoring.export import export_xtreme, select_xtreme_records
from harness.scoring.xtreme import XTREME_TASKS, aggregate, score_submission

FIXTURES = Path(__file__).parent / "fixtures" / "xtreme"
LABELS = FIXTURES / "labels"
EXPECTED = FIXTURES / "expected"
QA = ("xquad", "mlqa", "tydiqa")

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

Builder = Callable[[Path], tuple[Path, Path]]  # a work folder -> (prediction folder, label folder)


# ------------------------------------------------------------------------------------ building blocks


def copy_tasks(dest: Path, tasks: tuple[str, ...] = XTREME_TASKS, source: Path = LABELS) -> Path:
    for task in tasks:
        shutil.copytree(source / task, dest / task)
    dest.mkdir(parents=True, exist_ok=True)
    return dest


def label_path(task: str, lang: str, root: Path = LABELS) -> Path:
    return root / task / f"test-{lang}.{'json' if task in QA else 'tsv'}"


def lines_of(task: str, lang: str) -> list[str]:
    return label_path(task, lang).read_text(encoding="utf-8").splitlines()


def sentences_of(task: str, lang: str) -> list[list[str]]:
    text = label_path(task, lang).read_text(encoding="utf-8")
    return [block.split("\n") for block in text.strip("\n").split("\n\n")]


def questions_of(task: str, lang: str) -> list[tuple[str, list[str]]]:
    data = json.loads(label_path(task, lang).read_text(encoding="utf-8"))["data"]
    return [
        (qa["id"], [a["text"] for a in qa["answers"]])
        for article in data
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        with path.open("w", encoding="utf-8", newline="") as handle:  # keep \r\n when asked for
            handle.write(text)


def tag_text(sentences: list[list[str]], newline: str = "\n") -> str:
    return "".join("".join(t + newline for t in s) + newline for s in sentences)


# ---------------------------------------------------------------------------- a noisy full submission


def noisy_pawsx(i: int, lang: str) -> str:
    lines = [str(1 - int(x)) if (k + i) % 3 == 0 else x for k, x in enumerate(lines_of("pawsx", lang))]
    if lang == "ja":
        lines[0] = "banana"  # an unknown label is just wrong
    if lang == "ko":
        return "".join(f" {x} \r\n" for x in lines)  # padding and CRLF are stripped
    return "".join(f"{x}\n" for x in lines)


def noisy_xnli(i: int, lang: str) -> str:
    rotate = {"entailment": "neutral", "neutral": "contradiction", "contradiction": "entailment"}
    lines = [rotate[x] if (k + i) % 2 else x for k, x in enumerate(lines_of("xnli", lang))]
    if lang == "sw":
        lines = [x.upper() for x in lines]
    text = "\n".join(lines)
    return text if lang == "th" else text + "\n"  # no final newline: still the same lines


def noisy_panx(i: int, lang: str) -> str:
    sents = sentences_of("panx", lang)
    sents[0] = [("I" + t[1:]) if t.startswith("B-") and k == 0 else t for k, t in enumerate(sents[0])]
    if i % 3 == 1:
        sents[1] = [t.replace("ORG", "LOC") for t in sents[1]]
    if i % 4 == 0:
        sents[1] = ["O"] * len(sents[1])
    if i % 5 == 2:
        sents[0][-1] = "B-MISC"
    return tag_text(sents, "\r\n" if lang == "en" else "\n")


def noisy_udpos(i: int, lang: str) -> str:
    sents = sentences_of("udpos", lang)
    if i % 2 == 0:
        sents[0] = ["PROPN" if t == "NOUN" else t for t in sents[0]]
    if i % 3 == 0:
        sents[1][1] = "NOUN"
    if lang == "yo":
        sents = [["NOUN"] * len(s) for s in sents]
    return tag_text(sents)


def noisy_bucc(i: int, lang: str) -> str:
    gold = lines_of("bucc2018", lang)
    if lang == "de":  # every pair twice, plus one wrong pair
        return "".join(f"{p}\n" for p in gold + gold + [f"de-000099\ten-{i:06d}"])
    if lang == "fr":  # a reversed pair, a blank line and two correct ones
        src, tgt = gold[0].split("\t")
        return f"{tgt}\t{src}\n\n{gold[1]}\n{gold[2]}\n"
    if lang == "ru":
        return ""
    return "".join(f"  {p}  \n" for p in gold[:3]) + f"{gold[3]}\textra\n"  # zh: a 3-column line


def noisy_tatoeba(i: int, lang: str) -> str:
    lines = [str(int(x) + 1) if (k + i) % 4 == 0 else x for k, x in enumerate(lines_of("tatoeba", lang))]
    if lang == "ja":
        lines = ["0" + x for x in lines]  # "01" is not "1": compared as strings
    if lang == "de":
        lines = [f" {x}\t" for x in lines]
    return "".join(f"{x}\n" for x in lines)


def noisy_qa(task: str, i: int, lang: str) -> str:
    questions = questions_of(task, lang)
    answers: Any = {}
    for k, (qid, golds) in enumerate(questions):
        if (k + i) % 3 == 2:
            continue  # unanswered
        answers[qid] = f" {golds[0].upper()}!" if k == 0 else f"{golds[-1]} and more words"
    answers[f"{task}-{lang}-extra"] = "an id that is not a question"
    special: dict[str, Any] = {
        ("xquad", "es"): {"data": answers},
        ("xquad", "de"): [],
        ("xquad", "el"): {**{q: g[0] for q, g in questions}, "bogus": 42, "other": None},
        ("mlqa", "zh"): {questions[0][0]: "1889", questions[1][0]: "工程师"},
        ("mlqa", "ar"): {questions[0][0]: "عام 1889", questions[1][0]: "باريس"},
        ("mlqa", "es"): {questions[0][0]: "ingenieros", questions[1][0]: "la ciudad de París"},
        ("mlqa", "de"): {questions[0][0]: "der Ingenieur Gustave Eiffel", questions[1][0]: "1889"},
        ("tydiqa", "fi"): {},
        ("tydiqa", "sw"): {questions[0][0]: "", questions[1][0]: "330 metres."},
        ("tydiqa", "ko"): "a string that names no question",
    }
    return json.dumps(special.get((task, lang), answers), ensure_ascii=False)


NOISY: dict[str, Callable[[int, str], str]] = {
    "pawsx": noisy_pawsx,
    "xnli": noisy_xnli,
    "panx": noisy_panx,
    "udpos": noisy_udpos,
    "bucc2018": noisy_bucc,
    "tatoeba": noisy_tatoeba,
    **{task: (lambda i, lang, task=task: noisy_qa(task, i, lang)) for task in QA},
}


def write_noisy(pred: Path, tasks: tuple[str, ...] = XTREME_TASKS) -> Path:
    for task in tasks:
        for i, lang in enumerate(XTREME_LANGUAGES[task]):
            write(label_path(task, lang, pred), NOISY[task](i, lang))
    pred.mkdir(parents=True, exist_ok=True)
    return pred


# --------------------------------------------------------------------------------- scored submissions


def write_gold_answers(pred: Path) -> None:
    for task in QA:
        for lang in XTREME_LANGUAGES[task]:
            answers = {qid: golds[0] for qid, golds in questions_of(task, lang)}
            write(label_path(task, lang, pred), json.dumps(answers, ensure_ascii=False))


def case_perfect(work: Path) -> tuple[Path, Path]:
    pred = copy_tasks(work / "pred", tuple(t for t in XTREME_TASKS if t not in QA))
    write_gold_answers(pred)
    return pred, LABELS


def case_qa_labels_as_predictions(work: Path) -> tuple[Path, Path]:
    """The SQuAD label files submitted as predictions: their "data" list answers nothing, score 0."""
    return copy_tasks(work / "pred", QA), LABELS


def case_noisy(work: Path) -> tuple[Path, Path]:
    pred = write_noisy(work / "pred")
    write(pred / "pawsx" / "test-it.tsv", "1\n")  # a language the task does not have: ignored
    return pred, LABELS


def case_task_missing(work: Path) -> tuple[Path, Path]:
    """No udpos predictions, no tatoeba labels: both skipped, no tagging/retrieval group, no all_task."""
    pred = write_noisy(work / "pred", tuple(t for t in XTREME_TASKS if t != "udpos"))
    shutil.copytree(LABELS / "pawsx", pred / "xcopa")  # not an XTREME v1 task: ignored
    write(pred / "udpos", "a file, not a folder\n")
    labels = copy_tasks(work / "labels", tuple(t for t in XTREME_TASKS if t != "tatoeba"))
    return pred, labels


def case_qa_only(work: Path) -> tuple[Path, Path]:
    return write_noisy(work / "pred", QA), LABELS


def case_empty_scored(work: Path) -> tuple[Path, Path]:
    """The empty submissions the official scorer still scores: BUCC with no pairs, QA with no answers."""
    pred = work / "pred"
    for lang in XTREME_LANGUAGES["bucc2018"]:
        write(label_path("bucc2018", lang, pred), "")
    for task in QA:
        for lang in XTREME_LANGUAGES[task]:
            write(label_path(task, lang, pred), "{}")
    copy_tasks(pred, ("tatoeba",))
    return pred, LABELS


def case_bucc_pairs(work: Path) -> tuple[Path, Path]:
    """Duplicates, extra pairs, blank lines, missing pairs — BUCC compares sets of pairs."""
    pred = work / "pred"
    for i, lang in enumerate(XTREME_LANGUAGES["bucc2018"]):
        gold = lines_of("bucc2018", lang)
        extra = [f"{lang}-{900 + k:06d}\ten-{k:06d}" for k in range(i + 1)]
        write(label_path("bucc2018", lang, pred), "".join(f"{p}\n" for p in gold[: i + 1] * 3 + extra + [""]))
    return pred, LABELS


def case_no_tasks(work: Path) -> tuple[Path, Path]:
    pred = work / "pred"
    write(pred / "notes.txt", "no task folders here\n")
    return pred, LABELS


SCORED: dict[str, Builder] = {
    "perfect": case_perfect,
    "noisy": case_noisy,
    "task_missing": case_task_missing,
    "qa_only": case_qa_only,
    "empty_scored": case_empty_scored,
    "bucc_pairs": case_bucc_pairs,
    "no_tasks": case_no_tasks,
    "qa_labels_as_predictions": case_qa_labels_as_predictions,
}


# --------------------------------------------------------------------------------- crashing submissions


def one_task(task: str, edit: Callable[[Path], None]) -> Builder:
    def build(work: Path) -> tuple[Path, Path]:
        pred = copy_tasks(work / "pred", (task,))
        edit(pred)
        return pred, LABELS

    return build


def edited_labels(task: str, edit: Callable[[Path], None], *, predict_edited: bool = False) -> Builder:
    """Labels of one task edited; predictions copied from the original labels (or the edited ones)."""

    def build(work: Path) -> tuple[Path, Path]:
        labels = copy_tasks(work / "labels", (task,))
        edit(labels)
        return copy_tasks(work / "pred", (task,), labels if predict_edited else LABELS), labels

    return build


def _drop_last_line(path: Path) -> None:
    write(path, "".join(f"{x}\n" for x in path.read_text(encoding="utf-8").splitlines()[:-1]))


def _first_sentence_only(path: Path) -> None:
    write(path, tag_text(sentences_of("panx", "ar")[:1]))


def _one_tag_short(path: Path) -> None:
    sents = sentences_of("udpos", "af")
    write(path, tag_text([sents[0][:-1], sents[1]]))


def _double_blank(path: Path) -> None:
    sents = sentences_of("panx", "he")
    write(path, tag_text(sents[:1]) + "\n" + tag_text(sents[1:]))


# case -> (builder, file the error must name, words the error must contain)
CRASHES: dict[str, tuple[Builder, str, str]] = {
    "missing_language": (
        one_task("pawsx", lambda p: (p / "pawsx" / "test-ko.tsv").unlink()),
        "pred/pawsx/test-ko.tsv",
        "missing",
    ),
    "missing_label_file": (
        edited_labels("xnli", lambda p: (p / "xnli" / "test-de.tsv").unlink()),
        "labels/xnli/test-de.tsv",
        "missing",
    ),
    "wrong_line_count": (
        one_task("xnli", lambda p: _drop_last_line(p / "xnli" / "test-de.tsv")),
        "pred/xnli/test-de.tsv",
        "lines, but the labels",
    ),
    "empty_classification": (
        one_task("pawsx", lambda p: [write(f, "") for f in (p / "pawsx").iterdir()]),
        "pred/pawsx/test-de.tsv",
        "0 lines",
    ),
    "empty_labels_and_predictions": (
        edited_labels("tatoeba", lambda p: write(p / "tatoeba" / "test-ar.tsv", ""), predict_edited=True),
        "pred/tatoeba/test-ar.tsv",
        "no lines",
    ),
    "tag_sentence_count": (
        one_task("panx", lambda p: _first_sentence_only(p / "panx" / "test-ar.tsv")),
        "pred/panx/test-ar.tsv",
        "1 sentences, but the labels",
    ),
    "tag_double_blank_line": (
        one_task("panx", lambda p: _double_blank(p / "panx" / "test-he.tsv")),
        "pred/panx/test-he.tsv",
        "3 sentences, but the labels",
    ),
    "tag_token_count": (
        one_task("udpos", lambda p: _one_tag_short(p / "udpos" / "test-af.tsv")),
        "pred/udpos/test-af.tsv",
        "sentence 1 has 4 tags",
    ),
    "unparsable_json": (
        one_task("xquad", lambda p: write(p / "xquad" / "test-en.json", '{"xquad-en-q1": "1889"')),
        "pred/xquad/test-en.json",
        "not valid JSON",
    ),
    "qa_empty_file": (
        one_task("mlqa", lambda p: write(p / "mlqa" / "test-en.json", "")),
        "pred/mlqa/test-en.json",
        "not valid JSON",
    ),
    "qa_non_string_answer": (
        one_task("tydiqa", lambda p: write(p / "tydiqa" / "test-en.json", '{"tydiqa-en-q1": 42}')),
        "pred/tydiqa/test-en.json",
        "must be a string",
    ),
    "qa_json_number": (
        one_task("xquad", lambda p: write(p / "xquad" / "test-en.json", "42")),
        "pred/xquad/test-en.json",
        "expected a JSON object",
    ),
    "qa_list_of_ids": (
        one_task("tydiqa", lambda p: write(p / "tydiqa" / "test-en.json", '["tydiqa-en-q1"]')),
        "pred/tydiqa/test-en.json",
        "expected an object of answers",
    ),
    "not_utf8": (
        one_task("xnli", lambda p: write(p / "xnli" / "test-ar.tsv", b"\xffentailment\nneutral\n")),
        "pred/xnli/test-ar.tsv",
        "not UTF-8",
    ),
    "prediction_folder_missing": (
        lambda work: (work / "absent", LABELS),
        "absent",
        "does not exist",
    ),
}


# ----------------------------------------------------------------------------------------- the tests


def assert_same(ours: Any, official: Any, where: str = "") -> None:
    if isinstance(official, dict):
        assert isinstance(ours, dict), where
        assert set(ours) == set(official), f"{where}: keys differ: {set(ours) ^ set(official)}"
        for key in official:
            assert_same(ours[key], official[key], f"{where}/{key}")
    else:
        assert math.isclose(ours, official, rel_tol=0, abs_tol=1e-6), f"{where}: {ours} != {official}"


def test_every_case_has_official_output() -> None:
    crashes = json.loads((EXPECTED / "crashes.json").read_text())
    scored = {p.stem for p in EXPECTED.glob("*.json")} - {"crashes"}
    assert scored == set(SCORED)
    assert set(crashes) == set(CRASHES)


@pytest.mark.parametrize("case", sorted(SCORED))
def test_matches_official(case: str, tmp_path: Path) -> None:
    pred, labels = SCORED[case](tmp_path)
    expected = json.loads((EXPECTED / f"{case}.json").read_text(encoding="utf-8"))
    overall, detailed = score_submission(pred, labels)
    assert_same(overall, expected["overall"], "overall")
    assert_same(detailed, expected["detailed"], "detailed")
    assert list(detailed) == list(expected["detailed"])  # the official task order
    for task, scores in detailed.items():  # ... and the official language order
        for metric, values in scores.items():
            if isinstance(values, dict):
                assert list(values) == list(expected["detailed"][task][metric])


def test_perfect_submission_is_100_everywhere(tmp_path: Path) -> None:
    overall, detailed = score_submission(*case_perfect(tmp_path))
    assert overall == pytest.approx(
        dict.fromkeys(["all_task", "classification", "tagging", "qa", "retrieval"], 100.0)
    )
    assert set(detailed) == set(XTREME_TASKS)
    for task, scores in detailed.items():
        first_metric = next(iter(scores))
        assert list(scores[first_metric]) == XTREME_LANGUAGES[task]


@pytest.mark.parametrize("case", sorted(CRASHES))
def test_official_crash_is_one_line_error(case: str, tmp_path: Path) -> None:
    build, filename, words = CRASHES[case]
    pred, labels = build(tmp_path)
    with pytest.raises(HarnessError) as caught:
        score_submission(pred, labels)
    message = caught.value.render()
    assert "\n" not in message
    assert filename in message and words in message, message


@pytest.mark.parametrize("case", sorted(CRASHES))
def test_cli_exit_code_2_on_official_crash(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pred, labels = CRASHES[case][0](tmp_path)
    assert main(["score", str(pred), str(labels)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and CRASHES[case][1] in err


def test_cli_json_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred, labels = case_task_missing(tmp_path)
    assert main(["score", str(pred), str(labels), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = json.loads((EXPECTED / "task_missing.json").read_text(encoding="utf-8"))
    assert_same(printed, expected)
    assert main(["score", str(pred), str(labels)]) == 0
    out = capsys.readouterr().out
    assert "pawsx" in out and "│ classification" in out and "│ all_task" not in out


def test_aggregate_is_the_group_rule() -> None:
    detailed = {task: {"avg_metric": float(i)} for i, task in enumerate(XTREME_TASKS)}
    assert aggregate(detailed) == pytest.approx(
        {"all_task": 4.0, "classification": 0.5, "tagging": 2.5, "qa": 7.0, "retrieval": 4.5}
    )
    del detailed["tydiqa"]
    assert aggregate(detailed) == pytest.approx({"classification": 0.5, "tagging": 2.5, "retrieval": 4.5})
    assert aggregate({}) == {}


# ------------------------------------------------------------------------------------------- export


def store_record(
    store: ResultsStore,
    task: str,
    lang: str,
    rows: list[dict[str, Any]],
    *,
    checkpoint: str = "xlmr+none",
    seed: int = 1,
    split: str = "test",
    in_domain: bool = True,
) -> Record:
    job_key = hashlib.sha256(f"{checkpoint}/{seed}/{task}/{split}/{lang}".encode()).hexdigest()
    path = store.record_path(checkpoint, task, split, lang, job_key)
    accuracy = sum(r["correct"] for r in rows) / len(rows)
    record = Record.model_validate(
        {
            "job_key": job_key,
            "grid": "tests",
            "checkpoint": {
                "name": checkpoint,
                "key": job_key[:16],
                "model": "xlmr",
                "model_source": "hub:xlm-roberta-base",
                "condition": checkpoint.split("+")[-1],
                "lineage": [{"phase": "base", "key": "base", "name": "xlmr"}],
            },
            "seed": seed,
            "task": {
                "name": task,
                "version": 1,
                "kind": "retrieval" if task == "tatoeba" else "classification",
            },
            "split": {"name": split, "domain": "official", "in_domain": in_domain},
            "language": lang,
            "n_examples": len(rows),
            "scores": {"accuracy": accuracy},
            "main_metric": "accuracy",
            "main_score": accuracy,
            "predictions": str(path.with_suffix(".predictions.jsonl").relative_to(store.root)),
        }
    )
    store.write(record, rows, path)
    return record


def predicted_rows(task: str, i: int, lang: str, salt: int = 0) -> list[dict[str, Any]]:
    rows = []
    for k, gold in enumerate(lines_of(task, lang)):
        wrong = (k + i + salt) % 3 == 0
        if task == "tatoeba":
            label: Any = int(gold)
            prediction: Any = label + 1 if wrong else label
        else:
            label = gold
            prediction = str(1 - int(gold)) if wrong else gold
        rows.append(
            {"id": f"{lang}-{k}", "prediction": prediction, "label": label, "correct": float(not wrong)}
        )
    return rows


def build_store(root: Path) -> tuple[ResultsStore, dict[tuple[str, str], Record]]:
    store = ResultsStore(root)
    wanted: dict[tuple[str, str], Record] = {}
    for task in ("pawsx", "tatoeba"):
        for i, lang in enumerate(XTREME_LANGUAGES[task]):
            wanted[task, lang] = store_record(store, task, lang, predicted_rows(task, i, lang))
            store_record(store, task, lang, predicted_rows(task, i, lang, 1), seed=2)
    # none of these may be exported
    store_record(store, "pawsx", "de", predicted_rows("pawsx", 0, "de", 2), split="dev")
    store_record(
        store, "pawsx", "en", predicted_rows("pawsx", 0, "en", 2), split="wiki_shift", in_domain=False
    )
    store_record(store, "sib200", "de", predicted_rows("pawsx", 0, "de", 2))
    return store, wanted


def test_export_round_trip(tmp_path: Path) -> None:
    store, wanted = build_store(tmp_path / "results")
    selected = select_xtreme_records(store, "xlmr+none", 1)
    assert {(r.task.name, r.language) for r, _ in selected} == set(wanted)
    written = export_xtreme(selected, tmp_path / "out")
    assert len(written) == len(wanted)
    assert (tmp_path / "out" / "tatoeba" / "test-ar.tsv").read_text().splitlines()[0].isdigit()
    overall, detailed = score_submission(tmp_path / "out", LABELS)
    assert overall == {}
    assert set(detailed) == {"pawsx", "tatoeba"}
    for (task, lang), record in wanted.items():
        assert detailed[task]["accuracy"][lang] == pytest.approx(record.main_score * 100, abs=1e-9)


def test_export_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store, wanted = build_store(tmp_path / "results")
    out = tmp_path / "out"
    assert main(["export", "xtreme", str(store.root), str(out), "--checkpoint", "xlmr+none"]) == 2
    assert "--seed" in capsys.readouterr().err  # two seeds: name one
    assert (
        main(["export", "xtreme", str(store.root), str(out), "--checkpoint", "xlmr+none", "--seed", "2"]) == 0
    )
    assert (out / "pawsx" / "test-zh.tsv").is_file()
    store_record(store, "pawsx", "de", predicted_rows("pawsx", 0, "de"), checkpoint="xlmr+mnli-en")
    capsys.readouterr()
    assert main(["export", "xtreme", str(store.root), str(out), "--seed", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "xlmr+mnli-en" in err and "xlmr+none" in err


def test_export_rejects_unknown_task(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "results")
    record = store_record(store, "sib200", "de", predicted_rows("pawsx", 0, "de"))
    with pytest.raises(HarnessError) as caught:
        export_xtreme([(record, store.predictions(record))], tmp_path / "out")
    message = caught.value.render()
    assert "sib200" in message and all(task in message for task in XTREME_TASKS)
    assert not (tmp_path / "out").exists()


def test_export_tagging_bucc_and_qa_layouts(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "results")
    panx = store_record(
        store,
        "panx",
        "de",
        [
            {"id": "s1", "prediction": ["B-PER", "O"], "label": None, "correct": 1.0},
            {"id": "s2", "prediction": [], "label": None, "correct": 1.0},
            {"id": "s3", "prediction": ["O"], "label": None, "correct": 1.0},
        ],
    )
    bucc = store_record(
        store,
        "bucc2018",
        "de",
        [
            {"id": "de-1", "prediction": "en-9", "label": None, "correct": 1.0},
            {"id": "de-2", "prediction": None, "label": None, "correct": 0.0},
            {"id": "x", "prediction": ["de-3", "en-4"], "label": None, "correct": 1.0},
            {"id": "de-5\ten-6", "prediction": 1, "label": 1, "correct": 1.0},  # the mining kind's rows
            {"id": "de-7\ten-8", "prediction": 0, "label": 1, "correct": 0.0},
        ],
    )
    qa = store_record(
        store, "mlqa", "zh", [{"id": "q1", "prediction": "1889年", "label": None, "correct": 1.0}]
    )
    export_xtreme([(r, store.predictions(r)) for r in (panx, bucc, qa)], tmp_path / "out")
    assert (tmp_path / "out" / "panx" / "test-de.tsv").read_text() == "B-PER\nO\n\n\nO\n\n"
    assert (
        tmp_path / "out" / "bucc2018" / "test-de.tsv"
    ).read_text() == "de-1\ten-9\nde-3\ten-4\nde-5\ten-6\n"
    assert json.loads((tmp_path / "out" / "mlqa" / "test-zh.json").read_text(encoding="utf-8")) == {
        "q1": "1889年"
    }
    from harness.scoring.tagging import read_tag_file

    assert read_tag_file(tmp_path / "out" / "panx" / "test-de.tsv") == [["B-PER", "O"], [], ["O"]]


# ------------------------------------------------------------------ regenerating the expected outputs


def generate(official: Path, out: Path) -> None:
    """Build every case and RUN the official ``evaluate(pred, label, "xtreme")`` on it."""
    sys.path.insert(0, str(official))
    from evaluate import evaluate  # the official script, from the checkout given on the command line

    crashes: dict[str, str] = {}
    out.mkdir(parents=True, exist_ok=True)
    cases: dict[str, Builder] = {**SCORED, **{name: spec[0] for name, spec in CRASHES.items()}}
    for name, build in cases.items():
        with tempfile.TemporaryDirectory() as tmp:
            pred, labels = build(Path(tmp))
            try:
                overall, detailed = evaluate(str(pred), str(labels), "xtreme")
            except BaseException as exc:  # record what the official scorer raised, whatever it is
                crashes[name] = type(exc).__name__
                print(f"{name}: official scorer raised {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
        (out / f"{name}.json").write_text(
            json.dumps({"overall": overall, "detailed": detailed}, indent=1, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        print(f"{name}: scored, {len(detailed)} tasks, overall {overall}", file=sys.stderr)
    (out / "crashes.json").write_text(json.dumps(crashes, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description="regenerate fixtures/xtreme/expected with the official scorer"
    )
    parser.add_argument("--official", type=Path, required=True, help="a checkout of google-research/xtreme")
    parser.add_argument("--out", type=Path, default=EXPECTED)
    args = parser.parse_args()
    generate(args.official.resolve(), args.out)
