"""Checkpoint pages: lineage (records + the results store's checkpoints.lock), every setting, scores
per task × split × language, links to the per-example predictions and the exported XTREME submission."""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.models.lockfile import folder_digest
from harness.report.pages.data import SiteData
from harness.report.pages.format import local_href, slug, str_column, text
from harness.report.pages.html import esc, estimate_cell, rows_markup
from harness.report.pages.learning import read_training, training_view
from harness.report.tables import language_key, pct
from harness.results.pack import is_packed
from harness.results.schema import Record
from harness.scoring.export import export_xtreme, is_xtreme_test
from harness.scoring.xtreme import XTREME_TASKS

EXPORTS = "exports"
MAX_SCORE_ROWS = 400  # per checkpoint page; all of them are on the target pages and in data/scores.csv
MAX_PREDICTION_LINKS = 600  # beyond this a checkpoint page links its records folder instead of every file


def source_text(step: Any) -> str:
    """A lineage step's source language; a multilingual mix names its languages: ``mul (de, fr, ru)``."""
    languages = (step.model_extra or {}).get("languages")
    if isinstance(languages, list) and languages:
        return f"{text(step.source_lang)} ({', '.join(str(code) for code in languages)})"
    return text(step.source_lang)


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
                "source_lang": source_text(step),
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
            missing = "not kept in a packed store" if is_packed(data.results_root) else f"missing ({absent})"
            out.append({"seed": seed, "files": [], "reason": f"per-example predictions {missing}"})
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


CELL_KEYS = ["checkpoint", "task", "split", "language"]
STAT_COLUMNS = ["score", "low", "high", "n_seeds", "n_examples"]


