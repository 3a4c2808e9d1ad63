"""Due digests, exactly once: claim, deliver, resume, back off.

The database is the truth; whoever hands in a due digest (the scheduler's
alarms, its start-up catch-up, ``paper-radar digest``) goes through here:

- a due digest is *claimed* (``digest_runs``, unique per channel and local
  date ``schedule:YYYY-MM-DD``) before anything is posted; whichever process
  inserts the row delivers it, through ``bot.digest.deliver`` (the one
  outbox-backed path), holding the run's cross-process lock (``Store.locks``)
  so a worker resuming unfinished runs never posts alongside a live one;
- an automatic briefing due after a scheduled digest is posted by the same
  delivery, before the run is finished, so a crash between the two resumes it
  too;
- unfinished runs are resumed (delivery reconciles posts whose outcome is
  unknown through ``Poster.find``); a failed delivery is retried with
  backoff, and a due digest a database failure left unclaimed is retried
  within ``schedule.grace_hours``, so a post that failed (rate limits, an
  outage) is retried, never dropped.

Channels due together are planned together (``plan_all``: one pool read, one
indexed match), then claimed and delivered by ``concurrency`` workers. A
worker claims ``claim_batch`` channels in one transaction, delivers them,
then claims the next few: claims stay just ahead of delivery, so several
processes share a large batch instead of the first to start claiming it all
(a worker whose batch another process claimed first gets nothing for it and
moves on). The harvest those plans read runs first, through the
:class:`HarvestGate`.

Deliveries run concurrently, since a delivery spends most of its time
waiting for the platform's answers; each channel's messages still go out in
order (the delivery's channel lock) and within the platform's rates (the
process's one limiter, ``bot.digest.limiter``).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.clock import Clock
from bot.core.cards import Reply, ReplyKind
from bot.core.channel import ChannelRef, ChannelState
from bot.core.chips import watches
from bot.core.outgoing import Outbound, Outgoing, for_run
from bot.digest.daily import plan_all
from bot.digest.deliver import DeliveryFailed, Poster, deliver
from bot.digest.harvest_gate import HarvestGate
from bot.digest.plan import ChannelRanking, DigestPlan
from bot.digest.schedule import Occurrence, quiet_reason
from bot.digest.triggers import ChannelSchedule
from bot.settings import ScheduleSettings
from bot.store.locks import Locks
from bot.store.records import RunInfo
from bot.store.repo import RunClaim, Store

log = logging.getLogger(__name__)

#: Runs started by a person (``/radar digest`` in an adapter) are delivered by
#: that adapter without a run lock; the runner resumes them only after this.
MANUAL_RESUME_AFTER = timedelta(minutes=10)
RETRY_MAX = timedelta(hours=1)
#: Deliveries in flight at once. Measured with ``bench/bench_run.py`` (4,000
#: channels, local fake Slack, 2 cores, SQLite): 8, 16, 32 and 64 took 37/34,
#: 34/34, 33/33 and 35/34 s in two rounds; on PostgreSQL 16 to 64 were alike.
#: Posting is bound by this process's CPU past a dozen or so; the platforms'
#: per-channel rates (the limiter), not this number, protect each channel.
CONCURRENCY = 32
#: Channels a worker claims per transaction (see the module doc).
CLAIM_BATCH = 8


class DigestReplies(Protocol):
    """What a run posts, from the service (``RadarService``): the digest of a
    claimed run, and the automatic briefing due after it."""

    def run_reply(
        self, run: RunInfo, state: ChannelState, plan: DigestPlan | None = None
    ) -> Reply: ...

    def auto_brief(self, state: ChannelState, now: datetime) -> Outbound | None: ...

    #: The channels' relevance order (None: relevance off), so a scheduled
    #: digest is ordered as the same channel's `/radar digest` would be.
    @property
    def ranker(self) -> ChannelRanking | None: ...


class ShuttingDown(Exception):
    """Raised instead of posting once shutdown has stopped waiting for deliveries."""


class _GuardedPoster:
    """A poster that refuses new sends once the scheduler abandons in-flight work,
    so a delivery stops between two messages: the outbox holds the one it had
    marked ``sending``, and the next start reconciles it through ``find``."""

    def __init__(self, poster: Poster, abandoned: asyncio.Event) -> None:
        self.poster, self.abandoned = poster, abandoned

    async def send(self, ref: ChannelRef, out: Outgoing, thread: str | None = None) -> str:
        if self.abandoned.is_set():
            raise ShuttingDown("shutting down")
        return await self.poster.send(ref, out, thread)

    async def find(self, ref: ChannelRef, marker: str, since: datetime) -> str | None:
        return await self.poster.find(ref, marker, since)


@dataclass(frozen=True)
class Due:
    """A channel's digest to claim now, for the local date of ``occurrence``."""

    schedule: ChannelSchedule
    occurrence: Occurrence


