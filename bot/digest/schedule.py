"""Schedule arithmetic for daily digests: pure functions of an injected ``now``.

Nothing here reads a clock, the database or the network, so every rule the
scheduler follows (when a digest is due, which day it belongs to, whether a
missed one is still worth posting, whether arXiv can have anything new) is
tested by handing in instants, never by sleeping.

Local wall times and daylight saving:

- a digest belongs to one *local date* in the channel's zone, and its run key
  (``schedule:2026-06-18``) names that date, so a claim in the database means
  "this channel's digest for that day", whatever instant it actually ran at;
- a wall time that does not exist that day (02:30 when clocks spring from
  02:00 to 03:00) runs once, at the first instant that does (03:00);
- a wall time that happens twice (01:30 when clocks fall back) runs once, at
  the first of the two (``fold=0``).

Every local date therefore has exactly one due instant, and consecutive dates
have increasing ones: daylight-saving changes neither skip nor double a day.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

RUN_KEY_PREFIX = "schedule:"

#: arXiv announces new submissions at 20:00 US Eastern, Sunday to Thursday.
ARXIV_ZONE = ZoneInfo("America/New_York")
ARXIV_ANNOUNCE_AT = time(20, 0)
ARXIV_ANNOUNCE_WEEKDAYS = frozenset({6, 0, 1, 2, 3})  # date.weekday(): Mon=0 .. Sun=6
#: A pass this long after an announcement is taken to hold it: the API can
#: lag the mailing, so a pass just after 20:00 does not count as complete.
ANNOUNCE_SETTLE = timedelta(hours=2)


@dataclass(frozen=True)
class Occurrence:
    """One scheduled digest: the channel-local ``day`` it is for, due ``at`` (UTC)."""

    day: date
    at: datetime

    @property
    def run_key(self) -> str:
        return run_key(self.day)


def run_key(day: date) -> str:
    """The claim key of a channel's scheduled digest for ``day``."""
    return f"{RUN_KEY_PREFIX}{day.isoformat()}"


def run_key_day(key: str) -> date | None:
    """The local date a scheduled run key names; None for other (manual) keys."""
    if not key.startswith(RUN_KEY_PREFIX):
        return None
    try:
        return date.fromisoformat(key[len(RUN_KEY_PREFIX) :])
    except ValueError:
        return None


def effective_time(own: str | None, own_zone: str | None, default_time: str) -> str:
    """A channel's digest time, "HH:MM", or "" when it gets none: its own, else
    the server's ``schedule.default_time`` while it has never set one (a
    channel that turned its digest off keeps its zone, so it stays off)."""
    return own or (default_time if own_zone is None else "")


def parse_hhmm(text: str) -> time:
    """``"09:05"`` -> ``time(9, 5)``; raises ValueError on anything else."""
    hh, sep, mm = text.partition(":")
    if not sep or len(hh) != 2 or len(mm) != 2 or not (hh + mm).isdigit():
        raise ValueError(f"not an HH:MM time: {text!r}")
    return time(int(hh), int(mm))


