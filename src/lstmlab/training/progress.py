"""What a run shows while it trains.

- On a terminal: a live bar (rich) with steps, loss, steps/s and the time left, redrawn four
  times a second whatever the chunk size (one compiled chunk can take many seconds).
- Elsewhere (a log file, CI, a scheduler): a plain line at every tenth of the steps, so logs
  stay readable.
- In a sweep: nothing per step; the job prints one line when it ends (`[k/N] ...`), so that
  parallel jobs do not interleave bars.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

LINES = 10  # plain lines per run when not on a terminal


class Progress:
    def __init__(self, total: int, title: str, mode: str, stream: TextIO | None = None):
        """mode: "bar", "lines" or "off"."""
        self.total = max(1, total)
        self.title = title
        self.mode = mode
        self.stream = stream or sys.stdout
        # Steps/s count from the first chunk's end: the first chunk also pays for compilation.
        self._first: tuple[float, int] | None = None
        self._next_line = 1
        self._bar = None
        if mode == "bar":
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import (
                Progress as Bar,
            )

            self._bar = Bar(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("steps  loss {task.fields[loss]}  {task.fields[rate]}"),
                TimeRemainingColumn(),
                refresh_per_second=4,
                transient=True,
            )
            self._task = self._bar.add_task(title, total=self.total, loss="-", rate="")
            self._bar.start()

    @staticmethod
    def mode_for(in_sweep: bool, stream: TextIO | None = None) -> str:
        if in_sweep:
            return "off"
        return "bar" if (stream or sys.stdout).isatty() else "lines"

    def update(self, done: int, loss: float) -> None:
        now = time.perf_counter()
        if self._first is None:
            self._first = (now, done)
        since, base = self._first
        rate = (done - base) / (now - since) if now > since and done > base else 0.0
        if self._bar is not None:
            self._bar.update(self._task, completed=done, loss=f"{loss:.4f}",
                             rate=f"{rate:,.0f} steps/s" if rate else "")  # fmt: skip
        elif self.mode == "lines" and done * LINES >= self._next_line * self.total:
            # One line for every tenth of the steps crossed since the last (a chunk may cross
            # several).
            while done * LINES >= self._next_line * self.total:
                self._next_line += 1
            speed = (
                f"  {rate:,.0f} steps/s  {(self.total - done) / rate:.1f} s left" if rate else ""
            )
            print(f"{self.title}: step {done}/{self.total} ({100 * done / self.total:.0f}%)  "
                  f"loss {loss:.4f}{speed}", file=self.stream, flush=True)  # fmt: skip

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
