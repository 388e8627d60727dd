"""``harness import lm-eval``: a real in-process lm-eval run of the tiny LM on the fixture tasks, imported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from lm_fixture import FixtureTask, write_fixture_tasks
from tiny_lm import build_tiny_lm

from harness.bridges.lm_eval.importer import import_lm_eval, results_files
from harness.cli import main
from harness.errors import HarnessError
from harness.results.store import ResultsStore
from harness.scoring.example_stats import record_stats, stats_from_rows

PLAIN = """task: plain_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {test}
test_split: test
output_type: multiple_choice
doc_to_text: "Text : {{{{text}}}} Label :"
doc_to_choice: ["alpha", "beta"]
doc_to_target: label
metric_list:
  - metric: acc
metadata:
  version: 1
"""


def lm_eval_run(tiny_lm: Path, tasks: list[str], tasks_dir: Path, out: Path, shots: int = 1) -> Path:
    """What ``lm_eval --log_samples --output_path OUT`` does, in process: run, then EvaluationTracker saves."""
    import lm_eval
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    tracker = EvaluationTracker(output_path=str(out))
    model_args = {"pretrained": str(tiny_lm)}
    results = lm_eval.simple_evaluate(
        model=HFLM(pretrained=str(tiny_lm), device="cpu", batch_size=4),
        model_args=model_args,
        tasks=tasks,
        task_manager=TaskManager(include_path=str(tasks_dir), include_defaults=False),
        num_fewshot=shots,
        log_samples=True,
        bootstrap_iters=0,
    )
    samples = results.pop("samples")
    tracker.general_config_tracker.log_experiment_args(
        model_source="hf",
        model_args=model_args,
        system_instruction=None,
        chat_template=None,
        fewshot_as_multiturn=False,
    )
    tracker.save_results_aggregated(results=results, samples=samples)
    for task in results["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])
    return out


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[FixtureTask], Path]:
    root = tmp_path_factory.mktemp("lm-import")
    tiny = build_tiny_lm(root / "tiny-lm")
    tasks = write_fixture_tasks(root / "tasks")
    (root / "tasks" / "plain.test.jsonl").write_text(
        "".join(json.dumps({"text": f"w{i} w{i + 1}", "label": i % 2}) + "\n" for i in range(4)),
        encoding="utf-8",
    )
    (root / "tasks" / "plain.yaml").write_text(PLAIN.format(test=root / "tasks" / "plain.test.jsonl"))
    names = [t.name for t in tasks] + ["plain_mc"]
    out = lm_eval_run(tiny, names, root / "tasks", root / "lm-eval-out")
    return out, tasks, tiny


def _results(out: Path) -> dict[str, Any]:
    (path,) = results_files(out)
    return json.loads(path.read_text(encoding="utf-8"))


def test_import_reproduces_lm_eval_metrics_from_the_samples(lm_run, tmp_path: Path) -> None:
    out, tasks, tiny = lm_run
    reported = _results(out)["results"]
    report = import_lm_eval(out, tmp_path, name="tiny-lm-1shot", code_version="test-version")
    assert report.skipped == ["plain_mc: not a harness task (no metadata.harness)"]
    assert len(report.records) == len(report.written) == 3
    store = ResultsStore(tmp_path)
    by_task = {(r.task.name, r.split.name): r for r in store.records()}
    assert set(by_task) == {("tinycls", "test"), ("tinycls", "shifted"), ("tinyqa", "test")}
    for task in tasks:
        record = by_task[(task.meta.task, task.meta.split)]
        for metric, key in task.meta.metrics.items():
            assert record.scores[metric] == pytest.approx(reported[task.name][f"{key},none"], abs=1e-9)
        stats = record_stats(tmp_path, record)
        assert stats is not None and stats.n == task.meta.n_examples
        assert stats.score() == pytest.approx(record.main_score, abs=1e-9)
        rows = store.predictions(record)
        for metric in record.scores:  # every metric, not only the main one (EM of the QA task too)
            other = stats_from_rows(record.task.kind, metric, rows)
            assert other is not None and other.score() == pytest.approx(record.scores[metric], abs=1e-9)
        assert [row["id"] for row in rows] == [doc["id"] for doc in task.docs]
        gold = "answers" if task.meta.kind == "extractive_qa" else "label"
        assert [row["label"] for row in rows] == [doc[gold] for doc in task.docs]
        assert record.checkpoint.regime == "prompted" and record.checkpoint.shots == 1
        assert record.checkpoint.badge == "prompted, 1-shot" and record.task.protocol == "prompted 1-shot"
        assert record.checkpoint.model == str(tiny) and record.checkpoint.model_source == str(tiny.resolve())
        assert record.checkpoint.model_revision == "main"
        assert record.split.in_domain is task.meta.in_domain and record.language == "en"
        lm = record.provenance["lm_eval"]
        assert lm["version"] and len(lm["task_hash"]) == 64 and "git_hash" in lm
        assert lm["model_args"] == {"pretrained": str(tiny)} and lm["batch_size"] is None
        assert record.provenance["code_version"] == "test-version" and record.provenance["created"]
        assert record.settings["shots"] == 1 and record.settings["fewshot_seed"] == 1234
        assert record.seed == 1234 and record.grid == "lm-eval"
    qa = by_task[("tinyqa", "test")]
    assert 0 < qa.scores["exact_match"] < qa.scores["f1"] < 1  # the fixture gives EM and F1 both a spread
    assert qa.settings["generation_kwargs"]["max_gen_toks"] == 4
    assert {type(row["prediction"]) for row in store.predictions(qa)} == {str}
    mc = by_task[("tinycls", "test")]
    assert {row["prediction"] for row in store.predictions(mc)} <= {0, 1}


def test_reimport_is_idempotent(lm_run, tmp_path: Path) -> None:
    out, _, _ = lm_run
    first = import_lm_eval(out, tmp_path, name="tiny")
    files = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    stamps = {p: (tmp_path / p).stat().st_mtime_ns for p in files}
    second = import_lm_eval(out, tmp_path, name="tiny")
    assert second.written == [] and len(second.unchanged) == 3
    assert [r.job_key for r in second.records] == [r.job_key for r in first.records]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()) == files
    assert {p: (tmp_path / p).stat().st_mtime_ns for p in files} == stamps
    assert len(ResultsStore(tmp_path).records()) == 3


def test_missing_samples_is_exit_2_naming_the_file_and_writes_nothing(
    lm_run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, tasks, _ = lm_run
    copy = shutil.copytree(out, tmp_path / "copy")
    (missing,) = copy.rglob(f"samples_{tasks[2].name}_*.jsonl")
    missing.unlink()
    store = tmp_path / "store"
    code = main(["import", "lm-eval", str(copy), "--name", "tiny", "--results", str(store)])
    err = capsys.readouterr().err
    assert code == 2
    (results_file,) = results_files(copy)
    assert str(results_file) in err and missing.name in err and "--log_samples" in err
    assert len(err.strip().splitlines()) == 1
    assert not store.exists() or not any(store.rglob("*.json*"))


def test_a_metric_the_samples_do_not_reproduce_is_refused(lm_run, tmp_path: Path) -> None:
    out, tasks, _ = lm_run
    copy = shutil.copytree(out, tmp_path / "copy")
    (results_file,) = results_files(copy)
    data = json.loads(results_file.read_text(encoding="utf-8"))
    data["results"][tasks[1].name]["acc,none"] += 0.01  # e.g. a filter the samples do not show
    results_file.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(HarnessError, match=f"{tasks[1].name}: the mean of the samples' 'acc'"):
        import_lm_eval(copy, tmp_path / "store", name="tiny")
    assert not (tmp_path / "store" / "records").exists()


def test_the_newest_results_file_of_a_task_wins(lm_run, tmp_path: Path) -> None:
    out, tasks, _ = lm_run
    copy = shutil.copytree(out, tmp_path / "copy")
    (old,) = results_files(copy)
    data = json.loads(old.read_text(encoding="utf-8"))
    data["results"][tasks[0].name]["acc,none"] += 0.5  # the older run: refused if it were read
    older = old.with_name("results_2000-01-01T00-00-00.000000.json")
    older.write_text(json.dumps(data), encoding="utf-8")
    report = import_lm_eval(copy, tmp_path / "store", name="tiny")
    assert len(report.records) == 3
    assert {r.provenance["lm_eval"]["results_file"] for r in report.records} == {str(old)}


def test_imported_records_show_in_summary(lm_run, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, _, _ = lm_run
    assert main(["import", "lm-eval", str(out), "--name", "tiny-lm", "--results", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "tiny-lm: 3 records written, 0 already stored" in printed and "skipped plain_mc" in printed
    assert main(["summary", "--results", str(tmp_path), "--format", "json"]) == 0
    summary = capsys.readouterr().out
    assert "tiny-lm" in summary and "tinyqa" in summary and "tinycls" in summary


def test_results_of_two_models_are_refused(lm_run, tmp_path: Path) -> None:
    out, tasks, _ = lm_run
    copy = shutil.copytree(out, tmp_path / "copy")
    (old,) = results_files(copy)
    data = json.loads(old.read_text(encoding="utf-8"))
    keep = tasks[0].name
    for key in ("results", "configs"):
        data[key] = {keep: data[key][keep]}
    data["config"]["model_args"] = {"pretrained": "org/other-model"}
    date = "2999-01-01T00-00-00.000000"
    other = copy / "org__other-model"
    other.mkdir()
    (other / f"results_{date}.json").write_text(json.dumps(data), encoding="utf-8")
    (sample,) = copy.rglob(f"samples_{keep}_*.jsonl")
    shutil.copy(sample, other / f"samples_{keep}_{date}.jsonl")
    with pytest.raises(HarnessError, match="several models") as caught:
        import_lm_eval(copy, tmp_path / "store", name="tiny")
    assert "org/other-model@main" in str(caught.value)
    assert not (tmp_path / "store" / "records").exists()


def test_samples_of_documents_without_an_id_are_refused(lm_run, tmp_path: Path) -> None:
    out, tasks, _ = lm_run
    copy = shutil.copytree(out, tmp_path / "copy")
    (sample,) = copy.rglob(f"samples_{tasks[0].name}_*.jsonl")
    lines = sample.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    del first["doc"]["id"]
    sample.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n", encoding="utf-8")
    with pytest.raises(HarnessError, match="its document lacks 'id' or 'label'") as caught:
        import_lm_eval(copy, tmp_path / "store", name="tiny")
    assert str(sample) in str(caught.value)
    assert not (tmp_path / "store" / "records").exists()
