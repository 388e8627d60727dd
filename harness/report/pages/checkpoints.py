"""Checkpoint pages: lineage (records + the results store's checkpoints.lock), every setting, scores
per task × split × language, links to the per-example predictions and the exported XTREME submission."""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import pandas as pd

from harness.errors import HarnessError
from harness.models.lockfile import folder_digest
from harness.report.pages.data import SiteData
from harness.report.pages.format import estimate, local_href, slug, text
from harness.report.pages.targets import score_lookup
from harness.report.tables import language_key, pct
from harness.results.schema import Record
from harness.scoring.export import export_xtreme, is_xtreme_test
from harness.scoring.xtreme import XTREME_TASKS

EXPORTS = "exports"
MAX_SCORE_ROWS = 400  # per checkpoint page; all of them are on the target pages and in data/scores.csv
MAX_PREDICTION_LINKS = 600  # beyond this a checkpoint page links its records folder instead of every file


def _setting(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text(value)


class Links:
    """Relative links from one folder of the site to files of the results store, computed without a
    relpath per file (the store can hold hundreds of thousands of predictions files)."""

    def __init__(self, results_root: Path, from_dir: Path) -> None:
        self.results_root, self.from_dir = results_root, from_dir
        self.prefix = Path(
            os.path.relpath(os.path.abspath(results_root), os.path.abspath(from_dir))
        ).as_posix()

    def __call__(self, relative: str) -> str:
        path = PurePosixPath(relative)
        if path.is_absolute() or ".." in path.parts or ":" in relative or "\\" in relative:
            return local_href(self.results_root / relative, self.from_dir)  # odd path: the careful way
        return quote(f"{self.prefix}/{relative}")


def _lineage(data: SiteData, rec: Record) -> list[dict[str, Any]]:
    steps = []
    for step in rec.checkpoint.lineage:
        entry = data.lock.get(step.key)
        steps.append(
            {
                "phase": step.phase,
                "name": step.name,
                "task": text(step.task),
                "source_lang": text(step.source_lang),
                "seed": text(step.seed),
                "key": step.key,
                "source": text(step.source or (entry.source if entry else None)),
                "pinned": f"{len(entry.files)} files, digest {folder_digest(entry.files)[:12]}"
                if entry
                else "not in the results lock",
            }
        )
    return steps


def _export(data: SiteData, name: str, records: list[Record], written: list[Path]) -> list[dict[str, Any]]:
    """Write the official submission layout per seed into the site (it is small and derived); say why
    not where a checkpoint has no XTREME test records or their predictions are missing."""
    by_seed: dict[int, list[Record]] = {}
    for rec in records:
        if is_xtreme_test(rec):
            by_seed.setdefault(rec.seed, []).append(rec)
    out = []
    for seed, recs in sorted(by_seed.items()):
        folder = data.out_dir / EXPORTS / slug(name) / f"seed-{seed}"
        absent = next(
            (r.predictions for r in recs if not (data.results_root / r.predictions).is_file()), None
        )
        if absent is not None:
            out.append({"seed": seed, "files": [], "reason": f"per-example predictions missing ({absent})"})
            continue
        try:
            files_written = export_xtreme([(r, data.store.predictions(r)) for r in recs], folder)
        except HarnessError as exc:
            out.append({"seed": seed, "files": [], "reason": str(exc)})
            continue
        files = sorted(files_written)
        written.extend(files)
        out.append(
            {
                "seed": seed,
                "files": [
                    {
                        "name": p.relative_to(folder).as_posix(),
                        "href": local_href(p, data.out_dir / "checkpoints"),
                    }
                    for p in files
                ],
                "reason": "",
            }
        )
    return out


def checkpoint_contexts(data: SiteData, order: list[str]) -> tuple[list[dict[str, Any]], list[Path]]:
    """One context per checkpoint, and the export files written."""
    if data.frame.empty:
        return [], []
    lookup = score_lookup(data.tables.scores)
    runs = data.representatives(["checkpoint", "task", "seed"])
    links = Links(data.results_root, data.out_dir / "checkpoints")
    info = data.checkpoint_info()
    written: list[Path] = []
    pages = []
    frame = data.frame
    by_checkpoint = dict(tuple(frame.groupby("checkpoint", sort=True)))
    for name in order:
        mine: pd.DataFrame = by_checkpoint[name]
        meta = info.loc[name]
        scored = mine.drop_duplicates(["task", "split", "language"])
        scored = scored.assign(_k=scored["language"].map(language_key)).sort_values(
            ["task", "in_domain", "split", "_k"], ascending=[True, False, True, True], kind="mergesort"
        )
        scores = []
        for r in scored.head(MAX_SCORE_ROWS).itertuples(index=False):
            hit = lookup.get((name, r.task, r.split, r.language))
            est = estimate(*hit[:3]) if hit else estimate(None)
            scores.append(
                {
                    "task": r.task,
                    "split": r.split,
                    "domain": r.domain,
                    "in_domain": bool(r.in_domain),
                    "language": r.language,
                    "score": est,
                    "n_seeds": text(hit[3]) if hit else "—",
                    "n_examples": text(hit[4]) if hit else text(r.n_examples),
                    "baseline": pct(r.baseline),
                }
            )
        seeds = sorted({int(s) for s in mine["seed"]})
        many = len(mine) > MAX_PREDICTION_LINKS
        pred = (
            {}
            if many
            else {
                (r.task, r.split, r.language, int(r.seed)): r.predictions
                for r in mine.itertuples(index=False)
            }
        )
        folders = sorted(set(mine["predictions"].astype(str).str.rsplit("/", n=1).str[0])) if many else []
        predictions = (
            []
            if many
            else [
                {
                    "task": r.task,
                    "split": r.split,
                    "language": r.language,
                    "links": [
                        {"seed": s, "href": links(pred[(r.task, r.split, r.language, s)])}
                        if (r.task, r.split, r.language, s) in pred
                        else {"seed": s, "href": ""}
                        for s in seeds
                    ],
                }
                for r in scored.itertuples(index=False)
            ]
        )
        tasks = sorted(set(mine["task"]))
        run_list = [
            (task, seed, runs[(name, task, seed)])
            for task in tasks
            for seed in seeds
            if (name, task, seed) in runs
        ]
        records = (
            [data.records[int(i)] for i in mine["record_index"]]
            if (mine["task"].isin(XTREME_TASKS)).any()
            else []
        )
        exports = _export(data, name, records, written)
        pages.append(
            {
                "name": name,
                "slug": slug(name),
                "model": text(meta["model"]),
                "intermediate": text(meta["intermediate_task"], "none"),
                "source_lang": text(meta["source_lang"], "none"),
                "source_type": text(meta["source_type"], "none"),
                "matched_with": text(meta["matched_with"]),
                "frozen": "yes" if bool(meta["frozen_embeddings"]) else "no",
                "seeds": seeds,
                "runs": [
                    {
                        "task": task,
                        "seed": seed,
                        "lineage": _lineage(data, rec),
                        "key": rec.checkpoint.key,
                        "settings": [
                            {"name": k, "value": _setting(rec.settings[k])} for k in sorted(rec.settings)
                        ],
                        "model_source": rec.checkpoint.model_source,
                        "model_revision": text(rec.checkpoint.model_revision),
                        "intermediate_size": text(rec.checkpoint.intermediate_size),
                    }
                    for task, seed, rec in run_list
                ],
                "scores": scores,
                "n_scores": len(scored),
                "max_scores": MAX_SCORE_ROWS,
                "predictions": predictions,
                "n_prediction_files": len(mine),
                "prediction_folders": [{"name": f, "href": links(f) + "/"} for f in folders],
                "exports": exports,
                "has_xtreme": bool(exports),
            }
        )
    return pages, written
