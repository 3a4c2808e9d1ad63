"""Harvests: storing the papers sources bring, reading the pool, and which passes are done."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core.paper import Paper
from bot.store import models as m
from bot.store.db import chunked
from bot.store.papers import PapersChanged, doi_keys, paper_ids, to_paper, upsert
from bot.store.unit import Units


class Harvests:
    """The papers table (one row per work) and the record of completed harvest passes."""

    def __init__(self, units: Units) -> None:
        self._units = units

    # -- storing papers -----------------------------------------------------------

    def upsert_papers(self, papers: Iterable[Paper], seen_at: datetime) -> int:
        """Store papers in one transaction; returns how many were new.

        A later version replaces the stored one; an older or equal one (the same
        paper met again in a backfill) changes nothing. Safe to call from
        concurrent commands and processes (see ``bot.store.papers``).
        """
        batch = list(papers)
        return self._storing(lambda s: upsert(s, batch, seen_at))

    def record_harvest(
        self,
        source: str,
        scope: str,
        start: datetime,
        end: datetime,
        papers: Sequence[Paper],
        when: datetime,
    ) -> int:
        """Store a harvest's papers and mark its window done, in one transaction."""

        def work(s: Session) -> int:
            new = upsert(s, papers, when)
            s.add(
                m.Harvest(
                    source=source,
                    scope=scope,
                    window_start=start,
                    window_end=end,
                    papers=len(papers),
                    fetched_at=when,
                )
            )
            return new

        return self._storing(work)

    def _storing(self, work: Callable[[Session], int]) -> int:
        """Run ``work`` (which stores papers) in one transaction, again from the
        start if a concurrent writer reshaped the rows it was merging.

        New rows and aliases are ``ON CONFLICT`` inserts, so a plain race never
        gets here; this covers the rare rest (two transactions merging the
        same work into different rows at once), where the database's unique
        constraints stop the second and a fresh look resolves it.
        """
        for attempt in range(3):
            try:
                with self._units.session() as s:
                    return work(s)
            except (PapersChanged, IntegrityError):
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # -- reading papers -------------------------------------------------------------

    def papers_since(self, since: datetime, until: datetime | None = None) -> list[Paper]:
        """Papers first published in [since, until): the radar's recent pool."""
        with self._units.session() as s:
            q = select(m.Paper).where(m.Paper.published >= since)
            if until is not None:
                q = q.where(m.Paper.published < until)
            return [to_paper(row) for row in s.scalars(q.order_by(m.Paper.published.desc()))]

    def papers_by_key(self, keys: Sequence[str]) -> dict[str, Paper]:
        """Stored papers by key. A key a merged paper had before (an alias)
        finds that paper, under the key it was asked for."""
        out: dict[str, Paper] = {}
        with self._units.session() as s:
            ids = paper_ids(s, keys)
            rows: dict[int, Paper] = {}
            for chunk in chunked(sorted(set(ids.values()))):
                q = select(m.Paper).where(m.Paper.id.in_(chunk))
                rows.update((row.id, to_paper(row)) for row in s.scalars(q))
            for key, pid in ids.items():
                if pid in rows:
                    out[key] = rows[pid]
        return out

    def paper_by_doi(self, doi: str) -> Paper | None:
        """The stored work with DOI ``doi`` (any spelling), or None."""
        keys = doi_keys(doi)
        found = self.papers_by_key(keys) if keys else {}
        return next((found[k] for k in keys if k in found), None)

    def paper_count(self) -> int:
        with self._units.session() as s:
            return int(s.scalar(select(func.count(m.Paper.id))) or 0)

    def papers_first_seen(self, since: datetime, until: datetime) -> int:
        """How many papers the store first met in ``(since, until]``."""
        with self._units.session() as s:
            return int(
                s.scalar(
                    select(func.count(m.Paper.id)).where(
                        m.Paper.first_seen > since, m.Paper.first_seen <= until
                    )
                )
                or 0
            )

    # -- harvest passes -------------------------------------------------------------

    def harvested_since(self, source: str, scope: str, since: datetime) -> bool:
        """Whether a pass over ``scope`` completed at or after ``since``."""
        with self._units.session() as s:
            return (
                s.scalar(
                    select(m.Harvest.id)
                    .where(
                        m.Harvest.source == source,
                        m.Harvest.scope == scope,
                        m.Harvest.fetched_at >= since,
                    )
                    .limit(1)
                )
                is not None
            )

    def last_harvest_at(self, source: str, scope: str) -> datetime | None:
        """When the latest completed pass over ``scope`` finished, if any."""
        with self._units.session() as s:
            return s.scalar(
                select(func.max(m.Harvest.fetched_at)).where(
                    m.Harvest.source == source, m.Harvest.scope == scope
                )
            )

    def harvest_count(self) -> int:
        with self._units.session() as s:
            return int(s.scalar(select(func.count(m.Harvest.id))) or 0)
