"""The grid's ``precision`` resolved per device at plan time; refused where it would be emulated or slow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from harness.catalogue.loader import Catalogue
from harness.catalogue.schema import GridSpec, Hyperparameters, TaskSpec
from harness.errors import HarnessError
from harness.kinds.base import autocast
from harness.models.lockfile import Lock
from harness.runner.plan import expand
from harness.runner.precision import (
    Device,
    allowed_precisions,
    check_precision,
    cpu_flags,
    has_native_bf16,
    resolve_grid_precision,
    resolve_precision,
    this_device,
    with_resolved_precision,
)

X86_AVX2 = (
    "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu sse2 avx avx2 fma\n"
)
X86_BF16 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile amx_bf16\n"
ARM_BF16 = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"

CPU_PLAIN = Device(cuda=False, cpu_flags=frozenset({"avx2"}))
CPU_BF16 = Device(cuda=False, cpu_flags=frozenset({"avx2", "amx_bf16"}))
CPU_UNKNOWN = Device(cuda=False, cpu_flags=None)
CUDA_BF16 = Device(cuda=True, cuda_bf16=True)
CUDA_OLD = Device(cuda=True, cuda_bf16=False)  # e.g. a V100 or T4: fp16 but no bf16


def grid(precision: str) -> GridSpec:
    return GridSpec(
        name="g", models=[{"name": "m", "source": "/x"}], intermediate=[{"name": "none"}], targets=["t"],
        precision=precision,
    )  # fmt: skip


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(text, encoding="utf-8")
    return path


def test_cpu_flags_are_read_from_x86_and_arm_layouts(tmp_path: Path) -> None:
    assert cpu_flags(write(tmp_path, X86_AVX2)) == {"fpu", "sse2", "avx", "avx2", "fma"}
    assert "bf16" in (cpu_flags(write(tmp_path, ARM_BF16)) or set())
    assert cpu_flags(tmp_path / "absent") is None
    assert cpu_flags(write(tmp_path, "processor: 0\n")) is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="reads the CPU only without a GPU")
@pytest.mark.parametrize(
    ("text", "auto"), [(X86_AVX2, "fp32"), (X86_BF16, "bf16"), (ARM_BF16, "bf16"), ("processor: 0\n", "fp32")]
)
def test_auto_on_this_cpu_follows_its_flags(tmp_path: Path, text: str, auto: str) -> None:
    device = this_device(write(tmp_path, text))
    assert not device.cuda
    assert resolve_precision("auto", device) == auto


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        # requested:      auto    bf16    fp16    fp32
        (CPU_PLAIN, ("fp32", None, None, "fp32")),
        (CPU_BF16, ("bf16", "bf16", None, "fp32")),
        (CPU_UNKNOWN, ("fp32", "bf16", None, "fp32")),  # auto wants evidence; explicit bf16 gets the benefit
        (CUDA_BF16, ("bf16", "bf16", "fp16", "fp32")),
        (CUDA_OLD, ("fp32", "bf16", "fp16", "fp32")),
    ],
)
def test_resolution_table(device: Device, expected: tuple[str | None, ...]) -> None:
    for requested, want in zip(("auto", "bf16", "fp16", "fp32"), expected, strict=True):
        if want is None:
            with pytest.raises(HarnessError) as caught:
                resolve_precision(requested, device)  # type: ignore[arg-type]
            assert caught.value.field == "precision"
            assert caught.value.allowed == allowed_precisions(device)
            assert requested not in (caught.value.allowed or [])
        else:
            assert resolve_precision(requested, device) == want  # type: ignore[arg-type]


def test_allowed_precisions_per_device() -> None:
    assert allowed_precisions(CPU_PLAIN) == ["fp32", "auto"]
    assert allowed_precisions(CPU_BF16) == ["fp32", "auto", "bf16"]
    assert allowed_precisions(CUDA_BF16) == ["fp32", "auto", "bf16", "fp16"]


def test_unknown_flags_do_not_block_bf16() -> None:
    assert has_native_bf16(None)  # no /proc/cpuinfo (macOS): no evidence of emulation


def test_fp16_on_a_cpu_is_one_error_naming_file_field_and_allowed_values() -> None:
    for device in (CPU_PLAIN, CPU_BF16):
        with pytest.raises(HarnessError) as caught:
            check_precision(grid("fp16"), "grids/g.yaml", device)
        error = caught.value
        assert error.file == "grids/g.yaml" and error.field == "precision"
        assert error.allowed == allowed_precisions(device) and "fp16" not in error.allowed
        assert error.render().startswith("grids/g.yaml: precision: fp16 needs a GPU")
        assert "\n" not in error.render()
    check_precision(grid("fp16"), "grids/g.yaml", CUDA_BF16)


def test_bf16_without_native_support_is_one_error_naming_the_field() -> None:
    with pytest.raises(HarnessError) as caught:
        check_precision(grid("bf16"), "grids/g.yaml", CPU_PLAIN)
    error = caught.value
    assert error.field == "precision" and error.allowed == ["fp32", "auto"] and error.file == "grids/g.yaml"
    assert error.render().startswith("grids/g.yaml: precision: bf16 on this CPU would be emulated")
    check_precision(grid("fp32"), "grids/g.yaml", CPU_PLAIN)  # fp32 always runs
    check_precision(grid("auto"), "grids/g.yaml", CPU_PLAIN)  # auto falls back to fp32
    check_precision(grid("bf16"), "grids/g.yaml", CUDA_OLD)  # a GPU has bf16
    check_precision(grid("bf16"), "grids/g.yaml", CPU_BF16)


def test_resolved_grid_carries_the_precision_into_both_training_blocks() -> None:
    resolved = with_resolved_precision(grid("auto"), "g.yaml", CPU_BF16)
    assert resolved.precision == "bf16"
    assert resolved.training["precision"] == resolved.intermediate_training["precision"] == "bf16"
    assert with_resolved_precision(resolved, "g.yaml", CPU_BF16) == resolved  # resolving twice: no change
    assert resolve_grid_precision(grid("auto"), "g.yaml", CPU_PLAIN) == "fp32"


def test_precision_is_set_on_the_grid_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="precision"):
        GridSpec.model_validate({**grid("fp32").model_dump(), "training": {"precision": "bf16"}})
    task = {
        "name": "t",
        "kind": "classification",
        "version": 1,
        "dataset": {"format": "tsv", "path": "x"},
        "languages": ["en"],
    }
    TaskSpec.model_validate({**task, "hyperparameters": {"batch_size": 8}})
    with pytest.raises(ValueError, match="set it on the grid"):
        TaskSpec.model_validate({**task, "hyperparameters": {"precision": "bf16"}})


def test_new_hyperparameters_leave_old_keys_where_they_were() -> None:
    """Dumps (hashed into job keys) of default precision and accumulation are those of before both existed."""
    default = Hyperparameters().model_dump()
    assert "precision" not in default and "gradient_accumulation_steps" not in default
    changed = Hyperparameters(precision="bf16", gradient_accumulation_steps=4).model_dump()
    assert changed["precision"] == "bf16" and changed["gradient_accumulation_steps"] == 4
    assert Hyperparameters.model_validate(changed) == Hyperparameters(
        precision="bf16", gradient_accumulation_steps=4
    )
    with pytest.raises(ValueError):
        Hyperparameters(precision="auto")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Hyperparameters(gradient_accumulation_steps=0)


def _planner(tiny_tasks: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN202
    """Plans of the tiny grid with a ``precision:`` line (or none) on a given device."""
    import harness.runner.precision as precision

    grid_file = tiny_tasks / "grids" / "tiny.yaml"
    original = grid_file.read_text(encoding="utf-8")

    def plan(line: str, device: Device):  # noqa: ANN202
        monkeypatch.setattr(precision, "this_device", lambda *_: device)
        grid_file.write_text(original + line, encoding="utf-8")
        catalogue = Catalogue.load(tiny_tasks)
        spec, path = catalogue.grid(str(grid_file))
        return expand(spec, path, catalogue, Lock.load(tiny_tasks / "checkpoints.lock"))

    return plan


def test_auto_is_resolved_into_every_job_and_its_key(
    tiny_tasks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _planner(tiny_tasks, monkeypatch)
    fp32 = plan("", CPU_BF16)
    assert fp32.grid.precision == "fp32"
    auto_here = plan("precision: auto\n", CPU_PLAIN)
    assert auto_here.grid.precision == "fp32"
    assert [j.key for j in auto_here.jobs] == [j.key for j in fp32.jobs]  # auto = fp32 here: same keys
    auto_bf16 = plan("precision: auto\n", CPU_BF16)
    assert auto_bf16.grid.precision == "bf16"
    trained = [j for j in auto_bf16.jobs if j.phase != "evaluate"]
    evaluated = [j for j in auto_bf16.jobs if j.phase == "evaluate"]
    assert trained and evaluated
    hps = [j.hyperparameters for j in trained] + [
        m.hyperparameters for j in trained for m in getattr(j, "members", [])
    ]
    assert hps and {h.precision for h in hps} == {"bf16"}
    assert {j.precision for j in evaluated} == {"bf16"}
    assert not {j.key for j in auto_bf16.jobs} & {j.key for j in fp32.jobs}  # precision is in every key
    assert "auto" not in set(_precision_values([j.model_dump() for j in auto_bf16.jobs]))
    explicit = plan("precision: bf16\n", CPU_BF16)
    assert [j.key for j in explicit.jobs] == [j.key for j in auto_bf16.jobs]  # the resolved value is keyed


def _precision_values(tree: object) -> list[object]:
    """Every value under a key named ``precision``, at any depth."""
    if isinstance(tree, dict):
        own = [value for key, value in tree.items() if key == "precision"]
        return own + [found for value in tree.values() for found in _precision_values(value)]
    if isinstance(tree, list):
        return [found for value in tree for found in _precision_values(value)]
    return []


def test_auto_reaching_a_kind_is_a_bug_not_user_input() -> None:
    with pytest.raises(ValueError, match="not resolved"):
        autocast("auto")
    with pytest.raises(ValueError, match="not resolved"):
        autocast("fp8")


def _this_machine_emulates_bf16() -> bool:
    return not torch.cuda.is_available() and not has_native_bf16(cpu_flags())


@pytest.mark.skipif(not _this_machine_emulates_bf16(), reason="this machine runs bf16 natively")
def test_plan_and_run_refuse_bf16_here_before_any_job(tiny_tasks: Path, tmp_path: Path) -> None:
    grid_file = tiny_tasks / "grids" / "tiny.yaml"
    grid_file.write_text(grid_file.read_text() + "precision: bf16\n", encoding="utf-8")
    results = tmp_path / "results"
    for command in ("plan", "run"):
        done = subprocess.run(
            [sys.executable, "-m", "harness.cli", command, str(grid_file), "--tasks-dir", str(tiny_tasks),
             "--results", str(results), "--lock", str(tmp_path / "checkpoints.lock")],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in done.stderr
        assert lines[0].startswith(f"{grid_file}: precision: bf16") and "(allowed: fp32, auto)" in lines[0]
    assert not (results / "records").exists()  # nothing ran
