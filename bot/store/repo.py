"""``Store``: the one narrow door between the bot and its database.

Every method is one unit of work (one transaction), takes and returns neutral
values (``bot.core`` dataclasses, keys, ints), and never leaks ORM objects, so
callers cannot trigger lazy loads or half-commits by accident.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Engine,
    and_,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, selectinload

from bot.core.channel import ChannelRef, ChannelState
from bot.core.chips import WATCH_KINDS, Chip, ChipKind
from bot.core.paper import Paper
from bot.errors import NotFoundError, StoreError
from bot.store import models as m
from bot.store.db import explain, insert_for, make_engine, make_sessionmaker
from bot.store.locks import Locks
from bot.store.papers import PapersChanged, paper_ids, to_paper, upsert
from bot.store.records import (
    CachedText,
    OutboxState,
    RunInfo,
    ScheduleRow,
    StoredText,
    Turn,
)

__all__ = [
    "CachedText",
    "Locks",
    "OutboxState",
    "RunInfo",
    "ScheduleRow",
    "Store",
    "StoredText",
    "Turn",
]

try:  # POSIX record locks for SQLite files; absent on Windows
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

_CHUNK = 500


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = make_sessionmaker(engine)

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(make_engine(url))

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """One unit of work: committed whole, or rolled back whole.

        A fault of the database itself (disk full, read-only file, server gone)
        becomes a ``StoreError`` whose message says what failed, where (the
        password masked) and what to do, so every entry point reports it in
        one line; constraint violations and SQL mistakes stay what they are
        (bugs, not conditions a person can fix).
        """
        session = self._sessions()
        try:
            yield session
            session.commit()
        except DBAPIError as exc:
            with suppress(Exception):  # a dead connection cannot roll back either
                session.rollback()
            if isinstance(exc, OperationalError | ProgrammingError) and (
                "no such table" in str(exc) or "does not exist" in str(exc)
            ):
                raise StoreError(
                    "The database has no Paper Radar tables yet: run `paper-radar db upgrade`."
                ) from exc
            if isinstance(exc, IntegrityError | ProgrammingError) or exc.orig is None:
                raise
            raise StoreError(explain(exc, self.engine.url)) from exc
        except BaseException:
            with suppress(Exception):
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
                # Another worker may create it between our select and insert:
                # then its row stands, and is the one we return.
                s.execute(
                    insert_for(s, m.Channel)
                    .values(
                        platform=ref.platform,
                        workspace=ref.workspace,
                        channel=ref.channel,
                        name=ref.name,
                        digest_cap=digest_cap,
                    )
                    .on_conflict_do_nothing(index_elements=["platform", "workspace", "channel"])
                )
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
            for channel_id, kind, value, ref, names, evidence in s.execute(
                select(
                    m.Chip.channel_id,
                    m.Chip.kind,
                    m.Chip.value,
                    m.Chip.ref,
                    m.Chip.names,
                    m.Chip.evidence,
                ).order_by(m.Chip.id)
            ):
                out.setdefault(channel_id, []).append(_chip(kind, value, ref, names, evidence))
            return out

    def followed_authors(self) -> list[str]:
        """The distinct OpenAlex author ids any channel's chips follow, sorted
        (what the daily harvest asks OpenAlex about: one entry per person,
        however many channels follow them)."""
        with self._session() as s:
            refs = s.scalars(
                select(m.Chip.ref)
                .where(m.Chip.kind == ChipKind.AUTHOR.value, m.Chip.ref.like("openalex:%"))
                .distinct()
            )
            return sorted({ref.split(":", 1)[1] for ref in refs if ref and ref.split(":", 1)[1]})

    def add_chip(
        self,
        channel_id: int,
        chip: Chip,
        shown: Sequence[str] = (),
        when: datetime | None = None,
        via: str = "chip",
    ) -> bool:
        """Add ``chip``, and mark the papers ``shown`` with it as seen (at ``when``),
        in one transaction; False when the channel already has the chip (then
        nothing changes, the marks included).

        One transaction for both, so a reply that shows cards under a new chip
        never leaves the chip without its cards' marks, or the marks without
        the chip. The insert is ``ON CONFLICT DO NOTHING``: the same chip typed
        twice at once is added once, and the other command hears it exists.
        """
        with self._session() as s:
            added = s.scalar(
                insert_for(s, m.Chip)
                .values(
                    channel_id=channel_id,
                    kind=chip.kind.value,
                    value=chip.value,
                    ref=chip.ref,
                    names=list(chip.names) if chip.names else None,
                    evidence=list(chip.evidence) if chip.evidence else None,
                )
                .on_conflict_do_nothing(index_elements=["channel_id", "kind", "value"])
                .returning(m.Chip.id)
            )
            if added is None:
                return False
            if shown:
                _mark_seen(s, channel_id, shown, when or m.utcnow(), via)
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

    def pending(self, channel_id: int) -> dict[str, Any] | None:
        """The channel's pending author choice, as ``set_pending`` stored it."""
        if not channel_id:
            return None
        with self._session() as s:
            row = s.get(m.Channel, channel_id)
            return None if row is None or not row.pending else dict(row.pending)

    def set_pending(self, channel_id: int, choice: dict[str, Any] | None) -> None:
        """Store (or with None, drop) the channel's one pending author choice."""
        with self._session() as s:
            s.get_one(m.Channel, channel_id).pending = choice

    # -- papers -------------------------------------------------------------

    def upsert_papers(self, papers: Iterable[Paper], seen_at: datetime) -> int:
        """Store papers in one transaction; returns how many were new.

        A later version replaces the stored one; an older or equal one (the same
        paper met again in a backfill) changes nothing. Safe to call from
        concurrent commands and processes (see ``bot.store.papers``).
        """
        batch = list(papers)
        return self._storing(lambda s: upsert(s, batch, seen_at))

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
                with self._session() as s:
                    return work(s)
            except (PapersChanged, IntegrityError):
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def papers_since(self, since: datetime, until: datetime | None = None) -> list[Paper]:
        """Papers first published in [since, until): the radar's recent pool."""
        with self._session() as s:
            q = select(m.Paper).where(m.Paper.published >= since)
            if until is not None:
                q = q.where(m.Paper.published < until)
            return [to_paper(row) for row in s.scalars(q.order_by(m.Paper.published.desc()))]

    def papers_by_key(self, keys: Sequence[str]) -> dict[str, Paper]:
        """Stored papers by key. A key a merged paper had before (an alias)
        finds that paper, under the key it was asked for."""
        out: dict[str, Paper] = {}
        with self._session() as s:
            ids = paper_ids(s, keys)
            wanted = sorted(set(ids.values()))
            rows: dict[int, Paper] = {}
            for i in range(0, len(wanted), _CHUNK):
                q = select(m.Paper).where(m.Paper.id.in_(wanted[i : i + _CHUNK]))
                rows.update((row.id, to_paper(row)) for row in s.scalars(q))
            for key, pid in ids.items():
                if pid in rows:
                    out[key] = rows[pid]
        return out

    def paper_count(self) -> int:
        with self._session() as s:
            return int(s.scalar(select(func.count(m.Paper.id))) or 0)

    # -- what a channel has been shown -------------------------------------

    def seen_keys(self, channel_id: int, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` the channel has been shown (a merged paper's aliases
        count as the paper: one work is never shown twice)."""
        with self._session() as s:
            ids = paper_ids(s, keys)
            wanted = sorted(set(ids.values()))
            shown: set[int] = set()
            for i in range(0, len(wanted), _CHUNK):
                q = select(m.Seen.paper_id).where(
                    m.Seen.channel_id == channel_id, m.Seen.paper_id.in_(wanted[i : i + _CHUNK])
                )
                shown.update(s.scalars(q))
        return {key for key, pid in ids.items() if pid in shown}

    def seen_among(self, channel_ids: Sequence[int], keys: Sequence[str]) -> dict[int, set[str]]:
        """For many channels at once: which of ``keys`` each has been shown."""
        out: dict[int, set[str]] = {}
        if not channel_ids or not keys:
            return out
        wanted = set(channel_ids)
        with self._session() as s:
            ids = paper_ids(s, keys)
            keys_of: dict[int, list[str]] = {}
            for key, pid in ids.items():
                keys_of.setdefault(pid, []).append(key)
            pids = sorted(keys_of)
            for i in range(0, len(pids), _CHUNK):
                q = select(m.Seen.channel_id, m.Seen.paper_id).where(
                    m.Seen.paper_id.in_(pids[i : i + _CHUNK])
                )
                for cid, pid in s.execute(q):
                    if cid in wanted:
                        out.setdefault(cid, set()).update(keys_of[pid])
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
        with self._session() as s:
            run_id = s.scalar(
                insert_for(s, m.DigestRun)
                .values(
                    channel_id=channel_id,
                    run_key=run_key,
                    trigger=trigger,
                    status="claimed",
                    planned=list(planned),
                    more=more,
                    started_at=when,
                )
                .on_conflict_do_nothing(index_elements=["channel_id", "run_key"])
                .returning(m.DigestRun.id)
            )
            if run_id is None:
                return None
            # The planned papers join the never-repeat ledger with the claim,
            # so no other plan can pick them while this run is delivered.
            _mark_seen(s, channel_id, planned, when, "digest")
            return _run(s.get_one(m.DigestRun, run_id))

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

    # -- the scheduler's reads and cross-process locks -------------------------

    def schedules(self, include_unset: bool = False) -> list[ScheduleRow]:
        """Every channel with a daily digest time, in one query: the scheduler's job set.

        ``include_unset`` adds channels that never set a schedule (time and
        zone both empty) but watch something, for ``schedule.default_time``;
        ``/radar schedule off`` keeps the zone, so a channel that opted out
        stays out.
        """
        with self._session() as s:
            cond = m.Channel.schedule_time.is_not(None)
            if include_unset:
                watching = select(m.Chip.channel_id).where(
                    m.Chip.kind.in_([k.value for k in WATCH_KINDS])
                )
                cond = or_(
                    cond,
                    and_(
                        m.Channel.schedule_time.is_(None),
                        m.Channel.schedule_tz.is_(None),
                        m.Channel.id.in_(watching),
                    ),
                )
            q = select(
                m.Channel.id,
                m.Channel.platform,
                m.Channel.workspace,
                m.Channel.channel,
                m.Channel.name,
                m.Channel.schedule_time,
                m.Channel.schedule_tz,
            ).where(cond)
            return [
                ScheduleRow(cid, ChannelRef(platform, ws, ch, name or ""), time, tz)
                for cid, platform, ws, ch, name, time, tz in s.execute(q.order_by(m.Channel.id))
            ]

    def channels_by_ids(self, channel_ids: Sequence[int]) -> dict[int, ChannelState]:
        """Many channels' states in a few queries (without ``last_digest_at``)."""
        out: dict[int, ChannelState] = {}
        ids = list(channel_ids)
        with self._session() as s:
            for i in range(0, len(ids), _CHUNK):
                q = (
                    select(m.Channel)
                    .options(selectinload(m.Channel.chips))
                    .where(m.Channel.id.in_(ids[i : i + _CHUNK]))
                )
                out.update((row.id, self._state(s, row, last_digest=False)) for row in s.scalars(q))
        return out

    def claimed_runs(self, run_keys: Sequence[str]) -> set[tuple[int, str]]:
        """(channel id, run key) of every run claimed under one of ``run_keys``."""
        keys = sorted(set(run_keys))
        out: set[tuple[int, str]] = set()
        with self._session() as s:
            for i in range(0, len(keys), _CHUNK):
                q = select(m.DigestRun.channel_id, m.DigestRun.run_key).where(
                    m.DigestRun.run_key.in_(keys[i : i + _CHUNK])
                )
                out.update((cid, key) for cid, key in s.execute(q))
        return out

    def last_harvest_at(self, source: str, scope: str) -> datetime | None:
        """When the latest completed pass over ``scope`` finished, if any."""
        with self._session() as s:
            return s.scalar(
                select(func.max(m.Harvest.fetched_at)).where(
                    m.Harvest.source == source, m.Harvest.scope == scope
                )
            )

    def papers_first_seen(self, since: datetime, until: datetime) -> int:
        """How many papers the store first met in ``(since, until]``."""
        with self._session() as s:
            return int(
                s.scalar(
                    select(func.count(m.Paper.id)).where(
                        m.Paper.first_seen > since, m.Paper.first_seen <= until
                    )
                )
                or 0
            )

    def locks(self) -> Locks:
        """Cross-process locks on this database (see ``Locks``); close them when done."""
        return Locks(self.engine)

    def outbox(self, channel_id: int, marker: str) -> OutboxState | None:
        """What is known of the message ``marker`` in this channel, if anything."""
        with self._session() as s:
            row = s.scalars(
                select(m.Post).where(m.Post.channel_id == channel_id, m.Post.marker == marker)
            ).first()
            if row is None:
                return None
            return OutboxState(row.status, row.message_ref, row.created_at)

    def outbox_states(self, channel_id: int, markers: Sequence[str]) -> dict[str, OutboxState]:
        """What is known of each of ``markers`` in this channel (absent: nothing yet)."""
        out: dict[str, OutboxState] = {}
        with self._session() as s:
            for i in range(0, len(markers), _CHUNK):
                q = select(m.Post).where(
                    m.Post.channel_id == channel_id, m.Post.marker.in_(markers[i : i + _CHUNK])
                )
                for row in s.scalars(q):
                    out[row.marker] = OutboxState(row.status, row.message_ref, row.created_at)
        return out

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
                paper_id = paper_ids(s, [paper_key]).get(paper_key)
                if paper_id is None:
                    raise NotFoundError(f"No stored paper {paper_key}.")
                _mark_seen(s, channel_id, [paper_key], when, "digest")
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
            paper_id = paper_ids(s, [paper_key]).get(paper_key)
            if paper_id is None:
                return
            s.execute(
                insert_for(s, m.Post)
                .values(
                    channel_id=channel_id,
                    marker=marker,
                    status="sent",
                    paper_id=paper_id,
                    number=number,
                    message_ref=message_ref,
                    created_at=when,
                    posted_at=when,
                )
                .on_conflict_do_nothing(index_elements=["channel_id", "marker"])
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
            return None if row is None else to_paper(row)

    def posted_card(
        self, channel_id: int, *, number: int | None = None, paper_key: str | None = None
    ) -> tuple[str, Paper] | None:
        """The newest card that reached this channel with ``number`` (as the
        channel saw it numbered) or of the paper ``paper_key``: its message id,
        where its thread is, and its paper. None when there is no such card."""
        with self._session() as s:
            q = (
                select(m.Post.message_ref, m.Paper)
                .join(m.Paper, m.Post.paper_id == m.Paper.id)
                .where(m.Post.channel_id == channel_id, m.Post.message_ref.is_not(None))
            )
            if number is not None:
                q = q.where(m.Post.number == number)
            if paper_key is not None:
                paper_id = paper_ids(s, [paper_key]).get(paper_key)
                if paper_id is None:
                    return None
                q = q.where(m.Post.paper_id == paper_id)
            row = s.execute(q.order_by(m.Post.id.desc()).limit(1)).first()
            return None if row is None else (str(row[0]), to_paper(row[1]))

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

    # -- language model: cache, budget, full texts, threads, auto briefs ----

    def llm_result(self, key: str) -> CachedText | None:
        with self._session() as s:
            row = s.scalars(select(m.LlmResult).where(m.LlmResult.key == key)).first()
            if row is None:
                return None
            return CachedText(row.text, row.model, row.prompt_tokens, row.completion_tokens)

    def save_llm_result(
        self,
        key: str,
        kind: str,
        model: str,
        prompt_version: str,
        text: str,
        prompt_tokens: int,
        completion_tokens: int,
        when: datetime,
    ) -> None:
        """Cache a result; a concurrent writer of the same key wins quietly (same content)."""
        with self._session() as s:
            s.execute(
                insert_for(s, m.LlmResult)
                .values(
                    key=key,
                    kind=kind,
                    model=model[:200],
                    prompt_version=prompt_version,
                    text=text,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    created_at=when,
                )
                .on_conflict_do_nothing(index_elements=["key"])
            )

    # The daily tallies (``models.LlmUsage``) change only through single
    # conditional UPDATEs, never read-modify-write: the database serialises
    # them (a row lock on PostgreSQL, the one writer on SQLite), so threads and
    # processes sharing a budget cannot all see room and all spend it.

    def llm_spent(self, workspace: str, day: str) -> int:
        """Tokens ``workspace`` has spent (or reserved) on ``day`` (YYYY-MM-DD, UTC)."""
        with self._session() as s:
            row = s.get(m.LlmUsage, (workspace, day))
            return 0 if row is None else row.tokens

    def reserve_llm(self, workspace: str, day: str, tokens: int, budget: int) -> tuple[bool, int]:
        """Reserve ``tokens`` of the day's ``budget`` (0: unlimited) before a call.

        Returns (reserved, tally): the new tally when the reservation fits,
        else False and the tally as it stands (nothing changed). Settle it
        with ``settle_llm`` after the call, or give it back with
        ``release_llm`` when the call fails.
        """
        with self._session() as s:
            _usage_row(s, workspace, day)
            q = update(m.LlmUsage).where(m.LlmUsage.workspace == workspace, m.LlmUsage.day == day)
            if budget > 0:
                q = q.where(m.LlmUsage.tokens + tokens <= budget)
            total = s.scalar(
                q.values(tokens=m.LlmUsage.tokens + tokens)
                .returning(m.LlmUsage.tokens)
                .execution_options(synchronize_session=False)
            )
            if total is not None:
                return True, int(total)
            spent = s.scalar(
                select(m.LlmUsage.tokens).where(
                    m.LlmUsage.workspace == workspace, m.LlmUsage.day == day
                )
            )
            return False, int(spent or 0)

    def settle_llm(self, workspace: str, day: str, reserved: int, used: int) -> int:
        """Replace a reservation with the tokens the call really used, and count
        the call; returns the day's new tally."""
        with self._session() as s:
            _usage_row(s, workspace, day)
            total = s.scalar(
                update(m.LlmUsage)
                .where(m.LlmUsage.workspace == workspace, m.LlmUsage.day == day)
                .values(tokens=m.LlmUsage.tokens - reserved + used, calls=m.LlmUsage.calls + 1)
                .returning(m.LlmUsage.tokens)
                .execution_options(synchronize_session=False)
            )
            return int(total or 0)

    def release_llm(self, workspace: str, day: str, reserved: int) -> None:
        """Give back a reservation whose call failed (nothing was spent)."""
        with self._session() as s:
            s.execute(
                update(m.LlmUsage)
                .where(m.LlmUsage.workspace == workspace, m.LlmUsage.day == day)
                .values(
                    tokens=case(
                        (m.LlmUsage.tokens > reserved, m.LlmUsage.tokens - reserved), else_=0
                    )
                )
                .execution_options(synchronize_session=False)
            )

    def charge_llm(self, workspace: str, day: str, tokens: int) -> int:
        """Add one call's tokens to the day's tally; returns the new total."""
        return self.settle_llm(workspace, day, 0, tokens)

    def count_request(self, day: str, limits: Sequence[tuple[str, int]]) -> str | None:
        """Count one request against each ``(tally, cap)`` of ``day``, all or none.

        Returns None when every tally was below its cap (each is now one
        higher), else the first tally that is full (then none changed). A cap
        of 0 means no limit. The tallies share ``llm_usage`` with the token
        budgets under their own names (``quota:…``), counted in ``calls``.
        """
        try:
            with self._session() as s:
                for name, cap in limits:
                    _usage_row(s, name, day)
                    q = update(m.LlmUsage).where(
                        m.LlmUsage.workspace == name, m.LlmUsage.day == day
                    )
                    if cap > 0:
                        q = q.where(m.LlmUsage.calls < cap)
                    counted = s.scalar(
                        q.values(calls=m.LlmUsage.calls + 1)
                        .returning(m.LlmUsage.calls)
                        .execution_options(synchronize_session=False)
                    )
                    if counted is None:
                        raise _Full(name)
        except _Full as full:
            return full.name
        return None

    def full_text(self, paper_key: str) -> StoredText | None:
        with self._session() as s:
            paper_id = paper_ids(s, [paper_key]).get(paper_key)
            row = None if paper_id is None else s.get(m.FullText, paper_id)
            if row is None:
                return None
            return StoredText(row.status, row.source, row.url, row.text, row.fetched_at)

    def save_full_text(
        self, paper_key: str, status: str, source: str, url: str, text: str, when: datetime
    ) -> None:
        """Store (or replace) a paper's full text; a paper not stored is ignored."""
        with self._session() as s:
            paper_id = paper_ids(s, [paper_key]).get(paper_key)
            if paper_id is None:
                return
            values = {
                "status": status,
                "source": source,
                "url": url[:500],
                "text": text,
                "fetched_at": when,
            }
            # Two questions about one paper may fetch it at once: the later text wins.
            stmt = insert_for(s, m.FullText).values(paper_id=paper_id, **values)
            s.execute(stmt.on_conflict_do_update(index_elements=["paper_id"], set_=values))

    def thread_turns(self, channel_id: int, thread_ref: str, limit: int = 8) -> list[Turn]:
        """The last ``limit`` turns of a card's thread, oldest first."""
        with self._session() as s:
            rows = s.scalars(
                select(m.ThreadTurn)
                .where(m.ThreadTurn.channel_id == channel_id, m.ThreadTurn.thread_ref == thread_ref)
                .order_by(m.ThreadTurn.id.desc())
                .limit(limit)
            ).all()
            return [Turn(row.role, row.text) for row in reversed(rows)]

    def add_thread_turns(
        self,
        channel_id: int,
        thread_ref: str,
        paper_key: str,
        turns: Sequence[Turn],
        when: datetime,
    ) -> None:
        with self._session() as s:
            paper_id = paper_ids(s, [paper_key]).get(paper_key)
            if paper_id is None:
                return
            for turn in turns:
                s.add(
                    m.ThreadTurn(
                        channel_id=channel_id,
                        thread_ref=thread_ref[:128],
                        paper_id=paper_id,
                        role=turn.role,
                        text=turn.text,
                        created_at=when,
                    )
                )

    def claim_auto_brief(self, channel_id: int, period: str, when: datetime) -> bool:
        """Claim the automatic briefing of ``period``; False when already claimed."""
        with self._session() as s:
            claimed = s.scalar(
                insert_for(s, m.AutoBrief)
                .values(channel_id=channel_id, period=period, created_at=when)
                .on_conflict_do_nothing(index_elements=["channel_id", "period"])
                .returning(m.AutoBrief.id)
            )
            return claimed is not None

    def runs_since(self, channel_id: int, since: datetime) -> list[RunInfo]:
        """The channel's digest runs started at or after ``since``, oldest first."""
        with self._session() as s:
            rows = s.scalars(
                select(m.DigestRun)
                .where(m.DigestRun.channel_id == channel_id, m.DigestRun.started_at >= since)
                .order_by(m.DigestRun.started_at, m.DigestRun.id)
            )
            return [_run(row) for row in rows]

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
            chips=tuple(
                (c.id, _chip(c.kind, c.value, c.ref, c.names, c.evidence)) for c in row.chips
            ),
            digest_cap=row.digest_cap,
            schedule_time=row.schedule_time,
            schedule_tz=row.schedule_tz,
            brief_cadence=row.brief_cadence,
            last_shuffle=tuple(row.last_shuffle or ()),
            last_digest_at=last,
        )


def _mark_seen(s: Session, channel_id: int, keys: Sequence[str], when: datetime, via: str) -> None:
    """Mark papers as shown in the channel; a mark already there (perhaps
    written a moment ago by another command) keeps its time and way."""
    if not keys:
        return
    ids = paper_ids(s, keys)
    pids = sorted({ids[key] for key in keys if key in ids})
    if not pids:
        return
    stmt = insert_for(s, m.Seen).on_conflict_do_nothing(index_elements=["channel_id", "paper_id"])
    s.execute(
        stmt,
        [{"channel_id": channel_id, "paper_id": pid, "shown_at": when, "via": via} for pid in pids],
    )


def _usage_row(s: Session, name: str, day: str) -> None:
    """Make sure the day's tally ``name`` exists (at zero), whoever creates it first."""
    s.execute(
        insert_for(s, m.LlmUsage)
        .values(workspace=name, day=day, tokens=0, calls=0)
        .on_conflict_do_nothing(index_elements=["workspace", "day"])
    )


class _Full(Exception):
    """A daily tally is at its cap: roll the whole count back."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _chip(
    kind: str,
    value: str,
    ref: str | None,
    names: list[str] | None,
    evidence: list[str] | None = None,
) -> Chip:
    return Chip(ChipKind(kind), value, ref, tuple(names or ()), tuple(evidence or ()))


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
