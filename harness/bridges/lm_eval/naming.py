"""The contract between the exported lm-eval tasks and the importer: names, metadata and document fields.

Exported task names are ``xh_<task>_<split>_<language>`` (``xh`` = XTREME harness, so they never collide
with lm-eval's own tasks); the importer never parses a name: every exported task YAML carries
``metadata.harness`` (``HarnessMeta``), which lm-eval copies into its results JSON (``configs[<task>]``).

Every exported document (one JSON object per line of the task's data file) has ``id`` (the harness's
example id, the one the encoders' predictions files carry) and the gold answer: ``label`` (int, the index
of the gold choice) for classification and multiple choice; ``answers`` (list of str) for extractive QA.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

PREFIX = "xh"
META_KEY = "harness"  # metadata.<META_KEY> in each exported task YAML
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")

# the per-example metric each exported kind reports in lm-eval's samples, by harness metric
KIND_METRICS: dict[str, dict[str, str]] = {
    "classification": {"accuracy": "acc"},
    "multiple_choice": {"accuracy": "acc"},
    "extractive_qa": {"exact_match": "exact_match", "f1": "f1"},
}


def safe(part: str) -> str:
    return _UNSAFE.sub("_", part)


def task_name(task: str, split: str, language: str) -> str:
    return f"{PREFIX}_{safe(task)}_{safe(split)}_{safe(language)}"


def target_group(task: str) -> str:
    return f"{PREFIX}_{safe(task)}"


def split_group(task: str, split: str) -> str:
    return f"{PREFIX}_{safe(task)}_{safe(split)}"


def language_group(language: str) -> str:
    return f"{PREFIX}_lang_{safe(language)}"


class HarnessMeta(BaseModel):
    """``metadata.harness`` of an exported task: what the importer needs to write a record."""

    model_config = ConfigDict(extra="allow", frozen=True)

    task: str
    task_version: int
    kind: Literal["classification", "multiple_choice", "extractive_qa"]
    split: str
    domain: str
    in_domain: bool
    language: str
    main_metric: str  # the harness's main metric of the target (e.g. accuracy, f1)
    metrics: dict[str, str]  # harness metric -> lm-eval per-sample metric key (KIND_METRICS[kind])
    n_examples: int
    data_sha256: str  # of the exported test JSONL
    formulation: str  # whose prompt this follows, e.g. "lm-eval xnli" or "harness (no lm-eval prompt)"
    harness_version: str
