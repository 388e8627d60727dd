"""One progress display for a grid run: jobs done / total, the current job, elapsed time and ETA.

On a terminal it is a rich progress bar; in a log (not a TTY) it is one plain line per finished job,
``[12/350] 3m12s me5-small+sib-de/seed2 target:udpos_demo (14.2 s)``. The libraries' own per-step and
per-file bars (the Trainer's tqdm, transformers' "Loading weights") are switched off while it runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


def clock_text(seconds: float) -> str:
    """``42s``, ``3m12s``, ``2h05m``: short enough for a log line's head."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def quiet_library_bars() -> None:
    """transformers draws a bar per checkpoint load; the grid's own display says enough."""
    try:
        import transformers

        transformers.utils.logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


class JobProgress:
    """Told when each job starts and finishes (``GridRunner`` does); draws a bar on a terminal,
    writes one line per finished job otherwise."""

    def __init__(
        self, console: Console, *, live: bool | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.console = console
        self.live = console.is_terminal if live is None else live
        self.clock = clock
        self.total = 0
        self.done = 0
        self._began = clock()
        self._started: dict[str, float] = {}
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> JobProgress:
        quiet_library_bars()
        if self.live:
            self._bar = Progress(
                TextColumn("[bold]jobs"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.description}", markup=False),
                console=self.console,
            )
            self._bar.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, error, trace)
            self._bar = None

    def start(self, total: int) -> None:
        self.total, self.done, self._began = total, 0, self.clock()
        if self._bar is not None:
            self._task = self._bar.add_task("", total=total)

    def started(self, label: str) -> None:
        self._started[label] = self.clock()
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description=label)

    def finished(self, label: str) -> None:
        now = self.clock()
        self.done += 1
        took = now - self._started.pop(label, now)
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task)
            return
        line = f"[{self.done}/{self.total}] {clock_text(now - self._began)} {label} ({took:.1f} s)"
        self.console.print(Text(line), soft_wrap=True, highlight=False)
