"""The harvest gate: one upstream pass just ahead of due digests, shared by all.

Harvests run ahead of digests (``schedule.harvest_lead_minutes`` before each
distinct due time), and again at the digest if that pass failed or has not
finished; either way one pass serves every channel due then (``Harvester``'s
freshness, one lock per database), and none runs at all when arXiv has
announced nothing since the last pass (``harvest_decision``). The OpenAlex
works of followed people and venues ride on the same pass (``Harvester.run``),
so they are fetched on arXiv's announcement days.
"""

from __future__ import annotations

import asyncio
import logging

from bot.clock import Clock
from bot.digest.harvest import Harvester
from bot.digest.schedule import harvest_decision
from bot.errors import UpstreamError
from bot.store.locks import Locks
from bot.store.repo import Store

log = logging.getLogger(__name__)


class HarvestGate:
    """Lets one harvest through for everything due now, in this process (an
    asyncio lock) and across processes (the database's harvest lock)."""

    def __init__(self, store: Store, harvester: Harvester, clock: Clock) -> None:
        self.store, self.harvester, self.clock = store, harvester, clock
        self._lock = asyncio.Lock()

    async def ensure(self, locks: Locks | None) -> None:
        """Make the store hold everything arXiv announced before now, with at
        most one upstream pass however many channels (or processes) ask.
        ``locks``: the process's cross-process locks (None: this process only)."""
        async with self._lock:
            harvester = self.harvester
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
