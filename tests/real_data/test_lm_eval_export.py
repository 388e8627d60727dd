"""``harness export lm-eval`` on the real files in ../shared/data: the exported documents are the rows the
harness's evaluation read gives, split by split (skipped with a reason when ../shared is absent).

../shared has XNLI and PAWS-X dev only (no test, no XNLI-1.0 genre file): their shipped test and genre
splits must come out as unavailable, and a copy of each target that scores the dev files as its test split
checks the classification export at full size."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from harness import api
from harness.bridges.lm_eval.export import export_lm_eval
from harness.data.loaders import load_rows

pytestmark = pytest.mark.real_data


def harness_rows(catalogue, task_name: str, split_name: str, language: str):
    """The evaluation job's read of one split (harness/runner/work.py evaluate_one)."""
    task = catalogue.task(task_name)
    split = task.split_named(split_name)
    return load_rows(
        task,
        split=split.split or split.name,
        language=language,
        base_dir=catalogue.task_path(task_name).parent,
        dataset=split.dataset,
        limit=split.limit,
        view=split,
    ).rows


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_qa_targets_export_every_local_split_with_the_harness_s_items(
    shared_data: Path, tmp_path: Path
) -> None:
    catalogue = api.catalogue()
    result = export_lm_eval(catalogue, tmp_path / "out", patterns=["xquad", "mlqa", "tydiqa"])
    by_cell = {(t.meta.task, t.meta.split, t.meta.language): t for t in result.tasks}
    assert {k for k in by_cell if k[1] == "test" and k[0] == "xquad"} == {
        ("xquad", "test", lang) for lang in catalogue.task("xquad").languages
    }
    assert ("mlqa", "xquad", "zh") in by_cell and ("xquad", "mlqa", "de") in by_cell  # shifted splits
    assert by_cell[("xquad", "test", "en")].meta.n_examples == 1190
    for (task, split, lang), exported in by_cell.items():
        rows = harness_rows(catalogue, task, split, lang)
        docs = read_jsonl(tmp_path / "out" / "data" / task / f"{exported.name}.jsonl")
        assert [d["id"] for d in docs] == list(rows["id"]), exported.name
        assert all(d["answers"] == list(r["answers"]["text"]) for d, r in zip(docs, rows, strict=True))
    for exported in result.tasks:
        yaml_text = exported.yaml_path.read_text(encoding="utf-8")
        expected = "qa_mlqa" if exported.meta.task == "mlqa" else "qa_squad"
        assert f"xh_metrics.{expected}\n" in yaml_text
    missing = {(u.task, u.split) for u in result.unavailable}
    assert ("xquad", "mkqa") in missing and ("mlqa", "squadshifts-nyt") in missing


def test_xnli_and_pawsx_tests_and_genres_are_unavailable_here(shared_data: Path, tmp_path: Path) -> None:
    result = export_lm_eval(api.catalogue(), tmp_path / "out", patterns=["xnli", "pawsx"])
    assert result.tasks == []
    reasons = {(u.task, u.split, u.language): u.reason for u in result.unavailable}
    assert len([k for k in reasons if k[0] == "xnli"]) == 7 * 15
    assert "XNLI-1.0/xnli.test.tsv" in reasons[("xnli", "letters", "de")]


def _dev_as_test(folder: Path, name: str) -> None:
    """The shipped target, scored on its dev files (the only XNLI/PAWS-X data in ../shared)."""
    shipped = (Path(__file__).resolve().parents[2] / "tasks" / "targets" / name / f"{name}.yaml").read_text(
        encoding="utf-8"
    )
    head = shipped.split("\nsplits:\n")[0].replace("protocol: xtreme", "protocol: custom")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(
        head
        + "\nsplits:\n  - {name: test, split: dev, domain: dev-as-test, in_domain: true}\nmetrics: [accuracy]\n",
        encoding="utf-8",
    )


def test_xnli_and_pawsx_dev_files_export_in_full_with_lm_eval_s_formulation(
    shared_data: Path, tmp_path: Path
) -> None:
    tasks = tmp_path / "tasks" / "targets"
    _dev_as_test(tasks, "xnli")
    _dev_as_test(tasks, "pawsx")
    catalogue = api.catalogue([tmp_path / "tasks"])
    result = export_lm_eval(catalogue, tmp_path / "out", patterns=["xnli", "pawsx"], shots=0)
    counts = Counter(t.meta.task for t in result.tasks)
    assert counts == {"xnli": 15, "pawsx": 7}
    for exported in result.tasks:
        assert exported.meta.n_examples == (2490 if exported.meta.task == "xnli" else 2000)
        assert exported.meta.formulation == (
            "lm-eval xnli" if exported.meta.task == "xnli" else "lm-eval paws-x"
        )
        rows = harness_rows(catalogue, exported.meta.task, "test", exported.meta.language)
        docs = read_jsonl(tmp_path / "out" / "data" / exported.meta.task / f"{exported.name}.jsonl")
        labels = catalogue.task(exported.meta.task).labels or []
        assert [(d["id"], labels[d["label"]]) for d in docs] == list(
            zip(rows["id"], rows["label"], strict=True)
        )
    xnli_de = read_jsonl(tmp_path / "out" / "data" / "xnli" / "xh_xnli_test_de.jsonl")
    assert Counter(d["label"] for d in xnli_de) == {0: 830, 1: 830, 2: 830}
    assert ", richtig? Ja, " in xnli_de[0]["choices"][0]
