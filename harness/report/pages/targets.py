"""Target pages: per language and per domain, in-domain vs shifted, with n examples, the trivial
baseline, gap plots and the declared splits that have no data here ("not available", never 0)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from harness.report.pages.data import SiteData
from harness.report.pages.format import NOT_AVAILABLE, distinct, estimate, is_number, page_href, text
from harness.report.plots import MAX_SERIES, Point, bar_chart
from harness.report.tables import DEMO_PROTOCOL, language_order, pct

Key = tuple[str, str, str, str]


def score_lookup(scores: pd.DataFrame) -> dict[Key, tuple]:
    cols = ["checkpoint", "task", "split", "language", "score", "low", "high", "n_seeds", "n_examples"]
    return {tuple(map(str, r[:4])): r[4:] for r in scores[cols].itertuples(index=False, name=None)}


def _hardware(hardware: Any) -> str:
    if isinstance(hardware, dict):
        return ", ".join(f"{k}={hardware[k]}" for k in sorted(hardware))
    return str(hardware)


def _provenance(data: SiteData, task: str, mine: pd.DataFrame) -> dict[str, Any]:
    """From a few representative records (one per checkpoint × seed, one per split × language)."""
    runs = [r for k, r in data.representatives(["task", "checkpoint", "seed"]).items() if k[0] == task]
    per_data = [r for k, r in data.representatives(["task", "split", "language"]).items() if k[0] == task]
    origins = sorted(
        (
            not r.split.in_domain,
            r.split.name,
            r.language,
            str(r.data.get("origin", "—")),
            str(r.data.get("fingerprint", "—")),
        )
        for r in per_data
    )
    created = sorted(c for c in mine["created"] if c)
    models = {
        (r.checkpoint.model, r.checkpoint.model_source, r.checkpoint.model_revision or "—") for r in runs
    }
    return {
        "sources": distinct(r.data.get("source") for r in per_data),
        "origins": [
            {"split": s, "language": lang, "origin": o, "fingerprint": fp} for _, s, lang, o, fp in origins
        ],
        "models": [{"model": m, "source": s, "revision": rev} for m, s, rev in sorted(models)],
        "versions": sorted({f"{r.task.kind} v{r.task.version} ({r.task.protocol})" for r in runs}),
        "code_versions": distinct(r.provenance.get("code_version") for r in runs),
        "hardware": distinct(_hardware(r.provenance["hardware"]) for r in runs if "hardware" in r.provenance),
        "precision": distinct(r.settings.get("precision") for r in runs),
        "grids": distinct(r.grid for r in runs),
        "created": f"{created[0]} – {created[-1]}" if created else "—",
        "wall_time_s": f"{float(mine['wall_time_s'].sort_values().sum()):.1f}",
    }


def _split_list(mine: pd.DataFrame, missing: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    splits = {
        (str(s), str(d), bool(i))
        for s, d, i in mine[["split", "domain", "in_domain"]].drop_duplicates().itertuples(index=False)
    }
    splits |= {(str(e["split"]), str(e.get("domain", "—")), bool(e.get("in_domain", False))) for e in missing}
    return sorted(splits, key=lambda s: (not s[2], s[0]))


def _split_context(
    task: str,
    split: tuple[str, str, bool],
    mine: pd.DataFrame,
    missing: list[dict[str, Any]],
    order: Sequence[str],
    lookup: dict[Key, tuple],
) -> dict[str, Any]:
    name, domain, in_domain = split
    rows_here = mine[mine["split"] == name]
    gone = {str(e["language"]): e for e in missing if str(e["split"]) == name}
    languages = language_order(set(rows_here["language"]) | set(gone))
    present = set(rows_here["checkpoint"])
    checkpoints = [c for c in order if c in present]
    scored = set(rows_here["language"])
    rows, series = [], []
    for checkpoint in checkpoints:
        cells, points, values = [], [], []
        for lang in languages:
            hit = lookup.get((checkpoint, task, name, lang))
            if lang in gone and hit is None:
                cells.append({"na": True, "text": NOT_AVAILABLE, "value": ""})
                points.append(None)
            elif hit is None:
                cells.append({"na": False, **estimate(None), "title": "not scored for this checkpoint"})
                points.append(None)
            else:
                score, low, high, n_seeds, n_examples = hit
                est = estimate(score, low, high)
                cells.append(
                    {"na": False, **est, "title": f"{est['interval']}; {n_seeds} seed(s); n={n_examples}"}
                )
                points.append(Point(float(score), float(low), float(high)))
                values.append(float(score))
        n_missing = len(scored) - len(values)
        mean = sum(values) / len(values) if values else None
        rows.append(
            {
                "checkpoint": checkpoint,
                "href": page_href("../checkpoints", checkpoint),
                "mean": pct(mean),
                "mean_value": "" if mean is None else f"{mean:.6f}",
                "missing": n_missing,
                "cells": cells,
            }
        )
        series.append((checkpoint, [p for p, lang in zip(points, languages, strict=True) if lang in scored]))
    baseline = rows_here.groupby("language")["baseline"].mean()
    n_examples = rows_here.groupby("language")["n_examples"].agg(
        lambda s: "/".join(str(n) for n in sorted(set(s)))
    )
    with_data = [lang for lang in languages if lang in scored]
    return {
        "name": name,
        "domain": domain,
        "in_domain": in_domain,
        "available": bool(len(rows_here)),
        "metric": text(rows_here["main_metric"].iloc[0]) if len(rows_here) else "—",
        "languages": [{"code": lang, "na": lang in gone and lang not in scored} for lang in languages],
        "rows": rows,
        "baseline": {
            "name": " / ".join(distinct(rows_here["baseline_name"])) or "trivial baseline",
            "mean": pct(rows_here.groupby("seed")["baseline"].mean().mean()) if len(rows_here) else "—",
            "cells": [pct(baseline.get(lang)) if lang in scored else NOT_AVAILABLE for lang in languages],
        },
        "n_examples": [n_examples.get(lang, "0 (" + NOT_AVAILABLE + ")") for lang in languages],
        "missing": [
            {
                "language": lang,
                "reason": text(gone[lang].get("reason")),
                "expected": text(gone[lang].get("expected")),
            }
            for lang in language_order(gone)
            if lang not in scored
        ],
        "plot": bar_chart(f"{task} · {name} ({domain}) per language", with_data, series)
        if with_data and series
        else None,
    }


def _gap_plots(data: SiteData, task: str, order: Sequence[str]) -> list[dict[str, Any]]:
    table = data.tables.robustness
    table = table[table["task"] == task]
    plots = []
    for (split, domain), group in sorted(
        table.groupby(["shifted_split", "domain"], sort=True), key=lambda g: str(g[0])
    ):
        languages = language_order(group["language"])
        by = {(str(r.checkpoint), str(r.language)): r for r in group.itertuples(index=False)}
        series = []
        present = set(group["checkpoint"])
        for checkpoint in [c for c in order if c in present][:MAX_SERIES]:
            pts = [
                Point(float(r.gap), float(r.gap_low), float(r.gap_high))
                if (r := by.get((checkpoint, lang))) is not None
                else None
                for lang in languages
            ]
            series.append((checkpoint, pts))
        plots.append(
            bar_chart(
                f"{task}: gap {split} ({domain}) − in-domain, per language (points)",
                languages,
                series,
                signed=True,
            )
        )
    return plots


def _domain_summary(
    data: SiteData, task: str, splits: list[dict[str, Any]], order: Sequence[str]
) -> list[dict[str, Any]]:
    summary = data.tables.robustness_summary
    summary = summary[summary["task"] == task].drop_duplicates("checkpoint").set_index("checkpoint")
    means = {s["name"]: {r["checkpoint"]: r for r in s["rows"]} for s in splits}
    out = []
    for checkpoint in order:
        if not any(checkpoint in m for m in means.values()):
            continue
        row = summary.loc[checkpoint] if checkpoint in summary.index else None
        out.append(
            {
                "checkpoint": checkpoint,
                "cells": [means[s["name"]].get(checkpoint, {}).get("mean", "—") for s in splits],
                "gap": estimate(row["mean_gap"], row["gap_low"], row["gap_high"], signed=True)
                if row is not None
                else estimate(None, signed=True),
                "worst": f"{text(row['worst_domain'])} ({estimate(row['worst_gap'], signed=True)['text']})"
                if row is not None and is_number(row["worst_gap"])
                else "—",
            }
        )
    return out


def target_contexts(data: SiteData, order: Sequence[str]) -> list[dict[str, Any]]:
    lookup = score_lookup(data.tables.scores)
    frame = data.frame
    tasks = (
        sorted(set(frame["task"]) | {str(e["task"]) for e in data.unavailable})
        if len(frame) or data.unavailable
        else []
    )
    pages = []
    for task in tasks:
        mine = frame[frame["task"] == task] if len(frame) else frame
        missing = [e for e in data.unavailable if str(e["task"]) == task]
        splits = [_split_context(task, s, mine, missing, order, lookup) for s in _split_list(mine, missing)]
        demo = bool(len(mine)) and bool((mine["protocol"] == DEMO_PROTOCOL).any())
        pages.append(
            {
                "name": task,
                "file": page_href("targets", task),
                "kind": distinct(mine["kind"]) if len(mine) else [],
                "demo_split": demo,
                "splits": splits,
                "domains": _domain_summary(data, task, [s for s in splits if s["available"]], order),
                "domain_splits": [s for s in splits if s["available"]],
                "gap_plots": _gap_plots(data, task, order),
                "selection_rules": [
                    {"rule": rule, "checkpoints": sorted(set(g["checkpoint"]))}
                    for rule, g in sorted(mine.groupby("selection_rule"), key=lambda kv: str(kv[0]))
                ]
                if len(mine)
                else [],
                "provenance": _provenance(data, task, mine) if len(mine) else None,
                "n_not_available": sum(len(s["missing"]) for s in splits),
            }
        )
    return pages
