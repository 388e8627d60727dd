"""The grid's ``precision``, resolved once per plan for the device the jobs run on.

``auto`` is bf16 where the device runs it natively — a CUDA GPU with bf16, or a CPU whose flags show bf16
arithmetic (``avx512_bf16`` or ``amx_bf16`` on x86, ``bf16`` on Arm) — and fp32 anywhere else. The resolved
value, never ``auto``, is what goes into every job, its key and every record's ``settings.precision``.

Refused before any job starts, with one error naming the grid's ``precision`` field:

- bf16 on a CPU without native bf16: ``torch.autocast("cpu", dtype=torch.bfloat16)`` then converts every
  operand in software; measured here, our evaluation path ran 7x slower than fp32 with 0.6 % of the
  argmaxes changed. A GPU (CUDA) makes bf16 fine.
- fp16 without CUDA: CPUs have no fast fp16 matrix units, and fp16 training needs loss scaling that only
  pays off on a GPU.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.catalogue.schema import GridSpec, Precision, RequestedPrecision
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


@dataclass(frozen=True)
class Device:
    """What resolution needs to know of the device the jobs run on."""

    cuda: bool
    cuda_bf16: bool = False  # the GPU computes in bf16 (Ampere and later)
    cpu_flags: frozenset[str] | None = None  # None: the system does not say

    @property
    def native_bf16(self) -> bool:
        """bf16 runs natively. ``auto`` needs evidence: unknown CPU flags count as no."""
        if self.cuda:
            return self.cuda_bf16
        return self.cpu_flags is not None and has_native_bf16(self.cpu_flags)

    @property
    def allows_bf16(self) -> bool:
        """An explicit ``bf16`` is refused only where it would surely be emulated (a CPU without the flags)."""
        return self.cuda or has_native_bf16(self.cpu_flags)

    @property
    def name(self) -> str:
        return "GPU" if self.cuda else "CPU"


def this_device(cpuinfo: Path = CPUINFO) -> Device:
    import torch

    if torch.cuda.is_available():
        return Device(cuda=True, cuda_bf16=bool(torch.cuda.is_bf16_supported()))
    flags = cpu_flags(cpuinfo)
    return Device(cuda=False, cpu_flags=frozenset(flags) if flags is not None else None)


def allowed_precisions(device: Device) -> list[str]:
    """The values of ``precision`` this device accepts."""
    return ["fp32", "auto", *(["bf16"] if device.allows_bf16 else []), *(["fp16"] if device.cuda else [])]


def resolve_precision(requested: RequestedPrecision, device: Device) -> Precision:
    """The precision jobs run in; a ``HarnessError`` on the ``precision`` field when the device refuses it."""
    if requested == "fp32":
        return "fp32"
    if requested == "auto":
        return "bf16" if device.native_bf16 else "fp32"
    if requested == "bf16" and not device.allows_bf16:
        raise HarnessError(
            "bf16 on this CPU would be emulated (no avx512_bf16/amx_bf16 in its flags, no GPU): "
            "about 7x slower than fp32; use fp32 or auto here, or run on a GPU or a CPU with native bf16",
            field="precision",
            allowed=allowed_precisions(device),
        )
    if requested == "fp16" and not device.cuda:
        raise HarnessError(
            "fp16 needs a GPU (CUDA): a CPU has no fast fp16 arithmetic; use auto, bf16 or fp32 here",
            field="precision",
            allowed=allowed_precisions(device),
        )
    if requested not in ("bf16", "fp16"):
        raise ValueError(f"unknown precision {requested!r}")
    return requested


def resolve_grid_precision(
    grid: GridSpec, grid_path: Path | str | None, device: Device | None = None
) -> Precision:
    """``resolve_precision`` for a grid; the error names the grid file."""
    try:
        return resolve_precision(grid.precision, device or this_device())
    except HarnessError as refused:
        raise HarnessError(
            refused.message, file=grid_path, field=refused.field, allowed=refused.allowed
        ) from None


def with_resolved_precision(
    grid: GridSpec, grid_path: Path | str | None, device: Device | None = None
) -> GridSpec:
    """The grid with ``precision`` resolved, also written into both training blocks, so every
    ``Hyperparameters`` the planner builds carries it (and so every training job's key)."""
    precision = resolve_grid_precision(grid, grid_path, device)
    return grid.model_copy(
        update={
            "precision": precision,
            "training": {**grid.training, "precision": precision},
            "intermediate_training": {**grid.intermediate_training, "precision": precision},
        }
    )


def check_precision(grid: GridSpec, grid_path: Path | str | None, device: Device | None = None) -> None:
    """Raise one ``HarnessError`` naming the grid's ``precision`` field when this device refuses it."""
    resolve_grid_precision(grid, grid_path, device)
