"""The one place the bot asks "what time is it?".

"New papers", the 30-day pool, schedules and catch-up all read a ``Clock`` so
tests can set time, and the offline demo can pin it to the announcement date of
its bundled captures (so "new" means the same on old data as on today's).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that reads ``at`` until told otherwise; for tests and the demo."""

    at: datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self.at = self.at.astimezone(UTC)

    def now(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at.astimezone(UTC)
