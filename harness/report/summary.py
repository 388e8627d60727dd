"""The terminal summary: the leaderboard, one per-language table per task and split, the robustness
tables, the English vs non-English contrast table and the verdict (as rich tables fitted to the terminal,
markdown, JSON or CSV: see ``table_formats``); and ``harness compare``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from rich.console import Console
from rich.text import Text

from harness.report.contrast import PAIR_KEYS, contrast_table, gap_contrast_table, per_target, verdict
from harness.report.table_formats import (
    Ci,
    Column,
    Item,
    Note,
    SummaryTable,
    missing,
    print_rich,
    to_csv,
    to_json,
    to_markdown,
)
from harness.report.tables import (
    language_order,
    leaderboard,
    leaderboard_targets,
    pct,
    per_language,
    per_task,
    ranking_key,
    record_badges,
    task_splits,
)
from harness.results.schema import Record
from harness.results.store import ResultsStore
from harness.scoring.bootstrap import DEFAULT_BOOT
from harness.scoring.cells import checkpoint_badges
from harness.scoring.robustness import robustness_summary, robustness_table
from harness.scoring.stats_tables import OVERALL

SummaryFormat = Literal["rich", "markdown", "json", "csv"]
EMPTY_MESSAGE = "The results store is empty: there are no records to summarise yet (run a grid first)."
DEMO_NOTE = "demo split: a shipped sample, not the official test set"
CI_CAPTION = "± = half-width of the 95 % bootstrap CI (examples and seeds); no ± = no CI (one seed, no per-example file)"
GROUP_RULE = {True: ", shown only when all are scored", False: " that are scored"}
NO_ROBUSTNESS = "Robustness: no target has both an in-domain and a domain-shifted split scored yet."
FINE_TUNED = "fine-tuned"
REGIME_LEGEND = (
    "regime: fine-tuned = fine-tuned on the English target data, transferred zero-shot; prompted, k-shot = "
    "a decoder LM prompted with k examples (lm-eval), a different protocol, never paired with a fine-tuned row"
)


def regime_columns(badges: dict[str, str]) -> list[Column]:
    """The ``regime`` column (after the checkpoint) when some row is prompted; none otherwise. A value
    column, not a label: it is never folded, and it sits in the first block beside the checkpoint."""
    return [Column("regime", "text")] if badges else []


def regime_cells(checkpoint: object, badges: dict[str, str]) -> list[str]:
    return [badges.get(str(checkpoint), FINE_TUNED)] if badges else []


def _text(value: object) -> Text:
    """Plain text, so names with square brackets are not read as rich markup."""
    missing = value is None or (isinstance(value, float) and value != value)  # None or NaN
    return Text("—" if missing else str(value))


def _ci(row: dict, value: str, low: str, high: str) -> Ci:
    return Ci(row.get(value), row.get(low), row.get(high))


# ---- the tables --------------------------------------------------------------------------------------
def leaderboard_spec(records: Sequence[Record], store: ResultsStore | None = None) -> SummaryTable:
    """Rows by the grid's group aggregate when every row has it, else by average; ``#`` is the
    paired-test rank the site shows (ties share it), not the position."""
    from harness.report.pages.ranking import adjacent_p_values, paired_ranks
    from harness.scoring.stats_tables import cells_of, grid_group

    group = grid_group(records)
    board = leaderboard(records, group)
    key = ranking_key(board)
    ordered = [str(c) for c in board["checkpoint"]]
    cells = cells_of(store, records, DEFAULT_BOOT)
    ranks = paired_ranks(list(board[key]), adjacent_p_values(cells, key, ordered, group))
    targets = leaderboard_targets(board)
    aggregates = [OVERALL] * (group is not None) + ["average"]
    tasks = per_task(records)
    demo = set(tasks.loc[tasks["demo_split"].astype(bool), "task"])
    badges = record_badges(records)
    columns = [
        Column("rank", "int", header="#"),
        Column("checkpoint", "text", label=True),
        *regime_columns(badges),
        *[Column(t, header=f"{t}{' †' if t in demo else ''}") for t in targets],
        *[
            Column(
                name,
                style="bold" if name == key else None,
                header=group.label if group is not None and name == OVERALL else None,
            )
            for name in aggregates
        ],
        *[
            Column(name, "text", header=header)
            for name, header in (
                ("model", None),
                ("intermediate_task", "intermediate task"),
                ("source_lang", "source"),
                ("source_type", "source type"),
                ("frozen_embeddings", "frozen emb."),
            )
        ],
    ]
    rows = [
        [
            rank,
            values["checkpoint"],
            *regime_cells(values["checkpoint"], badges),
            *[values[t] for t in targets],
            *[values[name] for name in aggregates],
            *[values[k] for k in ("model", "intermediate_task", "source_lang", "source_type")],
            "yes" if values["frozen_embeddings"] else "no",
        ]
        for rank, values in zip(ranks, board.to_dict("records"), strict=True)
    ]
    notes = [f"† {DEMO_NOTE}"] * bool(demo & set(targets)) + [REGIME_LEGEND] * bool(badges)
    if group is not None:
        notes.append(
            f"{group.label}: the mean of the {len(group.tasks)} tasks of group {group.group}{GROUP_RULE[group.require_all]}"
        )
    return SummaryTable(
        "leaderboard",
        "Leaderboard — in-domain task score (%), mean over languages incl. English",
        columns,
        rows,
        caption="; ".join(notes) or None,
    )


def _split_title(task_rows: pd.DataFrame) -> str:
    first = task_rows.iloc[0]
    where = "in-domain" if bool(first["in_domain"]) else "domain-shifted"
    title = f"{first['task']} · {first['split']} ({first['domain']}, {where}) — {first['main_metric']} (%)"
    if bool(task_rows["demo_split"].any()):
        title += f" · {DEMO_NOTE}"
    return title


def language_spec(
    langs: pd.DataFrame, tasks: pd.DataFrame, badges: dict[str, str] | None = None
) -> SummaryTable:
    """Checkpoints as rows, languages as columns, the task mean first; the trivial baseline and the
    number of examples below a rule. ``badges``: the prompted checkpoints' (a ``regime`` column)."""
    badges = {c: b for c, b in (badges or {}).items() if c in set(tasks["checkpoint"])}
    languages = language_order(langs["language"])
    rows: list[list] = []
    for checkpoint in sorted(tasks["checkpoint"]):
        scores = langs[langs["checkpoint"] == checkpoint].set_index("language")["score"]
        mean = tasks.loc[tasks["checkpoint"] == checkpoint, "score"].iloc[0]
        rows.append(
            [checkpoint, *regime_cells(checkpoint, badges), mean, *[scores.get(lang) for lang in languages]]
        )
    baseline = langs.groupby("language")["baseline"].mean()
    name = tasks["baseline_name"].dropna()
    rows.append(
        [
            Text(f"baseline: {name.iloc[0]}" if len(name) else "baseline", style="italic dim"),
            *[None] * len(regime_columns(badges)),
            tasks["baseline"].mean(),
            *[baseline.get(lang) for lang in languages],
        ]
    )
    n_examples = langs.groupby("language")["n_examples"].max()
    counts = [int(n_examples[lang]) if lang in n_examples else None for lang in languages]
    rows.append(["n examples", *[None] * len(regime_columns(badges)), None, *counts])
    first = tasks.iloc[0]
    columns = [
        Column("checkpoint", "text", label=True),
        *regime_columns(badges),
        Column("mean", style="bold"),
    ]
    columns += [Column(lang) for lang in languages]
    name = f"{first['task']} · {first['split']}"
    return SummaryTable(name, _split_title(tasks), columns, rows, reference_rows=2)


