"""Pausing Python's cyclic garbage collector around a burst of allocations.

Planning a day's digests builds a few hundred thousand objects in half a
second (parsed names, index lists, Matches, digest plans) and frees few of
them: nearly all live until the digests are posted. The collector counts
allocations, not garbage, so such a burst sets off its passes, two of them
over the whole young heap, and each finds nothing to free (the planner makes
no reference cycles). On the project's machines those passes were 10-18% of
the plan's time, and while one runs it holds the interpreter lock: every ack
the Slack adapter owes waits for it.

Reference counting goes on freeing what the burst drops; only cycle
detection waits until the burst ends. The pause is process-wide (so is the
collector), so it is counted: overlapping pauses, from several threads or
nested, turn the collector back on when the last one ends, and only if it
was on when the first began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]

_lock = threading.Lock()
_depth = 0
_resume = False  # whether the collector was on when the outermost pause began


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cyclic collector off (see the module doc)."""
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()
