"""The progress display of every long run (search, RL training, sweeps, co-search): one place for its look.

On a terminal it is rich's live bar on stderr. Elsewhere (a log file, a pipe, a batch job) rich would draw only at
the end, so a plain line goes to stderr every ``every`` seconds instead, and one at the end.
"""
from __future__ import annotations

import math
import sys
import time

__all__ = ["ProgressBar", "format_seconds"]


def format_seconds(s: float, digits: int = 4) -> str:
    """A time with its unit and ``digits`` significant digits: ``689.8 us``, ``1.25 ms``, ``3 s``."""
    if s == 0 or not math.isfinite(s):
        return f"{s:g}"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if abs(s) >= scale:
            return f"{s / scale:.{digits}g} {unit}"
    return f"{s:.{digits - 1}g} s"


class ProgressBar:
    """A progress display on stderr.

    Parameters
    ----------
    label : str
    total : int
        Steps in all (with ``count``: shown as "done/total"; else only the bar's fill, e.g. a budget's share).
    enabled : bool
        False: show nothing (every method is then a no-op).
    count : bool
        Show "done/total".
    eta : bool
        Show the estimated time left (terminal only).
    every : float
        Seconds between plain lines when stderr is not a terminal.
    """

    def __init__(self, label: str, total: int, *, enabled: bool = True, count: bool = True, eta: bool = False,
                 every: float = 10.0):
        self.enabled = bool(enabled)
        self.label, self.total, self.count, self.every = label, max(0, int(total)), count, float(every)
        self.completed = 0
        self.status = ""
        self._t0 = time.monotonic()
        self._last_line = self._t0
        self._live = None
        if not self.enabled:
            return
        from rich.console import Console

        console = Console(stderr=True)
        if console.is_terminal:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            columns = [TextColumn("[bold]{task.description}"), BarColumn()]
            if count:
                columns.append(MofNCompleteColumn())
            columns += [TextColumn("{task.fields[status]}"), TimeElapsedColumn()]
            if eta:
                columns += [TextColumn("ETA"), TimeRemainingColumn()]
            self._live = Progress(*columns, console=console, transient=False)
            self._task = self._live.add_task(label, total=self.total, status="")
            self._live.start()

    def update(self, *, completed: int | None = None, advance: int = 0, status: str | None = None) -> None:
        if not self.enabled:
            return
        self.completed = int(completed) if completed is not None else self.completed + int(advance)
        if status is not None:
            self.status = status
        if self._live is not None:
            self._live.update(self._task, completed=self.completed, status=self.status)
            return
        now = time.monotonic()
        if now - self._last_line >= self.every:
            self._last_line = now
            self._line()

    def _line(self) -> None:
        done = f"{self.completed}/{self.total}" if self.count else \
            f"{100 * self.completed / max(self.total, 1):.0f}%"
        print(f"{self.label}: {done}{' ' + self.status if self.status else ''} "
              f"[{time.monotonic() - self._t0:.0f} s]", file=sys.stderr, flush=True)

    def close(self) -> None:
        if not self.enabled:
            return
        if self._live is not None:
            self._live.stop()
        else:
            self._line()
        self.enabled = False
