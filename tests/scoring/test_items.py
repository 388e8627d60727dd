"""Items declared on tasks: translations of one item share one bootstrap draw across languages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.catalogue.loader import load_document
from harness.cli import main
from harness.errors import HarnessError
from harness.results.schema import TaskInfo
from harness.scoring.cells import cells_from_arrays
from harness.scoring.example_stats import ExampleStats
from harness.scoring.items import item_rule

TASK = """\
name: toy
kind: classification
version: 1
ITEMS
dataset:
  format: tsv
  path: "{lang}.tsv"
labels: [a, b]
languages: [en, de]
train: {split: train, language: en}
splits:
  - {name: test, domain: news}
"""


def _replicates(rule: str, ids_de: list[str], ids_fr: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap replicates of two one-seed cells (de, fr) of one task with the same per-item outcomes."""
    correct = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    frame = pd.DataFrame(
        {
            "checkpoint": ["ck", "ck"],
            "task": ["toy", "toy"],
            "split": ["test", "test"],
            "language": ["de", "fr"],
            "items": [rule, rule],
        }
    )
    stats = {
        0: [ExampleStats(tuple(ids_de), correct, np.ones_like(correct))],
        1: [ExampleStats(tuple(ids_fr), correct, np.ones_like(correct))],
    }
    score = float(correct.mean())
    cells = cells_from_arrays(frame, [[1], [1]], [[score], [score]], stats, n_boot=200)
    return cells.example_reps[0][0], cells.example_reps[1][0]


def test_two_languages_of_a_by_id_task_share_one_draw() -> None:
    ids = [f"q{i}" for i in range(12)]
    de, fr = _replicates("by_id", ids, list(ids))
    assert np.array_equal(de, fr) and de.std() > 0


def test_by_index_strips_the_language_from_generated_ids() -> None:
    de, fr = _replicates("by_index", [f"test-de-{i}" for i in range(12)], [f"test-fr-{i}" for i in range(12)])
    assert np.array_equal(de, fr)


def test_independent_languages_get_their_own_draws() -> None:
    ids = [f"q{i}" for i in range(12)]
    de, fr = _replicates("independent", ids, ids)
    assert not np.array_equal(de, fr)


def test_a_by_id_draw_follows_the_id_not_the_position() -> None:
    ids = [f"q{i}" for i in range(12)]
    shuffled = [ids[i] for i in (3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10)]
    de, fr = _replicates("by_id", ids, shuffled)
    assert not np.array_equal(de, fr)  # same outcomes on different items: draws differ by item


def test_the_rule_travels_on_the_record_task() -> None:
    info = TaskInfo(name="toy", version=1, kind="classification", items="by_id")
    assert item_rule(info) == "by_id"
    assert item_rule(TaskInfo(name="toy", version=1, kind="classification")) == "independent"


@pytest.mark.parametrize("rule", ["by_id", "by_index", "independent"])
def test_tasks_validate_accepts_the_declared_rules(tmp_path: Path, rule: str) -> None:
    path = tmp_path / "toy.yaml"
    path.write_text(TASK.replace("ITEMS", f"items: {rule}"), encoding="utf-8")
    assert load_document(path).spec.items == rule
    assert main(["tasks", "validate", str(path), "--tasks-dir", str(tmp_path)]) == 0


def test_tasks_validate_rejects_an_unknown_rule(tmp_path: Path) -> None:
    path = tmp_path / "toy.yaml"
    path.write_text(TASK.replace("ITEMS", "items: parallel"), encoding="utf-8")
    with pytest.raises(HarnessError, match=r"toy.yaml:4: items:.*by_id"):
        load_document(path)
    assert main(["tasks", "validate", str(path), "--tasks-dir", str(tmp_path)]) == 2


def test_the_parallel_targets_declare_their_items() -> None:
    root = Path(__file__).resolve().parents[2] / "tasks"
    declared = {
        "targets/xnli/xnli.yaml": "by_index",
        "targets/pawsx/pawsx.yaml": "by_index",
        "targets/xquad/xquad.yaml": "by_id",
        "targets/mlqa/mlqa.yaml": "by_id",
        "targets/udpos/udpos_demo.yaml": "by_id",
        "targets/sib200/sib200.yaml": "by_id",
        "targets/tydiqa/tydiqa.yaml": "independent",
        "targets/panx/panx.yaml": "independent",
    }
    for path, rule in declared.items():
        assert load_document(root / path).spec.items == rule, path
