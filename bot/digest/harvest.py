"""The daily harvest: one upstream pass, shared by every radar.

Upstream requests depend on the size of the time window, never on how many
channels or chips exist: the harvest fetches everything submitted in the
window (optionally limited to configured categories), stores it once, and all
radars are then matched locally.

arXiv only lists a paper once it is announced, which can be days after its
submission date. A window that ended "now" would miss papers submitted just
before it and announced just after, so each pass looks back ``lookback_hours``
(overlapping the previous pass); storing is idempotent, so overlap costs a few
requests and never duplicates a paper.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.clock import Clock
from bot.core.paper import Paper
from bot.store.repo import Store

log = logging.getLogger(__name__)


class PaperSource(Protocol):
    """What the digest needs from a source (``bot.sources.arxiv.ArxivSource`` is one)."""

    def harvest(
        self, start: datetime, end: datetime, categories: Sequence[str] = ()
    ) -> list[Paper]: ...

    def backfill_author(self, name: str) -> list[Paper]: ...

    def backfill_keyword(self, phrases: Sequence[Sequence[str]]) -> list[Paper]: ...

    def backfill_category(self, cat: str) -> list[Paper]: ...


@dataclass(frozen=True)
class HarvestSettings:
    lookback_hours: int = 96  # covers Friday-afternoon submissions announced Monday night
    fresh_minutes: int = 60  # a pass this recent is reused, not repeated
    categories: tuple[str, ...] = ()  # empty: all of arXiv


@dataclass(frozen=True)
class HarvestResult:
    fetched: int
    new: int
    skipped: bool  # True when a fresh pass was reused


class Harvester:
    def __init__(
        self,
        store: Store,
        source: PaperSource,
        clock: Clock,
        settings: HarvestSettings,
        source_name: str = "arxiv",
    ) -> None:
        self.store, self.source, self.clock = store, source, clock
        self.settings, self.source_name = settings, source_name

    @property
    def scope(self) -> str:
        return ",".join(sorted(self.settings.categories))

    def run(self, force: bool = False) -> HarvestResult:
        """Harvest the look-back window ending now, unless a fresh pass exists.

        Raises ``UpstreamError`` when the source fails; then nothing is stored.
        """
        now = self.clock.now()
        # Align the window to whole minutes: arXiv's date filter has minute
        # precision, and aligned windows make repeated passes comparable.
        end = now.replace(second=0, microsecond=0)
        if not force and self.store.harvested_since(
            self.source_name, self.scope, now - timedelta(minutes=self.settings.fresh_minutes)
        ):
            return HarvestResult(0, 0, True)
        start = end - timedelta(hours=self.settings.lookback_hours)
        papers = self.source.harvest(start, end, self.settings.categories)
        new = self.store.record_harvest(self.source_name, self.scope, start, end, papers, now)
        log.info(
            "harvest source=%s window=%s..%s fetched=%d new=%d",
            self.source_name,
            start.isoformat(),
            end.isoformat(),
            len(papers),
            new,
        )
        return HarvestResult(len(papers), new, False)