STATUS_STYLE = {
    "learned": ("learned", "green"),
    "did-not-learn": ("did not learn", "bold red"),
    "unknown": ("unknown", "dim"),
    "not-trained": ("not trained", "dim"),
}


def learning_rows(records: Sequence[Record]) -> list[dict]:
    """One row per trained intermediate checkpoint (condition × model × seed), from the records'
    ``checkpoint.learning``; conditions without intermediate training are left out."""
    models = {r.checkpoint.model for r in records}
    seeds = {
        r.seed for r in records if r.checkpoint.learning and r.checkpoint.learning["status"] != "not-trained"
    }
    rows: dict[tuple, dict] = {}
    for rec in records:
        learning = rec.checkpoint.learning
        if not learning or learning.get("status") == "not-trained":
            continue
        name = rec.checkpoint.name if len(models) > 1 else rec.checkpoint.condition
        if len(seeds) > 1:
            name += f"/s{rec.seed}"
        rows.setdefault(
            (name, rec.seed), {"condition": name, "source": rec.checkpoint.source_lang, **learning}
        )
    return [rows[key] for key in sorted(rows)]


def learning_spec(records: Sequence[Record]) -> SummaryTable | None:
    """Intermediate training: the dev score [95 % CI] beside the trivial baseline, and whether it learned
    (the CI's lower bound above the baseline); "did not learn" in red."""
    rows = learning_rows(records)
    if not rows:
        return None
    columns = [
        Column("condition", "text", label=True),
        Column("task", "text"),
        Column("src", "text"),
        Column("dev score", "interval", header="dev score [CI]"),
        Column("baseline"),
        Column("status", "text"),
    ]
    body = []
    for row in rows:
        label, style = STATUS_STYLE.get(str(row["status"]), (str(row["status"]), ""))
        body.append(
            [
                row["condition"],
                row["task"],
                row["source"],
                _ci(row, "dev_score", "dev_low", "dev_high"),
                row["baseline"],
                Text(label, style=style),
            ]
        )
    return SummaryTable(
        "intermediate training",
        "Intermediate training — dev score [95 % CI] vs the trivial baseline (%)",
        columns,
        body,
        caption="learned: the CI's lower bound is above the baseline",
        compact=True,
    )


