"""Every executor runs the same jobs to the same results; failures arrive as the job's own exception."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from toy_jobs import ToyJob, computations, run_toy_job

from harness.errors import HarnessError
from harness.executors import Executor, make_executor
from harness.executors.local import WorkerPoolExecutor
from harness.executors.profile import Profile

JOB_NAMES = ["train-a", "train-b", "eval-de", "eval-sw", "eval-en"]


def _jobs(folder: Path) -> list[ToyJob]:
    return [ToyJob(name=name, number=i, folder=str(folder)) for i, name in enumerate(JOB_NAMES)]


def _run_wave(executor: Executor, jobs: list[ToyJob]) -> list[dict]:
    try:
        return [future.result(timeout=180) for future in executor.submit_wave(run_toy_job, jobs)]
    finally:
        executor.close()


def _local(tmp: Path) -> Executor:
    return make_executor("local")


def _workers(tmp: Path) -> Executor:
    return make_executor("local", workers=2)


def _ray(tmp: Path) -> Executor:
    return make_executor("ray", profile=Profile(executor="ray", resources={"cpus": 1, "memory_gb": 0.5}))


def _slurm(tmp: Path) -> Executor:
    return make_executor(
        "slurm", log_dir=tmp / "logs", profile=Profile(executor="slurm", array_parallelism=2)
    )


EXECUTORS: dict[str, tuple[Callable[[Path], Executor], str | None]] = {
    "local": (_local, None),
    "workers-2": (_workers, None),
    "ray": (_ray, "ray_cluster"),
    "slurm": (_slurm, "slurm_cluster"),
}


@pytest.mark.parametrize(
    "name",
    [
        "local",
        "workers-2",
        pytest.param("ray", marks=pytest.mark.cluster),
        pytest.param("slurm", marks=pytest.mark.cluster),
    ],
)
def test_every_executor_returns_the_in_process_results(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    factory, cluster = EXECUTORS[name]
    if cluster is not None:
        request.getfixturevalue(cluster)
    # the driver hands executors functools.partial(run_job, store_root=…): a partial must travel too
    job_function = functools.partial(run_toy_job, bonus=100)
    reference = [job_function(job) for job in _jobs(tmp_path / "reference")]

    executor = factory(tmp_path)
    try:
        results = [
            future.result(timeout=180)
            for future in executor.submit_wave(job_function, _jobs(tmp_path / "run"))
        ]
    finally:
        executor.close()

    assert results == reference
    for job_name in JOB_NAMES:
        assert computations(tmp_path / "run", job_name) == 1
        assert (
            json.loads((tmp_path / "run" / "outputs" / f"{job_name}.json").read_text())["value"]
            == json.loads((tmp_path / "reference" / "outputs" / f"{job_name}.json").read_text())["value"]
        )
    leftovers = [p.name for p in (tmp_path / "run" / "outputs").iterdir() if not p.name.endswith(".json")]
    assert leftovers == []


@pytest.mark.parametrize(
    "name",
    [
        "local",
        "workers-2",
        pytest.param("ray", marks=pytest.mark.cluster),
        pytest.param("slurm", marks=pytest.mark.cluster),
    ],
)
def test_a_failing_job_fails_its_future_with_its_own_error(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    factory, cluster = EXECUTORS[name]
    if cluster is not None:
        request.getfixturevalue(cluster)
    jobs = [
        ToyJob(name="fine", number=3, folder=str(tmp_path)),
        ToyJob(name="broken", number=4, folder=str(tmp_path), fail_with="the data file is empty"),
    ]
    executor = factory(tmp_path)
    try:
        fine, broken = executor.submit_wave(run_toy_job, jobs)
        assert fine.result(timeout=180) == {"name": "fine", "value": 13}
        error = broken.exception(timeout=180)
    finally:
        executor.close()
    assert type(error) is HarnessError
    assert str(error) == "broken: the data file is empty"


def test_two_workers_run_in_two_processes_each_with_its_own_gpu(tmp_path: Path) -> None:
    # two jobs that each wait until both have started: they can only finish if they run side by side
    jobs = [ToyJob(name=f"job{i}", number=i, folder=str(tmp_path), wait_for_starts=2) for i in range(2)]
    executor = WorkerPoolExecutor(2, gpu_count=2)  # no GPU here: the setting is what is tested
    _run_wave(executor, jobs)

    outputs = [json.loads((tmp_path / "outputs" / f"job{i}.json").read_text()) for i in range(2)]
    assert len({o["pid"] for o in outputs}) == 2
    assert sorted(o["cuda_visible_devices"] for o in outputs) == ["0", "1"]
    assert sorted(o["worker_index"] for o in outputs) == ["0", "1"]


def test_more_workers_than_gpus_share_them_round_robin(tmp_path: Path) -> None:
    jobs = [ToyJob(name=f"job{i}", number=i, folder=str(tmp_path), wait_for_starts=3) for i in range(3)]
    _run_wave(WorkerPoolExecutor(3, gpu_count=2), jobs)

    outputs = [json.loads((tmp_path / "outputs" / f"job{i}.json").read_text()) for i in range(3)]
    by_worker = {o["worker_index"]: o["cuda_visible_devices"] for o in outputs}
    assert by_worker == {"0": "0", "1": "1", "2": "0"}


def test_workers_keep_to_the_gpus_the_driver_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    jobs = [ToyJob(name=f"job{i}", number=i, folder=str(tmp_path), wait_for_starts=2) for i in range(2)]
    _run_wave(WorkerPoolExecutor(2, gpu_count=2), jobs)

    outputs = [json.loads((tmp_path / "outputs" / f"job{i}.json").read_text()) for i in range(2)]
    assert sorted(o["cuda_visible_devices"] for o in outputs) == ["5", "7"]


def test_without_gpus_workers_leave_cuda_visible_devices_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    _run_wave(WorkerPoolExecutor(2, gpu_count=0), [ToyJob(name="job", number=1, folder=str(tmp_path))])

    output = json.loads((tmp_path / "outputs" / "job.json").read_text())
    assert output["cuda_visible_devices"] is None
    assert output["worker_index"] == "0"
