"""What `paper-radar run` needs from a platform adapter (Slack, Discord).

An adapter translates each platform event into one call of the front door
(``bot.dispatch.Dispatcher``) and posts what comes back through the one
delivery path (``bot.digest.deliver``) with a ``Replier`` for that event; its
renderers draw each message. The runner starts and stops it, and the
scheduler delivers digests through its ``poster``, so scheduled and typed
digests share one path.
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
