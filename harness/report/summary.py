"""The terminal summary (rich): the leaderboard, one per-language table per task and split, the
robustness tables, the English vs non-English contrast table and the verdict; and ``harness compare``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.report.contrast import PAIR_KEYS, contrast_table, gap_contrast_table, per_target, verdict
from harness.report.tables import (
    language_order,
    leaderboard,
    leaderboard_targets,
    pct,
    per_language,
    per_task,
    task_splits,
)
from harness.results.schema import Record
from harness.results.store import ResultsStore
from harness.scoring.bootstrap import DEFAULT_BOOT
from harness.scoring.robustness import robustness_summary, robustness_table

EMPTY_MESSAGE = "The results store is empty: there are no records to summarise yet (run a grid first)."
DEMO_NOTE = "demo split: a shipped sample, not the official test set"


def _text(value: object) -> Text:
    """Plain text, so names with square brackets are not read as rich markup."""
    missing = value is None or (isinstance(value, float) and value != value)  # None or NaN
    return Text("—" if missing else str(value))


def leaderboard_table(records: Sequence[Record], store: ResultsStore | None = None) -> Table:
    """Rows by average; ``#`` is the paired-test rank the site shows (ties share it), not the position."""
    from harness.report.pages.ranking import adjacent_p_values, paired_ranks
    from harness.scoring.stats_tables import cells_of

    board = leaderboard(records)
    ordered = [str(c) for c in board["checkpoint"]]
    cells = cells_of(store, records, DEFAULT_BOOT)
    ranks = paired_ranks(list(board["average"]), adjacent_p_values(cells, "average", ordered))
    targets = leaderboard_targets(board)
    tasks = per_task(records)
    demo = set(tasks.loc[tasks["demo_split"].astype(bool), "task"])
    table = Table(
        title="Leaderboard — in-domain task score (%), mean over languages incl. English",
        caption=f"† {DEMO_NOTE}" if demo & set(targets) else None,
    )
    table.add_column("#", justify="right")
    table.add_column("checkpoint", no_wrap=True)
    for header in ("model", "intermediate task", "source", "source type", "frozen emb."):
        table.add_column(header)
    for target in targets:
        table.add_column(f"{target}{' †' if target in demo else ''}", justify="right")
    table.add_column("average", justify="right", style="bold")
    for rank, values in zip(ranks, board.to_dict("records"), strict=True):
        table.add_row(
            "—" if rank is None else str(rank),
            _text(values["checkpoint"]),
            _text(values["model"]),
            _text(values["intermediate_task"]),
            _text(values["source_lang"]),
            _text(values["source_type"]),
            "yes" if values["frozen_embeddings"] else "no",
            *[pct(values[t]) for t in targets],
            pct(values["average"]),
        )
    return table


def _split_title(task_rows: pd.DataFrame) -> str:
    first = task_rows.iloc[0]
    where = "in-domain" if bool(first["in_domain"]) else "domain-shifted"
    title = f"{first['task']} · {first['split']} ({first['domain']}, {where}) — {first['main_metric']} (%)"
    if bool(task_rows["demo_split"].any()):
        title += f" · {DEMO_NOTE}"
    return title


def language_table(langs: pd.DataFrame, tasks: pd.DataFrame) -> Table:
    """Checkpoints as rows, languages as columns, the task mean first and the trivial baseline last."""
    languages = language_order(langs["language"])
    table = Table(title=_split_title(tasks))
    table.add_column("checkpoint", no_wrap=True)
    table.add_column("mean", justify="right", style="bold")
    for lang in languages:
        table.add_column(lang, justify="right")
    for checkpoint in sorted(tasks["checkpoint"]):
        cells = langs[langs["checkpoint"] == checkpoint].set_index("language")["score"]
        mean = tasks.loc[tasks["checkpoint"] == checkpoint, "score"].iloc[0]
        table.add_row(_text(checkpoint), pct(mean), *[pct(cells.get(lang)) for lang in languages])
    baseline = langs.groupby("language")["baseline"].mean()
    name = tasks["baseline_name"].dropna()
    label = f"baseline: {name.iloc[0]}" if len(name) else "baseline"
    table.add_section()
    table.add_row(
        Text(label, style="italic dim"),
        pct(tasks["baseline"].mean()),
        *[pct(baseline.get(lang)) for lang in languages],
        style="dim",
    )
    n_examples = langs.groupby("language")["n_examples"].max()
    table.add_row(
        Text("n examples", style="dim"),
        "",
        *[str(int(n_examples[lang])) if lang in n_examples else "—" for lang in languages],
        style="dim",
    )
    return table


STATUS_STYLE = {
    "learned": ("learned", "green"),
    "did-not-learn": ("did not learn", "bold red"),
    "unknown": ("unknown", "dim"),
    "not-trained": ("not trained", "dim"),
}


def _ci_text(value: float | None, low: float | None, high: float | None) -> str:
    if value is None:
        return "—"
    if low is None or high is None:
        return pct(value)
    return f"{pct(value)} [{pct(low)}, {pct(high)}]"


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


