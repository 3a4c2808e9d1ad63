"""The scheduler in-process: its job set follows the database, due digests are
claimed once and delivered through the outbox, restarts resume and catch up.

The real app (``bot.app.build``) on a SQLite file (or the run's PostgreSQL),
arXiv replayed from a captured real feed, a pinned clock, real APScheduler
objects; only the platform is a recording fake (``ChannelLog``), which keeps
a channel's history so ``find`` can reconcile like Slack's
``conversations.history`` does. Nothing sleeps to wait for a schedule: time is
handed in, and a job is made due by moving its next run time to now.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import App, build
from bot.clock import FixedClock
from bot.config import Config, ScheduleSettings
from bot.core.channel import ChannelRef
from bot.core.chips import Chip, ChipKind
from bot.core.matching.picks import MatchBuilder
from bot.core.matching.radar import Match
from bot.core.outgoing import Outgoing
from bot.core.paper import Paper
from bot.digest.runner import Due
from bot.digest.schedule import latest_occurrence, next_occurrence
from bot.digest.triggers import HARVEST_JOB, RESYNC_JOB, effective, job_id
from bot.scheduler import DigestScheduler
from bot.sources.arxiv import ArxivSource
from bot.sources.http import Throttle
from bot.sources.replay import AtomPager, ReplayServer
from bot.store import models as m
from tests.flowkit import CAPTURE, is_harvest

#: Thursday 2026-04-30 18:00 UTC (14:00 US Eastern): the capture's 20 papers are new.
NOW = datetime(2026, 4, 30, 18, 0, tzinfo=UTC)
LG = Chip(ChipKind.CATEGORY, "cs.LG")
CL = Chip(ChipKind.CATEGORY, "cs.CL")
NOBODY = Chip(ChipKind.AUTHOR, "Zebulon Quackenbush")


class ChannelLog:
    """A fake platform: what each channel shows, and a poster over it.

    ``lose_reply_after`` posts the N-th message and then raises, like a
    connection dropped after Slack stored the message; ``gate`` holds every
    send until set (to catch a delivery mid-way).
    """

    def __init__(self) -> None:
        self.messages: dict[str, list[tuple[str, str]]] = {}  # channel -> (marker, text)
        self.sends = 0
        self.lose_reply_after: int | None = None
        self.delay = 0.0
        self.gate: asyncio.Event | None = None
        #: (channel, card title) -> the card's reason line
        self.reasons: dict[tuple[str, str], str | None] = {}

    async def send(self, ref: ChannelRef, out: Outgoing, thread: str | None = None) -> str:
        if self.gate is not None:
            await self.gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        self.sends += 1
        history = self.messages.setdefault(ref.channel, [])
        history.append((out.marker, out.card.title if out.card else out.reply.title))
        if out.card is not None:
            self.reasons[ref.channel, out.card.title] = out.card.reason
        if self.lose_reply_after is not None and self.sends >= self.lose_reply_after:
            self.lose_reply_after = None
            raise ConnectionResetError("connection reset after the post")
        return f"{ref.channel}:{len(history)}"

    async def find(self, ref: ChannelRef, marker: str, since: datetime) -> str | None:
        for i, (have, _) in enumerate(self.messages.get(ref.channel, []), start=1):
            if have == marker:
                return f"{ref.channel}:{i}"
        return None

    def markers(self, channel: str) -> list[str]:
        return [marker for marker, _ in self.messages.get(channel, [])]

    def all_markers(self) -> list[tuple[str, str]]:
        return [(ch, mk) for ch, msgs in self.messages.items() for mk, _ in msgs]


def config_for(db_url: str, api_url: str, **schedule: Any) -> Config:
    base = Config().with_db(db_url)
    return replace(
        base,
        arxiv=replace(base.arxiv, api_url=api_url, delay_seconds=0.0, backoff_seconds=0.0),
        schedule=replace(ScheduleSettings(), **schedule),
    )


@contextmanager
def server() -> Iterator[ReplayServer]:
    with ReplayServer(default=AtomPager(CAPTURE)) as srv:
        yield srv


def make_app(db_url: str, srv: ReplayServer, now: datetime = NOW, **schedule: Any) -> App:
    config = config_for(db_url, srv.url + "/api/query", **schedule)
    source = ArxivSource(config.arxiv, throttle=Throttle(0.0))
    return build(config, clock=FixedClock(now), source=source, rng=random.Random(1))


def channel(
    app: App,
    name: str,
    at: str | None,
    tz: str | None = "UTC",
    chips: tuple[Chip, ...] = (LG,),
    platform: str = "slack",
) -> int:
    state = app.store.channel(ChannelRef(platform, "T1", name, name))
    for chip in chips:
        app.store.add_chip(state.id, chip)
    if at is not None or tz is not None:
        app.store.set_schedule(state.id, at, tz)
    return state.id


def scheduler(app: App, log: ChannelLog, **options: Any) -> DigestScheduler:
    options.setdefault("batch_seconds", 0.01)
    options.setdefault("drain_seconds", 5.0)
    return DigestScheduler(app, {"slack": log}, **options)


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))  # type: ignore[arg-type]


async def boot(app: App, log: ChannelLog, **options: Any) -> None:
    """One process lifetime: start (resume, catch up), let the start-up work
    finish, stop."""
    s = scheduler(app, log, **options)
    await s.start()
    await s.started.wait()
    await s.stop()


async def until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.01)
    return value


def digest_jobs(s: DigestScheduler) -> dict[str, str]:
    assert s.aps is not None
    return {j.id: str(j.trigger) for j in s.aps.get_jobs() if j.id.startswith("digest:")}


def runs(app: App) -> list[tuple[int, str, str, int]]:
    with app.store.engine.connect() as conn:
        rows = conn.execute(
            select(m.DigestRun.channel_id, m.DigestRun.run_key, m.DigestRun.status)
            .add_columns(m.DigestRun.id)
            .order_by(m.DigestRun.id)
        ).all()
    return [(cid, key, status, rid) for cid, key, status, rid in rows]


def outbox(app: App) -> list[tuple[str, str]]:
    with app.store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(m.Post.marker, m.Post.status)).all()]  # type: ignore[misc]


def expected_markers(app: App, run_id: int) -> list[str]:
    run_ = app.store.run(run_id)
    return (
        [f"r{run_id}:header"]
        + [f"r{run_id}:card:{k}" for k in run_.planned]
        + ([f"r{run_id}:footer"] if run_.more else [])
    )


# -- the job set follows the database --------------------------------------------------------


def test_jobs_are_derived_from_the_database_and_follow_schedule_changes(sqlite_url: str) -> None:
    with server() as srv:
        app = make_app(sqlite_url, srv)
        berlin = channel(app, "berlin", "09:00", "Europe/Berlin")
        shanghai = channel(app, "shanghai", "07:00", "Asia/Shanghai")
        unscheduled = channel(app, "none", None, None)
        channel(app, "guild", "09:00", "UTC", platform="discord")  # no Discord here
        log = ChannelLog()

        async def scenario() -> None:
            s = scheduler(app, log)
            await s.start()
            try:
                await s.started.wait()
                assert digest_jobs(s) == {
                    job_id(berlin): "daily at 09:00 Europe/Berlin",
                    job_id(shanghai): "daily at 07:00 Asia/Shanghai",
                }
                assert s.aps is not None
                job = s.aps.get_job(job_id(berlin))
                # APScheduler keeps real time: the job's next fire is the next 09:00 Berlin.
                assert (
                    job.next_run_time
                    == next_occurrence(time(9, 0), ZoneInfo("Europe/Berlin"), datetime.now(UTC)).at
                )
                assert {j.id for j in s.aps.get_jobs()} >= {HARVEST_JOB, RESYNC_JOB}

                # A schedule command in this process: the job moves at once (the hook).
                ref = ChannelRef("slack", "T1", "berlin", "berlin")
                reply = app.service.handle(ref, "/radar schedule 10:30 America/New_York")
                assert reply.title == "Daily digest at 10:30 America/New_York."
                await until(
                    lambda: digest_jobs(s).get(job_id(berlin)) == "daily at 10:30 America/New_York"
                )
                app.service.handle(ChannelRef("slack", "T1", "shanghai"), "/radar schedule off")
                await until(lambda: job_id(shanghai) not in digest_jobs(s))

                # Another process changed the database: the poll picks it up.
                app.store.set_schedule(unscheduled, "08:00", "UTC")
                assert job_id(unscheduled) not in digest_jobs(s)
                await s.resync()
                assert digest_jobs(s)[job_id(unscheduled)] == "daily at 08:00 UTC"
                # The harvest job now fires ahead of the earliest due time.
                harvest = s.aps.get_job(HARVEST_JOB)
                lead, now = timedelta(minutes=15), datetime.now(UTC)
                assert harvest.next_run_time == min(
                    next_occurrence(at, zone, now + lead).at - lead
                    for at, zone in [(time(10, 30), ZoneInfo("America/New_York")), (time(8), UTC)]
                )
            finally:
                await s.stop()

            # A restart builds the same ids, once each.
            again = scheduler(app, log)
            await again.start()
            try:
                assert sorted(digest_jobs(again)) == sorted([job_id(berlin), job_id(unscheduled)])
                assert again.aps is not None
                ids = [j.id for j in again.aps.get_jobs()]
                assert len(ids) == len(set(ids)) == 4
            finally:
                await again.stop()

        run(scenario())
        assert log.all_markers() == []  # every due time was > 6 h ago or ahead
        app.close()


def test_default_time_applies_to_channels_that_never_chose(sqlite_url: str) -> None:
    with server() as srv:
        app = make_app(sqlite_url, srv, default_time="06:30")
        never = channel(app, "never", None, None)
        no_chips = channel(app, "empty", None, None, chips=())
        opted_out = channel(app, "off", "09:00", "Europe/Paris")
        app.service.handle(ChannelRef("slack", "T1", "off"), "/radar schedule off")
        state = app.store.channel_by_id(opted_out)
        assert (state.schedule_time, state.schedule_tz) == (None, "Europe/Paris")

        assert run(started_jobs(app)) == {job_id(never): "daily at 06:30 UTC"}
        assert no_chips not in (never, opted_out)
        app.close()


async def started_jobs(app: App) -> dict[str, str]:
    """The digest jobs a scheduler holds right after it starts."""
    s = scheduler(app, ChannelLog())
    await s.start()
    jobs = digest_jobs(s)
    await s.stop()
    return jobs


def test_a_radar_of_like_chips_alone_gets_the_default_time(sqlite_url: str) -> None:
    with server() as srv:
        app = make_app(sqlite_url, srv, default_time="06:30")
        liked = channel(app, "liked", None, None, chips=(Chip(ChipKind.LIKE, "arxiv:2604.26951"),))

        assert run(started_jobs(app)) == {job_id(liked): "daily at 06:30 UTC"}
        app.close()


# -- due digests: claimed once, delivered once -------------------------------------------------


def test_a_due_job_claims_and_delivers_through_apscheduler(sqlite_url: str) -> None:
    with server() as srv:
        app = make_app(sqlite_url, srv, now=NOW + timedelta(seconds=30))
        a = channel(app, "a", None, None)
        b = channel(app, "b", None, None, chips=(CL,))
        log = ChannelLog()

        async def scenario() -> None:
            s = scheduler(app, log)
            await s.start()
            try:
                await s.started.wait()
                for name in ("a", "b"):  # set after start: no catch-up, only the jobs
                    app.service.handle(ChannelRef("slack", "T1", name), "/radar schedule 18:00")
                await until(lambda: len(digest_jobs(s)) == 2)
                assert log.all_markers() == []
                assert s.aps is not None
                for cid in (a, b):  # it is 18:00:30 on the pinned clock: make them due now
                    s.aps.modify_job(job_id(cid), next_run_time=datetime.now(UTC))
                await until(lambda: [r[2] for r in runs(app)] == ["done", "done"])
            finally:
                await s.stop()

        run(scenario())
        done = runs(app)
        assert {(cid, key) for cid, key, _, _ in done} == {
            (a, "schedule:2026-04-30"),
            (b, "schedule:2026-04-30"),
        }
        for cid, _, _, rid in done:
            name = "a" if cid == a else "b"
            assert log.markers(name) == expected_markers(app, rid)
        # Both channels were due together: one harvest pass served them.
        assert sum(1 for p in srv.params if is_harvest(p)) == 1
        app.close()


def test_a_stale_job_stands_down(sqlite_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with server() as srv:
        app = make_app(sqlite_url, srv)
        cid = channel(app, "a", "17:59", "UTC")
        log = ChannelLog()

        async def scenario() -> None:
            s = scheduler(app, log)
            await s.open()
            s.aps = None
            try:
                # A job made for 07:00 fires after the schedule moved to 17:59.
                with caplog.at_level(logging.INFO, logger="bot.scheduler"):
                    await s._on_due(cid, "07:00 UTC")
                    await until(lambda: not s._pending and s._flush and s._flush.done())
            finally:
                await s.stop()

        run(scenario())
        assert runs(app) == [] and log.all_markers() == []
        assert "event=digest.stale_job" in caplog.text
        app.close()


def test_two_schedulers_racing_for_one_day_post_it_once(db_url: str) -> None:
    """Two workers (two apps, two engines, one database) run the same due
    digests at the same moment: one claim each, one post per message."""
    with server() as srv:
        first = make_app(db_url, srv)
        ids = [channel(first, f"c{i}", "17:30", "UTC", (LG, CL)) for i in range(6)]
        second = make_app(db_url, srv)
        log = ChannelLog()
        log.delay = 0.001  # interleave the two workers' posts

        async def scenario() -> None:
            workers = [scheduler(first, log, concurrency=3), scheduler(second, log, concurrency=3)]
            for w in workers:
                await w.open()
            try:
                rows = {r.channel_id: r for r in first.store.schedules()}
                due = []
                for cid in ids:
                    eff = effective(rows[cid], "", "UTC")
                    assert eff is not None
                    due.append(Due(eff, latest_occurrence(eff.at, eff.zone, NOW)))
                results = await asyncio.gather(*(w.run_due(due) for w in workers))
                claimed = [o for outcomes in results for o in outcomes if o.run is not None]
                assert len(claimed) == len(ids)
            finally:
                for w in workers:
                    await w.stop()

        run(scenario())
        markers = log.all_markers()
        assert len(markers) == len(set(markers))
        done = runs(first)
        assert len(done) == len(ids) and {s for _, _, s, _ in done} == {"done"}
        for cid, _, _, rid in done:
            assert log.markers(f"c{ids.index(cid)}") == expected_markers(first, rid)
        first.close()
        second.close()


# -- quiet days ---------------------------------------------------------------------------------


@pytest.mark.parametrize("note", [False, True])
def test_a_day_with_nothing_new_is_claimed_and_posts_nothing_or_one_note(
    sqlite_url: str, note: bool
) -> None:
    saturday = datetime(2026, 5, 2, 12, 0, tzinfo=UTC)
    with server() as srv:
        app = make_app(sqlite_url, srv, now=saturday, quiet_days_note=note)
        cid = channel(app, "q", "11:00", "UTC", chips=(NOBODY,))
        log = ChannelLog()

        run(boot(app, log))
        assert [(c, k, st) for c, k, st, _ in runs(app)] == [
            (cid, "schedule:2026-05-02", "done" if note else "quiet")
        ]
        if note:
            [(marker, text)] = log.messages["q"]
            assert marker.endswith(":header")
            assert "no announcement" in text and "Friday and Saturday" in text
        else:
            assert log.all_markers() == []

        run(boot(app, log))  # restarted the same day: the claim stands, nothing is retried
        assert len(runs(app)) == 1 and len(log.all_markers()) == (1 if note else 0)
        app.close()


# -- restarts: catch-up, resume, graceful stop -----------------------------------------------


def test_missed_digests_are_posted_once_within_grace_and_skipped_after(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with server() as srv:
        app = make_app(sqlite_url, srv)
        recent = channel(app, "recent", "17:30", "UTC")
        older = channel(app, "older", "12:30", "Europe/London")  # 11:30 UTC, 6.5 h ago
        log = ChannelLog()

        with caplog.at_level(logging.INFO, logger="bot.scheduler"):
            run(boot(app, log))
        [(cid, key, status, rid)] = runs(app)
        assert (cid, key, status) == (recent, "schedule:2026-04-30", "done")
        assert log.markers("recent") == expected_markers(app, rid)
        assert "older" not in log.messages
        assert f"event=digest.missed channel={older} key=schedule:2026-04-30" in caplog.text
        harvests = sum(1 for p in srv.params if is_harvest(p))
        assert harvests == 1

        run(boot(app, log))  # a restart: nothing twice, no new upstream pass either
        assert len(runs(app)) == 1
        assert log.markers("recent") == expected_markers(app, rid)
        assert sum(1 for p in srv.params if is_harvest(p)) == harvests
        app.close()


def test_restart_reconciles_a_post_whose_reply_was_lost(sqlite_url: str) -> None:
    with server() as srv:
        app = make_app(sqlite_url, srv)
        channel(app, "lab", "17:45", "UTC", (LG, CL))
        log = ChannelLog()
        log.lose_reply_after = 3  # the header and a card land; the 3rd lands unacknowledged

        run(boot(app, log))
        [(_, _, status, rid)] = runs(app)
        assert status == "claimed"
        assert f"r{rid}:card" in outbox(app)[2][0] and outbox(app)[2][1] == "sending"
        assert len(log.markers("lab")) == 3

        run(boot(app, log))  # restart: resume finds the third message instead of reposting it
        assert runs(app)[0][2] == "done"
        assert log.markers("lab") == expected_markers(app, rid)
        assert {status for _, status in outbox(app)} == {"sent"}
        app.close()


def test_a_days_cards_come_from_its_plan_and_a_rebuilt_run_reads_the_same_from_the_store(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The day's run holds the papers it planned: its cards need no read of the
    store (at 10,000 channels, a tenth of the run's CPU went to those reads),
    and a channel planned without a relevance signal needs no reason lines.
    Nor does the run build a Match for its cards (delivery labels each card
    from the channel's chips): 40,000 of them alive at once made the cyclic
    collector's passes a fifth of a plan's time. A run rebuilt without the
    plan (a restart resuming it) reads the store and makes the same cards."""
    built: list[int] = []
    build_matches = MatchBuilder.build

    def counted_build(self: MatchBuilder, rows: Any, *args: Any) -> list[Match]:
        built.append(len(rows))
        return build_matches(self, rows, *args)

    monkeypatch.setattr(MatchBuilder, "build", counted_build)
    with server() as srv:
        app = make_app(sqlite_url, srv)
        channel(app, "lab", "17:45", "UTC", (LG, CL))
        log = ChannelLog()
        reads: list[list[str]] = []
        stored = app.store.papers_by_key

        def counted(keys: Sequence[str]) -> dict[str, Paper]:
            reads.append(list(keys))
            return stored(keys)

        monkeypatch.setattr(app.store, "papers_by_key", counted)
        ranker = app.service.ranker
        assert ranker is not None
        asked: list[int] = []
        reasons = ranker.reasons

        def counted_reasons(cid: int, *args: Any) -> dict[str, str | None]:
            asked.append(cid)
            return reasons(cid, *args)

        monkeypatch.setattr(ranker, "reasons", counted_reasons)
        run(boot(app, log))
        [(_, _, status, rid)] = runs(app)
        assert status == "done"
        planned = list(app.store.run(rid).planned)
        assert planned not in reads  # (the harvest reads what it stores: other keys)
        assert asked == []
        posted = [title for marker, title in log.messages["lab"] if ":card:" in marker]
        state = app.store.channel(ChannelRef("slack", "T1", "lab"))
        rebuilt = app.service.run_reply(app.store.run(rid), state)
        assert len(posted) > 3
        assert posted == [card.title for card in rebuilt.cards]
        assert reads[-1] == planned
        assert asked == [state.id] and all(card.reason is None for card in rebuilt.cards)
        assert built == []
        app.close()


