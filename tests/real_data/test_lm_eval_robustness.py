"""A prompted model's robustness on real data: ``harness eval-lm`` (a tiny random-weight causal LM, so the
numbers say nothing about any model) on XQuAD's in-domain test and its TyDiQA-GoldP domain-shifted split
from ../shared/data, then the robustness table holds its gap with a CI, badged like everywhere else."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.results.store import ResultsStore
from harness.scoring.robustness import robustness_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bridges"))
from tiny_lm import build_tiny_lm  # noqa: E402

pytestmark = pytest.mark.real_data
LIMIT = 24  # documents per task: enough for an interval, small enough for the suite


def test_prompted_gap_on_a_real_shifted_split(shared_data: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    model = build_tiny_lm(tmp_path / "tiny-lm")
    argv = ["eval-lm", str(model), "--name", "tiny-lm", "--results", str(results), "--device", "cpu"]
    argv += ["--batch-size", "8", "--limit", str(LIMIT), "--tasks", "xh_xquad_test_ar", "xh_xquad_tydiqa_ar"]
    assert main(argv) == 0
    records = ResultsStore(results).records()
    assert sorted((r.split.name, r.split.in_domain, r.n_examples) for r in records) == [
        ("test", True, LIMIT),
        ("tydiqa", False, LIMIT),
    ]
    table = robustness_table(ResultsStore(results), records, n_boot=200)
    (row,) = table.itertuples()
    assert (row.checkpoint, row.badge, row.language, row.shifted_split) == (
        "tiny-lm",
        "prompted, 0-shot",
        "ar",
        "tydiqa",
    )
    assert math.isclose(row.gap, row.shifted_score - row.in_domain_score, abs_tol=1e-12)
    assert row.gap_low <= row.gap <= row.gap_high
