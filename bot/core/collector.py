"""Pausing Python's cyclic garbage collector around bulk, cycle-free work.

The daily planner builds a few hundred thousand small objects (parsed names,
tokenised papers, Matches, plans) over thousands of radars and papers that
are all alive at once. None of them forms a reference cycle, but each
allocation counts toward the collector's thresholds, so planning one day set
off two full collections that each walked every live object (the day's
papers, every channel's chips, the caches) and freed nothing: about a sixth
of the planning time. Mercurial pauses the collector the same way while it
builds large containers.

Pausing only defers: what the paused work leaves unreachable is collected by
the first collection after it, and young objects are then examined once, as
they would have been. The pause nests and is shared between threads (the
bot plans in a worker thread while the event loop acks commands): the
collector runs again when the last paused block ends, and never if it was off
before the first began.
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
    """Run the block with the cyclic collector off (see the module's docstring)."""
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