def robustness_overview_spec(summary: pd.DataFrame) -> SummaryTable:
    """Checkpoints × targets: the mean shifted-domain gap ± CI, then over all targets and the worst domain."""
    targets = sorted({str(t) for t in summary["task"] if t != "all"})
    badges = checkpoint_badges(summary)
    columns = [Column("checkpoint", "text", label=True), *regime_columns(badges)]
    columns += [Column(t, "signed_pm") for t in [*targets, "all targets"]]
    columns += [Column("worst domain", "text"), Column("worst gap", "signed")]
    rows = []
    for checkpoint, group in summary.groupby("checkpoint", sort=True):
        by_task = {str(row["task"]): row for row in group.to_dict("records")}
        gaps = [
            _ci(by_task[t], "mean_gap", "gap_low", "gap_high") if t in by_task else None
            for t in [*targets, "all"]
        ]
        overall = by_task.get("all", {})
        rows.append(
            [
                checkpoint,
                *regime_cells(checkpoint, badges),
                *gaps,
                overall.get("worst_domain"),
                overall.get("worst_gap"),
            ]
        )
    return SummaryTable(
        "robustness",
        "Robustness — mean shifted-domain gap (shifted − in-domain, points)",
        columns,
        rows,
        caption=CI_CAPTION,
    )


def robustness_target_spec(task: str, rows: pd.DataFrame, summary: pd.DataFrame) -> SummaryTable:
    """One target: per checkpoint the in-domain score, the score per shifted domain, gap ± CI, worst domain."""
    usable = rows[np.isfinite(rows["gap"].to_numpy(dtype=float))]
    domains = sorted({str(d) for d in usable["domain"]})
    badges = {
        c: b for c, b in checkpoint_badges(summary).items() if c in set(usable["checkpoint"].astype(str))
    }
    columns = [Column("checkpoint", "text", label=True), *regime_columns(badges), Column("in-domain")]
    columns += [Column(d) for d in domains]
    columns += [
        Column("gap", "signed_pm"),
        Column("rel. drop"),
        Column("worst domain", "text"),
        Column("langs", "int"),
    ]
    info = {str(r["checkpoint"]): r for r in summary[summary["task"] == task].to_dict("records")}
    body = []
    for checkpoint, group in usable.groupby("checkpoint", sort=True):
        shifted = group.groupby("domain")["shifted_score"].mean()
        s = info.get(str(checkpoint), {})
        body.append(
            [
                checkpoint,
                *regime_cells(checkpoint, badges),
                group.drop_duplicates("language")["in_domain_score"].mean(),
                *[shifted.get(d) for d in domains],
                _ci(s, "mean_gap", "gap_low", "gap_high") if s else None,
                s.get("mean_relative_drop"),
                s.get("worst_domain"),
                int(group["language"].nunique()),
            ]
        )
    return SummaryTable(
        f"robustness · {task}",
        f"{task} — in-domain vs shifted (%), mean over the languages scored on both",
        columns,
        body,
        caption=CI_CAPTION,
    )


