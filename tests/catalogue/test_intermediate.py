"""Every intermediate-task YAML validates; the grids' bad input is one error naming file and field."""

from __future__ import annotations

import os
from pathlib import Path

import datasets
import pytest

from harness.catalogue.loader import REPO_ROOT, Catalogue, load_document
from harness.catalogue.schema import TaskSpec
from harness.cli import main
from harness.data.loaders import load_rows
from harness.training.multitask import prepare_rows

INTERMEDIATE = REPO_ROOT / "tasks" / "intermediate"
SHARED = REPO_ROOT.parent / "shared" / "data"
PAPER_TASKS = {
    "anli",
    "mnli",
    "snli",
    "qqp",
    "squad_v1",
    "hellaswag",
    "cosmosqa",
    "commonsenseqa",
    "ccg",
    "sst2",
}
FAMILIES = {"xnli_mt": 15, "pawsx_mt": 7, "squad_tt": 10, "tydiqa_goldp": 9}


def _intermediate_tasks() -> dict[str, TaskSpec]:
    catalogue = Catalogue.load(REPO_ROOT / "tasks")
    return {
        n: catalogue.task(n) for n, loaded in catalogue.tasks.items() if INTERMEDIATE in loaded.path.parents
    }


@pytest.mark.parametrize(
    "path", sorted(p for p in INTERMEDIATE.rglob("*.yaml") if not p.name.startswith("_"))
)
def test_every_intermediate_yaml_validates(path: Path) -> None:
    task = load_document(path).spec
    assert isinstance(task, TaskSpec) and task.role == "intermediate" and task.train is not None
    assert task.source and task.description
    dataset = task.train.dataset or task.dataset
    assert dataset.license, f"{path}: say the licence"
    assert task.train.language in task.languages


def test_the_papers_tasks_and_the_language_families_are_there() -> None:
    tasks = _intermediate_tasks()
    assert set(tasks) >= PAPER_TASKS
    for family, n in FAMILIES.items():
        members = {name: t for name, t in tasks.items() if name.startswith(family + "_")}
        assert len(members) == n, family
        for name, task in members.items():  # one language per file, named after it, via include:
            assert task.languages == [name.rsplit("_", 1)[1]] and task.train.language == task.languages[0]
    assert tasks["ccg"].dataset.hub is None and "LDC" in (tasks["ccg"].dataset.license or "")
    assert tasks["squad_tt_de"].dataset.hub is None  # XTREME's translations bucket: local files only
    assert {tasks[n].kind for n in ("mlm_sib200", "mlm_wikipedia")} == {"masked_lm"}
    assert tasks["kornli"].languages == ["ko"] and tasks["ocnli"].languages == ["zh"]


def test_prepare_rows_reshapes_declared_columns() -> None:
    tasks = _intermediate_tasks()
    cosmos = datasets.Dataset.from_dict(
        {"id": ["a"], "context": ["C."], "question": ["Q?"], "answer0": ["x"], "answer1": ["y"],
         "answer2": ["z"], "answer3": ["w"], "label": ["2"]}
    )  # fmt: skip
    _, rows = prepare_rows(tasks["cosmosqa"], cosmos)
    assert (
        rows[0]["question"] == "C. Q?"
        and rows[0]["choices"] == ["x", "y", "z", "w"]
        and rows[0]["label"] == 2
    )
    csqa = datasets.Dataset.from_list(
        [
            {
                "id": "b",
                "question": "q",
                "choices": {"label": list("ABCDE"), "text": list("vwxyz")},
                "answerKey": "D",
            }
        ]
    )
    _, rows = prepare_rows(tasks["commonsenseqa"], csqa)
    assert rows[0]["choices"] == list("vwxyz") and rows[0]["label"] == 3
    ccg = datasets.Dataset.from_dict({"id": ["s"], "tokens": [["I", "ran"]], "tags": [["NP", "S[dcl]\\NP"]]})
    task, _ = prepare_rows(tasks["ccg"], ccg)
    assert task.labels == ["NP", "S[dcl]\\NP"]  # the data's own supertag set


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not on this machine")
def test_cosmosqa_and_commonsenseqa_yamls_read_the_real_dev_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cosmosqa").mkdir()
    (tmp_path / "commonsenseqa").mkdir()
    os.symlink(SHARED / "english/cosmosqa/valid.first2000.csv", tmp_path / "cosmosqa" / "valid.csv")
    os.symlink(
        SHARED / "english/commonsenseqa/dev_rand_split.hf_format.jsonl",
        tmp_path / "commonsenseqa" / "dev.jsonl",
    )
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path))
    tasks = _intermediate_tasks()
    for name, n, choices in (("cosmosqa", 2000, 4), ("commonsenseqa", 1221, 5)):
        task = tasks[name]
        rows = load_rows(task, split="dev", language="en", base_dir=INTERMEDIATE / name).rows
        _, rows = prepare_rows(task, rows)
        assert len(rows) == n
        assert all(len(c) == choices for c in rows["choices"])
        assert set(rows["label"]) == set(range(choices))  # every answer position occurs


