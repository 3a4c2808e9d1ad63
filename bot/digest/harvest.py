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

When OpenAlex is configured, the same pass also fetches the works published
in the look-back window by every person an author chip follows (their
OpenAlex ids, OR'd 50 to a request) and in every configured venue
(``openalex.harvest_sources``). Its cost grows with the number of distinct
people and venues followed, never with the number of channels: ten channels
following one person cost what one does. What it brings is merged at store
time with what arXiv brought (one row per work). An OpenAlex failure is
logged and skipped: the arXiv pass still counts, and the next pass catches up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from bot.clock import Clock
from bot.core.paper import Paper
from bot.errors import RadarError, UpstreamError
from bot.settings import HarvestSettings
from bot.store.repo import Store

if TYPE_CHECKING:
    from bot.digest.vectorize import Vectorizer
    from bot.sources.openalex import OpenAlexSource

log = logging.getLogger(__name__)

OPENALEX = "openalex"


class PaperSource(Protocol):
    """What the digest needs from a source (``bot.sources.arxiv.ArxivSource`` is one)."""

    def harvest(
        self, start: datetime, end: datetime, categories: Sequence[str] = ()
    ) -> list[Paper]: ...

    def backfill_author(self, name: str) -> list[Paper]: ...

    def backfill_keyword(self, phrases: Sequence[Sequence[str]]) -> list[Paper]: ...

    def backfill_category(self, cat: str) -> list[Paper]: ...

    def interactive(self) -> PaperSource:
        """The same source for a person waiting: short retry deadline per request."""
        ...


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
        openalex: OpenAlexSource | None = None,
        vectorizer: Vectorizer | None = None,
    ) -> None:
        self.store, self.source, self.clock = store, source, clock
        self.settings, self.source_name = settings, source_name
        self.openalex = openalex
        #: Represents what a pass stored (relevance vectors, once per paper); None = off.
        self.vectorizer = vectorizer

    @property
    def scope(self) -> str:
        return ",".join(sorted(self.settings.categories))

    def run(self, force: bool = False, *, interactive: bool = False) -> HarvestResult:
        """Harvest the look-back window ending now, unless a fresh pass exists.

        Raises ``UpstreamError`` when the arXiv pass fails; then nothing of it
        is stored (the OpenAlex pass, which degrades on its own, still runs).
        ``interactive``: a person is waiting (``/radar digest``), so each
        request gets the sources' short deadline instead of every retry; the
        scheduled pass keeps the patient policy.
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
        source = self.source.interactive() if interactive else self.source
        try:
            papers = source.harvest(start, end, self.settings.categories)
        except UpstreamError:
            self.run_openalex(start, end, force, interactive=interactive)
            raise
        new = self.store.record_harvest(self.source_name, self.scope, start, end, papers, now)
        log.info(
            "harvest source=%s window=%s..%s fetched=%d new=%d",
            self.source_name,
            start.isoformat(),
            end.isoformat(),
            len(papers),
            new,
        )
        self.vectorize(papers)
        more = self.run_openalex(start, end, force, interactive=interactive)
        return HarvestResult(len(papers) + more.fetched, new + more.new, False)

    def run_openalex(
        self, start: datetime, end: datetime, force: bool = False, *, interactive: bool = False
    ) -> HarvestResult:
        """The OpenAlex part of the pass: works published since ``start``'s date
        by followed identities and in configured venues. Never raises: a failure
        is logged, nothing of it is stored, and the next pass tries again."""
        if self.openalex is None:
            return HarvestResult(0, 0, True)
        now = self.clock.now()
        if not force and self.store.harvested_since(
            OPENALEX, "", now - timedelta(minutes=self.settings.fresh_minutes)
        ):
            return HarvestResult(0, 0, True)
        authors = self.store.followed_authors()
        venues = self.openalex.settings.harvest_sources
        if not authors and not venues:
            return HarvestResult(0, 0, True)
        openalex = self.openalex.interactive() if interactive else self.openalex
        try:
            papers = openalex.harvest(
                start.date(), until=end.date(), author_ids=authors, source_ids=venues
            )
        except (UpstreamError, ValueError) as err:
            log.warning("harvest source=openalex failed: %s", err)
            return HarvestResult(0, 0, True)
        new = self.store.record_harvest(OPENALEX, "", start, end, papers, now)
        log.info(
            "harvest source=openalex people=%d venues=%d fetched=%d new=%d",
            len(authors),
            len(venues),
            len(papers),
            new,
        )
        self.vectorize(papers)
        return HarvestResult(len(papers), new, False)

    def keep(self, papers: Sequence[Paper]) -> int:
        """Store papers fetched outside a pass (a new chip's backfill, a paper
        looked up by id) and have them represented in the background, as a pass
        represents its papers; returns how many were new.

        In the background because a person is waiting for the reply that
        stored them; until their vectors are stored, ranking computes them
        itself when it needs them.
        """
        new = self.store.upsert_papers(papers, self.clock.now())
        if self.vectorizer is not None and papers:
            self.vectorizer.later(self.store, [p.key for p in papers])
        return new

    def vectorize(self, papers: Sequence[Paper]) -> None:
        """Represent the papers a pass stored. Never fails the harvest: the papers
        are stored and radars match them without vectors (today's order); an
        embeddings server that is down is logged, and the next pass or
        ``vectorize_missing`` catches up."""
        if self.vectorizer is None or not papers:
            return
        try:
            self.vectorizer.stored(self.store, [p.key for p in papers])
        except RadarError as err:
            log.warning("harvest vectors skipped: %s", err)
