"""One polite request at a time per upstream host, for the whole process.

arXiv's API terms ask clients to "make no more than one request every three
seconds" and to use a single connection at a time. Both rules are about the
*client* (our process, our IP), not about one object, so the throttle is
shared: ``throttle_for(host, ...)`` hands every caller in the process the same
``Throttle`` for a host, whichever channel, radar or backfill asked.

The rule implemented here is the stricter reading: the lock is held for the
whole request (one connection at a time), and the next request may start only
``min_interval`` seconds after the previous one *ended*. Measuring from the
end also guarantees at least ``min_interval`` between starts, and it keeps a
slow upstream from being hit again the instant a long response finishes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Throttle", "ThrottleTimeout", "throttle_for"]


class ThrottleTimeout(TimeoutError):
    """A caller's turn at the host did not come within its timeout."""


class Throttle:
    """Serialise requests and keep ``min_interval`` seconds between them.

    ``sleep`` and ``monotonic`` are injectable so tests can check the spacing
    without waiting: a fake ``monotonic`` plus a ``sleep`` that records (and
    advances the fake clock) is enough.
    """

    def __init__(
        self,
        min_interval: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if min_interval < 0:
            raise ValueError("min_interval must be >= 0")
        self.min_interval = float(min_interval)
        self._sleep = sleep
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._last_end: float | None = None

    @contextmanager
    def slot(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the host for one request.

        Takes the lock (so no other request can slip in), waits until
        ``min_interval`` has passed since the previous request ended, runs the
        body, and stamps the end time even when the request failed: a failed
        request still counts against the upstream's rate limit.

        ``timeout`` (seconds; None waits as long as it takes) bounds the wait
        for the turn, for a caller on a deadline: ``ThrottleTimeout`` when the
        lock or the interval would take longer; no request is counted then.
        """
        began = self._monotonic()
        if not self._lock.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            raise ThrottleTimeout(f"no turn within {timeout:.1f} s")
        try:
            if self._last_end is not None:
                wait = self._last_end + self.min_interval - self._monotonic()
                if wait > 0:
                    if timeout is not None and self._monotonic() - began + wait > timeout:
                        raise ThrottleTimeout(f"no turn within {timeout:.1f} s")
                    self._sleep(wait)
            try:
                yield
            finally:
                self._last_end = self._monotonic()
        finally:
            self._lock.release()

    def tighten(self, min_interval: float) -> None:
        """Raise ``min_interval`` (never lower it): the strictest caller wins."""
        with self._lock:
            self.min_interval = max(self.min_interval, float(min_interval))


_registry: dict[str, Throttle] = {}
_registry_lock = threading.Lock()


def throttle_for(host: str, min_interval: float) -> Throttle:
    """The process-wide throttle for ``host`` (e.g. ``export.arxiv.org``).

    The first caller creates it; later callers get the same object, and a
    caller asking for a longer interval tightens it for everyone, so two
    sources configured differently can never together exceed the stricter
    rate. ``host`` should include the port when it is not the default, so
    local replay servers (one per test) do not share a throttle.
    """
    key = host.lower()
    with _registry_lock:
        throttle = _registry.get(key)
        if throttle is None:
            throttle = _registry[key] = Throttle(min_interval)
            return throttle
    throttle.tighten(min_interval)
    return throttle
