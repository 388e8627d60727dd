"""Multi-task intermediate training (+ masked LM) on the tiny BERT: one shared body, one checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import load_file

from harness import api
from harness.catalogue.loader import Catalogue
from harness.errors import HarnessError
from harness.models.lockfile import Lock
from harness.results.store import ResultsStore
from harness.runner.driver import Driver
from harness.training.multitask import sampling_probabilities

MLM_TASK = """
name: tiny_mlm
kind: masked_lm
role: intermediate
version: 1
description: unlabelled text of the tiny retrieval files
dataset:
  format: tsv
  header: false
  fieldnames: [text]
  path: "{data}/ret/{{lang}}.src"
languages: [de, fr]
train: {{split: train, language: de}}
params: {{mlm_probability: 0.3}}
hyperparameters: {{learning_rate: 1.0e-3, epochs: 1, batch_size: 4, max_length: 32}}
"""

MIX_GRID = """
name: mix
models:
  - name: tiny-bert
    source: "{model}"
intermediate:
  - name: none
  - name: mix-en
    source_type: translated
    sampling: {sampling}
    temperature: 2.0
    tasks:
      - {{task: tiny_mc, source_lang: en, size: 16}}
      - {{task: tiny_mc, source_lang: de, size: 8, head: mc}}
      - {{task: tiny_mlm, source_lang: [de, fr]}}