def contrast_spec(contrast: pd.DataFrame, gap_contrast: pd.DataFrame) -> SummaryTable:
    """Per intermediate task × target × pair: in-domain diff ± CI and p, gap diff ± CI and p."""
    home = per_target(contrast, "diff", PAIR_KEYS)
    gaps = per_target(gap_contrast, "gap_diff", PAIR_KEYS)
    merged = home.merge(gaps, on=PAIR_KEYS, how="outer", suffixes=("", "_gap")).sort_values(PAIR_KEYS)
    columns = [
        Column("intermediate task", "text", label=True),
        Column("target", "text", label=True),
        Column("non-English − English", "text", label=True),
        Column("in-domain diff", "signed_pm"),
        Column("in-domain p", "p", header="p"),
        Column("gap diff", "signed_pm"),
        Column("gap p", "p", header="p"),
    ]
    rows = [
        [
            row["intermediate_task"],
            row["task"],
            f"{row['non_english']} − {row['english']}",
            _ci(row, "value", "low", "high"),
            row.get("p_value"),
            _ci(row, "value_gap", "low_gap", "high_gap"),
            row.get("p_value_gap"),
        ]
        for row in merged.to_dict("records")
    ]
    return SummaryTable(
        "contrast",
        "English vs non-English intermediate sources — paired differences (non-English − English, points)",
        columns,
        rows,
        caption="in-domain: mean over languages; gap diff: difference of shifted − in-domain gaps (> 0: the "
        "non-English source loses less under the shift). " + CI_CAPTION,
    )


def unavailable_spec(entries: list[dict]) -> SummaryTable | None:
    """The declared splits whose data is not on this machine: listed, never scored as 0 or dropped."""
    if not entries:
        return None
    columns = [Column("task", "text", label=True), Column("split", "text", label=True)]
    columns += [Column(name, "text") for name in ("domain", "languages", "expected")]
    rows = []
    for (task, split), group in pd.DataFrame(entries).groupby(["task", "split"], sort=True):
        first = group.iloc[0]
        expected = sorted({str(e) for e in group["expected"]})
        rows.append(
            [
                task,
                split,
                f"{first['domain']}{'' if first['in_domain'] else ', shifted'}",
                ", ".join(language_order(group["language"])),
                expected[0] + (f" (+{len(expected) - 1} more)" if len(expected) > 1 else ""),
            ]
        )
    return SummaryTable(
        "not available",
        "Not available on this machine — declared splits that were not scored (never counted as 0)",
        columns,
        rows,
    )


# ---- the summary ---------------------------------------------------------------------------------------
def summary_items(
    records: Sequence[Record], store: ResultsStore | None = None, n_boot: int = DEFAULT_BOOT
) -> list[Item]:
    """Every table and the verdict, in the order they are shown; one note when there is nothing."""
    if not records:
        return [Note(EMPTY_MESSAGE, style="bold yellow")]
    items: list[Item] = [leaderboard_spec(records, store)]
    training = learning_spec(records)
    if training is not None:
        items.append(training)
    langs = per_language(records)
    tasks = per_task(records)
    badges = record_badges(records)
    for task, split in task_splits(tasks):
        items.append(
            language_spec(
                langs[(langs["task"] == task) & (langs["split"] == split)],
                tasks[(tasks["task"] == task) & (tasks["split"] == split)],
                badges,
            )
        )
    return items + statistics_items(store, records, n_boot)


