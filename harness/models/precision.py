"""Running a model in a resolved precision: the autocast context evaluation and training enter.

The grid's ``auto`` is resolved at plan time (``harness.runner.precision``); anything else reaching here —
``auto`` included — is a bug in the caller, so it is a ``ValueError``, not a user-facing error.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

RESOLVED = ("bf16", "fp16", "fp32")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def require_resolved(precision: str) -> str:
    if precision not in RESOLVED:
        raise ValueError(
            f"precision {precision!r} is not resolved (one of {', '.join(RESOLVED)}); "
            "the planner resolves 'auto' before any job"
        )
    return precision


def autocast(precision: str, device_type: str) -> AbstractContextManager[Any]:
    """Mixed-precision autocast for bf16 and fp16 on ``device_type`` ("cpu", "cuda"); fp32 runs as is."""
    if require_resolved(precision) == "fp32":
        return nullcontext()
    return torch.autocast(device_type, dtype=DTYPES[precision])
