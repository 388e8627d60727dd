"""Prepared features cached by a fingerprint of (data, tokenizer, task version, settings)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import datasets

from harness.models.lockfile import sha256_file
from harness.results.atomic import atomic_publish_dir

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "sentencepiece.bpe.model",
    "spiece.model",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
)


def tokenizer_fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in TOKENIZER_FILES:
        path = folder / name
        if path.is_file():
            digest.update(f"{name}:{sha256_file(path)}".encode())
    return digest.hexdigest()


@contextmanager
def _quiet_datasets() -> Iterator[None]:
    """``save_to_disk`` draws a bar per feature set; the runner's own progress bar says enough."""
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


class FeatureCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.built = 0  # how many feature sets this process tokenised (tests read it)
        self.hits = 0

    def key(self, parts: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()

    def get_or_build(self, parts: dict[str, Any], build: Callable[[], datasets.Dataset]) -> datasets.Dataset:
        final = self.root / self.key(parts)
        if (final / "dataset_info.json").is_file():
            self.hits += 1
            return datasets.load_from_disk(str(final))
        features = build()
        self.built += 1
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".build-{final.name[:16]}-{os.getpid()}"
        with _quiet_datasets():
            features.save_to_disk(str(staging))
        atomic_publish_dir(staging, final)
        return datasets.load_from_disk(str(final))
