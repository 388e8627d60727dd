"""Group YAMLs drive the aggregates: the checkpoint table's ``overall`` and subgroup rows, the summary's
leaderboard column and ranking, and ``harness score``'s XTREME groups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stats_records import seed_records

from harness.catalogue.loader import REPO_ROOT, Catalogue
from harness.catalogue.schema import GroupSpec
from harness.cli import main
from harness.models.lockfile import Lock
from harness.report.summary import leaderboard_spec
from harness.report.table_formats import records as table_records
from harness.report.tables import leaderboard, ranking_key
from harness.runner.plan import expand
from harness.scoring.stats_tables import checkpoint_table, grid_group
from harness.scoring.xtreme import OVERALL_KEY, XTREME_TASKS, aggregate, official_main_metric, xtreme_group

# the official evaluate.py's GROUP2TASK, copied from google-research/xtreme
OFFICIAL_GROUPS = {
    "classification": ["pawsx", "xnli"],
    "tagging": ["udpos", "panx"],
    "qa": ["xquad", "mlqa", "tydiqa"],
    "retrieval": ["bucc2018", "tatoeba"],
}
TOY_TASK = """\
name: {name}
kind: classification
version: 1
dataset:
  format: tsv
  path: "{{lang}}.tsv"
labels: [a, b]
languages: [en, de]
train: {{split: train, language: en}}
splits:
  - {{name: test, domain: news}}