def due_at(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant the digest for local ``day`` at wall time ``at`` is due.

    An ambiguous wall time resolves to its first occurrence; a nonexistent one
    to the first instant after the gap (the moment the clocks jumped).
    """
    wall = datetime.combine(day, at, tzinfo=zone)  # fold=0: the earlier reading
    utc = wall.astimezone(UTC)
    if _wall(utc.astimezone(zone)) == _wall(wall):
        return utc
    # In a gap: fold=0 and fold=1 map the missing wall time to either side of
    # the transition; the first instant whose wall clock reads at least the
    # requested time is the transition itself. Transitions fall on whole
    # seconds, so a binary search over seconds finds it exactly.
    a, b = utc, wall.replace(fold=1).astimezone(UTC)
    lo, hi = min(a, b), max(a, b)  # local(lo) < wall <= local(hi)
    while hi - lo > timedelta(seconds=1):
        mid = lo + timedelta(seconds=(hi - lo).total_seconds() // 2)
        if _wall(mid.astimezone(zone)) >= _wall(wall):
            hi = mid
        else:
            lo = mid
    return hi


def _wall(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None, fold=0)


def occurrence(day: date, at: time, zone: ZoneInfo) -> Occurrence:
    return Occurrence(day, due_at(day, at, zone))


def _around(now: datetime, zone: ZoneInfo, back: int, ahead: int) -> Iterator[date]:
    today = now.astimezone(zone).date()
    for offset in range(-back, ahead + 1):
        yield today + timedelta(days=offset)


def next_occurrence(at: time, zone: ZoneInfo, after: datetime) -> Occurrence:
    """The first occurrence due strictly after ``after``."""
    for day in _around(after, zone, 1, 3):
        occ = occurrence(day, at, zone)
        if occ.at > after:
            return occ
    raise AssertionError("no occurrence within three days")  # pragma: no cover


def latest_occurrence(at: time, zone: ZoneInfo, now: datetime) -> Occurrence:
    """The last occurrence due at or before ``now``."""
    for day in reversed(list(_around(now, zone, 3, 1))):
        occ = occurrence(day, at, zone)
        if occ.at <= now:
            return occ
    raise AssertionError("no occurrence within three days")  # pragma: no cover


@dataclass(frozen=True)
class CatchUp:
    """What to do on start about the latest occurrence before ``now``."""

    occurrence: Occurrence
    post: bool  # True: still within grace, post it (the claim makes it once)
    late: timedelta


def catch_up(at: time, zone: ZoneInfo, now: datetime, grace: timedelta) -> CatchUp:
    """Whether the most recent digest (which a stopped bot may have missed) is
    still worth posting: within ``grace`` of its due time it is, later it is
    skipped (and logged by the caller), because a morning digest arriving in
    the evening is noise, and the next day's digest carries its papers."""
    occ = latest_occurrence(at, zone, now)
    late = now - occ.at
    return CatchUp(occ, late <= grace, late)


# -- arXiv's announcement calendar ---------------------------------------------------


def announcements(start: datetime, end: datetime) -> list[datetime]:
    """arXiv's announcement instants in ``(start, end]`` (UTC), by its weekly calendar.

    Holidays are not in the calendar (arXiv publishes them yearly); a holiday
    shows up as an announcement that brought nothing new.
    """
    out = []
    day = start.astimezone(ARXIV_ZONE).date()
    last = end.astimezone(ARXIV_ZONE).date()
    while day <= last:
        if day.weekday() in ARXIV_ANNOUNCE_WEEKDAYS:
            moment = due_at(day, ARXIV_ANNOUNCE_AT, ARXIV_ZONE)
            if start < moment <= end:
                out.append(moment)
        day += timedelta(days=1)
    return out


def last_announcement(now: datetime) -> datetime:
    """arXiv's most recent announcement at or before ``now``."""
    found = announcements(now - timedelta(days=7), now)
    assert found, "arXiv announces five days a week"
    return found[-1]


def harvest_decision(now: datetime, last_pass: datetime | None) -> str:
    """Whether a harvest ahead of a digest at ``now`` can bring anything new.

    - ``"skip"``: the last pass finished well after arXiv's latest announcement,
      so asking again returns the same papers (weekends, and every digest
      window after the first one of the day): no upstream request at all;
    - ``"force"``: the last pass predates the latest announcement, so even a
      "fresh" pass (``harvest.fresh_minutes``) lacks tonight's papers;
    - ``"normal"``: a pass since the announcement exists but the API may still
      be catching up; the harvester's freshness rule decides.
    """
    if last_pass is None:
        return "force"
    announced = last_announcement(now)
    if last_pass < announced:
        return "force"
    if last_pass >= announced + ANNOUNCE_SETTLE:
        return "skip"
    return "normal"


def quiet_reason(since: datetime, now: datetime, new_papers: int) -> str:
    """The one-line note for a digest with nothing new, saying why.

    ``since`` is the channel's previous digest time; ``new_papers`` how many
    papers the store first saw in ``(since, now]`` (from any radar's harvest).
    """
    if not announcements(since, now):
        return (
            "No new papers today: arXiv made no announcement since the last digest "
            "(it announces Sunday to Thursday evenings, US Eastern; none on Friday "
            "and Saturday nights)."
        )
    if new_papers == 0:
        return (
            "No new papers today: arXiv announced nothing new since the last digest "
            "(a holiday, or a late announcement)."
        )
    return "No new papers on this radar today: nothing announced since the last digest matches it."
