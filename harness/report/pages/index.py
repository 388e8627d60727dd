"""The index: one row per checkpoint — overall, group and per-target scores with CIs, robustness,
ranks from paired tests, filters and sortable columns."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from harness.report.pages.data import SiteData
from harness.report.pages.format import estimate, is_number, page_href, text
from harness.report.pages.ranking import adjacent_p_values, paired_ranks
from harness.report.pages.targets import zero_shot_labels
from harness.scoring.cells import learning_status
from harness.scoring.stats_tables import GROUP_PREFIX, OVERALL, cells_of

FILTERS = [
    ("model", "model"),
    ("intermediate", "intermediate task"),
    ("source-lang", "source language"),
    ("source-type", "source type"),
    ("seeds", "seeds"),
]


def _columns(data: SiteData) -> tuple[bool, list[str], list[str]]:
    """(has overall, group rows, target tasks) of the checkpoint table, plus in-domain tasks that only
    the records know about (so a target never disappears because its statistics are missing)."""
    tasks = {str(t) for t in data.tables.checkpoints["task"]}
    groups = sorted(t for t in tasks if t.startswith(GROUP_PREFIX))
    targets = {t for t in tasks if t != OVERALL and not t.startswith(GROUP_PREFIX)}
    if not data.frame.empty:
        targets |= set(data.frame.loc[data.frame["in_domain"], "task"])
    return OVERALL in tasks, groups, sorted(targets)


def _descending(value: Any) -> float:
    return -float(value) if is_number(value) else math.inf


def _average(raw: list[tuple[Any, Any, Any]]) -> tuple[float, float, float]:
    """Mean over the targets a row has. Its interval is the mean of the targets' bounds: exact when the
    targets' errors move together, wider otherwise — conservative, so it never invents a separation."""
    known = [r for r in raw if is_number(r[0])]
    if not known:
        return (math.nan, math.nan, math.nan)
    value = sum(float(r[0]) for r in known) / len(known)
    if all(is_number(r[1]) and is_number(r[2]) for r in known):
        return (
            value,
            sum(float(r[1]) for r in known) / len(known),
            sum(float(r[2]) for r in known) / len(known),
        )
    return (value, math.nan, math.nan)


def _seeds_title(seeds: tuple, untrained_seeds: tuple, untrained: bool) -> str:
    listed = ", ".join(str(s) for s in seeds)
    if untrained:
        return (
            f"seed {listed}: not fine-tuned on any target (scored from the base or intermediate checkpoint)"
        )
    extra = ", ".join(str(s) for s in untrained_seeds)
    more = f"; seed {extra}: untrained retrieval records, not a fine-tuning seed" if extra else ""
    return f"fine-tuning seeds {listed}{more}"


def checkpoint_flags(data: SiteData) -> tuple[set[str], dict[str, list[str]]]:
    """The checkpoints whose intermediate phase did not learn, and per checkpoint its rows' labels
    other than zero-shot (``"translate-train: xnli"``)."""
    did_not_learn = {
        r.checkpoint.name for r in data.records if learning_status(r.checkpoint) == "did-not-learn"
    }
    labels: dict[str, set[str]] = {}
    for (task, _split, checkpoint), label in zero_shot_labels(data).items():
        labels.setdefault(checkpoint, set()).add(f"{label}: {task}")
    return did_not_learn, {name: sorted(found) for name, found in labels.items()}