# ---- bad input in grids: one error, exit 2 ---------------------------------------------------
def _plan(tasks: Path, grid_text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    grid = tasks / "grids" / "bad.yaml"
    grid.write_text(grid_text, encoding="utf-8")
    code = main(
        [
            "plan",
            str(grid),
            "--results",
            str(tmp_path / "r"),
            "--lock",
            str(tmp_path / "l"),
            "--tasks-dir",
            str(tasks),
        ]
    )
    return code, capsys.readouterr().err


def _grid(model: Path, conditions: str, targets: str = "[tiny_cls]") -> str:
    return f"name: bad\nmodels: [{{name: m, source: '{model}'}}]\nintermediate:\n{conditions}\ntargets: {targets}\n"


EN = "  - {name: mc-en, task: tiny_mc, source_lang: en, source_type: english, size: 16}\n"


def test_a_source_language_the_dataset_does_not_declare(
    tiny_tasks: Path, tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _plan(
        tiny_tasks, _grid(tiny_model, "  - {name: x, task: tiny_mc, source_lang: fr, source_type: translated}"),
        tmp_path, capsys,
    )  # fmt: skip
    assert code == 2 and "bad.yaml:4: intermediate.0.source_lang" in err and "allowed: en, de" in err


def test_a_size_matched_pair_with_different_sizes(
    tiny_tasks: Path, tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    de = "  - {name: mc-de, task: tiny_mc, source_lang: de, source_type: translated, size: 12, matched_with: mc-en}"
    code, err = _plan(tiny_tasks, _grid(tiny_model, EN + de), tmp_path, capsys)
    assert code == 2 and "intermediate[1].size" in err and "'mc-de': 12, 'mc-en': 16" in err


def test_a_size_matched_pair_with_different_settings(
    tiny_tasks: Path, tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tiny_tasks / "intermediate" / "tiny_mc2.yaml"
    text = (
        (tiny_tasks / "intermediate" / "tiny_mc.yaml").read_text().replace("name: tiny_mc", "name: tiny_mc2")
    )
    other.write_text(text.replace("batch_size: 4", "batch_size: 8"), encoding="utf-8")
    de = "  - {name: mc-de, task: tiny_mc2, source_lang: de, source_type: translated, size: 16, matched_with: mc-en}"
    code, err = _plan(tiny_tasks, _grid(tiny_model, EN + de), tmp_path, capsys)
    assert code == 2 and "intermediate[1].matched_with" in err and "batch_size" in err


def test_one_side_smaller_than_requested(
    tiny_tasks: Path, tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    de = "  - {name: mc-de, task: tiny_mc, source_lang: de, source_type: translated, size: 16, matched_with: mc-en}"
    grid = _grid(tiny_model, (EN + de).replace("size: 16", "size: 30"))
    code, err = _plan(tiny_tasks, grid, tmp_path, capsys)
    assert code == 2 and "bad.yaml:4: intermediate[0].size" in err and "has 24" in err


def test_a_target_without_training_data(
    tiny_tasks: Path, tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tiny_tasks / "targets" / "tiny_cls.yaml"
    target.write_text(target.read_text().replace("{split}.tsv", "{split}-missing.tsv"), encoding="utf-8")
    code, err = _plan(tiny_tasks, _grid(tiny_model, "  - {name: none}"), tmp_path, capsys)
    assert code == 2 and "targets[0]" in err and "has no training data" in err and "bad.yaml" in err
