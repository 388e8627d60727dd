"""Tiny intermediate tasks that can and cannot be learned, and grids over them (the learning tests)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from harness import api
from harness.catalogue.loader import Catalogue
from harness.models.lockfile import JOB_FILE
from harness.runner.driver import Driver

WORDS = [f"w{i}" for i in range(60)]

KEYWORD_TASK = """
name: {name}
kind: classification
role: intermediate
version: 1
dataset:
  format: tsv
  path: "{data}/{name}/{{lang}}/{{split}}.tsv"
labels: [pos, neg]
languages: [en, de]
train: {{split: train, language: en}}
{dev}
hyperparameters: {{learning_rate: 3.0e-3, epochs: 6, batch_size: 8, max_length: 32, warmup_ratio: 0.0}}
"""

GRID = """
name: learn
models:
  - name: tiny-bert
    source: "{model}"
intermediate:
  - name: none
  - {{name: kw-en, task: keyword, source_lang: en, source_type: english}}
  - {{name: kw-de, task: keyword, source_lang: de, source_type: translated}}
  - {{name: noise-en, task: noise, source_lang: en, source_type: english, size: 64}}
targets: [tiny_ret]
seeds: [1]
"""

MIX_GRID = """
name: mix
models:
  - name: tiny-bert
    source: "{model}"
intermediate:
  - name: mix
    source_type: english
    tasks:
      - {{task: noise, source_lang: en, size: 64}}
      - {{task: keyword, source_lang: en}}
targets: [tiny_ret]
seeds: [1]
"""


def _write_task(tasks: Path, data: Path, name: str, noisy: bool, with_dev: bool) -> None:
    for lang in ("en", "de"):
        rng = random.Random(7)  # the same items (ids, texts, labels) in both languages
        for split, n in (("train", 96), ("dev", 32)):
            lines = ["id\ttext\tlabel"]
            for i in range(n):
                key = rng.choice(["alpha", "beta"])
                words = [rng.choice(WORDS) for _ in range(5)]
                words.insert(rng.randrange(6), key)
                label = rng.choice(["pos", "neg"]) if noisy else ("pos" if key == "alpha" else "neg")
                lines.append(f"{split}{i}\t{' '.join(words)}\t{label}")
            folder = data / name / lang
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    dev = "dev: {split: dev}" if with_dev else ""
    (tasks / "intermediate" / f"{name}.yaml").write_text(
        KEYWORD_TASK.format(name=name, data=data, dev=dev), encoding="utf-8"
    )


def run_grid_runner(tasks: Path, results: Path, grid_name: str) -> Driver:
    planned = api.plan(
        tasks / "grids" / f"{grid_name}.yaml",
        lock=results.parent / "checkpoints.lock",
        tasks=Catalogue.load(tasks),
        pin=True,
    )
    return api.driver(planned, results=results)


def write_learning_tasks(tiny_tasks: Path, tiny_model: Path) -> Path:
    """Adds to the tiny tasks folder: ``keyword`` (learnable, a declared dev split) and ``noise`` (random
    labels, dev = the items ``size`` leaves out), a grid ``learn`` of single-task conditions and ``mix``."""
    data = tiny_tasks.parent / "data"
    _write_task(tiny_tasks, data, "keyword", noisy=False, with_dev=True)
    _write_task(tiny_tasks, data, "noise", noisy=True, with_dev=False)
    (tiny_tasks / "grids" / "learn.yaml").write_text(GRID.format(model=tiny_model), encoding="utf-8")
    (tiny_tasks / "grids" / "mix.yaml").write_text(MIX_GRID.format(model=tiny_model), encoding="utf-8")
    return tiny_tasks


def trainings(results: Path) -> dict[str, dict]:
    out = {}
    for folder in (results / "checkpoints").iterdir():
        if (folder / JOB_FILE).is_file():
            job = json.loads((folder / JOB_FILE).read_text(encoding="utf-8"))
            out[job["label"]] = json.loads((folder / "training.json").read_text(encoding="utf-8"))
    return out
