"""``Store``: the one narrow door between the bot and its database.

Every method is one unit of work (one transaction), takes and returns neutral
values (``bot.core`` dataclasses, keys, ints), and never leaks ORM objects, so
callers cannot trigger lazy loads or half-commits by accident.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, selectinload

from bot.core.channel import ChannelRef, ChannelState
from bot.core.chips import Chip, ChipKind
from bot.core.paper import Paper
from bot.errors import NotFoundError, StoreError
from bot.store import models as m
from bot.store.db import make_engine, make_sessionmaker

_CHUNK = 500


@dataclass(frozen=True)
class OutboxState:
    status: str  # "sending" | "sent"
    message_ref: str | None
    created_at: datetime


@dataclass(frozen=True)
class RunInfo:
    id: int
    channel_id: int
    run_key: str
    trigger: str
    status: str
    planned: tuple[str, ...]
    more: int
    started_at: datetime
    finished_at: datetime | None


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = make_sessionmaker(engine)

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(make_engine(url))

    @contextmanager
    def _session(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
            session.commit()
        except (OperationalError, ProgrammingError) as exc:
            session.rollback()
            if "no such table" in str(exc) or "does not exist" in str(exc):
                raise StoreError(
                    "The database has no Paper Radar tables yet: run `paper-radar db upgrade`."
                ) from exc
            raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        self.engine.dispose()

    # -- channels and chips -------------------------------------------------

    def channel(self, ref: ChannelRef, digest_cap: int = 10) -> ChannelState:
        """The channel's state, creating an empty radar (with ``digest_cap``) on first contact."""
        with self._session() as s:
            row = self._find_channel(s, ref)
            if row is None:
                row = m.Channel(
                    platform=ref.platform,
                    workspace=ref.workspace,
                    channel=ref.channel,
                    name=ref.name,
                    digest_cap=digest_cap,
                )
                s.add(row)
                try:
                    s.flush()
                except IntegrityError:
                    # Another worker created it between our select and insert.
                    s.rollback()
                    row = self._find_channel(s, ref)
                    assert row is not None
            elif ref.name and row.name != ref.name:
                row.name = ref.name
            return self._state(s, row)

    def find_channel(self, ref: ChannelRef) -> ChannelState | None:
        with self._session() as s:
            row = self._find_channel(s, ref)
            return None if row is None else self._state(s, row)

    def channel_by_id(self, channel_id: int) -> ChannelState:
        with self._session() as s:
            row = s.get(m.Channel, channel_id, options=[selectinload(m.Channel.chips)])
            if row is None:
                raise NotFoundError(f"No channel with id {channel_id}.")
            return self._state(s, row)

    def channels(self) -> list[ChannelState]:
        with self._session() as s:
            rows = s.scalars(select(m.Channel).options(selectinload(m.Channel.chips))).all()
            return [self._state(s, row, last_digest=False) for row in rows]

    def radars(self) -> dict[int, list[Chip]]:
        """Every channel's chips, for matching all radars in one indexed pass."""
        with self._session() as s:
            out: dict[int, list[Chip]] = {}
            for channel_id, kind, value in s.execute(
                select(m.Chip.channel_id, m.Chip.kind, m.Chip.value).order_by(m.Chip.id)
            ):
                out.setdefault(channel_id, []).append(Chip(ChipKind(kind), value))
            return out

    def add_chip(self, channel_id: int, chip: Chip) -> bool:
        """Add ``chip``; False when the channel already has it (nothing changes)."""
        with self._session() as s:
            exists = s.scalar(
                select(m.Chip.id).where(
                    m.Chip.channel_id == channel_id,
                    m.Chip.kind == chip.kind.value,
                    m.Chip.value == chip.value,
                )
            )
            if exists is not None:
                return False
            s.add(m.Chip(channel_id=channel_id, kind=chip.kind.value, value=chip.value))
            return True

    def remove_chip(self, channel_id: int, chip_id: int) -> None:
        with self._session() as s:
            s.execute(delete(m.Chip).where(m.Chip.id == chip_id, m.Chip.channel_id == channel_id))

    def clear_chips(self, channel_id: int) -> int:
        with self._session() as s:
            result = s.execute(delete(m.Chip).where(m.Chip.channel_id == channel_id))
            return int(getattr(result, "rowcount", 0) or 0)

    def set_schedule(self, channel_id: int, time: str | None, tz: str | None) -> None:
        with self._session() as s:
            row = s.get_one(m.Channel, channel_id)
            row.schedule_time, row.schedule_tz = time, tz

    def set_brief_cadence(self, channel_id: int, cadence: str | None) -> None:
        with self._session() as s:
            s.get_one(m.Channel, channel_id).brief_cadence = cadence

    def set_digest_cap(self, channel_id: int, cap: int) -> None:
        with self._session() as s:
            s.get_one(m.Channel, channel_id).digest_cap = cap

    def set_last_shuffle(self, channel_id: int, keys: Sequence[str]) -> None:
        with self._session() as s:
            s.get_one(m.Channel, channel_id).last_shuffle = list(keys)

    # -- papers -------------------------------------------------------------

    def upsert_papers(self, papers: Iterable[Paper], seen_at: datetime) -> int:
        """Store papers in one transaction; returns how many were new.

        A later version replaces the stored one; an older or equal one (the same
        paper met again in a backfill) changes nothing.
        """
        with self._session() as s:
            return _upsert(s, papers, seen_at)

    def papers_since(self, since: datetime, until: datetime | None = None) -> list[Paper]:
        """Papers first published in [since, until): the radar's recent pool."""
        with self._session() as s:
            q = select(m.Paper).where(m.Paper.published >= since)
            if until is not None:
                q = q.where(m.Paper.published < until)
            return [_paper(row) for row in s.scalars(q.order_by(m.Paper.published.desc()))]

    def papers_by_key(self, keys: Sequence[str]) -> dict[str, Paper]:
        out: dict[str, Paper] = {}
        with self._session() as s:
            for i in range(0, len(keys), _CHUNK):
                q = select(m.Paper).where(m.Paper.key.in_(keys[i : i + _CHUNK]))
                out.update((row.key, _paper(row)) for row in s.scalars(q))
        return out

    def paper_count(self) -> int:
        with self._session() as s:
            return int(s.scalar(select(func.count(m.Paper.id))) or 0)

    # -- what a channel has been shown -------------------------------------

    def seen_keys(self, channel_id: int, keys: Sequence[str]) -> set[str]:
        out: set[str] = set()
        with self._session() as s:
            for i in range(0, len(keys), _CHUNK):
                q = (
                    select(m.Paper.key)
                    .join(m.Seen, m.Seen.paper_id == m.Paper.id)
                    .where(m.Seen.channel_id == channel_id, m.Paper.key.in_(keys[i : i + _CHUNK]))
                )
                out.update(s.scalars(q))
        return out

    def seen_among(self, channel_ids: Sequence[int], keys: Sequence[str]) -> dict[int, set[str]]:
        """For many channels at once: which of ``keys`` each has been shown."""
        out: dict[int, set[str]] = {}
        if not channel_ids or not keys:
            return out
        wanted = set(channel_ids)
        with self._session() as s:
            for i in range(0, len(keys), _CHUNK):
                q = (
                    select(m.Seen.channel_id, m.Paper.key)
                    .join(m.Paper, m.Seen.paper_id == m.Paper.id)
                    .where(m.Paper.key.in_(keys[i : i + _CHUNK]))
                )
                for cid, key in s.execute(q):
                    if cid in wanted:
                        out.setdefault(cid, set()).add(key)
        return out

    def digest_caps(self, channel_ids: Sequence[int]) -> dict[int, int]:
        out: dict[int, int] = {}
        with self._session() as s:
            for i in range(0, len(channel_ids), _CHUNK):
                q = select(m.Channel.id, m.Channel.digest_cap).where(
                    m.Channel.id.in_(channel_ids[i : i + _CHUNK])
                )
                out.update((cid, cap) for cid, cap in s.execute(q))
        return out

    def mark_seen(self, channel_id: int, keys: Sequence[str], when: datetime, via: str) -> None:
        with self._session() as s:
            _mark_seen(s, channel_id, keys, when, via)

    # -- digest runs and posts ---------------------------------------------

    def claim_run(
        self,
        channel_id: int,
        run_key: str,
        trigger: str,
        planned: Sequence[str],
        more: int,
        when: datetime,
    ) -> RunInfo | None:
        """Insert the run row; None when (channel, run_key) was already claimed.

        The unique constraint does the deciding, so two processes racing for
        the same run cannot both win, on SQLite or PostgreSQL.
        """
        try:
            with self._session() as s:
                row = m.DigestRun(
                    channel_id=channel_id,
                    run_key=run_key,
                    trigger=trigger,
                    planned=list(planned),
                    more=more,
                    started_at=when,
                )
                s.add(row)
                s.flush()
                # The planned papers join the never-repeat ledger with the claim,
                # so no other plan can pick them while this run is delivered.
                _mark_seen(s, channel_id, planned, when, "digest")
                return _run(row)
        except IntegrityError:
            return None

    def finish_run(self, run_id: int, when: datetime, status: str = "done") -> None:
        with self._session() as s:
            row = s.get_one(m.DigestRun, run_id)
            row.status, row.finished_at = status, when

    def last_run(self, channel_id: int) -> RunInfo | None:
        with self._session() as s:
            row = s.scalars(
                select(m.DigestRun)
                .where(m.DigestRun.channel_id == channel_id)
                .order_by(m.DigestRun.started_at.desc(), m.DigestRun.id.desc())
                .limit(1)
            ).first()
            return None if row is None else _run(row)

    def run(self, run_id: int) -> RunInfo:
        with self._session() as s:
            row = s.get(m.DigestRun, run_id)
            if row is None:
                raise NotFoundError(f"No digest run {run_id}.")
            return _run(row)

    def unfinished_runs(self) -> list[RunInfo]:
        """Runs claimed but not finished: a crash or an outage interrupted them."""
        with self._session() as s:
            rows = s.scalars(
                select(m.DigestRun).where(m.DigestRun.status == "claimed").order_by(m.DigestRun.id)
            )
            return [_run(row) for row in rows]

    def outbox(self, channel_id: int, marker: str) -> OutboxState | None:
        """What is known of the message ``marker`` in this channel, if anything."""
        with self._session() as s:
            row = s.scalars(
                select(m.Post).where(m.Post.channel_id == channel_id, m.Post.marker == marker)
            ).first()
            if row is None:
                return None
            return OutboxState(row.status, row.message_ref, row.created_at)

    def outbox_intend(
        self,
        channel_id: int,
        marker: str,
        when: datetime,
        run_id: int | None = None,
        paper_key: str | None = None,
        number: int | None = None,
    ) -> None:
        """Record that ``marker`` is about to be posted (status ``sending``).

        A card's paper enters the never-repeat ledger here, in the same
        transaction, so no later plan can pick it while this post is in flight.
        """
        with self._session() as s:
            paper_id = None
            if paper_key is not None:
                paper_id = s.scalar(select(m.Paper.id).where(m.Paper.key == paper_key))
                if paper_id is None:
                    raise NotFoundError(f"No stored paper {paper_key}.")
                seen = s.get(m.Seen, (channel_id, paper_id))
                if seen is None:
                    s.add(
                        m.Seen(
                            channel_id=channel_id, paper_id=paper_id, shown_at=when, via="digest"
                        )
                    )
            s.add(
                m.Post(
                    channel_id=channel_id,
                    marker=marker,
                    status="sending",
                    paper_id=paper_id,
                    run_id=run_id,
                    number=number,
                    created_at=when,
                )
            )

    def outbox_sent(self, channel_id: int, marker: str, message_ref: str, when: datetime) -> None:
        with self._session() as s:
            row = s.scalars(
                select(m.Post).where(m.Post.channel_id == channel_id, m.Post.marker == marker)
            ).one()
            row.status, row.message_ref, row.posted_at = "sent", message_ref, when

    def record_card(
        self,
        channel_id: int,
        paper_key: str,
        number: int,
        message_ref: str,
        when: datetime,
    ) -> None:
        """A card posted outside a digest (e.g. a shuffle), so its thread knows its paper."""
        marker = f"msg:{message_ref}"
        with self._session() as s:
            paper_id = s.scalar(select(m.Paper.id).where(m.Paper.key == paper_key))
            exists = s.scalar(
                select(m.Post.id).where(m.Post.channel_id == channel_id, m.Post.marker == marker)
            )
            if paper_id is None or exists is not None:
                return
            s.add(
                m.Post(
                    channel_id=channel_id,
                    marker=marker,
                    status="sent",
                    paper_id=paper_id,
                    number=number,
                    message_ref=message_ref,
                    created_at=when,
                    posted_at=when,
                )
            )

    def paper_for_message(self, channel_id: int, message_ref: str) -> Paper | None:
        with self._session() as s:
            row = s.scalars(
                select(m.Paper)
                .join(m.Post, m.Post.paper_id == m.Paper.id)
                .where(m.Post.channel_id == channel_id, m.Post.message_ref == message_ref)
                .order_by(m.Post.id.desc())
                .limit(1)
            ).first()
            return None if row is None else _paper(row)

    # -- harvests ---------------------------------------------------------

    def harvested_since(self, source: str, scope: str, since: datetime) -> bool:
        """Whether a pass over ``scope`` completed at or after ``since``."""
        with self._session() as s:
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

    def harvest_count(self) -> int:
        with self._session() as s:
            return int(s.scalar(select(func.count(m.Harvest.id))) or 0)

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
        with self._session() as s:
            new = _upsert(s, papers, when)
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

    # -- helpers -------------------------------------------------------------

    @staticmethod
    def _find_channel(s: Session, ref: ChannelRef) -> m.Channel | None:
        return s.scalars(
            select(m.Channel)
            .options(selectinload(m.Channel.chips))
            .where(
                m.Channel.platform == ref.platform,
                m.Channel.workspace == ref.workspace,
                m.Channel.channel == ref.channel,
            )
        ).first()

    @staticmethod
    def _state(s: Session, row: m.Channel, last_digest: bool = True) -> ChannelState:
        last = None
        if last_digest:
            last = s.scalar(
                select(func.max(m.DigestRun.finished_at)).where(m.DigestRun.channel_id == row.id)
            )
        return ChannelState(
            id=row.id,
            ref=ChannelRef(row.platform, row.workspace, row.channel, row.name),
            chips=tuple((c.id, Chip(ChipKind(c.kind), c.value)) for c in row.chips),
            digest_cap=row.digest_cap,
            schedule_time=row.schedule_time,
            schedule_tz=row.schedule_tz,
            brief_cadence=row.brief_cadence,
            last_shuffle=tuple(row.last_shuffle or ()),
            last_digest_at=last,
        )


