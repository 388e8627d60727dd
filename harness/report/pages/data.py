"""Everything the pages are built from, gathered once: the flat records frame, the statistics frames,
the unavailable splits, the results store's lock."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import HarnessError
from harness.models.lockfile import Lock, LockEntry
from harness.report.pages.stats import SiteTables, compute_tables
from harness.report.tables import DEMO_PROTOCOL, flat_frame
from harness.results.schema import Record
from harness.results.store import ResultsStore

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
        """One row per checkpoint: its description from its first record in a fixed order."""
        if self.frame.empty:
            return pd.DataFrame(columns=[*INFO_COLUMNS, "seeds", "selection_rules"])
        info = self.frame.drop_duplicates("checkpoint")[INFO_COLUMNS].set_index("checkpoint")
        grouped = self.frame.groupby("checkpoint", sort=True)
        info["seeds"] = grouped["seed"].agg(lambda s: tuple(sorted(set(int(v) for v in s))))
        info["selection_rules"] = grouped["selection_rule"].agg(lambda s: tuple(sorted(set(s))))
        return info.sort_index()

    def demo_tasks(self) -> set[str]:
        if self.frame.empty:
            return set()
        return set(self.frame.loc[self.frame["protocol"] == DEMO_PROTOCOL, "task"])

    def representatives(self, keys: Sequence[str]) -> dict[tuple, Record]:
        """The first record (in the frame's fixed order) per combination of ``keys`` (memoised)."""
        cache: dict[tuple[str, ...], dict[tuple, Record]] = self.__dict__.setdefault("_representatives", {})
        if tuple(keys) not in cache:
            firsts = self.frame.drop_duplicates(list(keys))
            cache[tuple(keys)] = {
                tuple(row[:-1]): self.records[int(row[-1])]
                for row in firsts[[*keys, "record_index"]].itertuples(index=False, name=None)
            }
        return cache[tuple(keys)]


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
