"""Delivery at scale: "sent" marks recorded in batches, still exactly once
across a SIGKILL; one limiter paces each channel, never the others.

- The limiter runs on a clock the test moves by hand: nothing sleeps.
- Pacing through ``deliver``: the real store and delivery path, a recording
  platform (``ChannelLog``) that declares a rate, the limiter's waits recorded.
- The kill: `paper-radar run` as a real process against the local fake Slack,
  killed (SIGKILL) while posts that Slack took and answered wait for their
  batched marks; the restart finds them through conversations.history and
  posts the rest, each message once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.core.channel import ChannelRef
from bot.core.outgoing import Outgoing
from bot.digest.deliver import DeliveryFailed, deliver
from bot.digest.limiter import PRUNE_AT, Limiter, PostRates, Rate, rates_of
from bot.store.repo import Store
from tests.test_run import assert_clean_log, assert_each_posted_once, site, stop, wait_until
from tests.test_schedule_jobs import LG, ChannelLog, channel, make_app, server


class HandClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


A = ChannelRef("slack", "T1", "A")
B = ChannelRef("slack", "T1", "B")


# -- the limiter ------------------------------------------------------------------------------


def test_a_channel_gets_its_burst_then_one_message_a_second_and_others_are_not_held_back() -> None:
    clock = HandClock()
    limiter = Limiter(clock=clock)
    rates = PostRates(channel=Rate(1.0, burst=3))

    # Three at once, then each further message one second after the last.
    assert [limiter.delay(A, rates) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert [limiter.delay(A, rates) for _ in range(3)] == [1.0, 2.0, 3.0]
    # Another channel (and the same channel name in another workspace) posts at once.
    assert limiter.delay(B, rates) == 0.0
    assert limiter.delay(ChannelRef("slack", "T2", "A"), rates) == 0.0

    clock.now = 4.0  # a second after A's last queued slot: one message's worth is back
    assert limiter.delay(A, rates) == 0.0
    assert limiter.delay(A, rates) == 1.0
    clock.now = 30.0  # long idle: the whole burst again, not more
    assert [limiter.delay(A, rates) for _ in range(4)] == [0.0, 0.0, 0.0, 1.0]
    # A platform that declares nothing (a terminal) is never held back.
    assert limiter.delay(A, None) == 0.0


def test_a_platform_wide_rate_spreads_posts_over_every_channel() -> None:
    """Discord's global limit: 50 requests a second, whichever channels."""
    clock = HandClock()
    limiter = Limiter(clock=clock)
    rates = PostRates(channel=Rate(1.0, burst=5), overall=Rate(50.0, burst=50))
    waits = [limiter.delay(ChannelRef("discord", "G", str(n)), rates) for n in range(52)]
    assert waits[:50] == [0.0] * 50
    assert waits[50:] == pytest.approx([0.02, 0.04])


def test_the_limiter_forgets_channels_whose_buckets_have_refilled() -> None:
    """10,000 channels a morning must not leave 10,000 buckets behind."""
    clock = HandClock()
    limiter = Limiter(clock=clock)
    rates = PostRates(channel=Rate(1.0, burst=20))
    for n in range(PRUNE_AT - 1):
        limiter.delay(ChannelRef("slack", "T", f"C{n}"), rates)
    clock.now = 5.0  # every bucket has refilled: one message took one second's worth
    limiter.delay(A, rates)
    assert len(limiter) == 1
    # Buckets still draining are kept, however many there are.
    busy = [ChannelRef("slack", "T", f"D{n}") for n in range(3 * PRUNE_AT)]
    for ref in busy:
        limiter.delay(ref, rates)
    assert len(limiter) == 3 * PRUNE_AT + 1


def test_admit_sleeps_only_for_the_wait_it_was_given() -> None:
    clock, slept = HandClock(), []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    limiter = Limiter(clock=clock, sleep=sleep)
    rates = PostRates(channel=Rate(2.0, burst=1))

    async def post_three() -> list[float]:
        return [await limiter.admit(A, rates) for _ in range(3)]

    assert asyncio.run(post_three()) == [0.0, 0.5, 0.5]
    assert slept == [0.5, 0.5]