def test_graceful_stop_abandons_between_posts_and_restart_finishes(sqlite_url: str) -> None:
    with server() as srv:
        app = make_app(sqlite_url, srv)
        channel(app, "lab", "17:45", "UTC", (LG, CL))
        log = ChannelLog()

        async def interrupted() -> None:
            log.delay = 0.02
            s = scheduler(app, log, drain_seconds=0.05)
            await s.start()
            await until(lambda: len(log.markers("lab")) >= 2)
            await s.stop()  # drains 50 ms, then stops between two posts

        run(interrupted())
        [(_, _, status, rid)] = runs(app)
        expected = expected_markers(app, rid)
        assert status == "claimed"
        assert 2 <= len(log.markers("lab")) < len(expected)
        assert log.markers("lab") == expected[: len(log.markers("lab"))]

        log.delay = 0.0
        run(boot(app, log))  # restart
        assert runs(app)[0][2] == "done"
        assert log.markers("lab") == expected
        app.close()


# -- harvest timing -----------------------------------------------------------------------------


def test_harvest_runs_ahead_is_shared_and_respects_announcements(sqlite_url: str) -> None:
    # Wednesday 20:05 US Eastern, five minutes after arXiv's announcement.
    just_after = datetime(2026, 4, 30, 0, 5, tzinfo=UTC)
    with server() as srv:
        app = make_app(sqlite_url, srv, now=just_after)
        # A pass at 19:58 Eastern: "fresh" by the harvester's 60 minutes, but it
        # predates the announcement, so it lacks tonight's papers.
        app.store.record_harvest(
            "arxiv", "", just_after, just_after, [], just_after - timedelta(minutes=7)
        )

        async def scenario() -> None:
            s = scheduler(app, ChannelLog())
            await s.open()
            try:
                # Five due windows at once:
                await asyncio.gather(*(s.runner.ensure_harvest() for _ in range(5)))
            finally:
                await s.stop()

        run(scenario())
        assert sum(1 for p in srv.params if is_harvest(p)) == 1  # forced, once
        assert app.store.paper_count() == 20

        # Then, at each later due window, one pass at most per announcement:
        for later, passes in (
            (just_after + timedelta(minutes=30), 1),  # settling; the fresh pass is reused
            (just_after + timedelta(hours=2, minutes=5), 2),  # settled: one more, complete
            (datetime(2026, 4, 30, 18, 0, tzinfo=UTC), 2),  # Thursday afternoon: no request
            (datetime(2026, 5, 1, 7, 0, tzinfo=UTC), 3),  # after Thursday night's announcement
            (datetime(2026, 5, 2, 7, 0, tzinfo=UTC), 3),  # none on Friday night
            (datetime(2026, 5, 3, 7, 0, tzinfo=UTC), 3),  # none on Saturday night
            (datetime(2026, 5, 4, 1, 30, tzinfo=UTC), 4),  # Sunday 21:30 Eastern: new papers
        ):
            assert isinstance(app.clock, FixedClock)
            app.clock.set(later)
            run(scenario())
            assert sum(1 for p in srv.params if is_harvest(p)) == passes, later
        app.close()