"""
TOY_GRID = """\
name: g
models: [{name: m, source: 'hub:org/m'}]
intermediate: [{name: none}]
targets: [ta, tb, tc]
group: trio
"""
TRIO = "group: trio\ntitle: trio mean\ntasks: [ta, tb, tc]\nsubgroups:\n  pair: [ta, tb]\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def toy_folder(root: Path, group: str = TRIO) -> Path:
    for name in ("ta", "tb", "tc"):
        write(root, f"targets/{name}.yaml", TOY_TASK.format(name=name))
    write(root, "targets/trio.yaml", group)
    write(root, "grids/g.yaml", TOY_GRID)
    return root


def small_store(grid: str = "g") -> list:
    """mmlu-en: all three tasks (per-language scores averaged over en, de); mmlu-de: two of them."""
    records = []
    for condition, values in {"mmlu-en": {"ta": (0.8, 0.6), "tb": (0.5, 0.3), "tc": (0.9, 0.7)},
                              "mmlu-de": {"ta": (0.7, 0.7), "tb": (0.2, 0.4)}}.items():  # fmt: skip
        for task, (en, de) in values.items():
            records += seed_records(condition, task, "test", ["en"], [en, en])
            records += seed_records(condition, task, "test", ["de"], [de, de])
    return [r.model_copy(update={"grid": grid}) for r in records]


EN_MEANS = {"ta": 0.7, "tb": 0.4, "tc": 0.8}  # each task: mean over en and de


def test_the_grid_names_its_group_and_the_aggregates_are_the_hand_means(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = toy_folder(tmp_path / "tasks")
    monkeypatch.setenv("HARNESS_TASKS", str(folder))
    records = small_store()
    group = grid_group(records)
    assert group is not None and group.group == "trio"
    table = checkpoint_table(None, records, n_boot=50).set_index(["checkpoint", "task"])["score"]
    assert table[("m+mmlu-en", "overall")] == pytest.approx(sum(EN_MEANS.values()) / 3)
    assert table[("m+mmlu-en", "group:pair")] == pytest.approx((0.7 + 0.4) / 2)
    assert table[("m+mmlu-de", "group:pair")] == pytest.approx((0.7 + 0.3) / 2)
    assert ("m+mmlu-de", "overall") not in table.index  # require_all: tc is missing
    board = leaderboard(records).set_index("checkpoint")
    assert board.loc["m+mmlu-en", "overall"] == pytest.approx(table[("m+mmlu-en", "overall")])
    assert board["overall"].isna()["m+mmlu-de"] and board.loc["m+mmlu-de", "average"] == pytest.approx(0.5)
    assert ranking_key(board) == "average"  # not every row has the group's score
    spec = leaderboard_spec(records)
    assert "trio mean" in [c.shown for c in spec.columns]
    assert table_records(spec)[0]["overall"] == pytest.approx(100 * sum(EN_MEANS.values()) / 3, abs=0.05)


def test_without_require_all_the_group_means_the_tasks_present() -> None:
    group = GroupSpec(group="trio", tasks=["ta", "tb", "tc"], require_all=False)
    table = checkpoint_table(None, small_store(), n_boot=50, group=group)
    scores = table.set_index(["checkpoint", "task"])["score"]
    assert scores[("m+mmlu-de", "overall")] == pytest.approx((0.7 + 0.3) / 2)
    board = leaderboard(small_store(), group).set_index("checkpoint")
    assert board.loc["m+mmlu-de", "overall"] == pytest.approx((0.7 + 0.3) / 2)
    assert ranking_key(board) == "overall"


def test_a_grid_without_a_known_group_keeps_the_mean_over_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_TASKS", str(toy_folder(tmp_path / "tasks")))
    mixed = small_store() + small_store("test")[:1]  # one record from a grid the catalogue lacks
    assert grid_group(mixed) is None
    table = checkpoint_table(None, mixed, n_boot=50)
    assert not table["task"].isin(["overall", "group:pair"]).any()
    assert "overall" not in leaderboard(mixed).columns


def test_xtreme_yaml_is_the_official_grouping() -> None:
    group = xtreme_group()
    assert sorted(group.tasks) == sorted(XTREME_TASKS) and group.require_all
    assert group.subgroups == OFFICIAL_GROUPS
    catalogue = Catalogue.load()
    assert catalogue.groups["xtreme"].spec == group
    for task in group.tasks:  # the site's task score is the official avg_metric
        assert catalogue.task(task).metric == official_main_metric(task)


@given(st.sets(st.sampled_from(XTREME_TASKS)), st.lists(st.floats(0, 100), min_size=9, max_size=9))
def test_aggregate_has_a_group_exactly_when_its_tasks_are_present(present: set, values: list) -> None:
    detailed = {task: {"avg_metric": values[i]} for i, task in enumerate(XTREME_TASKS) if task in present}
    out = aggregate(detailed)
    for name, tasks in {OVERALL_KEY: XTREME_TASKS, **OFFICIAL_GROUPS}.items():
        assert (name in out) == (set(tasks) <= present)
        if name in out:
            assert out[name] == pytest.approx(sum(detailed[t]["avg_metric"] for t in tasks) / len(tasks))
    assert list(out) == [k for k in (OVERALL_KEY, *OFFICIAL_GROUPS) if k in out]  # the official order


def test_a_group_naming_an_unknown_task_is_file_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = toy_folder(tmp_path, "group: trio\ntitle: trio mean\ntasks:\n  - ta\n  - tbb\n  - tc\n")
    assert main(["tasks", "validate", str(folder), "--tasks-dir", str(folder)]) == 2
    err = capsys.readouterr()
    assert "trio.yaml:5: tasks.1: group names unknown task 'tbb' — did you mean 'tb'?" in err.out + err.err


def test_a_grid_naming_an_unknown_group_is_file_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = toy_folder(tmp_path)
    write(folder, "grids/g.yaml", TOY_GRID.replace("group: trio", "group: tiro"))
    assert main(["tasks", "validate", str(folder), "--tasks-dir", str(folder)]) == 2
    err = capsys.readouterr()
    assert "g.yaml:5: group: unknown group 'tiro' — did you mean 'trio'?" in err.out + err.err


def test_the_xtreme_metric_rule_is_checked(tmp_path: Path) -> None:
    folder = toy_folder(tmp_path, TRIO + "metric_rule: xtreme\n")
    with pytest.raises(Exception, match=r"trio.yaml:3: tasks.0: metric_rule xtreme: 'ta' is not an XTREME"):
        Catalogue.load(folder)


def test_subgroups_list_tasks_of_the_group(tmp_path: Path) -> None:
    folder = toy_folder(tmp_path, TRIO.replace("pair: [ta, tb]", "pair: [ta, td]"))
    with pytest.raises(
        Exception, match=r"trio.yaml:4: subgroups: pair: must list distinct tasks .*'td' not among them"
    ):
        Catalogue.load(folder)


@pytest.mark.parametrize("grid_name", ["default", "cpu-study"])
def test_the_group_line_is_not_a_job_input(grid_name: str) -> None:
    """Naming a group changes no job key: the plan is the same with it, without it and with another."""
    catalogue = Catalogue.load()
    grid, path = catalogue.grid(str(REPO_ROOT / "tasks" / "grids" / f"{grid_name}.yaml"))
    assert grid.group is not None
    lock = Lock.load(REPO_ROOT / "checkpoints.lock")
    keys = [
        [(c.key, c.label) for c in expand(grid.model_copy(update={"group": g}), path, catalogue, lock).jobs]
        for g in (grid.group, None, "xtreme")
    ]
    assert keys[0] == keys[1] == keys[2] and len(keys[0]) > 100


def test_the_default_grid_names_the_demo_group_of_its_targets() -> None:
    catalogue = Catalogue.load()
    for grid_name, group_name in (("default", "demo"), ("cpu-study", "cpu-study")):
        grid = catalogue.grids[grid_name].spec
        assert grid.group == group_name  # type: ignore[union-attr]
        assert catalogue.groups[group_name].spec.tasks == grid.targets  # type: ignore[union-attr]


def test_harness_score_json_keeps_the_official_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty submission: no task scored, no group; the command still prints the official shape."""
    (tmp_path / "pred").mkdir()
    (tmp_path / "labels").mkdir()
    assert main(["score", str(tmp_path / "pred"), str(tmp_path / "labels"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"overall": {}, "detailed": {}}
