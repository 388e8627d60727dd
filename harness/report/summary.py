"""The terminal summary: the leaderboard, then one per-language table per task and split (rich)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

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

EMPTY_MESSAGE = "The results store is empty: there are no records to summarise yet (run a grid first)."
DEMO_NOTE = "demo split: a shipped sample, not the official test set"


def _text(value: object) -> Text:
    """Plain text, so names with square brackets are not read as rich markup."""
    return Text("—" if value is None else str(value))


def leaderboard_table(records: Sequence[Record]) -> Table:
    board = leaderboard(records)
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
    for rank, values in enumerate(board.to_dict("records"), start=1):
        table.add_row(
            str(rank),
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


def print_summary(records: Sequence[Record], console: Console) -> None:
    """The leaderboard, then per task and split a per-language table; a clear line when there is nothing."""
    if not records:
        console.print(Text(EMPTY_MESSAGE, style="bold yellow"))
        return
    console.print(leaderboard_table(records))
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
