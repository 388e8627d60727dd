"""The shipped task YAMLs read the full shared copies of SIB-200 and Tatoeba unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.catalogue.loader import Catalogue
from harness.data.loaders import load_rows
from harness.kinds.classification import label_index

pytestmark = pytest.mark.real_data
REPO = Path(__file__).resolve().parents[2]


def test_every_xtreme_tatoeba_language_loads_aligned(shared_data: Path) -> None:
    catalogue = Catalogue.load(REPO / "tasks")
    task = catalogue.task("tatoeba")
    sizes = {}
    for lang in task.languages:
        rows = load_rows(task, split="test", language=lang, base_dir=catalogue.task_path("tatoeba").parent)
        assert all(r["source"] and r["target"] for r in rows.rows)
        sizes[lang] = len(rows)
    assert len(sizes) == 36
    assert sizes["de"] == 1000 and sizes["jv"] == 205 and sizes["sw"] == 390


def test_sib200_labels_and_parallel_test_sets(shared_data: Path) -> None:
    catalogue = Catalogue.load(REPO / "tasks")
    task = catalogue.task("sib200")
    base = catalogue.task_path("sib200").parent
    english = load_rows(task, split="test", language="en", base_dir=base)
    for lang in task.languages:
        rows = load_rows(task, split="test", language=lang, base_dir=base)
        assert rows.rows["id"] == english.rows["id"]  # the same FLORES sentences, in the same order
        assert rows.rows["label"] == english.rows["label"]
        assert {label_index(task, v) for v in rows.rows["label"]} == set(range(7))
    train = load_rows(task, split="train", language="en", base_dir=base)
    assert len(train) == 701 and not set(train.rows["id"]) & set(english.rows["id"])
