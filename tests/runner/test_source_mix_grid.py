"""A multilingual-mix condition on the tiny BERT: the same items, half in each language, recorded as mul."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import api
from harness.catalogue.loader import Catalogue
from harness.errors import HarnessError
from harness.results.store import ResultsStore
from harness.runner.driver import Driver
from harness.runner.work import run_job

GRID = """
name: mixlang
models:
  - name: tiny-bert
    source: "{model}"
intermediate:
  - name: none
  - {{name: mc-en, task: tiny_mc, source_lang: en, source_type: english, size: 16}}
  - {{name: mc-mix, task: tiny_mc, source_lang: [en, de], source_type: translated, size: 16, matched_with: mc-en}}
targets: [tiny_cls]
seeds: [2]
"""


def _runner(tasks: Path, model: Path, results: Path) -> Driver:
    path = tasks / "grids" / "mixlang.yaml"
    path.write_text(GRID.format(model=model), encoding="utf-8")
    planned = api.plan(path, lock=results.parent / "checkpoints.lock", tasks=Catalogue.load(tasks), pin=True)
    return api.driver(planned, results=results)


def test_a_mix_trains_the_same_items_split_across_its_languages(
    tiny_tasks: Path, tiny_model: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    runner = _runner(tiny_tasks, tiny_model, results)
    jobs = {c.condition: c for c in runner.plan.by_phase("intermediate")}
    assert jobs["mc-en"].key != jobs["mc-mix"].key
    runner.run()
    training = json.loads((results / "checkpoints" / jobs["mc-mix"].key / "training.json").read_text())
    assert training["n_train_examples"] == 16
    assert "(8 items)" in training["train_data"]["origin"]  # 8 of the 16 items in each language
    assert training["dev"]["n"] == 8 and training["dev"]["origin"].startswith("multilingual mix")
    records = [r for r in ResultsStore(results).records() if r.checkpoint.condition == "mc-mix"]
    assert records and {r.checkpoint.source_lang for r in records} == {"mul"}
    step = next(s for s in records[0].checkpoint.lineage if s.phase == "intermediate")
    assert step.source_lang == "mul" and step.model_extra["languages"] == ["en", "de"]
    assert _runner(tiny_tasks, tiny_model, results).run().ran == []  # resumes: nothing twice


def test_a_mix_whose_languages_hold_different_items_is_refused(
    tiny_tasks: Path, tiny_model: Path, tmp_path: Path
) -> None:
    german = tiny_tasks.parent / "data" / "mc" / "de.jsonl"
    lines = german.read_text(encoding="utf-8").splitlines()
    german.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")  # one item fewer in German
    runner = _runner(tiny_tasks, tiny_model, tmp_path / "results")
    with pytest.raises(HarnessError, match="same items in every language"):
        run_job(
            next(c for c in runner.plan.by_phase("intermediate") if c.condition == "mc-mix"),
            runner.store.root,
        )
