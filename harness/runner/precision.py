"""Refuse an evaluation precision this machine can only emulate.

On a CPU without native bf16 instructions (``avx512_bf16`` or ``amx_bf16`` on x86, ``bf16`` on Arm),
``torch.autocast("cpu", dtype=torch.bfloat16)`` converts every operand in software: measured here, our
evaluation path ran 7× slower than fp32 with 0.6 % of the argmaxes changed. A grid asking for that is
almost certainly a mistake, so the run stops before any job starts. A GPU (CUDA) makes bf16 fine.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from harness.catalogue.schema import GridSpec
from harness.errors import HarnessError

NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str] | None:
    """The CPU feature flags (x86 ``flags``, Arm ``Features``), or None when the system does not say."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    flags: set[str] = set()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return flags or None


def has_native_bf16(flags: Iterable[str] | None) -> bool:
    """True when the flags show bf16 arithmetic; unknown flags (macOS, Windows) are given the benefit."""
    return flags is None or bool(NATIVE_BF16_FLAGS & set(flags))


def allowed_precisions(*, cuda: bool, flags: Iterable[str] | None) -> list[str]:
    return ["fp32", "bf16"] if cuda or has_native_bf16(flags) else ["fp32"]


def check_precision(
    grid: GridSpec, grid_path: Path | str | None, *, cuda: bool | None = None, cpuinfo: Path = CPUINFO
) -> None:
    """Raise one ``HarnessError`` naming the grid's ``precision`` field when it cannot run natively."""
    if grid.precision == "fp32":
        return
    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    allowed = allowed_precisions(cuda=cuda, flags=cpu_flags(cpuinfo))
    if grid.precision not in allowed:
        raise HarnessError(
            f"{grid.precision} on this CPU would be emulated (no avx512_bf16/amx_bf16 in its flags, no GPU): "
            "about 7x slower than fp32; use fp32 here, or run on a GPU or a CPU with native bf16",
            file=grid_path,
            field="precision",
            allowed=allowed,
        )
