"""The results store: records/<checkpoint>/<task>.<split>.<lang>.<job key>.json + predictions JSONL beside it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.errors import HarnessError
from harness.fault_injection import fault_point
from harness.results.atomic import atomic_write_json, atomic_write_jsonl
from harness.results.reading import read_json
from harness.results.schema import Record

log = logging.getLogger("harness.results")


class ResultsStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def records_dir(self) -> Path:
        return self.root / "records"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    def record_path(self, checkpoint: str, task: str, split: str, language: str, job_key: str) -> Path:
        return self.records_dir / checkpoint / f"{task}.{split}.{language}.{job_key[:16]}.json"

    def write(self, record: Record, predictions: Iterable[dict[str, Any]], path: Path) -> None:
        """Predictions first, the record last: a record on disk means the job is complete."""
        pred_path = path.with_suffix(".predictions.jsonl")
        atomic_write_jsonl(pred_path, predictions)
        fault_point("predictions-written", pred_path)
        atomic_write_json(path, record.model_dump(mode="json"))

    def iter_records(self) -> Iterator[Record]:
        if not self.records_dir.is_dir():
            return
        for path in sorted(self.records_dir.rglob("*.json")):
            yield read_record(path)

    def records(self) -> list[Record]:
        """Every record; where one (checkpoint, seed, task, split, language) was run under several
        configurations, only the newest counts."""
        latest: dict[tuple, Record] = {}
        for rec in self.iter_records():
            ident = (rec.checkpoint.name, rec.seed, rec.task.name, rec.split.name, rec.language)
            old = latest.get(ident)
            if old is None or rec.provenance.get("created", "") >= old.provenance.get("created", ""):
                latest[ident] = rec
        return sorted(
            latest.values(), key=lambda r: (r.checkpoint.name, r.task.name, r.split.name, r.language, r.seed)
        )

    @property
    def unavailable_path(self) -> Path:
        return self.root / "unavailable.json"

    def write_unavailable(self, entries: list[dict[str, Any]]) -> None:
        """Replace ``unavailable.json`` with this plan's declared splits whose data is not here."""
        keys = ("task", "split", "domain", "in_domain", "language", "reason", "expected")
        rows = [{key: entry[key] for key in keys} for entry in entries]
        rows.sort(key=lambda e: (e["task"], e["split"], e["language"]))
        atomic_write_json(self.unavailable_path, {"version": 1, "splits": rows})

    def unavailable(self) -> list[dict[str, Any]]:
        """The splits the last run could not score for want of data ([] when there is no file)."""
        path = self.unavailable_path
        if not path.is_file():
            return []
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise HarnessError(f"not valid JSON: {exc.msg}", file=path, line=exc.lineno) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("splits"), list):
            raise HarnessError("expected {'version': 1, 'splits': [...]}", file=path, field="splits")
        return list(doc["splits"])

    def predictions(self, record: Record) -> list[dict[str, Any]]:
        path = self.root / record.predictions
        if not path.resolve().is_relative_to(self.root.resolve()):  # a symlink out of the store
            raise HarnessError(
                f"{record.predictions!r} resolves outside the results folder", file=path, field="predictions"
            )
        with path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]


def read_record(path: Path) -> Record:
    """One stored record, or one line naming the file and its first bad field (not a pydantic dump)."""
    data = read_json(path, "not a valid result record")
    try:
        return Record.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        raise HarnessError(f"not a valid result record: {message}", file=path, field=where) from None
