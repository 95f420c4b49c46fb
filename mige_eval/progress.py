"""Progress of long commands, on a terminal or in a log file.

On a terminal a rich progress bar shows each stage. Where there is none (a Slurm job, ``nohup``, CI)
or with ``--quiet``, plain lines go to stderr instead: one when a stage starts, then at most one every
:func:`interval` seconds, and one when it ends, each with samples done / total, the rate, the time
left and the failures so far. ``done`` counts what finished in this process, for the message a
command prints when it is interrupted.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

#: Environment variable: seconds between two log lines (default 30).
INTERVAL_ENV = "MIGE_EVAL_PROGRESS_SECONDS"


def interval() -> float:
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    try:
        return max(0.0, float(raw)) if raw else 30.0
    except ValueError:
        raise ValueError(f"{INTERVAL_ENV}={raw!r} is not a number of seconds") from None


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class ProgressDisplay:
    """The runner's progress factory: ``display(label, total)`` returns ``advance(n, failed=0)``."""

    def __init__(
        self, *, bar: bool, stream: TextIO | None = None, console=None, clock: Callable[[], float] = time.monotonic
    ):
        self.done = 0
        self._stream = stream or sys.stderr
        self._clock = clock
        self._every = interval()
        self._bar = None
        if bar:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )

    def __call__(self, label: str, total: int) -> Callable[..., None]:
        if self._bar is not None:
            return self._bar_stage(label, total)
        return self._log_stage(label, total)

    def _bar_stage(self, label: str, total: int) -> Callable[..., None]:
        self._bar.start()
        task = self._bar.add_task(label, total=total, failed=0)
        failures = [0]

        def advance(n: int, failed: int = 0) -> None:
            self.done += n
            failures[0] += failed
            self._bar.update(task, advance=n, failed=failures[0])

        return advance

    def _log_stage(self, label: str, total: int) -> Callable[..., None]:
        start = last = self._clock()
        count = failures = 0
        self._line(f"{label}: {total} to do")

        def advance(n: int, failed: int = 0) -> None:
            nonlocal count, failures, last
            self.done += n
            count, failures = count + n, failures + failed
            now = self._clock()
            if count < total and now - last < self._every:
                return
            last = now
            elapsed = max(now - start, 1e-9)
            rate = count / elapsed
            eta = (
                f"ETA {duration((total - count) / rate)}" if count < total and rate > 0 else f"took {duration(elapsed)}"
            )
            self._line(
                f"{label}: {count}/{total} ({100 * count / max(total, 1):.0f}%), {rate:.2f}/s, {eta}, {failures} failed"
            )

        return advance

    def _line(self, text: str) -> None:
        self._stream.write(text + "\n")
        self._stream.flush()

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
