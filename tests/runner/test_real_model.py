"""The real embedded me5-small through all three phases on a small slice of the default grid (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness import api
from harness.catalogue.loader import Catalogue
from harness.results.store import ResultsStore

REPO = Path(__file__).resolve().parents[2]

GRID = """\
name: slice
models:
  - {name: me5-small, source: "embedded:me5-small", freeze_embeddings: true}
intermediate:
  - {name: none}
  - {name: mmlu-en, task: mmlu_parallel, source_lang: en, source_type: english, size: 16}
  - {name: mmlu-de, task: mmlu_parallel, source_lang: de, source_type: translated, size: 16, matched_with: mmlu-en}
targets: [sib200, tatoeba_demo]
seeds: [1]
training: {max_steps: 3, batch_size: 8}
intermediate_training: {max_steps: 2, batch_size: 4, max_length: 64}
eval_limit: 24
"""


@pytest.mark.slow
def test_me5_small_through_all_three_phases(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # conftest sets one thread for the tiny models; restored below
    try:
        _run_slice(tmp_path)
    finally:
        torch.set_num_threads(threads)


def _run_slice(tmp_path: Path) -> None:
    grid_path = tmp_path / "slice.yaml"
    grid_path.write_text(GRID, encoding="utf-8")
    catalogue = Catalogue.load(REPO / "tasks")
    # the committed pin: the runner refuses a different image
    report = api.run(grid_path, results=tmp_path / "results", lock=REPO / "checkpoints.lock", tasks=catalogue)
    sib = len(catalogue.task("sib200").languages)
    tatoeba = catalogue.task("tatoeba_demo")
    retrieval = sum(len(tatoeba.split_languages(s)) for s in tatoeba.splits)  # Tatoeba, Django UI, FLORES
    assert len(report.ran) == 2 + 3 + 3 * (sib + retrieval)
    records = ResultsStore(tmp_path / "results").records()
    assert {r.checkpoint.condition for r in records} == {"none", "mmlu-en", "mmlu-de"}
    assert all(r.n_examples == 24 for r in records)
    tatoeba_none = {
        r.language: r.main_score
        for r in records
        if r.task.name == "tatoeba_demo" and r.split.name == "test" and r.checkpoint.condition == "none"
    }
    # the pretrained multilingual encoder retrieves translations far above chance (1/24) with no training
    assert sum(tatoeba_none.values()) / len(tatoeba_none) > 0.5
    de = [r for r in records if r.checkpoint.condition == "mmlu-de"][0]
    assert [s.phase for s in de.checkpoint.lineage][:2] == ["base", "intermediate"]
    assert de.checkpoint.lineage[1].source_lang == "de"
