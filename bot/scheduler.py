"""Daily digests on schedule: the APScheduler wiring over database claims.

The database is the truth and APScheduler only the alarm clock:

- every process keeps its own in-memory job store (never shared: two
  processes would otherwise fight over one job table), with one job per
  scheduled channel, id ``digest:<channel id>``, on a ``DailyTrigger`` in the
  channel's zone (``bot.digest.triggers``; ``bot.digest.schedule`` does the
  daylight-saving-safe math);
- the jobs are derived from the ``channels`` table: at start, at once when a
  schedule command runs in this process (``RadarService.schedule_listeners``),
  and by a poll every ``resync_seconds`` for changes made by other processes;
  a job that fires also re-reads its channel and stands down if the schedule
  it was made for is no longer the stored one, so a stale job never posts;
- what is due goes to the runner (``bot.digest.runner``), which claims each
  digest once and delivers it through the outbox; on start it resumes
  unfinished runs, and a digest missed while the bot was down is posted if
  still within ``schedule.grace_hours``, else skipped and logged. Every poll
  has the runner retry what failed (with backoff), so a post that failed is
  retried, never dropped;
- a harvest job fires ``schedule.harvest_lead_minutes`` before each distinct
  due time (``bot.digest.harvest_gate`` lets one pass serve them all).

Jobs due together are gathered for ``batch_seconds`` and handed over as one
batch, so the runner plans them in one pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping, Sequence
from datetime import UTC, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.app import App
from bot.digest.deliver import Poster
from bot.digest.harvest_gate import HarvestGate
from bot.digest.runner import CLAIM_BATCH, CONCURRENCY, DigestRunner, Due, Outcome
from bot.digest.schedule import catch_up, latest_occurrence
from bot.digest.triggers import (
    HARVEST_JOB,
    RESYNC_JOB,
    ChannelSchedule,
    DailyTrigger,
    LeadTrigger,
    effective,
    job_id,
)

log = logging.getLogger(__name__)


class DigestScheduler:
    """One process's scheduler. ``posters`` maps ``ChannelRef.platform`` to the
    poster of a running adapter; channels of other platforms get no job (and
    the runner never claims them), so a worker without Discord credentials
    cannot swallow a Discord channel's digest."""

    def __init__(
        self,
        app: App,
        posters: Mapping[str, Poster],
        *,
        concurrency: int = CONCURRENCY,
        claim_batch: int = CLAIM_BATCH,
        resync_seconds: float = 60.0,
        batch_seconds: float = 1.0,
        drain_seconds: float = 10.0,
    ) -> None:
        self.app, self.store, self.clock = app, app.store, app.clock
        self.settings = app.config.schedule
        self.runner = DigestRunner(
            app.store,
            app.clock,
            app.service,
            HarvestGate(app.store, app.harvester, app.clock),
            posters,
            settings=self.settings,
            window_days=app.config.radar.digest_window_days,
            concurrency=concurrency,
            claim_batch=claim_batch,
            # The poll is what retries a failed delivery: waiting less is moot.
            retry_min=timedelta(seconds=resync_seconds),
        )
        self.resync_seconds = resync_seconds
        self.batch_seconds = batch_seconds
        self.drain_seconds = drain_seconds
        self.grace = timedelta(hours=self.settings.grace_hours)
        self.table: dict[int, ChannelSchedule] = {}
        self.aps: AsyncIOScheduler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending: dict[int, str] = {}
        self._flush: asyncio.Task[Any] | None = None
        self._collecting = False
        self._sync_lock = asyncio.Lock()
        self._caught_up = False
        self.started = asyncio.Event()  # resume and catch-up done

    # -- lifecycle -----------------------------------------------------------------

    async def open(self) -> None:
        """Ready to claim and deliver (``run_due``), without alarms: what
        ``start`` builds on, and all ``paper-radar digest`` needs."""
        self._loop = asyncio.get_running_loop()
        await self.runner.open()

    async def run_due(self, due: Sequence[Due]) -> list[Outcome]:
        """Claim and deliver ``due`` now (the runner's path, whatever the alarms)."""
        return await self.runner.run_due(due)

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
            ",".join(sorted(self.runner.posters)) or "-",
            self.settings.grace_hours,
            self.settings.harvest_lead_minutes,
        )

    async def stop(self) -> None:
        """Stop taking new work; give in-flight deliveries ``drain_seconds`` to
        finish, then stop them between two posts (or cancel a post in flight:
        the outbox row stays ``sending`` and the next start reconciles it)."""
        self.runner.accepting = False
        if self._schedule_changed in self.app.service.schedule_listeners:
            self.app.service.schedule_listeners.remove(self._schedule_changed)
        if self.aps is not None and self.aps.running:
            self.aps.shutdown(wait=False)
        tasks = {t for t in self._tasks if not t.done()}
        if tasks:
            log.info("event=scheduler.draining tasks=%d", len(tasks))
            _, pending = await asyncio.wait(tasks, timeout=self.drain_seconds)
            if pending:
                self.runner.abandon()
                _, pending = await asyncio.wait(pending, timeout=2.0)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                log.warning("event=scheduler.abandoned tasks=%d", len(pending))
        await self.runner.close()
        log.info("event=scheduler.stopped")

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
        if not self.runner.accepting:
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

    async def _startup(self) -> None:
        try:
            await self.runner.resume()
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
            if row.ref.platform not in self.runner.posters:
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
        self._spawn(self.runner.ensure_harvest())

    async def resync(self) -> None:
        """The poll: pick up schedule changes from other processes, then have
        the runner retry due digests a failure left unclaimed (within grace)
        and unfinished runs."""
        await self.sync()
        if not self._caught_up:
            await self.catch_up()
            self._caught_up = True
        await self.runner.retry()

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
        await self.runner.run_or_retry(due)

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
        return await self.runner.run_or_retry(due)
