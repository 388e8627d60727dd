"""Shared fixtures: a tiny BERT and word-level tokenizer built by the tests, and tiny task folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny models run fastest on one thread (no OpenMP hand-offs); subprocesses inherit this.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from tiny_fixtures import build_tiny_model, write_tiny_tasks  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def tiny_tasks(tmp_path: Path, tiny_model: Path) -> Path:
    return write_tiny_tasks(tmp_path, tiny_model)
