"""Target pages: per language and per domain, in-domain vs shifted, with n examples, the trivial
baseline, gap plots and the declared splits that have no data here ("not available", never 0).

Badges: "not XTREME protocol" on a target whose rows used other settings than XTREME's scripts (demo
splits keep their own badge), and "translate-train" / "not zero-shot" beside a checkpoint's row when
its training data was the target's translated training set or overlapped the scored split
(``harness.runner.leakage``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from harness.catalogue.protocol import is_xtreme
from harness.report.pages.data import SiteData
from harness.report.pages.format import NOT_AVAILABLE, distinct, estimate, is_number, page_href, text
from harness.report.pages.html import esc, estimate_cell, prompted_badge, rows_markup
from harness.report.plots import MAX_SERIES, Point, bar_chart
from harness.report.tables import DEMO_PROTOCOL, language_order, pct

ZERO_SHOT_NOTES = {
    "translate-train": "trained on this target's training data machine-translated: not zero-shot transfer",
    "not zero-shot": "training or selection data overlapped this scored split (allowed by the grid)",
}


def zero_shot_labels(data: SiteData) -> dict[tuple[str, str, str], str]:
    """(task, split, checkpoint) -> "translate-train" | "not zero-shot" for the rows that are not
    zero-shot (older records without the field count as zero-shot). The index page can show these too."""
    out: dict[tuple[str, str, str], str] = {}
    for record in data.records:
        label = getattr(record.task, "zero_shot", None)
        if label in ZERO_SHOT_NOTES:  # a row badged in one language is badged for the checkpoint
            key = (record.task.name, record.split.name, record.checkpoint.name)
            if out.get(key) != "not zero-shot":
                out[key] = str(label)
    return out


def badged(checkpoint: str, prompted: dict[str, str] | None) -> str:
    """A checkpoint's name as plain text (plot legends, lists), with its badge when it is prompted:
    ``lm+prompted (prompted, 5-shot)``."""
    badge = (prompted or {}).get(checkpoint)
    return f"{checkpoint} ({badge})" if badge else checkpoint


def zero_shot_badge(label: str | None) -> str:
    if label not in ZERO_SHOT_NOTES:
        return ""
    return f' <span class="label warn" title="{esc(ZERO_SHOT_NOTES[label])}">{esc(label)}</span>'


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
    created = sorted(c for c in mine["created"].unique().tolist() if c)
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


NA_CELL = f'<td class="na" data-value="">{NOT_AVAILABLE}</td>'
UNSCORED_CELL = '<td class="num" data-value="" title="not scored for this checkpoint">—</td>'


def split_lookup(scores: pd.DataFrame) -> dict[tuple[str, str], dict[tuple[str, str], tuple]]:
    """Per (task, split): (checkpoint, language) -> (score, low, high, n_seeds, n_examples)."""
    cols = ["task", "split", "checkpoint", "language", "score", "low", "high", "n_seeds", "n_examples"]
    out: dict[tuple[str, str], dict[tuple[str, str], tuple]] = {}
    if scores.empty:
        return out
    for (task, split), group in scores[cols].groupby(["task", "split"], sort=True):
        values = [group[c].tolist() for c in cols[2:]]
        out[(str(task), str(split))] = {(str(r[0]), str(r[1])): r[2:] for r in zip(*values, strict=True)}
    return out


def _score_rows(
    checkpoints: list[str],
    languages: list[str],
    gone: dict[str, Any],
    n_scored: int,
    lookup: dict[tuple[str, str], tuple],
    badges: dict[str, str] | None = None,
    prompted: dict[str, str] | None = None,
) -> tuple[list[str], list[dict[str, Any]], list[tuple[str, list[Point | None]]]]:
    """The table rows (HTML, escaped), each row's mean, and the plot's series (the first MAX_SERIES
    checkpoints get points; the others only count towards "n more"). ``badges``: the zero-shot labels,
    ``prompted``: the prompted checkpoints' badges."""
    html: list[str] = []
    rows: list[dict[str, Any]] = []
    series: list[tuple[str, list[Point | None]]] = []
    for position, checkpoint in enumerate(checkpoints):
        parts: list[str] = []
        points: list[Point | None] = []
        values: list[float] = []
        plotted = position < MAX_SERIES
        for lang in languages:
            hit = lookup.get((checkpoint, lang))
            if hit is None:
                parts.append(NA_CELL if lang in gone else UNSCORED_CELL)
                points.append(None)
                continue
            score, low, high, n_seeds, n_examples = hit
            tail = f"; {esc(n_seeds)} seed(s); n={esc(n_examples)}"
            parts.append(estimate_cell(score, low, high, title_tail=tail))
            if plotted:
                points.append(Point(float(score), float(low), float(high)))
            values.append(float(score))
        mean = sum(values) / len(values) if values else None
        missing = n_scored - len(values)
        warn = (
            f' <span class="label warn" title="{missing} language(s) missing">incomplete</span>'
            if missing
            else ""
        )
        head = (
            f'<tr>\n<th scope="row" class="name"><a href="{esc(page_href("../checkpoints", checkpoint))}">'
            f"{esc(checkpoint)}</a>{prompted_badge((prompted or {}).get(checkpoint))}"
            f"{zero_shot_badge((badges or {}).get(checkpoint))}</th>\n"
            f'<td class="num avg" data-value="{"" if mean is None else f"{mean:.6f}"}">{pct(mean)}{warn}</td>\n'
        )
        html.append(head + "".join(parts) + "</tr>\n")
        rows.append({"checkpoint": checkpoint, "mean": pct(mean)})
        series.append((badged(checkpoint, prompted), points if plotted else []))
    return html, rows, series


