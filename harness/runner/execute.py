"""What running a plan needs besides the jobs: base models pinned before the plan, ``--only`` checked
against the plan's labels, tokenizer files copied byte for byte. The driver (``runner.driver``) and
``run_job`` (``runner.work``) use them.
"""

from __future__ import annotations

import difflib
import fnmatch
import logging
import re
import shutil
from pathlib import Path

from harness.catalogue.schema import GridSpec
from harness.data.cache import TOKENIZER_FILES
from harness.errors import HarnessError
from harness.models.lockfile import Lock
from harness.models.sources import resolve_model
from harness.runner.plan import Plan

log = logging.getLogger("harness.runner")


def pin_base_models(grid: GridSpec, lock: Lock) -> dict[str, Path]:
    """Resolve every base model, verify its pin or pin it on first use. Run this before ``expand``:
    a base model's cache key is the digest of its pinned files."""
    folders = {}
    for spec in grid.models:
        resolved = resolve_model(spec)
        if spec.name in lock.entries:
            lock.verify(spec.name, resolved.folder)
        else:
            lock.pin(
                spec.name,
                resolved.folder,
                spec.source,
                revision=resolved.revision,
                note="pinned on first use by harness run",
            )
            log.info("pinned %s in %s", spec.name, lock.path)
        folders[spec.name] = resolved.folder
    return folders


def label_selected(label: str, only: str | None) -> bool:
    return only is None or fnmatch.fnmatch(label, f"*{only}*")


def check_only(plan: Plan, only: str | None) -> None:
    """``--only`` must select a job: a typo would otherwise run nothing and exit 0."""
    labels = sorted({job.label for job in plan.jobs})
    if only is None or any(label_selected(label, only) for label in labels):
        return
    closest = ", ".join(repr(label) for label in closest_labels(only, labels)) or "(the plan has no jobs)"
    raise HarnessError(f"{only!r} matches none of the {len(labels)} jobs; closest: {closest}", field="--only")


def closest_labels(pattern: str, labels: list[str], n: int = 3) -> list[str]:
    """Labels most like ``pattern``, comparing it with each label and each of the label's parts."""

    def likeness(label: str) -> float:
        parts = [label, *re.split(r"[ /:+]", label)]
        return max(difflib.SequenceMatcher(None, pattern, part).ratio() for part in parts)

    return sorted(labels, key=lambda label: (-likeness(label), label))[:n]


TOKENIZER_COPIED = (*TOKENIZER_FILES, "added_tokens.json", "tokenizer.model")


def copy_tokenizer_files(parent: Path, build: Path) -> None:
    """The parent's tokenizer files, byte for byte: training never changes a tokenizer, and
    ``save_pretrained`` would re-serialise it with the last call's truncation settings, so every
    checkpoint would get a different tokenizer fingerprint (no shared feature cache, no shared load)."""
    copied = [name for name in TOKENIZER_COPIED if (parent / name).is_file()]
    if not copied:
        raise HarnessError("no tokenizer files to copy into the new checkpoint", file=parent)
    for name in copied:
        shutil.copyfile(parent / name, build / name)
