"""Neutral descriptions of a channel: who it is, and what its radar holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.core.chips import Chip


@dataclass(frozen=True)
class ChannelRef:
    """Where a command came from.

    ``workspace`` is the Slack team id or the Discord guild id (``console`` for
    the terminal); a channel id alone is never enough to find a radar.
    """

    platform: str
    workspace: str
    channel: str
    name: str = ""

    def __post_init__(self) -> None:
        for part in (self.platform, self.workspace, self.channel):
            if not part or len(part) > 128:
                raise ValueError("a channel needs a platform, workspace and channel id")


@dataclass(frozen=True)
class ChannelState:
    """A channel's radar as stored: chips in the order they were added."""

    id: int
    ref: ChannelRef
    chips: tuple[tuple[int, Chip], ...] = ()
    digest_cap: int = 10
    schedule_time: str | None = None
    schedule_tz: str | None = None
    brief_cadence: str | None = None
    last_shuffle: tuple[str, ...] = ()
    last_digest_at: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def chip_list(self) -> list[Chip]:
        return [chip for _, chip in self.chips]
