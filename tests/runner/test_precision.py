"""``precision: bf16`` is refused where it would be emulated (no native bf16 on the CPU, no GPU)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from harness.catalogue.schema import GridSpec
from harness.errors import HarnessError
from harness.runner.precision import allowed_precisions, check_precision, cpu_flags, has_native_bf16

X86_AVX2 = (
    "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu sse2 avx avx2 fma\n"
)
X86_BF16 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile amx_bf16\n"
ARM_BF16 = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"


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


@pytest.mark.parametrize(
    ("text", "cuda", "allowed"),
    [
        (X86_AVX2, False, ["fp32"]),
        (X86_AVX2, True, ["fp32", "bf16"]),
        (X86_BF16, False, ["fp32", "bf16"]),
        (ARM_BF16, False, ["fp32", "bf16"]),
    ],
)
def test_allowed_precisions(tmp_path: Path, text: str, cuda: bool, allowed: list[str]) -> None:
    assert allowed_precisions(cuda=cuda, flags=cpu_flags(write(tmp_path, text))) == allowed


def test_unknown_flags_do_not_block_bf16() -> None:
    assert has_native_bf16(None)  # no /proc/cpuinfo (macOS): no evidence of emulation


def test_bf16_without_native_support_is_one_error_naming_the_field(tmp_path: Path) -> None:
    cpuinfo = write(tmp_path, X86_AVX2)
    with pytest.raises(HarnessError) as caught:
        check_precision(grid("bf16"), "grids/g.yaml", cuda=False, cpuinfo=cpuinfo)
    error = caught.value
    assert error.field == "precision" and error.allowed == ["fp32"] and error.file == "grids/g.yaml"
    assert error.render().startswith("grids/g.yaml: precision: bf16 on this CPU would be emulated")
    check_precision(grid("fp32"), "grids/g.yaml", cuda=False, cpuinfo=cpuinfo)  # fp32 always runs
    check_precision(grid("bf16"), "grids/g.yaml", cuda=True, cpuinfo=cpuinfo)  # a GPU has bf16
    check_precision(grid("bf16"), "grids/g.yaml", cuda=False, cpuinfo=write(tmp_path, X86_BF16))


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
        assert lines[0].startswith(f"{grid_file}: precision: bf16") and "(allowed: fp32)" in lines[0]
    assert not (results / "records").exists()  # nothing ran