def test_a_due_digest_that_failed_to_claim_is_retried_by_the_poll(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database hiccups as digests come due: the next poll claims them,
    instead of the day being lost until a restart."""
    from sqlalchemy.exc import OperationalError

    with server() as srv:
        app = make_app(sqlite_url, srv)
        a = channel(app, "a", "17:45", "UTC")
        b = channel(app, "b", "17:45", "UTC")
        log = ChannelLog()
        real_claim = app.store.claim_runs
        failures = iter([True, False, False])

        def flaky_claim(*args: Any, **kwargs: Any) -> Any:
            if next(failures, False):
                raise OperationalError("INSERT", {}, Exception("database is locked"))
            return real_claim(*args, **kwargs)

        monkeypatch.setattr(app.store, "claim_runs", flaky_claim)

        async def scenario() -> None:
            s = scheduler(app, log, claim_batch=1)  # one claim transaction per channel
            await s.start()
            try:
                await s.started.wait()
                assert len(runs(app)) == 1  # one channel claimed, one failed
                await s.resync()  # the poll
            finally:
                await s.stop()

        run(scenario())
        assert {(cid, status) for cid, _, status, _ in runs(app)} == {(a, "done"), (b, "done")}
        for cid, _, _, rid in runs(app):
            assert log.markers("a" if cid == a else "b") == expected_markers(app, rid)
        app.close()


def test_a_channel_briefed_every_day_gets_its_briefing_after_the_scheduled_digest(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # the extractive briefing
    with server() as srv:
        app = make_app(sqlite_url, srv)
        cid = channel(app, "lab", "17:45", "UTC", (LG, CL))
        app.store.set_brief_cadence(cid, "day")
        log = ChannelLog()
        run(boot(app, log))
        run(boot(app, log))  # a restart the same day: no second briefing
        [(_, _, status, rid)] = runs(app)
        assert status == "done"
        # The briefing is delivered like any reply: its header, then one
        # message per paper it cites (today's digest cards), once each.
        digest = expected_markers(app, rid)
        cards = [m.removeprefix(f"r{rid}:card:") for m in digest if ":card:" in m]
        assert log.markers("lab") == [
            *digest,
            "brief:day:2026-04-30:header",
            *(f"brief:day:2026-04-30:card:{key}" for key in cards),
        ]
        app.close()


class LosesABriefingCard(ChannelLog):
    """Posts the briefing's first card, then loses the answer (a crash, a reset
    connection): the outbox holds that card as ``sending``."""

    lost = False

    async def send(self, ref: ChannelRef, out: Outgoing, thread: str | None = None) -> str:
        message = await super().send(ref, out, thread)
        if out.marker.startswith("brief:") and ":card:" in out.marker and not self.lost:
            self.lost = True
            raise ConnectionResetError("connection reset after the post")
        return message


def test_a_briefing_cut_short_is_resumed_with_its_digest_never_repeated(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The automatic briefing goes through the outbox as part of its digest's
    delivery: the run stays unfinished until the briefing is posted, and the
    next start resumes it, reconciling the card whose outcome was unknown."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with server() as srv:
        app = make_app(sqlite_url, srv)
        cid = channel(app, "lab", "17:45", "UTC", (LG, CL))
        app.store.set_brief_cadence(cid, "day")
        log = LosesABriefingCard()
        run(boot(app, log))
        [(_, _, status, rid)] = runs(app)
        assert status == "claimed"  # interrupted: to be resumed
        briefed = [m for m in log.markers("lab") if m.startswith("brief:")]
        assert len(briefed) == 2  # the header and the card whose answer was lost
        run(boot(app, log))  # the restart resumes the run and its briefing
        [(_, _, status, _)] = runs(app)
        assert status == "done"
        markers = log.markers("lab")
        assert len(markers) == len(set(markers))  # nothing posted twice
        digest = expected_markers(app, rid)
        cards = [m.removeprefix(f"r{rid}:card:") for m in digest if ":card:" in m]
        assert markers == [
            *digest,
            "brief:day:2026-04-30:header",
            *(f"brief:day:2026-04-30:card:{key}" for key in cards),
        ]
        app.close()


def test_a_scheduled_digest_is_ordered_like_the_channels_own_digest(sqlite_url: str) -> None:
    """A like chip orders the scheduled digest by relevance, with reason lines,
    exactly as `/radar digest` orders an identical channel's."""
    tide = Chip(ChipKind.LIKE, "arxiv:2604.26951", names=("Turning the TIDE",))
    with server() as srv:
        app = make_app(sqlite_url, srv, now=NOW + timedelta(seconds=30))
        plain = channel(app, "plain", "18:00", chips=(LG,))
        liked = channel(app, "liked", "18:00", chips=(LG, tide))
        # The same radar, never scheduled and never shown a card: its typed digest.
        channel(app, "twin", None, None, chips=(LG, tide))
        twin = ChannelRef("slack", "T1", "twin", "twin")
        for name in ("plain", "liked", "twin"):
            app.service.handle(ChannelRef("slack", "T1", name), "/radar cap 20")
        log = ChannelLog()

        async def scenario() -> None:
            s = scheduler(app, log)
            await s.start()
            try:
                await until(lambda: sorted(r[2] for r in runs(app)) == ["done", "done"])
            finally:
                await s.stop()

        run(scenario())
        assert {cid for cid, *_ in runs(app)} == {plain, liked}
        manual = app.service.handle(twin, "/radar digest")
        posted = [t for _, t in log.messages["liked"] if ("liked", t) in log.reasons]
        plain_posted = [t for _, t in log.messages["plain"] if ("plain", t) in log.reasons]
        why = [log.reasons["liked", t] for t in posted]
        assert posted == [c.title for c in manual.cards]
        assert len(posted) > 3 and posted != plain_posted  # the like changed the order
        assert sorted(posted) == sorted(plain_posted)  # chips decide what is on it
        assert any((reason or "").startswith("similar to") for reason in why)
        assert why == [c.reason for c in manual.cards]
        app.close()