def learning_table(records: Sequence[Record]) -> Table | None:
    """Intermediate training: the dev score [95 % CI] beside the trivial baseline, and whether it learned
    (the CI's lower bound above the baseline); "did not learn" in red. Fits 80 columns."""
    rows = learning_rows(records)
    if not rows:
        return None
    table = Table(
        title="Intermediate training — dev score [95 % CI] vs the trivial baseline (%)",
        caption="learned: the CI's lower bound is above the baseline",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("condition", overflow="fold")
    table.add_column("task", no_wrap=True, overflow="ellipsis")
    table.add_column("src", no_wrap=True)
    table.add_column("dev score [CI]", justify="right", no_wrap=True)
    table.add_column("baseline", justify="right")
    table.add_column("status", no_wrap=True)
    for row in rows:
        label, style = STATUS_STYLE.get(str(row["status"]), (str(row["status"]), ""))
        table.add_row(
            _text(row["condition"]),
            _text(row["task"]),
            _text(row["source"]),
            _ci_text(row["dev_score"], row["dev_low"], row["dev_high"]),
            pct(row["baseline"]),
            Text(label, style=style),
        )
    return table


def print_summary(
    records: Sequence[Record],
    console: Console,
    store: ResultsStore | None = None,
    n_boot: int = DEFAULT_BOOT,
) -> None:
    """The leaderboard, per task and split a per-language table, then the robustness and contrast
    tables and the verdict (CIs from ``store``'s per-example predictions when given, else from seeds);
    a clear line when there is nothing."""
    if not records:
        console.print(Text(EMPTY_MESSAGE, style="bold yellow"))
        return
    console.print(leaderboard_table(records, store))
    training = learning_table(records)
    if training is not None:
        console.print()
        console.print(training)
    langs = per_language(records)
    tasks = per_task(records)
    for task, split in task_splits(tasks):
        console.print()
        console.print(
            language_table(
                langs[(langs["task"] == task) & (langs["split"] == split)],
                tasks[(tasks["task"] == task) & (tasks["split"] == split)],
            )
        )
    print_statistics(store, records, console, n_boot)


# ---- statistics: robustness, contrast, compare -----------------------------------------------------
CI_CAPTION = "± = half-width of the 95 % bootstrap CI (examples and seeds); no ± = no CI (one seed, no per-example file)"


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


def robustness_overview(summary: pd.DataFrame) -> Table:
    """Checkpoints × targets: the mean shifted-domain gap ± CI, then over all targets and the worst domain."""
    targets = sorted({str(t) for t in summary["task"] if t != "all"})
    table = Table(
        title="Robustness — mean shifted-domain gap (shifted − in-domain, points)", caption=CI_CAPTION
    )
    table.add_column("checkpoint", no_wrap=True)
    for target in targets:
        table.add_column(target, justify="right")
    for header in ("all targets", "worst domain"):
        table.add_column(header, justify="right")
    for checkpoint, rows in summary.groupby("checkpoint", sort=True):
        by_task = rows.set_index("task")
        cells = []
        for target in targets:
            row = by_task.loc[target] if target in by_task.index else None
            cells.append(
                "—" if row is None else pm(row["mean_gap"], row["gap_low"], row["gap_high"], signed=True)
            )
        overall = by_task.loc["all"] if "all" in by_task.index else None
        cells.append(
            "—" if overall is None else pm(overall["mean_gap"], overall["gap_low"], overall["gap_high"], True)
        )
        worst = "—" if overall is None else f"{overall['worst_domain']} ({100 * overall['worst_gap']:+.1f})"
        table.add_row(_text(checkpoint), *cells, _text(worst))
    return table


def robustness_target_table(task: str, rows: pd.DataFrame, summary: pd.DataFrame) -> Table:
    """One target: per checkpoint the in-domain score, the score per shifted domain, gap ± CI, worst domain."""
    usable = rows[np.isfinite(rows["gap"].to_numpy(dtype=float))]
    domains = sorted({str(d) for d in usable["domain"]})
    table = Table(
        title=f"{task} — in-domain vs shifted (%), mean over the languages scored on both", caption=CI_CAPTION
    )
    table.add_column("checkpoint", no_wrap=True)
    table.add_column("in-domain", justify="right")
    for domain in domains:
        table.add_column(domain, justify="right")
    for header in ("gap", "rel. drop", "worst domain", "langs"):
        table.add_column(header, justify="right")
    info = summary[summary["task"] == task].set_index("checkpoint")
    for checkpoint, group in usable.groupby("checkpoint", sort=True):
        shifted = group.groupby("domain")["shifted_score"].mean()
        s = info.loc[checkpoint] if checkpoint in info.index else None
        table.add_row(
            _text(checkpoint),
            pct(group.drop_duplicates("language")["in_domain_score"].mean()),
            *[pct(shifted.get(d)) for d in domains],
            "—" if s is None else pm(s["mean_gap"], s["gap_low"], s["gap_high"], signed=True),
            "—" if s is None else pct(s["mean_relative_drop"]),
            "—" if s is None else _text(s["worst_domain"]),
            str(group["language"].nunique()),
        )
    return table


def contrast_summary_table(contrast: pd.DataFrame, gap_contrast: pd.DataFrame) -> Table:
    """Per intermediate task × target × pair: in-domain diff ± CI and p, gap diff ± CI and p."""
    home = per_target(contrast, "diff", PAIR_KEYS)
    gaps = per_target(gap_contrast, "gap_diff", PAIR_KEYS)
    merged = home.merge(gaps, on=PAIR_KEYS, how="outer", suffixes=("", "_gap")).sort_values(PAIR_KEYS)
    table = Table(
        title="English vs non-English intermediate sources — paired differences (non-English − English, points)",
        caption="in-domain: mean over languages; gap diff: difference of shifted − in-domain gaps (> 0: the "
        "non-English source loses less under the shift). " + CI_CAPTION,
    )
    for header in ("intermediate task", "target", "non-English", "English"):
        table.add_column(header, no_wrap=True)
    for header in ("in-domain diff", "p", "gap diff", "p "):
        table.add_column(header, justify="right")
    for row in merged.to_dict("records"):
        table.add_row(
            _text(row["intermediate_task"]),
            _text(row["task"]),
            _text(row["non_english"]),
            _text(row["english"]),
            pm(row.get("value"), row.get("low"), row.get("high"), signed=True),
            p_text(row.get("p_value")),
            pm(row.get("value_gap"), row.get("low_gap"), row.get("high_gap"), signed=True),
            p_text(row.get("p_value_gap")),
        )
    return table


def unavailable_table(entries: list[dict]) -> Table | None:
    """The declared splits whose data is not on this machine: listed, never scored as 0 or dropped."""
    if not entries:
        return None
    table = Table(
        title="Not available on this machine — declared splits that were not scored (never counted as 0)"
    )
    for header in ("task", "split", "domain", "languages", "expected"):
        table.add_column(header)
    frame = pd.DataFrame(entries)
    for (task, split), group in frame.groupby(["task", "split"], sort=True):
        first = group.iloc[0]
        where = f"{first['domain']}{'' if first['in_domain'] else ', shifted'}"
        languages = ", ".join(language_order(group["language"]))
        expected = sorted({str(e) for e in group["expected"]})
        shown = expected[0] + (f" (+{len(expected) - 1} more)" if len(expected) > 1 else "")
        table.add_row(_text(task), _text(split), _text(where), _text(languages), _text(shown))
    return table


def print_statistics(
    store: ResultsStore | None, records: Sequence[Record], console: Console, n_boot: int
) -> None:
    """The robustness tables, the contrast table and the verdict."""
    robustness = robustness_table(store, records, n_boot)
    summary = robustness_summary(robustness)
    if len(summary):
        console.print()
        console.print(robustness_overview(summary))
        for task, rows in robustness.groupby("task", sort=True):
            console.print()
            console.print(robustness_target_table(str(task), rows, summary))
    else:
        console.print()
        console.print(
            Text("Robustness: no target has both an in-domain and a domain-shifted split scored yet.")
        )
    missing = unavailable_table(store.unavailable()) if store is not None else None
    if missing is not None:
        console.print()
        console.print(missing)
    contrast = contrast_table(store, records, n_boot)
    gap_contrast = gap_contrast_table(store, records, n_boot)
    if len(contrast) and contrast["english"].notna().any():
        console.print()
        console.print(contrast_summary_table(contrast, gap_contrast))
    console.print()
    console.print(Text("Verdict: ", style="bold") + Text(verdict(contrast, gap_contrast)))


def compare_table_view(rows: pd.DataFrame, a: str, b: str, *, per_language: bool) -> Table:
    what = "per task × split × language" if per_language else "per task × split, mean over shared languages"
    table = Table(title=f"{a} vs {b} — paired difference A − B (points), {what}", caption=CI_CAPTION)
    table.add_column("task", no_wrap=True)
    table.add_column("split", no_wrap=True)
    if per_language:
        table.add_column("language")
    for header in ("A (%)", "B (%)", "A − B", "p", "n" if per_language else "langs"):
        table.add_column(header, justify="right")
    for row in rows.to_dict("records"):
        where = f"{row['split']} ({row['domain']}{'' if row['in_domain'] else ', shifted'})"
        cells = [_text(row["task"]), _text(where)]
        if per_language:
            cells.append(_text(row["language"]))
        table.add_row(
            *cells,
            pct(row["a_score"]),
            pct(row["b_score"]),
            pm(row["diff"], row["diff_low"], row["diff_high"], signed=True),
            p_text(row["p_value"]),
            str(int(row["n_examples"] if per_language else row["n_languages"])),
        )
    return table


def print_compare(rows: pd.DataFrame, tasks: pd.DataFrame, a: str, b: str, console: Console) -> None:
    if rows.empty:
        console.print(Text(f"{a} and {b} share no (task, split, language) to compare."))
        return
    console.print(compare_table_view(tasks, a, b, per_language=False))
    console.print()
    console.print(compare_table_view(rows, a, b, per_language=True))