def _mark_seen(s: Session, channel_id: int, keys: Sequence[str], when: datetime, via: str) -> None:
    if not keys:
        return
    ids = dict(s.execute(select(m.Paper.key, m.Paper.id).where(m.Paper.key.in_(keys))).all())
    already = set(
        s.scalars(
            select(m.Seen.paper_id).where(
                m.Seen.channel_id == channel_id, m.Seen.paper_id.in_(ids.values())
            )
        )
    )
    for key in keys:
        pid = ids.get(key)
        if pid is not None and pid not in already:
            s.add(m.Seen(channel_id=channel_id, paper_id=pid, shown_at=when, via=via))
            already.add(pid)


def _upsert(s: Session, papers: Iterable[Paper], seen_at: datetime) -> int:
    by_key: dict[str, Paper] = {}
    for paper in papers:
        current = by_key.get(paper.key)
        if current is None or paper.version > current.version:
            by_key[paper.key] = paper
    new = 0
    keys = list(by_key)
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        existing = {
            row.key: row for row in s.scalars(select(m.Paper).where(m.Paper.key.in_(chunk)))
        }
        for key in chunk:
            paper = by_key[key]
            row = existing.get(key)
            if row is None:
                s.add(_paper_row(paper, seen_at))
                new += 1
            elif paper.version > row.version:
                _update_row(row, paper)
    return new


