"""When the scheduler's alarms ring: channels' effective schedules, the
APScheduler triggers built from them, and the ids of the jobs they drive.

The instants themselves come from :mod:`bot.digest.schedule` (the
daylight-saving-safe arithmetic, pure functions of ``now``); this module only
adapts them to APScheduler's trigger interface and names the jobs, so the
scheduler and a restarted process derive the same job set from the database.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger

from bot.core.channel import ChannelRef
from bot.digest.schedule import effective_time, next_occurrence, parse_hhmm
from bot.store.records import ScheduleRow

log = logging.getLogger(__name__)

JOB_PREFIX = "digest:"
HARVEST_JOB = "harvest"
RESYNC_JOB = "resync"


def job_id(channel_id: int) -> str:
    """The id of a channel's daily digest job (one per channel, whatever its time)."""
    return f"{JOB_PREFIX}{channel_id}"


@dataclass(frozen=True)
class ChannelSchedule:
    """A channel's effective schedule: its own, or ``schedule.default_time``."""

    channel_id: int
    ref: ChannelRef
    at: time
    zone: ZoneInfo

    @property
    def key(self) -> str:
        """``"09:00 Europe/Berlin"``: what a job was made for, compared at fire time."""
        return f"{self.at:%H:%M} {self.zone.key}"


def effective(row: ScheduleRow, default_time: str, default_zone: str) -> ChannelSchedule | None:
    """The schedule a stored row means; None when off or unusable."""
    text = effective_time(row.time, row.tz, default_time)
    if not text:
        return None
    try:
        return ChannelSchedule(
            row.channel_id, row.ref, parse_hhmm(text), ZoneInfo(row.tz or default_zone)
        )
    except (ValueError, ZoneInfoNotFoundError):
        log.warning(
            "event=schedule.invalid channel=%d time=%r zone=%r", row.channel_id, row.time, row.tz
        )
        return None


class DailyTrigger(BaseTrigger):
    """Fires once per local date at wall time ``at`` in ``zone`` (see
    ``bot.digest.schedule.due_at``: DST gaps run at the jump, overlaps once).

    APScheduler's own cron trigger is not used because its handling of
    nonexistent and repeated wall times differs between versions; this one is
    the tested arithmetic the catch-up and the ``/radar schedule`` reply use.
    """

    def __init__(self, at: time, zone: ZoneInfo) -> None:
        self.at, self.zone = at, zone

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        after = previous_fire_time or now
        return next_occurrence(self.at, self.zone, after).at

    def __str__(self) -> str:
        return f"daily at {self.at:%H:%M} {self.zone.key}"


class LeadTrigger(BaseTrigger):
    """Fires ``lead`` before each distinct due time of the given schedules."""

    def __init__(self, times: Sequence[tuple[time, ZoneInfo]], lead: timedelta) -> None:
        self.times, self.lead = tuple(times), lead

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        after = previous_fire_time or now
        fires = [
            next_occurrence(at, zone, after + self.lead).at - self.lead for at, zone in self.times
        ]
        return min(fires, default=None)

    def __str__(self) -> str:
        return f"{self.lead} ahead of {len(self.times)} due times"
