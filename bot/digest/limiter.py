"""One rate limiter for every message a process posts: token buckets per channel.

Platforms cap how fast a bot may post, and punish a bot that keeps hitting
the cap: Slack's ``chat.postMessage`` allows about one message a second per
channel, with short bursts tolerated; Discord's per-route buckets allow five
messages per five seconds per channel, under a global 50 requests a second.
A poster declares its platform's rates (``PostRates``, its ``rates``
attribute), and ``bot.digest.deliver`` asks the process's one ``LIMITER``
before each message it posts. So a channel that gets a long reply waits its
turn while every other channel posts at once, however many deliveries run
concurrently; a 429 stays the exception, and is still waited out by the
platform clients when it comes (Slack's ``Retry-After``, discord.py's
buckets).

Each bucket is a GCRA (the generic cell rate algorithm, a token bucket kept
as one number): the time at which the bucket would be full again. A message
*reserves* its slot at once and is told how long to wait for it, so callers
never poll, a burst of ``burst`` messages goes out without waiting, and then
one every ``1 / per_second`` seconds. Buckets that have refilled are dropped
from time to time, so 10,000 channels cost a dictionary of recent ones only.

Platform-neutral: this module knows keys and rates, never a platform SDK.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from bot.core.channel import ChannelRef

#: Forget refilled buckets once the table holds this many keys (or twice as
#: many as the last sweep kept).
PRUNE_AT = 4096


@dataclass(frozen=True)
class Rate:
    """``burst`` messages at once, then ``per_second`` on average."""

    per_second: float
    burst: int = 1

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError("a rate needs per_second > 0 and burst >= 1")


@dataclass(frozen=True)
class PostRates:
    """What a platform allows: per channel, and over all its channels (None: no limit)."""

    channel: Rate | None = None
    overall: Rate | None = None


class Limiter:
    """Token buckets keyed by anything hashable (see the module doc).

    ``clock`` (monotonic seconds) and ``sleep`` are injectable, so a test can
    drive time by hand. Thread-safe: deliveries on another loop or thread
    (a test's loop thread, a worker pool) share the same buckets.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.clock, self.sleep = clock, sleep
        self._full_at: dict[Hashable, float] = {}  # when each bucket is full again
        self._prune_at = PRUNE_AT
        self._mutex = threading.Lock()

    def reserve(self, key: Hashable, rate: Rate) -> float:
        """Take the next slot of ``key``'s bucket; returns the seconds to wait for it
        (0.0: post now). The slot is the caller's: it must post after that wait."""
        interval = 1.0 / rate.per_second
        with self._mutex:
            now = self.clock()
            full_at = max(self._full_at.get(key, now), now)
            # A slot is free once the bucket, with it taken, would hold at most
            # ``burst`` slots' worth of time still to drain.
            wait = full_at - (rate.burst - 1) * interval - now
            wait = wait if wait > 1e-9 else 0.0  # rounding must not cost a sleep
            self._full_at[key] = full_at + interval
            if len(self._full_at) >= self._prune_at:
                # Refilled buckets are as good as absent. The next sweep waits
                # until the table doubles, so sweeping stays cheap per message.
                self._full_at = {k: t for k, t in self._full_at.items() if t > now}
                self._prune_at = max(PRUNE_AT, 2 * len(self._full_at))
        return wait

    def delay(self, ref: ChannelRef, rates: PostRates | None) -> float:
        """Reserve one message to ``ref`` under ``rates`` (every bucket it
        counts against); the seconds to wait before posting it."""
        if rates is None:
            return 0.0
        wait = 0.0
        if rates.channel is not None:
            wait = self.reserve(
                ("channel", ref.platform, ref.workspace, ref.channel), rates.channel
            )
        if rates.overall is not None:
            wait = max(wait, self.reserve(("platform", ref.platform), rates.overall))
        return wait

    async def admit(self, ref: ChannelRef, rates: PostRates | None) -> float:
        """Wait until a message to ``ref`` may be posted; returns the wait."""
        wait = self.delay(ref, rates)
        if wait > 0:
            await self.sleep(wait)
        return wait

    def reset(self) -> None:
        """Forget every bucket (a test starting afresh)."""
        with self._mutex:
            self._full_at.clear()

    def __len__(self) -> int:
        return len(self._full_at)


def rates_of(poster: object) -> PostRates | None:
    """The rates a poster declares (its ``rates`` attribute), if any. A wrapper
    that posts through a platform's poster held as ``poster`` (an event's
    replier, the scheduler's shutdown guard) counts against that poster's
    rates; a poster for a terminal or a test declares none and is never held
    back."""
    for _ in range(4):  # wrappers of wrappers, never a cycle
        rates = getattr(poster, "rates", None)
        if isinstance(rates, PostRates):
            return rates
        poster = getattr(poster, "poster", None)
        if poster is None:
            return None
    return None


#: The process's one limiter: every delivery asks it (``bot.digest.deliver``).
LIMITER = Limiter()