def _paper_row(p: Paper, seen_at: datetime) -> m.Paper:
    row = m.Paper(key=p.key, source=p.source, first_seen=seen_at)
    _update_row(row, p)
    return row


def _update_row(row: m.Paper, p: Paper) -> None:
    row.version = p.version
    row.title, row.abstract = p.title, p.abstract
    row.authors, row.categories = list(p.authors), list(p.categories)
    row.primary_category = p.primary_category
    row.published, row.updated = p.published, p.updated
    row.url, row.pdf_url, row.doi = p.url, p.pdf_url, p.doi
    row.journal_ref, row.comment = p.journal_ref, p.comment


def _paper(row: m.Paper) -> Paper:
    return Paper(
        key=row.key,
        source=row.source,
        title=row.title,
        abstract=row.abstract,
        authors=tuple(row.authors or ()),
        categories=tuple(row.categories or ()),
        primary_category=row.primary_category,
        published=row.published,
        updated=row.updated,
        url=row.url,
        version=row.version,
        pdf_url=row.pdf_url,
        doi=row.doi,
        journal_ref=row.journal_ref,
        comment=row.comment,
    )


def _run(row: m.DigestRun) -> RunInfo:
    return RunInfo(
        id=row.id,
        channel_id=row.channel_id,
        run_key=row.run_key,
        trigger=row.trigger,
        status=row.status,
        planned=tuple(row.planned or ()),
        more=row.more,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )
