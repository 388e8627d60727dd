"""``harness eval-lm``: lm-eval in process on the fixture tasks, imported per task, resumable."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from lm_fixture import write_fixture_tasks
from tiny_lm import build_tiny_lm

from harness.bridges.lm_eval.importer import import_lm_eval, results_files
from harness.cli import main
from harness.results.store import ResultsStore
from harness.scoring.example_stats import record_stats


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture
def fixture_tasks(tmp_path: Path) -> Path:
    write_fixture_tasks(tmp_path / "lm-tasks")
    return tmp_path / "lm-tasks"


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every lm_eval.simple_evaluate call's task list (the real function still runs)."""
    import lm_eval

    seen: list[list[str]] = []
    real = lm_eval.simple_evaluate

    def counting(*args, **kwargs):
        seen.append(list(kwargs["tasks"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(lm_eval, "simple_evaluate", counting)
    return seen


def _eval_lm(tiny_lm: Path, tasks: Path, results: Path, *extra: str) -> int:
    return main(
        ["eval-lm", str(tiny_lm), "--lm-tasks", str(tasks), "--results", str(results), "--device", "cpu"]
        + ["--batch-size", "4", *extra]
    )


def test_eval_lm_runs_imports_and_a_second_run_runs_nothing(
    tiny_lm: Path, fixture_tasks: Path, tmp_path: Path, calls, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results"
    began = time.perf_counter()
    assert _eval_lm(tiny_lm, fixture_tasks, results, "--shots", "1", "--name", "tiny") == 0
    wall = time.perf_counter() - began
    with capsys.disabled():
        print(f"\ntiny-model eval-lm wall time: {wall:.1f} s for 3 tasks", file=sys.stderr)
    assert len(calls) == 3 and all(len(c) == 1 for c in calls)
    out = capsys.readouterr().out
    assert "tiny: 3 tasks ran, 0 already imported" in out
    assert all(len(line) <= 80 for line in out.splitlines())
    store = ResultsStore(results)
    records = store.records()
    assert len(records) == 3
    runs = results / "lm-eval" / "runs" / "tiny"
    files = results_files(runs)
    assert len(files) == 3 and not list(runs.glob(".staging-*"))
    for record in records:
        shown = record.provenance["lm_eval"]["results_file"]
        assert shown.startswith("lm-eval/runs/tiny/")  # relative to the results folder
        data = json.loads((results / shown).read_text(encoding="utf-8"))
        task = record.data["lm_eval_task"]
        key = record.settings["filter"]
        reported = data["results"][task][f"{record.task.kind == 'extractive_qa' and 'f1' or 'acc'},{key}"]
        assert record.main_score == pytest.approx(reported, abs=1e-9)
        stats = record_stats(results, record)
        assert stats is not None and stats.score() == pytest.approx(record.main_score, abs=1e-9)
        assert record.checkpoint.shots == 1 and record.settings["run_key"]
        assert record.provenance["lm_eval"]["backend"] == "hf"
        assert record.provenance["lm_eval"]["model_args"]["pretrained"] == str(tiny_lm.resolve())
    calls.clear()
    assert _eval_lm(tiny_lm, fixture_tasks, results, "--shots", "1", "--name", "tiny") == 0
    assert calls == []
    assert "tiny: 0 tasks ran, 3 already imported" in capsys.readouterr().out
    # importing lm-eval's own files again finds the very same records (same job keys): nothing new
    again = import_lm_eval(runs, results, name="tiny")
    assert again.written == [] and len(again.unchanged) == 3
    assert len(list((results / "records" / "tiny").glob("*.json"))) == 3
    # another shot count is another run of every task
    assert _eval_lm(tiny_lm, fixture_tasks, results, "--shots", "0", "--tasks", "xh_tinycls_*") == 0
    assert len(calls) == 2
    assert {r.checkpoint.name for r in ResultsStore(results).records()} == {"tiny", f"{tiny_lm.name}-0shot"}
    capsys.readouterr()
    # paired comparison on the example ids, as for the encoders' records
    assert main(["compare", "tiny", f"{tiny_lm.name}-0shot", "--results", str(results), "--json"]) == 0
    paired = json.loads(capsys.readouterr().out)["per_language"]
    assert sorted((row["task"], row["split"], row["n_examples"]) for row in paired) == [
        ("tinycls", "shifted", 12),
        ("tinycls", "test", 12),
    ]
    assert main(["summary", "--results", str(results)]) == 0
    summary = capsys.readouterr().out
    assert "tiny" in summary and f"{tiny_lm.name}-0shot" in summary


def test_a_killed_run_resumes_with_only_the_rest(
    tiny_lm: Path, fixture_tasks: Path, tmp_path: Path, calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lm_eval

    counting = lm_eval.simple_evaluate

    def killed_on_second(*args, **kwargs):
        if len(calls) == 1:
            calls.append(["killed"])
            raise KeyboardInterrupt
        return counting(*args, **kwargs)

    monkeypatch.setattr(lm_eval, "simple_evaluate", killed_on_second)
    results = tmp_path / "results"
    assert _eval_lm(tiny_lm, fixture_tasks, results, "--name", "tiny") == 130
    assert len(ResultsStore(results).records()) == 1
    first_task = calls[0]
    calls.clear()
    monkeypatch.setattr(lm_eval, "simple_evaluate", counting)
    assert _eval_lm(tiny_lm, fixture_tasks, results, "--name", "tiny") == 0
    assert len(calls) == 2 and first_task not in calls
    assert len(ResultsStore(results).records()) == 3


def test_limit_is_recorded(tiny_lm: Path, fixture_tasks: Path, tmp_path: Path, calls) -> None:
    results = tmp_path / "results"
    assert _eval_lm(tiny_lm, fixture_tasks, results, "--limit", "3", "--tasks", "xh_tinyqa_*") == 0
    (record,) = ResultsStore(results).records()
    assert record.n_examples == 3 and record.settings["limit"] == 3
    assert record.provenance["job_key_parts"]["limit"] == 3
    # a full run of the same task is a different run: it runs
    assert _eval_lm(tiny_lm, fixture_tasks, results, "--tasks", "xh_tinyqa_*") == 0
    assert len(calls) == 2


def test_vllm_backend_without_vllm_is_exit_2(
    tiny_lm: Path,
    fixture_tasks: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import importlib.util

    real = importlib.util.find_spec  # vllm hidden, so the test runs (and can fail) wherever vllm is installed
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a)
    )
    assert _eval_lm(tiny_lm, fixture_tasks, tmp_path / "r", "--backend", "vllm") == 2
    assert "--backend: --backend vllm needs the vllm package" in capsys.readouterr().err
    assert not (tmp_path / "r" / "records").exists()


def test_pickle_weights_are_refused_by_default(
    tiny_lm: Path, fixture_tasks: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "pickled"
    folder.mkdir()
    for path in tiny_lm.iterdir():
        if path.suffix != ".safetensors":
            (folder / path.name).write_bytes(path.read_bytes())
    assert _eval_lm(folder, fixture_tasks, tmp_path / "r") == 2
    assert "--allow-pickle" in capsys.readouterr().err


def test_tasks_that_match_nothing_name_the_tasks_there(
    tiny_lm: Path, fixture_tasks: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _eval_lm(tiny_lm, fixture_tasks, tmp_path / "r", "--tasks", "xh_nli_*") == 2
    err = capsys.readouterr().err
    assert "--tasks: no exported harness task" in err and "xh_tinyqa_test_en" in err
    assert not (tmp_path / "r").exists()


def test_without_lm_eval_installed_one_line_names_the_extra(
    tiny_lm: Path, fixture_tasks: Path, tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "lm_eval" else real(name, *a)
    )
    assert _eval_lm(tiny_lm, fixture_tasks, tmp_path / "r") == 2
    err = capsys.readouterr().err
    assert "harness eval-lm needs lm-eval" in err and "xtreme-harness[lm]" in err


def test_task_patterns_export_only_the_targets_they_can_name() -> None:
    """Each exported target is read in full (a hub download for users): a task pattern picks its targets."""
    from harness import api
    from harness.bridges.lm_eval.evaluate import _targets_named_by

    catalogue = api.catalogue()
    assert _targets_named_by(catalogue, ["xh_sib200_test_*"]) == ["sib200"]
    assert _targets_named_by(catalogue, ["xh_xnli_letters_de", "xh_pawsx_*"]) == ["pawsx", "xnli"]
    assert _targets_named_by(catalogue, ["xh_x*"]) == ["xnli", "xquad", "xquad_demo"]
    assert _targets_named_by(catalogue, ["xh_nothing_*"]) == []