def board(data: SiteData) -> dict[str, Any]:
    """The leaderboard rows in rank order, and which columns they have."""
    has_overall, groups, targets = _columns(data)
    info = data.checkpoint_info()
    table = data.tables.checkpoints
    scores: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
    for key in zip(*(table[c].tolist() for c in ("checkpoint", "task", "score", "low", "high")), strict=True):
        scores.setdefault((key[0], key[1]), key[2:])  # the first row of a (checkpoint, task)
    robust = data.tables.robustness_summary
    robust_all = robust[robust["task"] == "all"].drop_duplicates("checkpoint").set_index("checkpoint")
    demo = data.demo_tasks()
    did_not_learn, zero_shot = checkpoint_flags(data)
    badges = data.badges()
    rows: list[dict[str, Any]] = []
    for name, meta in info.iterrows():

        def cell(task: str, name: str = str(name)) -> tuple[Any, Any, Any]:
            return scores.get((name, task), (math.nan, math.nan, math.nan))

        target_raw = [cell(t) for t in targets]
        average = _average(target_raw)
        gap = robust_all.loc[name] if name in robust_all.index else None
        seeds = meta["seeds"]
        rows.append(
            {
                "checkpoint": str(name),
                "badge": badges.get(str(name)),
                "href": page_href("checkpoints", str(name)),
                "model": text(meta["model"]),
                "intermediate": text(meta["intermediate_task"], "none"),
                "source_lang": text(meta["source_lang"], "none"),
                "source_type": text(meta["source_type"], "none"),
                "seeds": ", ".join(str(s) for s in seeds),
                "n_seeds": str(len(seeds)),
                "untrained": bool(meta["untrained"]),
                "seeds_title": _seeds_title(seeds, meta["untrained_seeds"], bool(meta["untrained"])),
                "selection": ", ".join(meta["selection_rules"]),
                "frozen": "yes" if bool(meta["frozen_embeddings"]) else "no",
                "did_not_learn": str(name) in did_not_learn,
                "zero_shot": zero_shot.get(str(name), []),
                "overall": estimate(*cell(OVERALL)),
                "groups": [estimate(*cell(g)) for g in groups],
                "targets": [estimate(*raw) for raw in target_raw],
                "average": estimate(*average),
                "n_targets": sum(1 for raw in target_raw if is_number(raw[0])),
                "gap": estimate(gap["mean_gap"], gap["gap_low"], gap["gap_high"], signed=True)
                if gap is not None
                else estimate(None, signed=True),
                "worst_domain": text(gap["worst_domain"]) if gap is not None else "—",
                "worst_gap": estimate(gap["worst_gap"], signed=True) if gap is not None else estimate(None),
                "_keys": {OVERALL: cell(OVERALL), "average": average},
            }
        )
        raw = {
            "checkpoint": str(name),
            "model": meta["model"],
            "intermediate_task": meta["intermediate_task"],
            "source_lang": meta["source_lang"],
            "source_type": meta["source_type"],
            "seeds": rows[-1]["seeds"],
            "untrained": rows[-1]["untrained"],
            "selection_rule": rows[-1]["selection"],
        }
        if badges:  # the leaderboard download gets the column only when some row is prompted
            raw["badge"] = badges.get(str(name))
        for column, (value, low, high) in [
            (OVERALL, cell(OVERALL)),
            *[(g, cell(g)) for g in groups],
            *zip(targets, target_raw, strict=True),
            ("average", average),
        ]:
            raw.update({column: value, f"{column}_low": low, f"{column}_high": high})
        if gap is not None:
            raw.update({k: gap[k] for k in ("mean_gap", "gap_low", "gap_high", "worst_domain", "worst_gap")})
        rows[-1]["_raw"] = raw
    # The group's aggregate (overall) ranks only when every row has it (all its tasks); else the average.
    ranked_by = OVERALL if rows and all(is_number(r["_keys"][OVERALL][0]) for r in rows) else "average"
    rows.sort(key=lambda r: (_descending(r["_keys"][ranked_by][0]), r["checkpoint"]))
    keys = [r.pop("_keys")[ranked_by] for r in rows]
    cells = cells_of(data.store, data.records, data.tables.n_boot)
    p_above = adjacent_p_values(cells, ranked_by, [r["checkpoint"] for r in rows], data.group)
    ranks = paired_ranks([k[0] for k in keys], p_above)
    table = []
    for row, rank, p in zip(rows, ranks, p_above, strict=True):
        row["rank"] = "—" if rank is None else str(rank)
        row["rank_value"] = "" if rank is None else str(rank)
        table.append({"rank": rank, "ranked_by": ranked_by, "p_above": p, **row.pop("_raw")})
    return {
        "rows": rows,
        "has_overall": has_overall,
        "overall_label": data.group.label if data.group is not None else OVERALL,
        "groups": [g[len(GROUP_PREFIX) :] for g in groups],
        "targets": [{"name": t, "demo_split": t in demo, "href": page_href("targets", t)} for t in targets],
        "ranked_by": ranked_by,
        "has_robustness": bool(len(robust_all)),
        "any_prompted": bool(badges),
        "table": pd.DataFrame(table),
    }


def filters(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = {"model": "model", "intermediate": "intermediate", "source-lang": "source_lang",
            "source-type": "source_type", "seeds": "n_seeds"}  # fmt: skip
    return [
        {"key": key, "label": label, "options": sorted({str(r[keys[key]]) for r in rows})}
        for key, label in FILTERS
    ]


def index_context(data: SiteData) -> dict[str, Any]:
    leaderboard = board(data)
    return {"board": leaderboard, "filters": filters(leaderboard["rows"])}