targets: [tiny_cls]
seeds: [3]
"""


def _write(tasks: Path, model: Path, sampling: str = "temperature", grid: str = MIX_GRID) -> Path:
    data = tasks.parent / "data"
    (tasks / "intermediate" / "tiny_mlm.yaml").write_text(MLM_TASK.format(data=data), encoding="utf-8")
    path = tasks / "grids" / "mix.yaml"
    path.write_text(grid.format(model=model, sampling=sampling), encoding="utf-8")
    return path


def _runner(tasks: Path, grid_path: Path, results: Path) -> Driver:
    planned = api.plan(
        grid_path, lock=results.parent / "checkpoints.lock", tasks=Catalogue.load(tasks), pin=True
    )
    return api.driver(planned, results=results)


def test_multitask_with_masked_lm_trains_one_shared_body(
    tiny_tasks: Path, tiny_model: Path, tmp_path: Path
) -> None:
    grid_path = _write(tiny_tasks, tiny_model)
    results = tmp_path / "results"
    runner = _runner(tiny_tasks, grid_path, results)
    intermediate = runner.plan.by_phase("intermediate")
    assert len(intermediate) == 1  # three tasks, one checkpoint
    report = runner.run()
    assert report.ran.count(intermediate[0].label) == 1

    folder = results / "checkpoints" / intermediate[0].key
    body = load_file(folder / "model.safetensors")
    base = load_file(tiny_model / "model.safetensors")
    assert not any(k.startswith(("cls.", "classifier")) for k in body)  # only the encoder body is kept
    moved = [k for k in base if k in body and not torch.equal(base[k], body[k])]
    assert len(moved) > 10  # the shared body was trained through every head

    training = json.loads((folder / "training.json").read_text())
    mixture = {m["label"]: m for m in training["mixture"]}
    assert set(mixture) == {"tiny_mc/en", "tiny_mc/de", "tiny_mlm/de+fr"}
    assert mixture["tiny_mc/en"]["n_examples"] == 16 and mixture["tiny_mc/de"]["n_examples"] == 8
    assert mixture["tiny_mlm/de+fr"]["n_examples"] == 24  # 12 lines in each language, pooled
    assert {m["head"] for m in training["mixture"]} == {"mc", "tiny_mc", "tiny_mlm"}
    assert sum(m["steps"] for m in training["mixture"]) == training["training"]["steps"] == 4 + 2 + 6
    assert all(m["steps"] > 0 for m in training["mixture"])

    produced = Lock.load(results / "checkpoints.lock").entries[intermediate[0].key]
    assert produced.lineage.phase == "intermediate" and produced.lineage.task == "tiny_mc+tiny_mc+tiny_mlm"
    records = [r for r in ResultsStore(results).records() if r.checkpoint.condition == "mix-en"]
    assert records and all(r.checkpoint.intermediate_task == "tiny_mc+tiny_mc+tiny_mlm" for r in records)
    assert {r.checkpoint.source_lang for r in records} == {"mul"}  # supervised tasks in en and de
    step = next(s for s in records[0].checkpoint.lineage if s.phase == "intermediate")
    assert [t["task"] for t in step.model_extra["tasks"]] == ["tiny_mc", "tiny_mc", "tiny_mlm"]
    assert _runner(tiny_tasks, grid_path, results).run().ran == []  # resumes: nothing twice


def test_a_source_language_the_dataset_lacks_is_refused(tiny_tasks: Path, tiny_model: Path) -> None:
    grid_path = _write(
        tiny_tasks, tiny_model, grid=MIX_GRID.replace("source_lang: de, size: 8", "source_lang: fr")
    )
    with pytest.raises(HarnessError) as err:
        _runner(tiny_tasks, grid_path, tiny_tasks.parent / "results")
    assert "intermediate[1].tasks[1].source_lang" in err.value.render()
    assert "allowed: en, de" in err.value.render() and str(grid_path) in err.value.render()


def test_source_type_must_fit_the_supervised_languages(tiny_tasks: Path, tiny_model: Path) -> None:
    grid_path = _write(
        tiny_tasks, tiny_model, grid=MIX_GRID.replace("source_type: translated", "source_type: english")
    )
    with pytest.raises(HarnessError, match=r"intermediate\[1\]\.source_type"):
        _runner(tiny_tasks, grid_path, tiny_tasks.parent / "results")


def test_a_shared_head_needs_one_kind(tiny_tasks: Path, tiny_model: Path) -> None:
    grid = MIX_GRID.replace(
        "{{task: tiny_mlm, source_lang: [de, fr]}}", "{{task: tiny_mlm, source_lang: de, head: mc}}"
    )
    grid_path = _write(tiny_tasks, tiny_model, grid=grid)
    with pytest.raises(HarnessError, match=r"intermediate\[1\]\.tasks\[2\]\.head"):
        _runner(tiny_tasks, grid_path, tiny_tasks.parent / "results")


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=8),
    temperature=st.floats(min_value=0.5, max_value=10),
)
def test_sampling_rules_are_distributions(sizes: list[int], temperature: float) -> None:
    prop = sampling_probabilities(sizes, "proportional")
    uniform = sampling_probabilities(sizes, "uniform")
    temp = sampling_probabilities(sizes, "temperature", temperature)
    for p in (prop, uniform, temp):
        assert p.sum() == pytest.approx(1.0) and (p > 0).all()
    assert np.allclose(prop, np.asarray(sizes) / sum(sizes))
    assert np.allclose(uniform, 1 / len(sizes))
    order = np.argsort(sizes, kind="stable")
    assert (np.diff(temp[order]) >= -1e-12).all()  # a bigger task is never drawn less often
    if temperature > 1:  # flatter than proportional: the largest task's share shrinks
        assert temp.max() <= prop.max() + 1e-12


def test_masked_lm_masks_only_text_and_scores_deterministically(tiny_model: Path) -> None:
    import datasets

    from harness.catalogue.schema import TaskSpec
    from harness.kinds.masked_lm import KIND, mask_tokens
    from harness.models.loading import load_tokenizer

    ids = torch.tensor([[2, 10, 11, 12, 3, 0], [2, 13, 3, 0, 0, 0]])
    maskable = torch.tensor([[0, 1, 1, 1, 0, 0], [0, 1, 0, 0, 0, 0]], dtype=torch.bool)
    inputs, labels = mask_tokens(
        ids, maskable, probability=0.5, mask_id=4, vocab_size=60, generator=torch.Generator().manual_seed(0)
    )
    assert ((labels != -100) <= maskable).all()  # never a special token or padding
    assert ((labels != -100).sum(dim=1) >= 1).all()  # every row is scored
    assert torch.equal(inputs[~maskable], ids[~maskable])

    task = TaskSpec.model_validate(
        {"name": "t", "kind": "masked_lm", "version": 1, "role": "intermediate", "languages": ["de"],
         "dataset": {"format": "tsv", "path": "x"}, "train": {"split": "train", "language": "de"}}
    )  # fmt: skip
    rows = datasets.Dataset.from_dict({"id": ["a", "b"], "text": ["w1 w2 w3 w4 alpha", "beta w5 w6"]})
    tokenizer = load_tokenizer(str(tiny_model))
    model = KIND.load_model(str(tiny_model), task)
    features = KIND.features(rows, tokenizer, task, 16)
    first = KIND.predict(model, features, rows, task, tokenizer, 8, "fp32")
    second = KIND.predict(model, features, rows, task, tokenizer, 1, "fp32")
    assert [p.label for p in first] == [p.label for p in second]  # the same masks at any batch size
    assert [p.correct for p in first] == [p.correct for p in second]
    assert all(0.0 <= p.correct <= 1.0 and p.extra["n_masked"] >= 1 for p in first)
    assert 0.0 <= KIND.score(first, task)["accuracy"] <= 1.0
