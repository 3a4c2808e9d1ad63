"""Progress lines for a long benchmark: done/total, elapsed, rate and ETA.

A benchmark that runs for minutes in silence looks hung. ``Progress`` polls a
counter from a background thread (a database count, say: it never touches
the measured code path) and prints a line each time another ``every`` items
are done, and at least every ``quiet_seconds`` while nothing moves:

    progress     1,500/10,000 channels   elapsed   21.3 s   rate 70.4/s   ETA 121 s
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self, TextIO


def line(done: int, total: int, elapsed: float, unit: str) -> str:
    """One progress line; the ETA extrapolates this run's own rate so far."""
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = f"{(total - done) / rate:,.0f} s" if rate > 0 else "?"
    return (
        f"progress  {done:>8,}/{total:,} {unit}   elapsed {elapsed:7.1f} s   "
        f"rate {rate:8,.1f}/s   ETA {eta}"
    )


class Progress:
    """Report ``count()`` against ``total`` while a ``with`` block runs."""

    def __init__(
        self,
        count: Callable[[], int],
        total: int,
        *,
        every: int = 500,
        unit: str = "items",
        poll_seconds: float = 0.5,
        quiet_seconds: float = 15.0,
        out: TextIO | None = None,
    ) -> None:
        self.count, self.total, self.every, self.unit = count, total, max(1, every), unit
        self.poll_seconds, self.quiet_seconds = poll_seconds, quiet_seconds
        self.out = out or sys.stdout
        self.lines: list[str] = []
        self._last = -1  # the count last printed: never the same line twice
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="bench-progress", daemon=True)
        self._began = 0.0

    def __enter__(self) -> Self:
        self._began = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        if kind is None:
            self._say(self._safe_count())  # the final tally, whatever the step

    def _safe_count(self) -> int:
        try:
            return self.count()
        except Exception as err:  # a busy database must not end the benchmark
            print(f"progress  (count failed: {type(err).__name__})", file=self.out, flush=True)
            return -1

    def _say(self, done: int, *, again: bool = False) -> None:
        """Print the line for ``done``; the same count twice only when ``again``
        (a stall, shown every ``quiet_seconds`` so the run does not look hung)."""
        if done < 0 or (done == self._last and not again):
            return
        self._last = done
        text = line(done, self.total, time.perf_counter() - self._began, self.unit)
        self.lines.append(text)
        print(text, file=self.out, flush=True)

    def _watch(self) -> None:
        reported = 0  # the last multiple of ``every`` printed
        last_print = time.perf_counter()
        while not self._stop.wait(self.poll_seconds):
            done = self._safe_count()
            step = done // self.every * self.every
            now = time.perf_counter()
            quiet = now - last_print >= self.quiet_seconds
            if step > reported or quiet:
                reported = max(reported, step)
                last_print = now
                self._say(done, again=quiet)
            if done >= self.total:
                return
