"""Plain values the store hands out: no ORM object ever leaves ``bot.store``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.core.channel import ChannelRef


@dataclass(frozen=True)
class OutboxState:
    status: str  # "sending" | "sent"
    message_ref: str | None
    created_at: datetime


@dataclass(frozen=True)
class RunInfo:
    id: int
    channel_id: int
    run_key: str
    trigger: str
    status: str
    planned: tuple[str, ...]
    more: int
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class CachedText:
    """A cached language-model result (see ``models.LlmResult``)."""

    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class StoredText:
    """A paper's stored full text, or the record that it has none (``status`` missing)."""

    status: str  # "ok" | "missing"
    source: str  # "html" | "pdf" | ""
    url: str
    text: str
    fetched_at: datetime


@dataclass(frozen=True)
class Turn:
    """One earlier message in a card's thread: ``role`` is "user" or "bot"."""

    role: str
    text: str


@dataclass(frozen=True)
class ScheduleRow:
    """A channel's stored schedule (``None`` parts: unset), for the scheduler."""

    channel_id: int
    ref: ChannelRef
    time: str | None
    tz: str | None