def _score_rows(data: SiteData) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Per checkpoint: the rows of its score table as HTML (escaped; the first MAX_SCORE_ROWS, by
    task, in-domain first, split, English first) and how many rows it has in all. One pass over the
    cells of every checkpoint (a per-checkpoint group-by of the records costs seconds at scale)."""
    cells = data.frame.iloc[data.first_rows(CELL_KEYS)][
        [*CELL_KEYS, "domain", "in_domain", "n_examples", "baseline"]
    ]
    stats = data.tables.scores[[*CELL_KEYS, *STAT_COLUMNS]].drop_duplicates(CELL_KEYS, keep="last")
    stats = stats.rename(columns={"n_examples": "stat_examples"}).assign(_hit=True)
    keys = {k: str_column(cells[k]) for k in CELL_KEYS}
    cells = cells.assign(**keys).merge(
        stats.assign(**{k: str_column(stats[k]) for k in CELL_KEYS}), how="left"
    )
    cells["_not_en"] = cells["language"] != "en"
    cells = cells.sort_values(
        ["checkpoint", "task", "in_domain", "split", "_not_en", "language"],
        ascending=[True, True, False, True, True, True],
        kind="mergesort",
    )
    counts = cells.groupby("checkpoint", sort=False).size().to_dict()
    shown = cells.groupby("checkpoint", sort=False).head(MAX_SCORE_ROWS)
    columns = ["checkpoint", "task", "split", "domain", "in_domain", "language", "n_examples", "baseline",
               *STAT_COLUMNS[:4], "stat_examples", "_hit"]  # fmt: skip
    out: dict[str, list[str]] = {}
    for ck, task, split, domain, in_domain, lang, n_ex, base, score, low, high, n_seeds, stat_ex, hit in zip(
        *(shown[c].tolist() for c in columns), strict=True
    ):
        hit = hit is True
        shifted = "" if in_domain else ' <span class="muted">(shifted)</span>'
        out.setdefault(ck, []).append(
            f"<tr><td>{esc(task)}</td><td>{esc(split)}</td><td>{esc(domain)}{shifted}</td><td>{esc(lang)}</td>"
            + (estimate_cell(score, low, high) if hit else estimate_cell(None))
            + f'<td class="num">{pct(base)}</td><td class="num">{esc(text(stat_ex if hit else n_ex))}</td>'
            + f'<td class="num">{esc(text(n_seeds)) if hit else "—"}</td></tr>\n'
        )
    return out, counts


def _xtreme_positions(frame: pd.DataFrame) -> np.ndarray:
    """Per row of the records frame: is it an in-domain test record of an XTREME task (what the
    export writes)? One vectorised pass for all checkpoints."""
    split = frame["split"].to_numpy(dtype=object)
    return (frame["task"].isin(XTREME_TASKS).to_numpy() & (split == "test")) & frame["in_domain"].to_numpy(
        bool
    )


def _slices(frame: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """The rows of each checkpoint in the records frame (sorted by checkpoint first)."""
    names = frame["checkpoint"].to_numpy()
    starts = np.flatnonzero(np.r_[True, names[1:] != names[:-1]])
    ends = np.r_[starts[1:], len(names)]
    return {str(names[a]): (int(a), int(b)) for a, b in zip(starts, ends, strict=True)}


def checkpoint_contexts(data: SiteData, order: list[str]) -> tuple[list[dict[str, Any]], list[Path]]:
    """One context per checkpoint, and the export files written."""
    if data.frame.empty:
        return [], []
    score_html, n_scores = _score_rows(data)
    runs = data.representatives(["checkpoint", "task", "seed"])
    links = Links(data.results_root, data.out_dir / "checkpoints")
    info = data.checkpoint_info()
    written: list[Path] = []
    pages = []
    frame = data.frame
    where = _slices(frame)
    xtreme, record_index = _xtreme_positions(frame), frame["record_index"].to_numpy()
    packed = is_packed(data.results_root)  # no predictions to link: its per-example statistics instead
    for name in order:
        start, stop = where[name]
        mine: pd.DataFrame = frame.iloc[start:stop]
        meta = info.loc[name]
        seeds = sorted({int(s) for s in mine["seed"].unique().tolist()})
        many = len(mine) > MAX_PREDICTION_LINKS and not packed
        folders = (
            sorted({p.rsplit("/", 1)[0] for p in str_column(mine["predictions"]).tolist()}) if many else []
        )
        predictions = [] if many or packed else _prediction_links(mine, seeds, links)
        stats_files = (
            {data.records[i].example_stats for i in record_index[start:stop].tolist()} if packed else set()
        )
        tasks = sorted(set(mine["task"].unique().tolist()))
        run_list = [
            (task, seed, runs[(name, task, seed)])
            for task in tasks
            for seed in seeds
            if (name, task, seed) in runs
        ]
        chosen = record_index[start:stop][xtreme[start:stop]].tolist()
        exports = _export(data, name, [data.records[i] for i in chosen], written)
        rows = score_html.get(name, [])
        trainings = _Trainings(data.store.checkpoints_dir)
        pages.append(
            {
                "name": name,
                "badge": data.badges().get(name),
                "slug": slug(name),
                "model": text(meta["model"]),
                "intermediate": text(meta["intermediate_task"], "none"),
                "source_lang": text(meta["source_lang"], "none"),
                "source_type": text(meta["source_type"], "none"),
                "matched_with": text(meta["matched_with"]),
                "frozen": "yes" if bool(meta["frozen_embeddings"]) else "no",
                "seeds": seeds,
                "seeds_note": _seeds_note(meta),
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
                        "training": trainings.target(rec),
                    }
                    for task, seed, rec in run_list
                ],
                "intermediate_training": trainings.intermediate([rec for _, _, rec in run_list]),
                "scores_html": rows_markup(rows),
                "n_shown": len(rows),
                "n_scores": n_scores.get(name, 0),
                "max_scores": MAX_SCORE_ROWS,
                "predictions": predictions,
                "n_prediction_files": len(mine),
                "prediction_folders": [{"name": f, "href": links(f) + "/"} for f in folders],
                "packed": packed,
                "packed_stats": [{"name": f, "href": links(f)} for f in sorted(stats_files - {None})],
                "exports": exports,
                "has_xtreme": bool(exports),
            }
        )
    return pages, written


class _Trainings:
    """Training views of one checkpoint page's runs, each training.json read once."""

    def __init__(self, checkpoints_dir: Path) -> None:
        self.checkpoints_dir = checkpoints_dir
        self.read: dict[str, dict[str, Any] | None] = {}

    def _training(self, key: str) -> dict[str, Any] | None:
        if key not in self.read:
            self.read[key] = read_training(self.checkpoints_dir, key)
        return self.read[key]

    def intermediate(self, records: list[Record]) -> list[dict[str, Any]]:
        """Per seed, the intermediate run behind these records (none for conditions without one)."""
        views: dict[str, dict[str, Any]] = {}
        for rec in records:
            learning = rec.checkpoint.learning or {}
            if learning.get("status") == "not-trained":
                continue
            step = next((s for s in rec.checkpoint.lineage if s.phase == "intermediate"), None)
            if step is None or step.key in views:
                continue
            title = f"{text(step.task)} in {source_text(step)}, seed {rec.seed}"
            views[step.key] = training_view(self._training(step.key), learning, title)
        return list(views.values())

    def target(self, rec: Record) -> dict[str, Any] | None:
        last = rec.checkpoint.lineage[-1] if rec.checkpoint.lineage else None
        if last is None or last.phase != "target":
            return None
        training = self._training(last.key)
        return training_view(
            training, training.get("learning") if training else None, f"{rec.task.name} fine-tuning"
        )


def _seeds_note(meta: pd.Series) -> str:
    """How the seeds read: the fine-tuning seeds, and what the untrained records add."""
    if bool(meta["untrained"]):
        return "not fine-tuned on any target: scored from the base or intermediate checkpoint"
    extra = ", ".join(str(s) for s in meta["untrained_seeds"])
    fine_tuned = ", ".join(str(s) for s in meta["seeds"])
    return f"fine-tuning seeds {fine_tuned}" + (
        f"; seed {extra}: untrained retrieval records" if extra else ""
    )


def _prediction_links(mine: pd.DataFrame, seeds: list[int], links: Links) -> list[dict[str, Any]]:
    pred = {(r.task, r.split, r.language, int(r.seed)): r.predictions for r in mine.itertuples(index=False)}
    scored = mine.drop_duplicates(["task", "split", "language"])
    scored = scored.assign(_k=scored["language"].map(language_key)).sort_values(
        ["task", "in_domain", "split", "_k"], ascending=[True, False, True, True], kind="mergesort"
    )
    return [
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
