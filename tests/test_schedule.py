"""Schedule arithmetic: due times, date keys, DST, catch-up, arXiv's calendar.

Pure functions with instants handed in: no clock is read and nothing sleeps.
The APScheduler triggers are checked by calling them the way APScheduler does
(``get_next_fire_time(previous, now)``), which is all it ever asks of them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.digest.schedule import (
    announcements,
    catch_up,
    due_at,
    harvest_decision,
    last_announcement,
    latest_occurrence,
    next_occurrence,
    parse_hhmm,
    quiet_reason,
    run_key,
    run_key_day,
)
from bot.digest.triggers import DailyTrigger, LeadTrigger
from bot.service.edits import next_run

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # half-hour DST shifts


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- one due instant per local date -----------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "at", "expected_utc", "local_wall"),
    [
        # Ordinary days.
        (BERLIN, date(2026, 6, 18), time(9, 0), utc(2026, 6, 18, 7, 0), "09:00"),
        (SHANGHAI, date(2026, 6, 18), time(9, 0), utc(2026, 6, 18, 1, 0), "09:00"),
        # Spring forward: 02:30 does not exist; it runs at the jump (03:00), once.
        (NEW_YORK, date(2026, 3, 8), time(2, 30), utc(2026, 3, 8, 7, 0), "03:00"),
        (BERLIN, date(2026, 3, 29), time(2, 30), utc(2026, 3, 29, 1, 0), "03:00"),
        (BERLIN, date(2026, 3, 29), time(2, 0), utc(2026, 3, 29, 1, 0), "03:00"),
        (BERLIN, date(2026, 3, 29), time(3, 0), utc(2026, 3, 29, 1, 0), "03:00"),
        # Lord Howe springs 02:00 -> 02:30: 02:15 runs at 02:30.
        (LORD_HOWE, date(2026, 10, 4), time(2, 15), utc(2026, 10, 3, 15, 30), "02:30"),
        # Fall back: 01:30 New York and 02:30 Berlin happen twice; the first counts.
        (NEW_YORK, date(2026, 11, 1), time(1, 30), utc(2026, 11, 1, 5, 30), "01:30"),
        (BERLIN, date(2026, 10, 25), time(2, 30), utc(2026, 10, 25, 0, 30), "02:30"),
        # Lord Howe falls 02:00 -> 01:30: 01:45 happens twice; the first (+11:00) counts.
        (LORD_HOWE, date(2026, 4, 5), time(1, 45), utc(2026, 4, 4, 14, 45), "01:45"),
    ],
)
def test_due_at_handles_gaps_and_overlaps(
    zone: ZoneInfo, day: date, at: time, expected_utc: datetime, local_wall: str
) -> None:
    got = due_at(day, at, zone)
    assert got == expected_utc
    assert got.tzinfo is UTC
    assert f"{got.astimezone(zone):%H:%M}" == local_wall


TRANSITIONS = [
    (NEW_YORK, date(2026, 3, 8)),
    (NEW_YORK, date(2026, 11, 1)),
    (BERLIN, date(2026, 3, 29)),
    (BERLIN, date(2026, 10, 25)),
    (LORD_HOWE, date(2026, 4, 5)),
    (LORD_HOWE, date(2026, 10, 4)),
    (SHANGHAI, date(2026, 3, 8)),  # no DST: the control
]


@pytest.mark.parametrize(("zone", "transition"), TRANSITIONS, ids=lambda v: str(v))
def test_every_wall_time_fires_once_per_day_across_a_transition(
    zone: ZoneInfo, transition: date
) -> None:
    """For every quarter hour of the day: walking the trigger as APScheduler
    does from three days before a DST change to three days after yields each
    local date exactly once, in order: no day skipped, none doubled."""
    for minutes in range(0, 24 * 60, 15):
        at = time(minutes // 60, minutes % 60)
        trigger = DailyTrigger(at, zone)
        start = datetime.combine(transition - timedelta(days=3), time(0), tzinfo=zone)
        fire = trigger.get_next_fire_time(None, start.astimezone(UTC) - timedelta(seconds=1))
        days = []
        while fire is not None and len(days) < 7:
            assert fire.tzinfo is UTC
            days.append(latest_occurrence(at, zone, fire).day)
            nxt = trigger.get_next_fire_time(fire, fire)
            assert nxt is not None and nxt > fire
            # Never less than 22.5 h apart (a day minus the largest DST shift, plus
            # a gap's delay at most) and never more than 25.5 h.
            assert timedelta(hours=22) <= nxt - fire <= timedelta(hours=26), (at, fire, nxt)
            fire = nxt
        first = transition - timedelta(days=3)
        assert days == [first + timedelta(days=i) for i in range(7)], at


def test_next_and_latest_occurrence_bracket_now() -> None:
    at = time(9, 0)
    now = utc(2026, 6, 18, 7, 0)  # exactly 09:00 Berlin
    assert latest_occurrence(at, BERLIN, now).at == now  # at or before
    assert next_occurrence(at, BERLIN, now).at == utc(2026, 6, 19, 7, 0)  # strictly after
    just_before = now - timedelta(microseconds=1)
    assert next_occurrence(at, BERLIN, just_before).at == now
    assert latest_occurrence(at, BERLIN, just_before).day == date(2026, 6, 17)


def test_date_key_is_the_channels_local_date() -> None:
    # 07:00 in Shanghai is 23:00 UTC the evening before: the key names the local day.
    occ = next_occurrence(time(7, 0), SHANGHAI, utc(2026, 6, 17, 22, 0))
    assert occ.at == utc(2026, 6, 17, 23, 0)
    assert occ.run_key == "schedule:2026-06-18"
    assert run_key(date(2026, 6, 18)) == "schedule:2026-06-18"
    assert run_key_day("schedule:2026-06-18") == date(2026, 6, 18)
    assert run_key_day("manual-20260618T0700-ab12cd34") is None
    assert run_key_day("schedule:not-a-date") is None


def test_parse_hhmm() -> None:
    assert parse_hhmm("09:05") == time(9, 5)
    for bad in ("9:05", "09:5", "0905", "ab:cd", "24:00", "", "09:05:00"):
        with pytest.raises(ValueError):
            parse_hhmm(bad)


def test_the_schedule_reply_announces_what_the_scheduler_will_do() -> None:
    # /radar schedule 02:30 America/New_York on the eve of spring forward.
    shown = next_run("02:30", "America/New_York", utc(2026, 3, 7, 12, 0))
    assert f"{shown:%Y-%m-%d %H:%M %Z}" == "2026-03-08 03:00 EDT"
    shown = next_run("02:30", "America/New_York", utc(2026, 3, 8, 8, 0))
    assert f"{shown:%Y-%m-%d %H:%M %Z}" == "2026-03-09 02:30 EDT"


# -- catch-up on start ---------------------------------------------------------------------


def test_catch_up_posts_within_grace_and_skips_older() -> None:
    at, grace = time(9, 0), timedelta(hours=6)
    due = utc(2026, 6, 18, 7, 0)  # 09:00 Berlin
    within = catch_up(at, BERLIN, due + timedelta(hours=5, minutes=59), grace)
    assert within.post and within.occurrence.run_key == "schedule:2026-06-18"
    assert within.late == timedelta(hours=5, minutes=59)
    edge = catch_up(at, BERLIN, due + grace, grace)
    assert edge.post  # the grace period is inclusive
    late = catch_up(at, BERLIN, due + grace + timedelta(seconds=1), grace)
    assert not late.post and late.occurrence.run_key == "schedule:2026-06-18"
    # Started the next morning before 09:00: yesterday's is 23 h late, skipped.
    next_morning = catch_up(at, BERLIN, utc(2026, 6, 19, 6, 0), grace)
    assert not next_morning.post and next_morning.occurrence.day == date(2026, 6, 18)
    # Zero grace: only a start at the very instant counts.
    assert catch_up(at, BERLIN, due, timedelta(0)).post
    assert not catch_up(at, BERLIN, due + timedelta(seconds=1), timedelta(0)).post


def test_catch_up_across_a_dst_gap_uses_the_shifted_instant() -> None:
    # 02:30 New York on spring-forward day ran at 03:00 EDT (07:00 UTC).
    decision = catch_up(time(2, 30), NEW_YORK, utc(2026, 3, 8, 8, 0), timedelta(hours=6))
    assert decision.post and decision.late == timedelta(hours=1)
    assert decision.occurrence.run_key == "schedule:2026-03-08"


# -- arXiv's calendar, harvest timing and quiet days ------------------------------------------


def test_arxiv_announces_sunday_to_thursday_evenings_eastern() -> None:
    week = announcements(utc(2026, 6, 14, 0, 0), utc(2026, 6, 21, 0, 0))  # Sun 14 .. Sat 20
    assert [a.astimezone(NEW_YORK).strftime("%a %H:%M") for a in week] == [
        "Sun 20:00",
        "Mon 20:00",
        "Tue 20:00",
        "Wed 20:00",
        "Thu 20:00",
    ]
    assert all(a.tzinfo is UTC for a in week)
    # In winter 20:00 Eastern is 01:00 UTC the next day (Monday's: Tuesday 01:00).
    assert announcements(utc(2026, 11, 30, 2, 0), utc(2026, 12, 1, 12, 0)) == [
        utc(2026, 12, 1, 1, 0)
    ]
    # Friday and Saturday nights have none.
    assert announcements(utc(2026, 11, 27, 3, 0), utc(2026, 11, 29, 3, 0)) == []
    assert last_announcement(utc(2026, 6, 20, 12, 0)) == utc(2026, 6, 19, 0, 0)  # Thu 20:00 EDT


def test_harvest_decision_follows_the_announcements() -> None:
    thursday_night = utc(2026, 6, 19, 0, 0)  # Thu 20:00 EDT
    saturday_nine = utc(2026, 6, 20, 7, 0)
    # Never harvested: go.
    assert harvest_decision(saturday_nine, None) == "force"
    # A pass well after Thursday's announcement: nothing new can exist on Saturday.
    assert harvest_decision(saturday_nine, thursday_night + timedelta(hours=3)) == "skip"
    # A pass just before the announcement is not "fresh" for what it lacks.
    assert harvest_decision(thursday_night + timedelta(minutes=30), thursday_night) == "normal"
    assert (
        harvest_decision(thursday_night + timedelta(minutes=30), thursday_night - timedelta(1))
        == "force"
    )
    # Within the settling time after an announcement the harvester's freshness decides.
    assert harvest_decision(thursday_night + timedelta(hours=1), thursday_night) == "normal"


def test_quiet_day_notes_say_why() -> None:
    saturday = utc(2026, 6, 20, 7, 0)
    note = quiet_reason(saturday - timedelta(days=1), saturday, new_papers=0)
    assert "no announcement" in note and "Friday and Saturday" in note
    tuesday = utc(2026, 6, 16, 7, 0)  # Monday night was an announcement
    assert "a holiday" in quiet_reason(tuesday - timedelta(days=1), tuesday, new_papers=0)
    assert "matches it" in quiet_reason(tuesday - timedelta(days=1), tuesday, new_papers=300)
    assert "\n" not in note


def test_lead_trigger_fires_once_ahead_of_each_distinct_due_time() -> None:
    lead = timedelta(minutes=15)
    trigger = LeadTrigger([(time(9, 0), BERLIN), (time(9, 0), BERLIN), (time(8, 0), UTC)], lead)
    now = utc(2026, 6, 18, 0, 0)
    first = trigger.get_next_fire_time(None, now)
    assert first == utc(2026, 6, 18, 6, 45)  # 08:45 Berlin, ahead of its 09:00
    second = trigger.get_next_fire_time(first, first)
    assert second == utc(2026, 6, 18, 7, 45)  # ahead of 08:00 UTC
    assert trigger.get_next_fire_time(second, second) == utc(2026, 6, 19, 6, 45)
    assert LeadTrigger([], lead).get_next_fire_time(None, now) is None