def _split_context(
    task: str,
    split: tuple[str, str, bool],
    mine: pd.DataFrame,
    missing: list[dict[str, Any]],
    order: Sequence[str],
    lookup: dict[tuple[str, str], tuple],
    badges: dict[str, str] | None = None,
    prompted: dict[str, str] | None = None,
) -> dict[str, Any]:
    name, domain, in_domain = split
    rows_here = mine[mine["split"].to_numpy() == name]
    gone = {str(e["language"]): e for e in missing if str(e["split"]) == name}
    scored = set(rows_here["language"].unique().tolist())
    languages = language_order(scored | set(gone))
    present = set(rows_here["checkpoint"].unique().tolist())
    checkpoints = [c for c in order if c in present]
    html, rows, series = _score_rows(checkpoints, languages, gone, len(scored), lookup, badges, prompted)
    with_data = [lang for lang in languages if lang in scored]
    keep = [i for i, lang in enumerate(languages) if lang in scored]
    series = [(c, [points[i] for i in keep] if points else []) for c, points in series]
    baseline = rows_here.groupby("language")["baseline"].mean()
    n_examples = rows_here.groupby("language")["n_examples"].agg(
        lambda s: "/".join(str(n) for n in sorted(set(s)))
    )
    return {
        "name": name,
        "domain": domain,
        "in_domain": in_domain,
        "available": bool(len(rows_here)),
        "metric": text(rows_here["main_metric"].iloc[0]) if len(rows_here) else "—",
        "languages": [{"code": lang, "na": lang in gone and lang not in scored} for lang in languages],
        "rows": rows,
        "rows_html": rows_markup(html),
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
        languages = language_order(group["language"].unique().tolist())
        present = set(group["checkpoint"].unique().tolist())
        chosen = [c for c in order if c in present][:MAX_SERIES]
        mine = group[group["checkpoint"].isin(chosen)]
        columns = [mine[c].tolist() for c in ("checkpoint", "language", "gap", "gap_low", "gap_high")]
        by = {
            (str(c), str(lang)): Point(float(g), float(lo), float(hi))
            for c, lang, g, lo, hi in zip(*columns, strict=True)
        }
        prompted = data.badges()
        series = [
            (badged(checkpoint, prompted), [by.get((checkpoint, lang)) for lang in languages])
            for checkpoint in chosen
        ]
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
    summary = summary[summary["task"] == task].drop_duplicates("checkpoint")
    by_checkpoint = dict(zip(summary["checkpoint"].tolist(), summary.to_dict("records"), strict=True))
    means = {s["name"]: {r["checkpoint"]: r for r in s["rows"]} for s in splits}
    out = []
    for checkpoint in order:
        if not any(checkpoint in m for m in means.values()):
            continue
        row = by_checkpoint.get(checkpoint)
        out.append(
            {
                "checkpoint": checkpoint,
                "badge": data.badges().get(checkpoint),
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
    lookups = split_lookup(data.tables.scores)
    labels = zero_shot_labels(data)
    prompted = data.badges()
    frame = data.frame
    by_task = frame.groupby("task", sort=False).indices if len(frame) else {}  # one pass, not a mask per task
    tasks = (
        sorted(set(frame["task"].unique().tolist()) | {str(e["task"]) for e in data.unavailable})
        if len(frame) or data.unavailable
        else []
    )
    pages = []
    for task in tasks:
        mine = frame.iloc[by_task[task]] if task in by_task else frame.iloc[:0]
        missing = [e for e in data.unavailable if str(e["task"]) == task]
        splits = [
            _split_context(
                task,
                s,
                mine,
                missing,
                order,
                lookups.get((task, s[0]), {}),
                {c: label for (t, sp, c), label in labels.items() if (t, sp) == (task, s[0])},
                prompted,
            )
            for s in _split_list(mine, missing)
        ]
        demo = bool(len(mine)) and bool((mine["protocol"] == DEMO_PROTOCOL).any())
        protocols = distinct(mine["protocol"]) if len(mine) else []
        pages.append(
            {
                "name": task,
                "file": page_href("targets", task),
                "kind": distinct(mine["kind"]) if len(mine) else [],
                "demo_split": demo,
                "protocols": protocols,
                "not_xtreme": bool(protocols) and not demo and not all(is_xtreme(p) for p in protocols),
                "zero_shot": sorted({label for (t, _, _), label in labels.items() if t == task}),
                "any_prompted": bool(len(mine))
                and bool(set(mine["checkpoint"].unique().tolist()) & set(prompted)),
                "splits": splits,
                "domains": _domain_summary(data, task, [s for s in splits if s["available"]], order),
                "domain_splits": [s for s in splits if s["available"]],
                "gap_plots": _gap_plots(data, task, order),
                "selection_rules": [
                    {"rule": rule, "checkpoints": [badged(c, prompted) for c in sorted(set(g["checkpoint"]))]}
                    for rule, g in sorted(mine.groupby("selection_rule"), key=lambda kv: str(kv[0]))
                ]
                if len(mine)
                else [],
                "provenance": _provenance(data, task, mine) if len(mine) else None,
                "n_not_available": sum(len(s["missing"]) for s in splits),
            }
        )
    return pages
