"""Executor profiles: the examples load; a mistake is one error naming the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.catalogue.loader import Catalogue
from harness.catalogue.validate import validate_paths
from harness.errors import HarnessError
from harness.executors import load_profile, make_executor
from harness.executors.profile import Profile
from harness.executors.slurm import describe_submission

PROFILES = Path(__file__).resolve().parents[2] / "tasks" / "profiles"


def test_the_example_profiles_load() -> None:
    slurm = load_profile(PROFILES / "slurm-gpu.yaml")
    assert (slurm.executor, slurm.resources.gpus, slurm.resources.partition) == ("slurm", 1, "gpu")
    assert load_profile(PROFILES / "ray-gpu.yaml").executor == "ray"
    assert load_profile(PROFILES / "local-cpu.yaml").workers == 2


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_unknown_key_names_file_line_field_and_the_allowed_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, "executor: slurm\nresources:\n  cpus: 4\n  gpu: 1\n")
    with pytest.raises(HarnessError) as caught:
        load_profile(path)
    error = caught.value
    assert (error.file, error.line, error.field) == (str(path), 4, "resources.gpu")
    assert "did you mean 'gpus'" in error.message
    assert error.allowed is not None and "gpus" in error.allowed and "partition" in error.allowed


def test_an_unknown_executor_lists_the_allowed_ones(tmp_path: Path) -> None:
    path = _write(tmp_path, "# a profile\nexecutor: kubernetes\n")
    with pytest.raises(HarnessError) as caught:
        load_profile(path)
    assert (caught.value.line, caught.value.field) == (2, "executor")
    assert caught.value.allowed == ["local", "ray", "slurm"]


def test_a_value_out_of_range_names_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "executor: ray\nresources:\n  memory_gb: -2\n")
    with pytest.raises(HarnessError) as caught:
        load_profile(path)
    assert (caught.value.line, caught.value.field) == (3, "resources.memory_gb")
    assert "-2" in caught.value.message


def test_slurm_refuses_a_fraction_of_a_gpu(tmp_path: Path) -> None:
    path = _write(tmp_path, "executor: slurm\nresources:\n  gpus: 0.5\n")
    with pytest.raises(HarnessError) as caught:
        load_profile(path)
    assert (caught.value.line, caught.value.field) == (3, "resources.gpus")
    assert load_profile(_write(tmp_path, "executor: ray\nresources:\n  gpus: 0.5\n")).resources.gpus == 0.5


def test_an_unknown_executor_name_names_the_option_and_the_allowed_values() -> None:
    with pytest.raises(HarnessError) as caught:
        make_executor("kubernetes")
    assert caught.value.field == "--executor"
    assert caught.value.allowed == ["local", "ray", "slurm"]


def test_a_profile_for_another_executor_is_refused() -> None:
    with pytest.raises(HarnessError) as caught:
        make_executor("local", profile=Profile(executor="slurm"))
    assert caught.value.field == "--profile"


def test_the_slurm_plan_shows_one_array_per_wave_with_the_profile_resources() -> None:
    text = describe_submission(
        [("intermediate training", 4), ("target fine-tuning", 0), ("evaluation", 30)],
        load_profile(PROFILES / "slurm-gpu.yaml"),
    )
    lines = text.splitlines()
    assert lines[0].startswith("slurm: 3 job array(s), 34 job(s)")
    assert "--array=0-3%16" in lines[1] and "--array=0-29%16" in lines[3]
    assert "nothing to run" in lines[2]
    for flag in (
        "--partition=gpu",
        "--gpus-per-node=1",
        "--cpus-per-task=8",
        "--time=240",
        "--account=my-project",
    ):
        assert flag in lines[1]
    assert "module load cuda/12.4" in text


def test_the_catalogue_and_tasks_validate_skip_the_profiles_folder(tiny_tasks: Path) -> None:
    (tiny_tasks / "profiles").mkdir()
    (tiny_tasks / "profiles" / "gpu.yaml").write_text("executor: slurm\n", encoding="utf-8")
    loaded = Catalogue.load(tiny_tasks)
    assert all("profiles" not in item.path.parts for item in [*loaded.tasks.values(), *loaded.grids.values()])
    errors, _ = validate_paths([tiny_tasks], tiny_tasks)
    assert errors == []


def test_workers_come_from_the_command_line_else_the_profile() -> None:
    from harness.executors.local import InProcessExecutor, WorkerPoolExecutor

    two = Profile(executor="local", workers=2)
    from_profile = make_executor("local", profile=two)
    overridden = make_executor("local", profile=two, workers=1)
    try:
        assert isinstance(from_profile, WorkerPoolExecutor) and from_profile.workers == 2
        assert isinstance(overridden, InProcessExecutor)
    finally:
        from_profile.close()
    with pytest.raises(HarnessError) as caught:
        make_executor("ray", workers=2)
    assert caught.value.field == "--workers"