def statistics_items(store: ResultsStore | None, records: Sequence[Record], n_boot: int) -> list[Item]:
    """The robustness tables, the splits not available here, the contrast table and the verdict."""
    items: list[Item] = []
    robustness = robustness_table(store, records, n_boot)
    summary = robustness_summary(robustness)
    if len(summary):
        items.append(robustness_overview_spec(summary))
        for task, rows in robustness.groupby("task", sort=True):
            items.append(robustness_target_spec(str(task), rows, summary))
    else:
        items.append(Note(NO_ROBUSTNESS))
    missing = unavailable_spec(store.unavailable()) if store is not None else None
    if missing is not None:
        items.append(missing)
    contrast = contrast_table(store, records, n_boot)
    gap_contrast = gap_contrast_table(store, records, n_boot)
    if len(contrast) and contrast["english"].notna().any():
        items.append(contrast_spec(contrast, gap_contrast))
    items.append(Note(verdict(contrast, gap_contrast), lead="Verdict: ", name="verdict"))
    return items


def render_summary(items: Sequence[Item], fmt: SummaryFormat) -> str:
    """The summary as markdown, JSON or CSV text (rich goes straight to a console: ``print_rich``)."""
    writers = {"markdown": to_markdown, "json": to_json, "csv": to_csv}
    return writers[fmt](items)


def print_summary(
    records: Sequence[Record],
    console: Console,
    store: ResultsStore | None = None,
    n_boot: int = DEFAULT_BOOT,
) -> None:
    """The leaderboard, per task and split a per-language table, then the robustness and contrast
    tables and the verdict (CIs from ``store``'s per-example predictions when given, else from seeds),
    each fitted to the console's width; a clear line when there is nothing."""
    print_rich(summary_items(records, store, n_boot), console)


# ---- compare -----------------------------------------------------------------------------------------
def pm(value: float | None, low: float | None, high: float | None, signed: bool = False) -> str:
    """A fraction as a percentage ± the CI's half-width (in points)."""
    if value is None or not np.isfinite(float(value)):
        return "—"
    shown = f"{100 * float(value):+.1f}" if signed else pct(value)
    if low is None or high is None or not (np.isfinite(float(low)) and np.isfinite(float(high))):
        return shown
    return f"{shown} ± {100 * (float(high) - float(low)) / 2:.1f}"


def p_text(value: float | None) -> str:
    if value is None or not np.isfinite(float(value)):
        return "—"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def compare_table_spec(rows: pd.DataFrame, a: str, b: str, *, per_language: bool) -> SummaryTable:
    """The paired difference A − B, per task × split (mean over shared languages) or per language too."""
    what = "per task × split × language" if per_language else "per task × split, mean over shared languages"
    columns = [Column("task", "text", label=True), Column("split", "text", label=True)]
    if per_language:
        columns.append(Column("language", "text", label=True))
    columns += [
        Column("A (%)", "pct"),
        Column("B (%)", "pct"),
        Column("A − B", "signed_pm"),
        Column("p", "p"),
        Column("n" if per_language else "langs", "int"),
    ]
    body = []
    for row in rows.to_dict("records"):
        where = str(row["split"]) + ("" if row["in_domain"] else " (shifted)")
        cells: list[object] = [str(row["task"]), where]
        if per_language:
            cells.append(str(row["language"]))
        count = row["n_examples"] if per_language else row["n_languages"]
        cells += [
            row["a_score"],
            row["b_score"],
            Ci(row["diff"], row["diff_low"], row["diff_high"]),
            row["p_value"],
            None if missing(count) else int(count),
        ]
        body.append(cells)
    name = "compare per language" if per_language else "compare per task"
    title = f"{a} vs {b} — paired difference A − B (points), {what}"
    return SummaryTable(name, title, columns, body, caption=CI_CAPTION)


def print_compare(
    rows: pd.DataFrame,
    tasks: pd.DataFrame,
    a: str,
    b: str,
    console: Console,
    protocols: str | None = None,
) -> None:
    """The two comparison tables (``a`` and ``b``: the checkpoints' labels, badged when prompted), after
    ``protocols`` (``harness.report.compare.protocol_line``) when the two were scored differently."""
    if protocols:
        console.print(Text(protocols, style="bold yellow"))
        console.print()
    if rows.empty:
        console.print(Text(f"{a} and {b} share no (task, split, language) to compare."))
        return
    specs = [
        compare_table_spec(frame, a, b, per_language=lang) for frame, lang in ((tasks, False), (rows, True))
    ]
    print_rich(specs, console)
