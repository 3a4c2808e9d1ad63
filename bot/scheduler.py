"""Daily digests on schedule, exactly once: APScheduler jobs over database claims.

The database is the truth and APScheduler only the alarm clock:

- every process keeps its own in-memory job store (never shared: two
  processes would otherwise fight over one job table), with one job per
  scheduled channel, id ``digest:<channel id>``, on a ``DailyTrigger`` in the
  channel's zone (``bot.digest.schedule`` does the daylight-saving-safe math);
- the jobs are derived from the ``channels`` table: at start, at once when a
  schedule command runs in this process (``RadarService.schedule_listeners``),
  and by a poll every ``resync_seconds`` for changes made by other processes;
  a job that fires also re-reads its channel and stands down if the schedule
  it was made for is no longer the stored one, so a stale job never posts;
- a due digest is *claimed* (``digest_runs``, unique per channel and local
  date ``schedule:YYYY-MM-DD``) before anything is posted; whichever process
  inserts the row delivers it, through ``deliver_run`` (the one outbox-backed
  path), holding the run's cross-process lock (``Store.locks``) so a worker
  resuming unfinished runs never posts alongside a live one;
- on start, unfinished runs are resumed (``deliver_run`` reconciles posts whose
  outcome is unknown through ``Poster.find``), and a digest missed while the
  bot was down is posted if still within ``schedule.grace_hours``, else
  skipped and logged. Every poll retries unfinished runs (with backoff) and
  due digests a database failure left unclaimed (within grace), so a post
  that failed (rate limits, an outage) is retried, never dropped.

Harvests run ahead of digests (``schedule.harvest_lead_minutes`` before each
distinct due time), and again at the digest if that pass failed or has not
finished; either way one pass serves every channel due then
(``Harvester``'s freshness, one lock per database), and none runs at all when
arXiv has announced nothing since the last pass (``harvest_decision``). The
OpenAlex works of followed people and venues ride on the same pass
(``Harvester.run``), so they are fetched on arXiv's announcement days.

Channels due together are planned together (``plan_all``: one pool read, one
indexed match), then claimed and delivered by ``concurrency`` workers, so
several processes share a large batch instead of one doing it all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.app import App
from bot.core.cards import Reply
from bot.core.channel import ChannelRef, ChannelState
from bot.core.chips import WATCH_KINDS
from bot.digest.daily import plan_all
from bot.digest.deliver import Outgoing, Poster, deliver_run
from bot.digest.plan import DigestPlan
from bot.digest.schedule import (
    Occurrence,
    catch_up,
    harvest_decision,
    latest_occurrence,
    next_occurrence,
    parse_hhmm,
    quiet_reason,
)
from bot.errors import UpstreamError
from bot.store.repo import Locks, RunInfo, ScheduleRow

log = logging.getLogger(__name__)

JOB_PREFIX = "digest:"
HARVEST_JOB = "harvest"
RESYNC_JOB = "resync"
#: Runs started by a person (``/radar digest`` in an adapter) are delivered by
#: that adapter without a run lock; the scheduler resumes them only after this.
MANUAL_RESUME_AFTER = timedelta(minutes=10)
RETRY_MAX = timedelta(hours=1)


def job_id(channel_id: int) -> str:
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
    text = row.time or (default_time if row.tz is None else "")
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


class ShuttingDown(Exception):
    """Raised instead of posting once shutdown has stopped waiting for deliveries."""


class _GuardedPoster:
    """A poster that refuses new sends once the scheduler abandons in-flight work,
    so a delivery stops between two messages: the outbox holds the one it had
    marked ``sending``, and the next start reconciles it through ``find``."""

    def __init__(self, poster: Poster, abandoned: asyncio.Event) -> None:
        self.poster, self.abandoned = poster, abandoned

    async def send(self, ref: ChannelRef, out: Outgoing) -> str:
        if self.abandoned.is_set():
            raise ShuttingDown("shutting down")
        return await self.poster.send(ref, out)

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


class DigestScheduler:
    """One process's scheduler. ``posters`` maps ``ChannelRef.platform`` to the
    poster of a running adapter; channels of other platforms are left alone
    (never claimed), so a worker without Discord credentials cannot swallow a
    Discord channel's digest."""

    def __init__(
        self,
        app: App,
        posters: Mapping[str, Poster],
        *,
        concurrency: int = 16,
        resync_seconds: float = 60.0,
        batch_seconds: float = 1.0,
        drain_seconds: float = 10.0,
    ) -> None:
        self.app, self.store, self.clock = app, app.store, app.clock
        self.settings = app.config.schedule
        self.posters = dict(posters)
        self.concurrency = max(1, concurrency)
        self.resync_seconds = resync_seconds
        self.batch_seconds = batch_seconds
        self.drain_seconds = drain_seconds
        self.grace = timedelta(hours=self.settings.grace_hours)
        self.table: dict[int, ChannelSchedule] = {}
        self.aps: AsyncIOScheduler | None = None
        self._locks: Locks | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._accepting = False
        self._abandoned = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending: dict[int, str] = {}
        self._flush: asyncio.Task[Any] | None = None
        self._collecting = False
        self._harvest_lock = asyncio.Lock()
        self._sync_lock = asyncio.Lock()
        self._retry_at: dict[int, tuple[datetime, timedelta]] = {}
        self._retry_due: dict[int, Due] = {}
        self._caught_up = False
        self._delivering: set[int] = set()
        self.started = asyncio.Event()  # resume and catch-up done

    # -- lifecycle -----------------------------------------------------------------

    async def open(self) -> None:
        """Ready to claim and deliver (``run_due``), without alarms: what
        ``start`` builds on, and all ``paper-radar digest`` needs."""
        self._loop = asyncio.get_running_loop()
        if self._locks is None:
            self._locks = await asyncio.to_thread(self.store.locks)
        self._accepting = True

    async def start(self) -> None:
        """Build the job set from the database, start the alarms, then resume
        unfinished runs and catch up missed digests in the background."""
        await self.open()
        self.aps = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                # A job delayed by a busy loop or a suspended host still runs
                # within the grace period; the fire-time check does the rest.
                "misfire_grace_time": max(1, int(self.grace.total_seconds())),
            },
        )
        await self.sync()
        self.aps.add_job(
            self._resync_tick,
            IntervalTrigger(seconds=self.resync_seconds, timezone=UTC),
            id=RESYNC_JOB,
            name="resync schedules and retry unfinished runs",
        )
        self.aps.start()
        self.app.service.schedule_listeners.append(self._schedule_changed)
        self._spawn(self._startup())
        log.info(
            "event=scheduler.started jobs=%d platforms=%s grace_h=%g lead_min=%d",
            len(self.table),
            ",".join(sorted(self.posters)) or "-",
            self.settings.grace_hours,
            self.settings.harvest_lead_minutes,
        )

    async def stop(self) -> None:
        """Stop taking new work; give in-flight deliveries ``drain_seconds`` to
        finish, then stop them between two posts (or cancel a post in flight:
        the outbox row stays ``sending`` and the next start reconciles it)."""
        self._accepting = False
        if self._schedule_changed in self.app.service.schedule_listeners:
            self.app.service.schedule_listeners.remove(self._schedule_changed)
        if self.aps is not None and self.aps.running:
            self.aps.shutdown(wait=False)
        tasks = {t for t in self._tasks if not t.done()}
        if tasks:
            log.info("event=scheduler.draining tasks=%d", len(tasks))
            _, pending = await asyncio.wait(tasks, timeout=self.drain_seconds)
            if pending:
                self._abandoned.set()
                _, pending = await asyncio.wait(pending, timeout=2.0)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                log.warning("event=scheduler.abandoned tasks=%d", len(pending))
        if self._locks is not None:
            await asyncio.to_thread(self._locks.close)
            self._locks = None
        log.info("event=scheduler.stopped")

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
        if not self._accepting:
            coro.close()
            return None
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            err = task.exception()
            log.error("event=scheduler.task_failed error=%s: %s", type(err).__name__, err)

    def health(self) -> dict[str, Any]:
        """For a health endpoint: is the scheduler running, and how busy."""
        return {
            "scheduler": bool(self.aps is not None and self.aps.running and self._accepting),
            "scheduled_channels": len(self.table),
            "tasks": len(self._tasks),
        }

    async def _startup(self) -> None:
        try:
            await self.resume()
        except Exception as err:  # the poll retries unfinished runs anyway
            log.error("event=scheduler.resume_failed error=%s: %s", type(err).__name__, err)
        try:
            await self.catch_up()
            self._caught_up = True
        except Exception as err:  # the poll tries again
            log.error("event=scheduler.catch_up_failed error=%s: %s", type(err).__name__, err)
        finally:
            self.started.set()

    # -- the job set ---------------------------------------------------------------

    def _schedule_changed(self, channel_id: int) -> None:
        """Service hook; may be called from any thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(lambda: self._spawn(self.sync()))

    async def stored_schedules(self) -> tuple[dict[int, ChannelSchedule], int]:
        """The effective schedule of every channel this process serves, from
        the database; and how many scheduled channels are other platforms'."""
        rows = await asyncio.to_thread(
            self.store.schedules, include_unset=bool(self.settings.default_time)
        )
        table: dict[int, ChannelSchedule] = {}
        other = 0
        for row in rows:
            if row.ref.platform not in self.posters:
                other += 1
                continue
            sched = effective(
                row, self.settings.default_time, self.app.config.radar.default_timezone
            )
            if sched is not None:
                table[sched.channel_id] = sched
        return table, other

    async def sync(self) -> None:
        """Make the jobs match the stored schedules (adds, moves, removes)."""
        async with self._sync_lock:
            table, other = await self.stored_schedules()
            aps = self.aps
            assert aps is not None
            added = moved = removed = 0
            for cid, sched in table.items():
                old = self.table.get(cid)
                if old is not None and old.key == sched.key:
                    continue
                aps.add_job(
                    self._on_due,
                    DailyTrigger(sched.at, sched.zone),
                    args=(cid, sched.key),
                    id=job_id(cid),
                    name=f"digest {sched.ref.platform}:{sched.ref.workspace}:{sched.ref.channel}",
                    replace_existing=True,
                )
                moved += old is not None
                added += old is None
            for cid in set(self.table) - set(table):
                if aps.get_job(job_id(cid)) is not None:
                    aps.remove_job(job_id(cid))
                removed += 1
            changed = added or moved or removed or aps.get_job(HARVEST_JOB) is None
            self.table = table
            if changed:
                times = sorted({(s.at, s.zone.key) for s in table.values()})
                aps.add_job(
                    self._harvest_tick,
                    LeadTrigger(
                        [(at, ZoneInfo(zone)) for at, zone in times],
                        timedelta(minutes=self.settings.harvest_lead_minutes),
                    ),
                    id=HARVEST_JOB,
                    name="harvest ahead of due digests",
                    replace_existing=True,
                )
                log.info(
                    "event=schedule.synced jobs=%d added=%d moved=%d removed=%d other_platforms=%d",
                    len(table),
                    added,
                    moved,
                    removed,
                    other,
                )

    # APScheduler cancels its running jobs at shutdown; the ticks only start
    # tracked tasks, so ``stop`` drains the work they begin like any other.

    async def _resync_tick(self) -> None:
        self._spawn(self.resync())

    async def _harvest_tick(self) -> None:
        self._spawn(self.ensure_harvest())

    async def resync(self) -> None:
        """The poll: pick up schedule changes from other processes, retry due
        digests a failure left unclaimed (within grace), retry unfinished runs."""
        await self.sync()
        if not self._caught_up:
            await self.catch_up()
            self._caught_up = True
        retry, self._retry_due = self._retry_due, {}
        now = self.clock.now()
        again = [d for d in retry.values() if now - d.occurrence.at <= self.grace]
        if again:
            log.info("event=digest.retry channels=%d", len(again))
            await self._run_or_retry(again)
        await self.resume()

    # -- due digests ---------------------------------------------------------------

    async def _on_due(self, channel_id: int, key: str) -> None:
        """A job fired. Jobs due together are gathered for ``batch_seconds`` and
        planned in one pass."""
        self._pending[channel_id] = key
        if not self._collecting:
            self._collecting = True
            self._flush = self._spawn(self._flush_due())
            self._collecting = self._flush is not None

    async def _flush_due(self) -> None:
        try:
            await asyncio.sleep(self.batch_seconds)
        finally:
            self._collecting = False  # jobs firing from now on start the next batch
        fired, self._pending = self._pending, {}
        now = self.clock.now()
        current, _ = await self.stored_schedules()  # the truth, whatever the jobs say
        due = []
        for cid, key in fired.items():
            sched = current.get(cid)
            if sched is None or sched.key != key:
                log.info(
                    "event=digest.stale_job channel=%d job=%r now=%r",
                    cid,
                    key,
                    sched.key if sched else "off",
                )
                continue
            occ = latest_occurrence(sched.at, sched.zone, now)
            if now - occ.at > self.grace:
                log.warning(
                    "event=digest.skipped_late channel=%d key=%s late_s=%d",
                    cid,
                    occ.run_key,
                    (now - occ.at).total_seconds(),
                )
                continue
            due.append(Due(sched, occ))
        if len(due) != len(fired):
            self._spawn(self.sync())
        await self._run_or_retry(due)

    async def _run_or_retry(self, due: Sequence[Due]) -> list[Outcome]:
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

    async def catch_up(self) -> list[Outcome]:
        """On start: post each digest missed within grace once; log older ones."""
        now = self.clock.now()
        decisions = [
            (sched, catch_up(sched.at, sched.zone, now, self.grace))
            for sched in self.table.values()
        ]
        keys = [d.occurrence.run_key for _, d in decisions]
        claimed = await asyncio.to_thread(self.store.claimed_runs, keys)
        due = []
        for sched, decision in decisions:
            occ = decision.occurrence
            if (sched.channel_id, occ.run_key) in claimed:
                continue
            if decision.post:
                log.info(
                    "event=digest.catch_up channel=%d key=%s late_s=%d",
                    sched.channel_id,
                    occ.run_key,
                    decision.late.total_seconds(),
                )
                due.append(Due(sched, occ))
            else:
                log.warning(
                    "event=digest.missed channel=%d key=%s late_s=%d grace_h=%g",
                    sched.channel_id,
                    occ.run_key,
                    decision.late.total_seconds(),
                    self.settings.grace_hours,
                )
        return await self._run_or_retry(due)

    async def run_due(self, due: Sequence[Due]) -> list[Outcome]:
        """Harvest if needed, plan every due channel in one pass, then claim and
        deliver with ``concurrency`` workers. Returns what happened per channel
        (channels left when shutdown began are not in it)."""
        outcomes: list[Outcome] = []
        if not due or not self._accepting:
            return outcomes
        await self.ensure_harvest()
        now = self.clock.now()
        ids = [d.schedule.channel_id for d in due]
        window = self.app.config.radar.digest_window_days
        states, plans = await asyncio.to_thread(self._states_and_plans, ids, now, window)
        queue: asyncio.Queue[Due] = asyncio.Queue()
        for item in due:
            queue.put_nowait(item)

        async def worker() -> None:
            while self._accepting:
                try:
                    item = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                state = states.get(item.schedule.channel_id)
                if state is None:
                    continue
                try:
                    run = await self._claim(state, item, plans.get(state.id), now)
                except Exception as err:  # this channel only; the poll retries it
                    log.warning(
                        "event=digest.claim_failed channel=%d key=%s error=%s: %s",
                        state.id,
                        item.occurrence.run_key,
                        type(err).__name__,
                        err,
                    )
                    self._retry_due[state.id] = item
                    continue
                posted = None if run is None else await self.deliver(state, run)
                outcomes.append(Outcome(state.id, item.occurrence.run_key, run, posted))

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(due)))))
        return outcomes

    def _states_and_plans(
        self, ids: list[int], now: datetime, window: int
    ) -> tuple[dict[int, ChannelState], dict[int, DigestPlan]]:
        return self.store.channels_by_ids(ids), plan_all(self.store, now, window, ids)

    async def _claim(
        self, state: ChannelState, item: Due, plan: DigestPlan | None, now: datetime
    ) -> RunInfo | None:
        if not any(chip.kind in WATCH_KINDS for chip in state.chip_list):
            log.info("event=digest.no_chips channel=%d", state.id)
            return None
        keys = [m.paper.key for m in plan.matches] if plan else []
        more = plan.more if plan else 0
        key = item.occurrence.run_key
        run = await asyncio.to_thread(
            self.store.claim_run, state.id, key, "schedule", keys, more, now
        )
        if run is None:
            log.debug("event=digest.already_claimed channel=%d key=%s", state.id, key)
            return None
        log.info(
            "event=digest.claimed channel=%d run=%d key=%s cards=%d more=%d",
            state.id,
            run.id,
            key,
            len(keys),
            more,
        )
        return run

    # -- delivery ------------------------------------------------------------------

    async def deliver(self, state: ChannelState, run: RunInfo) -> int | None:
        """Post what is left of ``run`` if no other process is posting it.

        Returns the messages posted now, or None when the run was not ours to
        post (locked elsewhere, finished meanwhile) or failed (retried later).
        """
        locks = self._locks
        poster = self.posters.get(state.ref.platform)
        if locks is None or poster is None or run.id in self._delivering:
            return None
        got = await asyncio.to_thread(locks.acquire, Locks.RUN, run.id)
        if not got:
            log.debug("event=digest.busy channel=%d run=%d", state.id, run.id)
            return None
        self._delivering.add(run.id)
        try:
            run = await asyncio.to_thread(self.store.run, run.id)
            if run.status != "claimed":
                return None
            reply = await asyncio.to_thread(self._reply_for, run, state)
            if reply is None:
                await asyncio.to_thread(self.store.finish_run, run.id, self.clock.now(), "quiet")
                log.info(
                    "event=digest.quiet channel=%d run=%d key=%s", state.id, run.id, run.run_key
                )
                return 0
            posted = await deliver_run(
                self.store,
                _GuardedPoster(poster, self._abandoned),
                self.clock,
                state.ref,
                state.id,
                run.id,
                reply,
            )
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
            if state.brief_cadence and run.trigger == "schedule":
                await self._auto_brief(state, poster)
            return posted
        except ShuttingDown:
            log.warning("event=digest.abandoned channel=%d run=%d", state.id, run.id)
            return None
        except asyncio.CancelledError:
            log.warning("event=digest.cancelled channel=%d run=%d", state.id, run.id)
            raise
        except Exception as err:
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
            await asyncio.shield(asyncio.to_thread(locks.release, Locks.RUN, run.id))

    async def _auto_brief(self, state: ChannelState, poster: Poster) -> None:
        """The briefing ``/radar brief every day|week`` asks for after a digest.

        ``RadarService.auto_brief`` claims the period in the database before
        answering, so it is posted at most once across workers; its message
        goes through the outbox under the marker ``brief:<period>``.
        """
        try:
            reply = await asyncio.to_thread(self.app.service.auto_brief, state, self.clock.now())
            if reply is None:
                return
            marker = f"brief:{reply.extra.get('brief_period', '')}"
            await asyncio.to_thread(self.store.outbox_intend, state.id, marker, self.clock.now())
            message = await poster.send(state.ref, Outgoing(marker, reply))
            await asyncio.to_thread(
                self.store.outbox_sent, state.id, marker, message, self.clock.now()
            )
            log.info("event=brief.posted channel=%d marker=%s", state.id, marker)
        except Exception as err:
            log.warning(
                "event=brief.failed channel=%d error=%s: %s", state.id, type(err).__name__, err
            )

    def _reply_for(self, run: RunInfo, state: ChannelState) -> Reply | None:
        """The messages a claimed run posts: its cards, or on a quiet day the
        one-line note (None: post nothing, ``schedule.quiet_days_note`` off)."""
        if run.planned:
            return self.app.service.run_reply(run, state)
        if not self.settings.quiet_days_note:
            return None
        since = run.started_at - timedelta(days=1)
        new = self.store.papers_first_seen(since, run.started_at)
        return Reply(
            quiet_reason(since, run.started_at, new),
            kind="digest",
            extra={"run_id": str(run.id), "channel_id": str(state.id)},
        )

    def _backoff(self, run_id: int) -> timedelta:
        _, last = self._retry_at.get(run_id, (self.clock.now(), timedelta(0)))
        wait = min(RETRY_MAX, max(timedelta(seconds=self.resync_seconds), last * 2))
        self._retry_at[run_id] = (self.clock.now() + wait, wait)
        return wait

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
                if self._accepting:
                    await self.deliver(state, run)

        await asyncio.gather(*(one(state, run) for state, run in todo))
        return len(todo)

    # -- harvest -------------------------------------------------------------------

    async def ensure_harvest(self) -> None:
        """Make the store hold everything arXiv announced before now, with at
        most one upstream pass however many channels (or processes) ask."""
        async with self._harvest_lock:
            harvester = self.app.harvester
            locks = self._locks
            while True:
                now = self.clock.now()
                last = await asyncio.to_thread(
                    self.store.last_harvest_at, harvester.source_name, harvester.scope
                )
                decision = harvest_decision(now, last)
                if decision == "skip":
                    log.debug("event=harvest.skip last=%s", last)
                    return
                if locks is None or await asyncio.to_thread(locks.acquire, Locks.HARVEST, 0):
                    break
                await asyncio.sleep(0.25)  # another process is harvesting: wait, then re-check
            try:
                # Re-read under the lock: a pass another process just finished counts.
                last = await asyncio.to_thread(
                    self.store.last_harvest_at, harvester.source_name, harvester.scope
                )
                decision = harvest_decision(self.clock.now(), last)
                if decision == "skip":
                    return
                result = await asyncio.to_thread(harvester.run, decision == "force")
                log.info(
                    "event=harvest.done decision=%s fetched=%d new=%d reused=%s",
                    decision,
                    result.fetched,
                    result.new,
                    result.skipped,
                )
            except UpstreamError as err:
                log.warning("event=harvest.failed error=%s", err)
            finally:
                if locks is not None:
                    await asyncio.to_thread(locks.release, Locks.HARVEST, 0)
