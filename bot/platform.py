"""What `paper-radar run` needs from a platform adapter (Slack, Discord).

An adapter translates platform events into ``RadarService`` calls and
``Reply`` values into platform messages. The runner starts and stops it, and
the scheduler delivers digests through its ``poster`` (see
``bot.digest.deliver``), so scheduled and typed digests share one path.
"""

from __future__ import annotations

from typing import Protocol

from bot.digest.deliver import Poster


class PlatformAdapter(Protocol):
    #: The ``ChannelRef.platform`` this adapter serves: "slack", "discord".
    platform: str
    poster: Poster

    async def start(self) -> None:
        """Connect and begin handling events; returns once running."""
        ...

    async def stop(self) -> None:
        """Stop taking events and close connections; in-flight work may finish."""
        ...
