"""The default jobs of benchmarks/executors.py: fixed CPU work, no I/O (importable by every worker)."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict


class SpinJob(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    rounds: int


def spin(job: SpinJob) -> str:
    """``rounds`` chained SHA-256 hashes: the same CPU work in every process, a result to compare."""
    digest = str(job.index).encode()
    for _ in range(job.rounds):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


def spin_jobs(count: int, rounds: int = 300_000) -> list[SpinJob]:
    return [SpinJob(index=i, rounds=rounds) for i in range(count)]
