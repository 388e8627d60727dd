"""A kind defined here, in the test, goes the whole way: declared with one registration call, its task
validated, a grid planned and run on the tiny BERT, scores recorded with per-example statistics (so
the contrast gets example-level intervals) and the site rendered. docs/adding-a-kind.md walks it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from pydantic import StrictInt
from transformers import AutoModel

from harness.catalogue.loader import Catalogue
from harness.catalogue.schema import TaskSpec
from harness.cli import main
from harness.errors import HarnessError
from harness.kinds.base import Baseline, BaselineInputs, Forward, PredictInputs, Prediction, Rows, TaskKind
from harness.kinds.params import KindParams
from harness.kinds.registry import KindInfo, get_kind, kind_params, register_kind, unregister_kind
from harness.models.loading import from_pretrained
from harness.results.store import ResultsStore
from harness.scoring.cells import build_cells
from harness.scoring.example_stats import record_stats

# ---- the toy kind: is the number of words even? ------------------------------------------------------


class ParityParams(KindParams):
    offset: StrictInt = 0  # added to the word count before its parity is taken


class LengthParity(TaskKind):
    """Predicts "even" or "odd" from the sentence's length in tokens (the tiny BERT runs, its output is
    kept only to show the forward pass happened)."""

    name = "length_parity"
    trains = False

    def load_model(self, source: str, task: TaskSpec, **load_kwargs: Any) -> torch.nn.Module:
        return from_pretrained(AutoModel, source, **load_kwargs)

    def features(self, rows: Rows, tokenizer: Any, task: TaskSpec, max_length: int) -> Rows:
        ids = tokenizer(list(rows["text"]), truncation=True, max_length=max_length)["input_ids"]
        return Rows.from_dict({"input_ids": ids, "length": [len(row) for row in ids]})

    def forward(self, model: torch.nn.Module, task: TaskSpec) -> Forward:
        def words_and_state(m: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            words = batch["attention_mask"].sum(1) - 2  # [CLS] and [SEP]
            return torch.stack([words.float(), m(**batch).last_hidden_state[:, 0, 0]], dim=1)

        return words_and_state

    def decode(self, outputs: list[np.ndarray], inputs: PredictInputs) -> list[Prediction]:
        offset = kind_params(inputs.task).offset
        out = []
        for row_id, gold, output in zip(inputs.rows["id"], inputs.rows["label"], outputs, strict=True):
            guess = "even" if (int(output[0]) + offset) % 2 == 0 else "odd"
            out.append(Prediction(row_id, guess, gold, float(guess == gold)))
        return out

    def trivial(self, inputs: BaselineInputs) -> Baseline:
        always_even = np.mean([gold == "even" for gold in inputs.eval_rows["label"]])
        return Baseline("always even", {"accuracy": float(always_even)})


TOY = KindInfo(
    "length_parity",
    __name__,
    ("text", "label"),
    trains=False,
    description="is the number of words even? (a test's toy kind)",
    params=ParityParams,
)


@pytest.fixture
def toy_kind() -> Iterator[KindInfo]:
    register_kind(TOY, LengthParity())
    yield TOY
    unregister_kind(TOY.name)


# ---- a tasks folder with one task of the toy kind ---------------------------------------------------------


def write_toy_tasks(root: Path, model: Path, params: str = "{offset: 0}") -> Path:
    rng = random.Random(0)
    for lang in ("en", "de"):
        lines = ["id\ttext\tlabel"]
        for i in range(40):
            words = " ".join(f"w{rng.randrange(60)}" for _ in range(rng.randint(2, 9)))
            parity = "even" if len(words.split()) % 2 == 0 else "odd"
            if rng.random() < 0.25:  # some labels disagree with the rule: accuracy is not 1
                parity = "odd" if parity == "even" else "even"
            lines.append(f"{lang}{i}\t{words}\t{parity}")
        (root / "data").mkdir(parents=True, exist_ok=True)
        (root / "data" / f"{lang}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    tasks = root / "tasks"
    (tasks / "grids").mkdir(parents=True, exist_ok=True)
    (tasks / "toy_parity.yaml").write_text(
        f"""name: toy_parity
kind: length_parity
version: 1
dataset: {{format: tsv, path: "{root}/data/{{lang}}.tsv"}}
languages: [en, de]
splits:
  - {{name: test, domain: synthetic, in_domain: true}}
params: {params}
hyperparameters: {{max_length: 16}}
""",
        encoding="utf-8",
    )
    (tasks / "grids" / "toy.yaml").write_text(
        f"""name: toy
models:
  - {{name: tiny-bert, source: "{model}"}}
intermediate:
  - {{name: none}}
targets: [toy_parity]
seeds: [1]
""",
        encoding="utf-8",
    )
    return tasks


# ---- the whole way -----------------------------------------------------------------------------------------


def test_a_kind_defined_in_a_test_plans_runs_scores_and_renders(
    toy_kind: KindInfo, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert get_kind("length_parity").name == "length_parity"
    monkeypatch.chdir(tmp_path)
    write_toy_tasks(tmp_path, tiny_model)
    assert main(["tasks", "validate", "--tasks-dir", "tasks"]) == 0
    assert main(["plan", "toy", "--tasks-dir", "tasks"]) == 0
    assert main(["run", "toy", "--tasks-dir", "tasks", "--results", "results"]) == 0

    results = tmp_path / "results"
    records = ResultsStore(results).records()
    assert sorted(r.language for r in records) == ["de", "en"]  # nothing to train: one job per language
    for record in records:
        stats = record_stats(results, record)
        assert stats is not None and stats.n == record.n_examples == 40
        assert stats.score() == pytest.approx(record.main_score)
        assert 0.5 < record.main_score < 1  # the rule is right about three times in four
        assert record.baseline is not None and record.baseline.name == "always even"
    assert build_cells(results, records, n_boot=50).has_examples.all()  # example-level intervals

    assert main(["report", "--results", "results", "--out", "site"]) == 0
    assert "toy_parity" in (tmp_path / "site" / "index.html").read_text(encoding="utf-8")


def test_the_toy_kinds_params_are_checked_when_the_catalogue_loads(
    toy_kind: KindInfo, tiny_model: Path, tmp_path: Path
) -> None:
    tasks = write_toy_tasks(tmp_path, tiny_model, params="{offset: one}")
    text = (tasks / "toy_parity.yaml").read_text(encoding="utf-8").splitlines()
    line = next(n for n, row in enumerate(text, 1) if row.startswith("params:"))
    with pytest.raises(HarnessError, match=rf"toy_parity.yaml:{line}: params.offset: .*'one'"):
        Catalogue.load(tasks)


def test_a_kind_is_declared_once(toy_kind: KindInfo) -> None:
    with pytest.raises(HarnessError, match="already registered"):
        register_kind(TOY)


def test_an_unregistered_kind_is_unknown_to_the_catalogue(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="unknown task kind 'length_parity'"):
        Catalogue.load(write_toy_tasks(tmp_path, tiny_model))
