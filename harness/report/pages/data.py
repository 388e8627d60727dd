"""Everything the pages are built from, gathered once: the flat records frame, the statistics frames,
the unavailable splits, the results store's lock."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.catalogue.schema import GroupSpec
from harness.errors import HarnessError
from harness.models.lockfile import Lock, LockEntry
from harness.report.pages.stats import SiteTables, compute_tables
from harness.report.tables import DEMO_PROTOCOL, flat_frame
from harness.results.schema import Record
from harness.results.store import ResultsStore
from harness.scoring.stats_tables import grid_group

INFO_COLUMNS = [
    "checkpoint",
    "model",
    "intermediate_task",
    "source_lang",
    "source_type",
    "matched_with",
    "frozen_embeddings",
]


@dataclass
class SiteData:
    records: Sequence[Record]
    frame: pd.DataFrame  # flat_frame: one row per record
    tables: SiteTables
    unavailable: list[dict[str, Any]]
    lock: dict[str, LockEntry]
    store: ResultsStore
    out_dir: Path

    @property
    def results_root(self) -> Path:
        return self.store.root

    def checkpoint_info(self) -> pd.DataFrame:
        """One row per checkpoint: its description from its first record in a fixed order, its seeds
        and selection rules (memoised).

        ``seeds`` are the seeds of its fine-tuned runs: retrieval targets skip fine-tuning and are
        scored from the base or intermediate checkpoint (the base model's with seed 0), so those
        records do not add a seed (``untrained_seeds`` lists what they add). A checkpoint with no
        fine-tuned record at all counts the seeds of its records and is marked ``untrained``."""
        cached = self.__dict__.get("_checkpoint_info")
        if cached is not None:
            return cached
        if self.frame.empty:
            columns = [*INFO_COLUMNS, "seeds", "untrained_seeds", "untrained", "selection_rules"]
            return pd.DataFrame(columns=columns).set_index("checkpoint")
        frame = self.frame
        info = frame.iloc[self.first_rows(["checkpoint"])][INFO_COLUMNS].set_index("checkpoint")
        runs = frame[["checkpoint", "seed", "trained"]].iloc[
            self.first_rows(["checkpoint", "seed", "trained"])
        ]
        untrained = ~runs.groupby("checkpoint", sort=True)["trained"].any()
        counted = runs["trained"].to_numpy() | runs["checkpoint"].map(untrained).to_numpy(dtype=bool)
        info["seeds"] = _sorted_sets(runs[counted], "seed").reindex(info.index)
        extra = _sorted_sets(runs[~counted], "seed").reindex(info.index)
        info["untrained_seeds"] = [
            tuple(s for s in (more if isinstance(more, tuple) else ()) if s not in have)
            for have, more in zip(info["seeds"], extra, strict=True)
        ]
        info["untrained"] = untrained.reindex(info.index).to_numpy(dtype=bool)
        rules = frame[["checkpoint", "selection_rule"]].iloc[
            self.first_rows(["checkpoint", "selection_rule"])
        ]
        info["selection_rules"] = _sorted_sets(rules, "selection_rule").reindex(info.index)
        info = info.sort_index()
        self.__dict__["_checkpoint_info"] = info
        return info

    def badges(self) -> dict[str, str]:
        """Per prompted checkpoint its badge ("prompted, 5-shot"), shown beside its name on every page;
        {} when every checkpoint is fine-tuned (memoised)."""
        cached = self.__dict__.get("_badges")
        if cached is None:
            representatives = self.representatives(["checkpoint"]) if len(self.frame) else {}
            cached = {
                str(key[0]): rec.checkpoint.badge
                for key, rec in representatives.items()
                if rec.checkpoint.badge is not None
            }
            self.__dict__["_badges"] = cached
        return cached

    @property
    def group(self) -> GroupSpec | None:
        """The group whose aggregate is the ``overall`` column: the one the records' grid names."""
        return grid_group(self.records)

    def demo_tasks(self) -> set[str]:
        if self.frame.empty:
            return set()
        return set(self.frame.loc[self.frame["protocol"] == DEMO_PROTOCOL, "task"])

    def first_rows(self, keys: Sequence[str]) -> np.ndarray:
        """Positions of the first row (in the frame's order) of each distinct combination of ``keys``
        — ``drop_duplicates(keys)`` on integer codes (each column factorised once, memoised), which at
        648,000 records is several times faster than pandas' hashing of object columns."""
        cache: dict[tuple[str, ...], np.ndarray] = self.__dict__.setdefault("_first_rows", {})
        if tuple(keys) not in cache:
            codes: dict[str, tuple[np.ndarray, int]] = self.__dict__.setdefault("_codes", {})
            combined = np.zeros(len(self.frame), dtype=np.int64)
            for key in keys:
                if key not in codes:
                    code, uniques = pd.factorize(self.frame[key].to_numpy())  # None/NaN: -1, one value
                    codes[key] = (code.astype(np.int64) + 1, len(uniques) + 1)
                code, width = codes[key]
                combined = pd.factorize(combined * width + code)[0].astype(np.int64)  # stays < n rows
            _, first = np.unique(combined, return_index=True)
            cache[tuple(keys)] = np.sort(first)
        return cache[tuple(keys)]

    def representatives(self, keys: Sequence[str]) -> dict[tuple, Record]:
        """The first record (in the frame's fixed order) per combination of ``keys`` (memoised)."""
        cache: dict[tuple[str, ...], dict[tuple, Record]] = self.__dict__.setdefault("_representatives", {})
        if tuple(keys) not in cache:
            firsts = self.frame.iloc[self.first_rows(keys)]
            cache[tuple(keys)] = {
                tuple(row[:-1]): self.records[int(row[-1])]
                for row in firsts[[*keys, "record_index"]].itertuples(index=False, name=None)
            }
        return cache[tuple(keys)]


def _sorted_sets(pairs: pd.DataFrame, column: str) -> pd.Series:
    """Per checkpoint, the sorted distinct values of ``column`` as a tuple (``pairs`` is deduplicated)."""
    values = pairs.sort_values(["checkpoint", column], kind="mergesort")
    return values.groupby("checkpoint", sort=True)[column].agg(lambda s: tuple(s.tolist()))


def read_unavailable(store: ResultsStore) -> list[dict[str, Any]]:
    """The declared splits with no data here (``ResultsStore.unavailable()``; the file while that
    method is not there yet); [] when the run wrote none."""
    method = getattr(store, "unavailable", None)
    if callable(method):
        return list(method())
    path = store.root / "unavailable.json"
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text(encoding="utf-8")).get("splits", []))
    except (json.JSONDecodeError, AttributeError) as exc:
        raise HarnessError(f"not a valid unavailable.json: {exc}", file=path, field="splits") from None


def gather(
    records: Sequence[Record],
    out_dir: Path,
    store: ResultsStore,
    *,
    tables: SiteTables | None = None,
    n_boot: int = 1000,
) -> SiteData:
    frame = flat_frame(records)
    if tables is None:
        tables = compute_tables(store, records, n_boot)
    return SiteData(
        records=records,
        frame=frame,
        tables=tables,
        unavailable=read_unavailable(store),
        lock=Lock.load(store.root / "checkpoints.lock").entries,
        store=store,
        out_dir=Path(out_dir),
    )
