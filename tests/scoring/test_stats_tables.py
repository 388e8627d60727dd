"""score_table and checkpoint_table: XTREME aggregation (groups, overall) with CIs on constructed records."""

from __future__ import annotations

import math

import numpy as np
import pytest
from stats_records import record, seed_records

from harness.scoring.stats_tables import CHECKPOINT_COLUMNS, SCORE_COLUMNS, checkpoint_table, score_table
from harness.scoring.xtreme import XTREME_TASKS, xtreme_group

SPREAD = (-0.02, 0.0, 0.02)


def task_value(task: str) -> float:
    return 0.3 + 0.05 * XTREME_TASKS.index(task)


def nine_tasks(condition: str, tasks=XTREME_TASKS) -> list:
    out = []
    for task in tasks:
        v = task_value(task)
        out += seed_records(condition, task, "test", ["en", "de"], [v + d for d in SPREAD])
        out += seed_records(condition, task, "test", ["sw"], [v + 0.03 + d for d in SPREAD])
        # a shifted split never enters the in-domain task score
        out += seed_records(
            condition, task, "news", ["en"], [0.01, 0.01, 0.01], in_domain=False, domain="news"
        )
    return out


def test_groups_and_overall_only_when_complete() -> None:
    records = nine_tasks("mmlu-en") + nine_tasks("mmlu-de", tasks=("pawsx", "xnli", "udpos"))
    table = checkpoint_table(None, records, n_boot=400, group=xtreme_group())
    assert list(table.columns) == CHECKPOINT_COLUMNS
    full = table[table["checkpoint"] == "m+mmlu-en"].set_index("task")
    part = table[table["checkpoint"] == "m+mmlu-de"].set_index("task")
    assert set(full.index) == {*XTREME_TASKS, *(f"group:{g}" for g in xtreme_group().subgroups), "overall"}
    assert set(part.index) == {"pawsx", "xnli", "udpos", "group:classification"}
    # task score: mean over languages (en, de at v; sw at v + 0.03), English included
    for task in XTREME_TASKS:
        assert full.loc[task, "score"] == pytest.approx(task_value(task) + 0.01)
        assert full.loc[task, "n_languages"] == 3 and full.loc[task, "n_seeds"] == 3
    for group, tasks in xtreme_group().subgroups.items():
        assert full.loc[f"group:{group}", "score"] == pytest.approx(
            np.mean([task_value(t) + 0.01 for t in tasks])
        )
    assert full.loc["overall", "score"] == pytest.approx(
        np.mean([task_value(t) + 0.01 for t in XTREME_TASKS])
    )
    assert full.loc["overall", "n_languages"] == 27
    # seeds move every score together by ±0.02 (s = 0.02): each CI is the 3-seed t-interval (df 2)
    half = 4.302653 * 0.02 / math.sqrt(3)
    for _, row in full.iterrows():
        assert row["low"] == pytest.approx(row["score"] - half, abs=1e-6)
        assert row["high"] == pytest.approx(row["score"] + half, abs=1e-6)
    order = list(full.index)
    assert order.index("overall") == len(order) - 1 and order.index("xnli") < order.index("group:qa")


def test_several_in_domain_splits_are_averaged() -> None:
    records = seed_records("mmlu-en", "udpos", "pud", ["en", "de"], [0.8, 0.8, 0.8])
    records += seed_records("mmlu-en", "udpos", "ewt", ["en"], [0.6, 0.6, 0.6])
    row = checkpoint_table(None, records, n_boot=100).iloc[0]
    assert row["score"] == pytest.approx((0.8 + 0.6) / 2)  # mean of the splits' language means
    assert row["low"] == pytest.approx(row["high"])  # identical seeds: a zero-width CI


def test_score_table_columns_and_one_seed() -> None:
    table = score_table(None, [record("mmlu-de", "xnli", "test", "sw", 0.42)], n_boot=100)
    assert list(table.columns) == SCORE_COLUMNS
    row = table.iloc[0]
    assert row["source_lang"] == "de" and row["source_type"] == "translated" and row["baseline"] == 0.25
    assert row["score"] == 0.42 and math.isnan(row["low"]) and row["n_seeds"] == 1


def test_empty_inputs() -> None:
    assert checkpoint_table(None, [], n_boot=10).empty
    assert score_table(None, [], n_boot=10).empty
    only_shifted = [record("mmlu-en", "xnli", "news", "en", 0.4, in_domain=False)]
    assert checkpoint_table(None, only_shifted, n_boot=10).empty