def test_wrappers_count_against_the_platform_posters_rates() -> None:
    """An event's replier posts through the adapter's poster: same buckets."""

    class Platform:
        rates = PostRates(channel=Rate(1.0, burst=20))

    class Replier:
        def __init__(self) -> None:
            self.poster = Platform()

    assert rates_of(Replier()) is Platform.rates
    assert rates_of(object()) is None


# -- pacing and batching through deliver ----------------------------------------------------------


class PacedLog(ChannelLog):
    """The recording platform of the scheduler tests, declaring a rate."""

    rates = PostRates(channel=Rate(1.0, burst=4))


def spy_on(store: Store, names: tuple[str, ...]) -> list[tuple[str, int]]:
    """Record (method, channel id) of each call to ``names`` on ``store``."""
    calls: list[tuple[str, int]] = []
    for name in names:
        real = getattr(store, name)

        def spy(*args: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            calls.append((_name, args[0]))
            return _real(*args, **kw)

        setattr(store, name, spy)
    return calls


def test_a_long_digest_is_paced_its_marks_recorded_while_it_waits_and_others_go_on(
    sqlite_url: str,
) -> None:
    with server() as srv:
        app = make_app(sqlite_url, srv)
        a = channel(app, "A", None, None, (LG,))
        b = channel(app, "B", None, None, (LG,))
        app.service.handle(ChannelRef("slack", "T1", "A"), "/radar cap 8")
        app.service.handle(ChannelRef("slack", "T1", "B"), "/radar cap 2")
        long = app.service.respond(ChannelRef("slack", "T1", "A", "A"), "digest")
        short = app.service.respond(ChannelRef("slack", "T1", "B", "B"), "digest")
        n = len(long.messages)
        assert long.run_id is not None and n >= 8 and len(short.messages) <= 4
        log = PacedLog()
        waits: list[tuple[float, int]] = []  # (seconds, A's messages marked sent by then)

        async def sleep(seconds: float) -> None:
            states = app.store.outbox_states(a, [o.marker for o in long.messages])
            waits.append((seconds, sum(1 for s in states.values() if s.status == "sent")))
            await asyncio.sleep(0)  # the hand clock stands still: every slot is queued

        limiter = Limiter(clock=HandClock(), sleep=sleep)
        calls = spy_on(app.store, ("outbox_open", "outbox_step"))

        async def both() -> None:
            await asyncio.gather(
                deliver(app.store, log, app.clock, long, limiter=limiter),
                deliver(app.store, log, app.clock, short, limiter=limiter),
            )

        asyncio.run(both())
        assert log.markers("A") == [o.marker for o in long.messages]  # in order, once
        assert log.markers("B") == [o.marker for o in short.messages]
        # A: four at once, then one a second, each queued behind the last; B,
        # meanwhile, never waited. Before each of A's waits, what A had posted
        # was recorded (one transaction a wait), the rest with the finish.
        assert waits == [(float(k), 4 + k - 1) for k in range(1, n - 4 + 1)]
        assert [name for name, cid in calls if cid == a] == (
            ["outbox_open"] + ["outbox_step"] * (n - 4 + 1)
        )
        assert [name for name, cid in calls if cid == b] == ["outbox_open", "outbox_step"]
        states = app.store.outbox_states(a, [o.marker for o in long.messages])
        assert {s.status for s in states.values()} == {"sent"}
        assert app.store.run(long.run_id).status == "done"
        app.close()


def test_a_digest_costs_two_outbox_transactions_not_two_a_message(sqlite_url: str) -> None:
    """Intents in one transaction; every mark, with the finish, in one more."""
    with server() as srv:
        app = make_app(sqlite_url, srv)
        channel(app, "A", None, None, (LG,))
        post = app.service.respond(ChannelRef("slack", "T1", "A", "A"), "digest")
        assert len(post.messages) >= 5
        calls = spy_on(app.store, ("outbox_open", "outbox_step", "outbox_intend", "outbox_sent"))
        log = ChannelLog()
        asyncio.run(deliver(app.store, log, app.clock, post, limiter=Limiter()))
        assert [name for name, _ in calls] == ["outbox_open", "outbox_step"]
        assert log.markers("A") == [o.marker for o in post.messages]
        app.close()


class LosesTheAnswer(ChannelLog):
    """Posts, and on the ``n``-th message loses Slack's answer (the post landed)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.finds = n, 0

    async def send(self, ref: ChannelRef, out: Outgoing, thread: str | None = None) -> str:
        self.lose_reply_after = self.n if self.sends < self.n else None
        return await super().send(ref, out, thread)

    async def find(self, ref: ChannelRef, marker: str, since: Any) -> str | None:
        self.finds += 1
        return await super().find(ref, marker, since)


def test_a_failed_delivery_resumes_with_one_look_at_the_channel(sqlite_url: str) -> None:
    """The platform fails the 4th message after taking it: the three before
    are recorded with the failure, the ones never tried are withdrawn, so the
    retry asks about the 4th alone, finds it, and posts the rest once."""
    with server() as srv:
        app = make_app(sqlite_url, srv)
        cid = channel(app, "A", None, None, (LG,))
        post = app.service.respond(ChannelRef("slack", "T1", "A", "A"), "digest")
        log = LosesTheAnswer(4)
        with pytest.raises(DeliveryFailed):
            asyncio.run(deliver(app.store, log, app.clock, post, limiter=Limiter()))
        states = app.store.outbox_states(cid, [o.marker for o in post.messages])
        assert [states[o.marker].status for o in post.messages[:4]] == ["sent"] * 3 + ["sending"]
        assert all(o.marker not in states for o in post.messages[4:])  # withdrawn
        log.n = 10_000
        done = asyncio.run(deliver(app.store, log, app.clock, post, limiter=Limiter()))
        assert log.finds == 1
        assert done.posted == len(post.messages) - 4
        assert log.markers("A") == [o.marker for o in post.messages]  # each once, in order
        app.close()


# -- SIGKILL between a post and its batched mark ------------------------------------------------


def outbox_sent(db_url: str) -> int:
    from sqlalchemy import func, select

    from bot.store import models as m

    store = Store.from_url(db_url)
    try:
        with store.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(m.Post).where(m.Post.status == "sent")
                ).scalar_one()
            )
    finally:
        store.close()


def test_sigkill_between_posts_and_their_batched_marks_loses_and_repeats_nothing(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Slack takes and answers the first posts of each digest, then holds the
    next one: the process is killed while those posts' marks still wait for
    their batch. The restart finds each of them in the channel (one look a
    post, plus one per digest for the first that never arrived) and posts
    only what is missing."""
    with site(tmp_path, sqlite_url, channels=3, stall_after=9, mode="before") as s:
        first = s.start("first")
        try:
            wait_until(lambda: s.slack.stalled >= 3, proc=first)  # every digest held mid-way
            answered = len(s.slack.markers())
            recorded = outbox_sent(sqlite_url)
        finally:
            first.kill()  # SIGKILL: no shutdown code runs, no batch is flushed
            first.wait(10)
        assert answered == 9
        unrecorded = answered - recorded
        assert unrecorded > 0  # posted and answered, not yet marked "sent"
        assert len(s.runs()) == 3 and {st for _, st, _, _ in s.runs()} == {"claimed"}
        s.slack.release()

        second = s.start("second")
        try:
            wait_until(lambda: all(st == "done" for _, st, _, _ in s.runs()), proc=second)
        finally:
            assert stop(second) == 0
        assert_each_posted_once(s)  # every message of every digest, once, in order
        log = s.log("second")
        assert log.count("reconciled marker=") == unrecorded
        # Cheap: a look for each unrecorded post, and one per digest for the
        # first message that never arrived; none for the rest of a digest.
        assert len(s.slack.calls_to("conversations.history")) <= unrecorded + 3
        assert_clean_log(s.log("first") + log)
