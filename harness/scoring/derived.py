"""Derived statistics stored in the results store: ``results/derived/*.json`` and ``*.csv``.

``write_derived(store)`` recomputes every statistics table from the store's records and writes it
atomically (a temp file renamed into place), deterministically (fixed bootstrap seeds, sorted rows,
sorted JSON keys, NaN written as null / an empty CSV field): the same store gives the same bytes.

Files: ``scores`` (per checkpoint × task × split × language), ``checkpoints`` (per checkpoint × target,
groups and overall), ``robustness`` (per checkpoint × target × language × shifted split; its JSON also
holds the per-target ``summary``), ``robustness_summary``, ``contrast`` (its JSON also holds the
``verdict`` sentence) and ``gap_contrast``. When some checkpoint is prompted (a decoder LM imported from
lm-eval), ``scores``, ``checkpoints``, ``robustness`` and ``robustness_summary`` get a ``badge`` column
after ``checkpoint`` ("prompted, 5-shot"; empty for fine-tuned rows); the contrast tables never hold a
prompted checkpoint (``harness.report.contrast``).

A store the user cannot write (a read-only mount, someone else's folder) is still read: ``write_derived``
then writes nothing and returns ``[]``; the tables are what ``derived_frames`` computes in memory.
"""

from __future__ import annotations

import errno
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.report.contrast import contrast_table, gap_contrast_table, verdict
from harness.results.atomic import atomic_write_json, atomic_write_text
from harness.results.store import ResultsStore
from harness.scoring.bootstrap import DEFAULT_BOOT, DEFAULT_LEVEL
from harness.scoring.robustness import robustness_summary, robustness_table
from harness.scoring.stats_tables import checkpoint_table, score_table

DERIVED_VERSION = 1


def _json_value(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def frame_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: NaN → None, numpy scalars → Python."""
    return [{k: _json_value(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n", float_format="%.10g")


def derived_frames(store: ResultsStore, n_boot: int = DEFAULT_BOOT) -> dict[str, Any]:
    records = store.records()
    robustness = robustness_table(store, records, n_boot)
    contrast = contrast_table(store, records, n_boot)
    gap_contrast = gap_contrast_table(store, records, n_boot)
    return {
        "scores": score_table(store, records, n_boot),
        "checkpoints": checkpoint_table(store, records, n_boot),
        "robustness": robustness,
        "robustness_summary": robustness_summary(robustness),
        "contrast": contrast,
        "gap_contrast": gap_contrast,
        "verdict": verdict(contrast, gap_contrast) if records else "No records yet.",
    }


READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}


def can_write(folder: Path) -> bool:
    """Whether files can be created in ``folder`` (made if missing). Tried, not asked: ``os.access`` says
    yes to root on a read-only mount."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".probe.", suffix=".tmp", dir=folder)
    except OSError as exc:
        if exc.errno in READ_ONLY_ERRNOS:
            return False
        raise
    os.close(fd)
    os.unlink(probe)
    return True


def write_derived(store: ResultsStore, n_boot: int = DEFAULT_BOOT) -> list[Path]:
    """Write ``results/derived/``; returns the files written (sorted), ``[]`` when the store is read-only."""
    folder = store.root / "derived"
    if not can_write(folder):
        return []
    frames = derived_frames(store, n_boot)
    meta = {"version": DERIVED_VERSION, "n_boot": n_boot, "level": DEFAULT_LEVEL, "scores_are": "fractions"}
    written = []
    for name in ("scores", "checkpoints", "robustness", "robustness_summary", "contrast", "gap_contrast"):
        frame = frames[name]
        payload: dict[str, Any] = {**meta, "rows": frame_rows(frame)}
        if name == "robustness":
            payload["summary"] = frame_rows(frames["robustness_summary"])
        if name == "contrast":
            payload["verdict"] = frames["verdict"]
        atomic_write_json(folder / f"{name}.json", payload)
        atomic_write_text(folder / f"{name}.csv", _csv(frame))
        written += [folder / f"{name}.csv", folder / f"{name}.json"]
    return sorted(written)
