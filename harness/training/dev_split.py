"""The dev split of an intermediate task, so its training can show whether it learned.

In order of preference:

1. the task's declared ``dev`` split, read in the condition's source language (an intermediate task is
   scored in the language it trains on); at most ``MAX_DEV`` items, chosen in the same hash order of
   item ids as ``size`` (so line-aligned translations such as XNLI or PAWS-X keep the same items);
2. the training items that ``size`` left out (MMLU's builtin items, any sized condition without a
   declared dev split): held out, never trained on, the same items in every language of a
   translation-matched pair;
3. none: the learning status is ``unknown``.

Dev items never change what a job trains on, so they are not part of any job's key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import datasets

from harness.data.loaders import RowSet

MAX_DEV = 500  # scored after every epoch: enough for a CI of about ±4 points on accuracy, still cheap

Select = Callable[[datasets.Dataset, int], datasets.Dataset]  # (rows, n) -> n rows in id-hash order


@dataclass
class DevSplit:
    rows: RowSet
    origin: str  # how the items were chosen, in words (recorded in training.json)


def capped(rows: RowSet, select: Select, cap: int = MAX_DEV) -> RowSet:
    if len(rows) <= cap:
        return rows
    fingerprint = hashlib.sha256(f"{rows.fingerprint}|first {cap} by id hash".encode()).hexdigest()
    return RowSet(rows.task, rows.split, rows.language, select(rows.rows, cap), fingerprint, rows.origin)


def declared_dev(rows: RowSet, select: Select) -> DevSplit:
    kept = capped(rows, select)
    return DevSplit(
        kept, f"declared split {rows.split!r} in {rows.language} ({len(kept)} of {len(rows)} items)"
    )


def held_out_dev(train: RowSet, selected: datasets.Dataset, select: Select) -> DevSplit | None:
    """The training items not in ``selected`` (at most MAX_DEV of them), or None when none are left."""
    chosen = {str(i) for i in selected["id"]}
    rest = [i for i, ident in enumerate(train.rows["id"]) if str(ident) not in chosen]
    if not rest:
        return None
    fingerprint = hashlib.sha256(f"{train.fingerprint}|held out from {len(selected)}".encode()).hexdigest()
    left = RowSet(train.task, train.split, train.language, train.rows.select(rest), fingerprint, train.origin)
    kept = capped(left, select)
    return DevSplit(
        kept,
        f"held out: {len(kept)} of the {len(rest)} {train.split!r} items that 'size' did not select "
        f"({train.language}); never trained on",
    )
