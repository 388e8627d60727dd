"""The static leaderboard site: index.html (jinja2, inline CSS, no JavaScript, no external URL) and
results.json (the per-language table), rendered deterministically from the records."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined

import harness
from harness.report.tables import (
    DEMO_PROTOCOL,
    language_key,
    language_order,
    leaderboard,
    leaderboard_targets,
    pct,
    per_language,
    per_task,
    task_splits,
)
from harness.results.atomic import atomic_write_text, dumps
from harness.results.schema import Record

INDEX_TEMPLATE = "index.html.j2"


def default_templates_dir() -> Path:
    return Path(harness.__file__).resolve().parents[1] / "leaderboards" / "templates"


def make_environment(templates_dir: Path) -> Environment:
    return Environment(
        autoescape=True,
        loader=FileSystemLoader(str(templates_dir)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


# ---- small helpers ----------------------------------------------------------------------------------
def _slug(index: int, name: str) -> str:
    return f"target-{index}-{re.sub(r'[^A-Za-z0-9_-]+', '-', name).strip('-').lower()}"


def _distinct(values: Sequence[Any]) -> list[str]:
    return sorted({str(v) for v in values if v is not None and v != ""})


def _hardware_text(hardware: Any) -> str:
    if isinstance(hardware, dict):
        return ", ".join(f"{k}={hardware[k]}" for k in sorted(hardware))
    return str(hardware)


def _local_href(target: Path, out_dir: Path) -> str:
    """A relative, percent-encoded link: never a scheme, so it only ever points at a local file."""
    rel = os.path.relpath(os.path.abspath(target), os.path.abspath(out_dir))
    return quote(Path(rel).as_posix())


# ---- the context the template renders ---------------------------------------------------------------
def _board_context(records: Sequence[Record], tasks: pd.DataFrame) -> dict[str, Any]:
    board = leaderboard(records)
    targets = leaderboard_targets(board)
    demo = set(tasks.loc[tasks["demo_split"].astype(bool), "task"]) if len(tasks) else set()
    rows = [
        {
            "rank": rank,
            "checkpoint": row["checkpoint"],
            "model": row["model"],
            "intermediate_task": row["intermediate_task"] or "—",
            "source_lang": row["source_lang"] or "—",
            "source_type": row["source_type"],
            "frozen_embeddings": "yes" if row["frozen_embeddings"] else "no",
            "scores": [pct(row[t]) for t in targets],
            "average": pct(row["average"]),
            "n_targets": int(row["n_targets"]),
        }
        for rank, row in enumerate(board.to_dict("records"), start=1)
    ]
    return {"targets": [{"name": t, "demo_split": t in demo} for t in targets], "rows": rows}


def _split_context(langs: pd.DataFrame, tasks: pd.DataFrame) -> dict[str, Any]:
    first = tasks.iloc[0]
    languages = language_order(langs["language"])
    n_langs = len(languages)
    rows = []
    for checkpoint in sorted(tasks["checkpoint"]):
        mine = langs[langs["checkpoint"] == checkpoint].set_index("language")
        task_row = tasks[tasks["checkpoint"] == checkpoint].iloc[0]
        rows.append(
            {
                "checkpoint": checkpoint,
                "mean": pct(task_row["score"]),
                "n_seeds": int(task_row["n_seeds"]),
                "missing": n_langs - int(task_row["n_languages"]),
                "cells": [
                    {"text": pct(mine.at[lang, "score"]), "n_seeds": int(mine.at[lang, "n_seeds"])}
                    if lang in mine.index
                    else {"text": "—", "n_seeds": 0}
                    for lang in languages
                ],
            }
        )
    baseline = langs.groupby("language")["baseline"].mean()
    n_examples = langs.groupby("language")["n_examples"].agg(
        lambda s: "/".join(str(n) for n in sorted(set(s)))
    )
    names = tasks["baseline_name"].dropna()
    return {
        "name": first["split"],
        "domain": first["domain"],
        "in_domain": bool(first["in_domain"]),
        "metric": first["main_metric"],
        "demo_split": bool(tasks["demo_split"].any()),
        "languages": languages,
        "rows": rows,
        "baseline": {
            "name": " / ".join(_distinct(list(names))) or "trivial baseline",
            "mean": pct(tasks["baseline"].mean()),
            "cells": [pct(baseline.get(lang)) for lang in languages],
        },
        "n_examples": [n_examples.get(lang, "—") for lang in languages],
    }


def _selection_rules(records: Sequence[Record]) -> list[dict[str, Any]]:
    by_rule: dict[str, set[str]] = {}
    for rec in records:
        rule = str(rec.settings.get("selection_rule") or "not recorded")
        by_rule.setdefault(rule, set()).add(rec.checkpoint.name)
    return [{"rule": rule, "checkpoints": sorted(names)} for rule, names in sorted(by_rule.items())]


def _provenance(records: Sequence[Record]) -> dict[str, Any]:
    created = _distinct([r.provenance.get("created") for r in records])
    origins = sorted(
        {
            (
                not r.split.in_domain,
                r.split.name,
                r.language,
                str(r.data.get("origin", "—")),
                str(r.data.get("fingerprint", "—")),
            )
            for r in records
        },
        key=lambda o: (o[0], o[1], language_key(o[2]), o[3], o[4]),
    )
    models = {
        (r.checkpoint.model, r.checkpoint.model_source, r.checkpoint.model_revision or "—") for r in records
    }
    return {
        "sources": _distinct([r.data.get("source") for r in records]),
        "origins": [
            {"split": s, "language": lang, "origin": origin, "fingerprint": fp}
            for _, s, lang, origin, fp in origins
        ],
        "models": [{"model": m, "source": s, "revision": rev} for m, s, rev in sorted(models)],
        "versions": sorted({f"{r.task.kind} v{r.task.version} ({r.task.protocol})" for r in records}),
        "code_versions": _distinct([r.provenance.get("code_version") for r in records]),
        "hardware": _distinct(
            [_hardware_text(r.provenance["hardware"]) for r in records if "hardware" in r.provenance]
        ),
        "precision": _distinct([r.settings.get("precision") for r in records]),
        "grids": _distinct([r.grid for r in records]),
        "created": f"{created[0]} – {created[-1]}" if created else "—",
        "wall_time_s": f"{sum(sorted(float(r.provenance.get('wall_time_s') or 0.0) for r in records)):.1f}",
    }


def _predictions(records: Sequence[Record], out_dir: Path, results_root: Path) -> list[dict[str, Any]]:
    groups: dict[tuple[str, int, str], list[Record]] = {}
    for rec in records:
        groups.setdefault((rec.checkpoint.name, rec.seed, rec.split.name), []).append(rec)
    return [
        {
            "checkpoint": name,
            "seed": seed,
            "split": split,
            "files": [
                {"language": r.language, "href": _local_href(results_root / r.predictions, out_dir)}
                for r in sorted(group, key=lambda r: language_key(r.language))
            ],
        }
        for (name, seed, split), group in sorted(groups.items())
    ]


def _target_context(
    index: int,
    task: str,
    records: Sequence[Record],
    langs: pd.DataFrame,
    tasks: pd.DataFrame,
    paths: tuple[Path, Path],
) -> dict[str, Any]:
    mine = [r for r in records if r.task.name == task]
    splits = [
        _split_context(
            langs[(langs["task"] == task) & (langs["split"] == split)],
            tasks[(tasks["task"] == task) & (tasks["split"] == split)],
        )
        for name, split in task_splits(tasks)
        if name == task
    ]
    return {
        "id": _slug(index, task),
        "name": task,
        "kind": _distinct([r.task.kind for r in mine]),
        "demo_split": any(r.task.protocol == DEMO_PROTOCOL for r in mine),
        "splits": splits,
        "selection_rules": _selection_rules(mine),
        "provenance": _provenance(mine),
        "predictions": _predictions(mine, *paths),
    }


def site_context(records: Sequence[Record], out_dir: Path, results_root: Path) -> dict[str, Any]:
    """Everything the page shows, as plain sorted data (scores already formatted as percentages)."""
    langs, tasks = per_language(records), per_task(records)
    task_names = sorted({r.task.name for r in records})
    return {
        "n_records": len(records),
        "n_checkpoints": len({r.checkpoint.name for r in records}),
        "grids": _distinct([r.grid for r in records]),
        "board": _board_context(records, tasks),
        "targets": [
            _target_context(i, name, records, langs, tasks, (out_dir, results_root))
            for i, name in enumerate(task_names, start=1)
        ],
        "demo_note": "a shipped sample of the data, not the official test protocol",
    }


# ---- results.json and the entry point ------------------------------------------------------------------
def _native(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def results_json(records: Sequence[Record]) -> str:
    """The per-language table as JSON (fractions); '<', '>' and '&' escaped so it is safe to embed."""
    rows = [{k: _native(v) for k, v in row.items()} for row in per_language(records).to_dict("records")]
    text = dumps({"table": "per_language", "score_unit": "fraction (0..1), mean over seeds", "rows": rows})
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def render_site(
    records: Sequence[Record], out_dir: Path, results_root: Path, *, templates_dir: Path | None = None
) -> list[Path]:
    """Write index.html and results.json into ``out_dir`` (created if needed); return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = make_environment(Path(templates_dir) if templates_dir else default_templates_dir())
    html = env.get_template(INDEX_TEMPLATE).render(**site_context(records, out_dir, Path(results_root)))
    index, results = out_dir / "index.html", out_dir / "results.json"
    atomic_write_text(index, html)
    atomic_write_text(results, results_json(records))
    return [index, results]