@dataclass(frozen=True)
class Outcome:
    """What ``run_due`` did for one channel: ``run`` is None when nothing was
    claimed (claimed before, no chips); ``posted`` None when delivery did not
    complete (another process has it, or it failed and will be retried)."""

    channel_id: int
    run_key: str
    run: RunInfo | None
    posted: int | None


class DigestRunner:
    """Claims and delivers due digests for one process. ``posters`` maps
    ``ChannelRef.platform`` to the poster of a running adapter; runs of other
    platforms are left alone, so a worker without Discord credentials cannot
    swallow a Discord channel's digest.

    ``window_days`` is the digest window (``radar.digest_window_days``);
    ``concurrency`` the deliveries in flight at once; ``claim_batch`` the
    channels claimed per transaction; ``retry_min`` the shortest wait before a
    failed delivery is tried again (the poll's period: the poll is what
    retries it).
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        replies: DigestReplies,
        gate: HarvestGate,
        posters: Mapping[str, Poster],
        *,
        settings: ScheduleSettings,
        window_days: int,
        concurrency: int = CONCURRENCY,
        claim_batch: int = CLAIM_BATCH,
        retry_min: timedelta = timedelta(minutes=1),
    ) -> None:
        self.store, self.clock, self.replies, self.gate = store, clock, replies, gate
        self.settings = settings
        self.window_days = window_days
        self.posters = dict(posters)
        self.concurrency = max(1, concurrency)
        self.claim_batch = max(1, claim_batch)
        self.retry_min = retry_min
        self.grace = timedelta(hours=settings.grace_hours)
        #: False until ``open`` and once shutdown begins: no new claims or deliveries.
        self.accepting = False
        self.locks: Locks | None = None
        self._abandoned = asyncio.Event()
        self._retry_at: dict[int, tuple[datetime, timedelta]] = {}
        self._retry_due: dict[int, Due] = {}
        self._delivering: set[int] = set()

    async def open(self) -> None:
        """Take the process's cross-process locks; ready to claim and deliver."""
        if self.locks is None:
            self.locks = await asyncio.to_thread(self.store.locks)
        self.accepting = True

    def abandon(self) -> None:
        """Stop deliveries in flight between two posts (shutdown stopped waiting)."""
        self._abandoned.set()

    async def close(self) -> None:
        """Take no more work and release the locks (after in-flight work ended)."""
        self.accepting = False
        if self.locks is not None:
            await asyncio.to_thread(self.locks.close)
            self.locks = None

    async def ensure_harvest(self) -> None:
        """One harvest for everything due now (see :class:`HarvestGate`)."""
        await self.gate.ensure(self.locks)

    # -- claiming ------------------------------------------------------------------

    async def run_or_retry(self, due: Sequence[Due]) -> list[Outcome]:
        """``run_due``; if the batch fails as a whole (the database away), its
        channels are retried by the next poll instead of waiting for tomorrow."""
        try:
            return await self.run_due(due)
        except Exception as err:
            log.error(
                "event=digest.batch_failed channels=%d error=%s: %s",
                len(due),
                type(err).__name__,
                err,
            )
            self._retry_due.update((d.schedule.channel_id, d) for d in due)
            return []

    async def run_due(self, due: Sequence[Due]) -> list[Outcome]:
        """Harvest if needed, plan every due channel in one pass, then claim (a
        few channels per transaction) and deliver with ``concurrency`` workers.
        Returns what happened per channel (channels left when shutdown began
        are not in it)."""
        outcomes: list[Outcome] = []
        if not due or not self.accepting:
            return outcomes
        await self.ensure_harvest()
        now = self.clock.now()
        ids = [d.schedule.channel_id for d in due]
        states, plans = await asyncio.to_thread(self._states_and_plans, ids, now, self.window_days)
        queue = [(states[d.schedule.channel_id], d) for d in due if d.schedule.channel_id in states]
        # Each process starts at its own place in the list (popped from the
        # end), so workers sharing a batch claim apart instead of queueing on
        # the same rows; they meet only once one reaches what the other has
        # claimed already, which it skips at once.
        start = random.randrange(len(queue)) if queue else 0
        queue = queue[start:] + queue[:start]

        workers = min(self.concurrency, len(queue))

        async def worker() -> None:
            while self.accepting and queue:
                # Never more than a fair share: three due channels go to three
                # workers, not one worker's batch delivered one after another.
                size = max(1, min(self.claim_batch, len(queue) // workers))
                batch = [queue.pop() for _ in range(min(size, len(queue)))]
                try:
                    runs = await self._claim(batch, plans, now)
                except Exception as err:  # these channels only; the poll retries them
                    log.warning(
                        "event=digest.claim_failed channels=%s key=%s error=%s: %s",
                        ",".join(str(state.id) for state, _ in batch),
                        batch[0][1].occurrence.run_key,
                        type(err).__name__,
                        err,
                    )
                    self._retry_due.update((state.id, item) for state, item in batch)
                    continue
                for (state, item), run in zip(batch, runs, strict=True):
                    plan = plans.get(state.id)  # what the run was claimed with
                    posted = None if run is None else await self.deliver(state, run, plan)
                    outcomes.append(Outcome(state.id, item.occurrence.run_key, run, posted))

        await asyncio.gather(*(worker() for _ in range(workers)))
        return outcomes

    def _states_and_plans(
        self, ids: list[int], now: datetime, window: int
    ) -> tuple[dict[int, ChannelState], dict[int, DigestPlan]]:
        ranking = getattr(self.replies, "ranker", None)  # a reply source without relevance
        return self.store.channels_by_ids(ids), plan_all(self.store, now, window, ids, ranking)

    async def _claim(
        self,
        batch: Sequence[tuple[ChannelState, Due]],
        plans: Mapping[int, DigestPlan],
        now: datetime,
    ) -> list[RunInfo | None]:
        """Claim ``batch``'s runs in one transaction; None for a channel with
        no chips (nothing to watch) or whose run was claimed before."""
        claims: dict[int, RunClaim] = {}
        for state, item in batch:
            if not watches(state.chip_list):
                log.info("event=digest.no_chips channel=%d", state.id)
                continue
            plan = plans.get(state.id)
            keys = plan.keys if plan else []
            more = plan.more if plan else 0
            claims[state.id] = RunClaim(state.id, item.occurrence.run_key, "schedule", keys, more)
        runs = (
            await asyncio.to_thread(self.store.claim_runs, list(claims.values()), now)
            if claims
            else []
        )
        won = dict(zip(claims, runs, strict=True))
        for cid, run in won.items():
            claim = claims[cid]
            if run is None:
                log.debug("event=digest.already_claimed channel=%d key=%s", cid, claim.run_key)
                continue
            log.info(
                "event=digest.claimed channel=%d run=%d key=%s cards=%d more=%d",
                cid,
                run.id,
                claim.run_key,
                len(claim.planned),
                claim.more,
            )
        return [won.get(state.id) for state, _ in batch]

    # -- delivery ------------------------------------------------------------------

    async def deliver(
        self, state: ChannelState, run: RunInfo, plan: DigestPlan | None = None
    ) -> int | None:
        """Post what is left of ``run`` if no other process is posting it.
        ``plan``: the plan the run was claimed with, when in hand (its papers
        need no read of the store); without it, the run is rebuilt from the
        store.

        Returns the messages posted now, or None when the run was not ours to
        post (locked elsewhere, finished meanwhile) or failed (retried later).
        """
        locks = self.locks
        poster = self.posters.get(state.ref.platform)
        if locks is None or poster is None or run.id in self._delivering:
            return None
        self._delivering.add(run.id)
        opened: tuple[RunInfo, Reply | None] | None = None
        try:
            opened = await asyncio.to_thread(self._open, locks, run, state, plan)
            if opened is None:
                return None
            run, reply = opened
            if reply is None:
                await asyncio.to_thread(self.store.finish_run, run.id, self.clock.now(), "quiet")
                log.info(
                    "event=digest.quiet channel=%d run=%d key=%s", state.id, run.id, run.run_key
                )
                return 0
            guarded = _GuardedPoster(poster, self._abandoned)
            digest = for_run(state.ref, state.id, run.id, reply)
            # With a briefing to follow, the run is finished once that is posted too.
            brief = state.brief_cadence is not None and run.trigger == "schedule"
            done = await deliver(self.store, guarded, self.clock, digest, finish=not brief)
            if done.closed:  # finished meanwhile by another deliverer (a resumer)
                return None
            if brief:
                await self._auto_brief(state, guarded)
                await asyncio.to_thread(self.store.finish_run, run.id, self.clock.now())
            posted = done.posted
            self._retry_at.pop(run.id, None)
            log.info(
                "event=digest.delivered channel=%d run=%d key=%s posted=%d ref=%s:%s:%s",
                state.id,
                run.id,
                run.run_key,
                posted,
                state.ref.platform,
                state.ref.workspace,
                state.ref.channel,
            )
            return posted
        except asyncio.CancelledError:
            log.warning("event=digest.cancelled channel=%d run=%d", state.id, run.id)
            raise
        except Exception as err:
            if isinstance(err.__cause__ if isinstance(err, DeliveryFailed) else err, ShuttingDown):
                log.warning("event=digest.abandoned channel=%d run=%d", state.id, run.id)
                return None
            if isinstance(err, DeliveryFailed) and err.__cause__ is not None:
                err = err.__cause__  # type: ignore[assignment]  # the platform's words
            wait = self._backoff(run.id)
            log.warning(
                "event=digest.failed channel=%d run=%d retry_s=%d error=%s: %s",
                state.id,
                run.id,
                wait.total_seconds(),
                type(err).__name__,
                err,
            )
            return None
        finally:
            self._delivering.discard(run.id)
            if opened is not None:
                await asyncio.shield(asyncio.to_thread(locks.release, Locks.RUN, run.id))

    def _open(
        self,
        locks: Locks,
        run: RunInfo,
        state: ChannelState,
        plan: DigestPlan | None = None,
    ) -> tuple[RunInfo, Reply | None] | None:
        """In one trip to a worker thread: the run's lock and what the run posts
        (None: nothing, a quiet day). None when another deliverer holds the
        lock. (Whether the run is still open is checked where its delivery
        starts, in the outbox's first transaction: ``deliver`` says ``closed``.)"""
        if not locks.acquire(Locks.RUN, run.id):
            log.debug("event=digest.busy channel=%d run=%d", state.id, run.id)
            return None
        try:
            return run, self._reply_for(run, state, plan)
        except BaseException:
            locks.release(Locks.RUN, run.id)
            raise

    async def _auto_brief(self, state: ChannelState, poster: Poster) -> None:
        """The briefing ``/radar brief every day|week`` asks for after a digest.

        ``RadarService.auto_brief`` claims the period in the database before
        answering, so it is posted at most once across workers; it is delivered
        like the digest (the outbox, markers ``brief:<period>:…``). A failed
        post raises, and the run, still unfinished, is retried: the digest's
        messages are skipped as sent, the briefing resumed where it stopped.
        A briefing that cannot be made (the model, the store) is logged and
        skipped: it never holds the digest back.
        """
        try:
            post = await asyncio.to_thread(self.replies.auto_brief, state, self.clock.now())
        except Exception as err:
            log.warning(
                "event=brief.failed channel=%d error=%s: %s", state.id, type(err).__name__, err
            )
            return
        if post is None:
            return
        done = await deliver(self.store, poster, self.clock, post)
        log.info(
            "event=brief.posted channel=%d marker=%s posted=%d",
            state.id,
            post.messages[0].marker,
            done.posted,
        )

    def _reply_for(
        self, run: RunInfo, state: ChannelState, plan: DigestPlan | None = None
    ) -> Reply | None:
        """The messages a claimed run posts: its cards, or on a quiet day the
        one-line note (None: post nothing, ``schedule.quiet_days_note`` off)."""
        if run.planned:
            return self.replies.run_reply(run, state, plan)
        if not self.settings.quiet_days_note:
            return None
        since = run.started_at - timedelta(days=1)
        new = self.store.papers_first_seen(since, run.started_at)
        return Reply(quiet_reason(since, run.started_at, new), kind=ReplyKind.DIGEST)

    def _backoff(self, run_id: int) -> timedelta:
        _, last = self._retry_at.get(run_id, (self.clock.now(), timedelta(0)))
        wait = min(RETRY_MAX, max(self.retry_min, last * 2))
        self._retry_at[run_id] = (self.clock.now() + wait, wait)
        return wait

    # -- retries -------------------------------------------------------------------

    async def retry(self) -> None:
        """The poll's share: due digests a failure left unclaimed (within grace),
        then unfinished runs whose backoff has passed."""
        retry, self._retry_due = self._retry_due, {}
        now = self.clock.now()
        again = [d for d in retry.values() if now - d.occurrence.at <= self.grace]
        if again:
            log.info("event=digest.retry channels=%d", len(again))
            await self.run_or_retry(again)
        await self.resume()

    async def resume(self) -> int:
        """Deliver unfinished runs of this process's platforms (a crash, a
        failed post); returns how many were attempted."""
        runs = await asyncio.to_thread(self.store.unfinished_runs)
        if not runs:
            return 0
        now = self.clock.now()
        states = await asyncio.to_thread(
            self.store.channels_by_ids, sorted({r.channel_id for r in runs})
        )
        todo = []
        for run in runs:
            state = states.get(run.channel_id)
            if state is None or state.ref.platform not in self.posters:
                continue
            if run.id in self._delivering:
                continue
            if run.trigger == "manual" and now - run.started_at < MANUAL_RESUME_AFTER:
                continue
            retry = self._retry_at.get(run.id)
            if retry is not None and now < retry[0]:
                continue
            todo.append((state, run))
        if todo:
            log.info("event=digest.resume runs=%d", len(todo))
        sem = asyncio.Semaphore(self.concurrency)

        async def one(state: ChannelState, run: RunInfo) -> None:
            async with sem:
                if self.accepting:
                    await self.deliver(state, run)

        await asyncio.gather(*(one(state, run) for state, run in todo))
        return len(todo)
