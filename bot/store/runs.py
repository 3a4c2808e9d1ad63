"""Runs and the outbox: digest runs, posted messages, the never-repeat ledger, cards.

What makes delivery exactly-once lives here: a run is claimed by a unique
row, every message is recorded before it is sent (``outbox_intend``) and
after (``outbox_sent``), and a paper enters a channel's seen ledger with the
claim or the intent that will show it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.paper import Paper
from bot.errors import NotFoundError
from bot.store import models as m
from bot.store.db import chunked, insert_for
from bot.store.papers import paper_ids, to_paper
from bot.store.records import OutboxState, RunInfo
from bot.store.unit import Units


class Runs:
    """Digest runs, the outbox of posted messages, and what each channel has been shown."""

    def __init__(self, units: Units) -> None:
        self._units = units

    # -- what a channel has been shown ---------------------------------------

    def seen_keys(self, channel_id: int, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` the channel has been shown (a merged paper's aliases
        count as the paper: one work is never shown twice)."""
        with self._units.session() as s:
            ids = paper_ids(s, keys)
            shown: set[int] = set()
            for chunk in chunked(sorted(set(ids.values()))):
                q = select(m.Seen.paper_id).where(
                    m.Seen.channel_id == channel_id, m.Seen.paper_id.in_(chunk)
                )
                shown.update(s.scalars(q))
        return {key for key, pid in ids.items() if pid in shown}

    def seen_among(self, channel_ids: Sequence[int], keys: Sequence[str]) -> dict[int, set[str]]:
        """For many channels at once: which of ``keys`` each has been shown."""
        out: dict[int, set[str]] = {}
        if not channel_ids or not keys:
            return out
        wanted = set(channel_ids)
        with self._units.session() as s:
            ids = paper_ids(s, keys)
            keys_of: dict[int, list[str]] = {}
            for key, pid in ids.items():
                keys_of.setdefault(pid, []).append(key)
            for chunk in chunked(sorted(keys_of)):
                q = select(m.Seen.channel_id, m.Seen.paper_id).where(m.Seen.paper_id.in_(chunk))
                for cid, pid in s.execute(q):
                    if cid in wanted:
                        out.setdefault(cid, set()).update(keys_of[pid])
        return out

    def mark_seen(self, channel_id: int, keys: Sequence[str], when: datetime, via: str) -> None:
        with self._units.session() as s:
            mark_seen(s, channel_id, keys, when, via)

    # -- digest runs ------------------------------------------------------------

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
        with self._units.session() as s:
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
            mark_seen(s, channel_id, planned, when, "digest")
            return _run(s.get_one(m.DigestRun, run_id))

    def finish_run(self, run_id: int, when: datetime, status: str = "done") -> None:
        with self._units.session() as s:
            row = s.get_one(m.DigestRun, run_id)
            row.status, row.finished_at = status, when

    def last_run(self, channel_id: int) -> RunInfo | None:
        with self._units.session() as s:
            row = s.scalars(
                select(m.DigestRun)
                .where(m.DigestRun.channel_id == channel_id)
                .order_by(m.DigestRun.started_at.desc(), m.DigestRun.id.desc())
                .limit(1)
            ).first()
            return None if row is None else _run(row)

    def run(self, run_id: int) -> RunInfo:
        with self._units.session() as s:
            row = s.get(m.DigestRun, run_id)
            if row is None:
                raise NotFoundError(f"No digest run {run_id}.")
            return _run(row)

    def unfinished_runs(self) -> list[RunInfo]:
        """Runs claimed but not finished: a crash or an outage interrupted them."""
        with self._units.session() as s:
            rows = s.scalars(
                select(m.DigestRun).where(m.DigestRun.status == "claimed").order_by(m.DigestRun.id)
            )
            return [_run(row) for row in rows]

    def runs_since(self, channel_id: int, since: datetime) -> list[RunInfo]:
        """The channel's digest runs started at or after ``since``, oldest first."""
        with self._units.session() as s:
            rows = s.scalars(
                select(m.DigestRun)
                .where(m.DigestRun.channel_id == channel_id, m.DigestRun.started_at >= since)
                .order_by(m.DigestRun.started_at, m.DigestRun.id)
            )
            return [_run(row) for row in rows]

    def claimed_runs(self, run_keys: Sequence[str]) -> set[tuple[int, str]]:
        """(channel id, run key) of every run claimed under one of ``run_keys``."""
        out: set[tuple[int, str]] = set()
        with self._units.session() as s:
            for chunk in chunked(sorted(set(run_keys))):
                q = select(m.DigestRun.channel_id, m.DigestRun.run_key).where(
                    m.DigestRun.run_key.in_(chunk)
                )
                out.update((cid, key) for cid, key in s.execute(q))
        return out

    def claim_auto_brief(self, channel_id: int, period: str, when: datetime) -> bool:
        """Claim the automatic briefing of ``period``; False when already claimed."""
        with self._units.session() as s:
            claimed = s.scalar(
                insert_for(s, m.AutoBrief)
                .values(channel_id=channel_id, period=period, created_at=when)
                .on_conflict_do_nothing(index_elements=["channel_id", "period"])
                .returning(m.AutoBrief.id)
            )
            return claimed is not None

    # -- the outbox ---------------------------------------------------------------

    def outbox(self, channel_id: int, marker: str) -> OutboxState | None:
        """What is known of the message ``marker`` in this channel, if anything."""
        with self._units.session() as s:
            row = s.scalars(
                select(m.Post).where(m.Post.channel_id == channel_id, m.Post.marker == marker)
            ).first()
            if row is None:
                return None
            return OutboxState(row.status, row.message_ref, row.created_at)

    def outbox_states(self, channel_id: int, markers: Sequence[str]) -> dict[str, OutboxState]:
        """What is known of each of ``markers`` in this channel (absent: nothing yet)."""
        out: dict[str, OutboxState] = {}
        with self._units.session() as s:
            for chunk in chunked(markers):
                q = select(m.Post).where(m.Post.channel_id == channel_id, m.Post.marker.in_(chunk))
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
        with self._units.session() as s:
            paper_id = None
            if paper_key is not None:
                paper_id = paper_ids(s, [paper_key]).get(paper_key)
                if paper_id is None:
                    raise NotFoundError(f"No stored paper {paper_key}.")
                mark_seen(s, channel_id, [paper_key], when, "digest")
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
        with self._units.session() as s:
            row = s.scalars(
                select(m.Post).where(m.Post.channel_id == channel_id, m.Post.marker == marker)
            ).one()
            row.status, row.message_ref, row.posted_at = "sent", message_ref, when

    def outbox_step(
        self,
        channel_id: int,
        when: datetime,
        *,
        sent: Sequence[tuple[str, str]] = (),
        intend: Sequence[tuple[str, str | None, int | None]] = (),
        run_id: int | None = None,
        seen: bool = True,
        finish_run: int | None = None,
    ) -> None:
        """One step of a delivery (``bot.digest.deliver``), in one transaction:
        the messages ``sent`` (marker, message id) recorded as posted; those in
        ``intend`` (marker, card's paper key, card number; None, None for a
        header or footer) recorded as about to be, under ``run_id``, each card
        with its paper and number so its thread knows its paper once sent, the
        paper entering the never-repeat ledger when ``seen`` (a digest's card,
        not a shuffle's); and run ``finish_run`` finished. A reply of many
        messages costs a commit or two, not several per message."""
        with self._units.session() as s:
            refs = dict(sent)
            if refs:
                rows = s.scalars(
                    select(m.Post).where(
                        m.Post.channel_id == channel_id, m.Post.marker.in_(list(refs))
                    )
                )
                for row in rows:
                    row.status, row.message_ref, row.posted_at = "sent", refs[row.marker], when
            keys = [key for _, key, _ in intend if key is not None]
            ids = paper_ids(s, keys) if keys else {}
            missing = [key for key in keys if key not in ids]
            if missing:
                raise NotFoundError(f"No stored paper {missing[0]}.")
            if keys and seen:
                mark_seen(s, channel_id, keys, when, "digest")
            s.add_all(
                m.Post(
                    channel_id=channel_id,
                    marker=marker,
                    status="sending",
                    paper_id=ids[key] if key is not None else None,
                    run_id=run_id,
                    number=number,
                    created_at=when,
                )
                for marker, key, number in intend
            )
            if finish_run is not None:
                run = s.get_one(m.DigestRun, finish_run)
                run.status, run.finished_at = "done", when

    # -- cards: which message shows which paper -------------------------------------

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
        with self._units.session() as s:
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
        with self._units.session() as s:
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
        with self._units.session() as s:
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


def mark_seen(s: Session, channel_id: int, keys: Sequence[str], when: datetime, via: str) -> None:
    """Mark papers as shown in the channel, inside the caller's unit of work; a
    mark already there (perhaps written a moment ago by another command) keeps
    its time and way."""
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
