"""Runs and the outbox: digest runs, posted messages, the never-repeat ledger, cards.

What makes delivery exactly-once lives here: a run is claimed by a unique
row, every message is recorded before it is sent (``outbox_open``: a whole
post's intents in one transaction) and after (``outbox_step``: "sent" marks,
a batch at a time), and a paper enters a channel's seen ledger with the
claim or the intent that will show it. Many runs are claimed in one
transaction (``claim_runs``), so 10,000 due digests cost a few hundred
commits, not tens of thousands.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from bot.core.paper import Paper
from bot.errors import NotFoundError
from bot.store import models as m
from bot.store.db import chunked, insert_for
from bot.store.papers import paper_ids, to_paper
from bot.store.records import OutboxState, RunInfo
from bot.store.unit import Units

#: Runs per claiming statement: seven bound values each, well inside every
#: backend's limit on one statement's parameters.
CLAIM_ROWS = 200

# The delivery path runs these for every digest (10,000 a morning): built
# once on the tables, they skip the ORM and reuse their compiled form.
_POST = m.Post.__table__
_RUN = m.DigestRun.__table__
_RUN_STATUS = select(_RUN.c.status).where(_RUN.c.id == bindparam("b_run"))
_STATES = select(_POST.c.marker, _POST.c.status, _POST.c.message_ref, _POST.c.created_at).where(
    _POST.c.channel_id == bindparam("b_channel"),
    _POST.c.marker.in_(bindparam("b_markers", expanding=True)),
)
_ADD_POSTS = insert(_POST)
_MARK_SENT = (
    update(_POST)
    .where(_POST.c.channel_id == bindparam("b_channel"), _POST.c.marker == bindparam("b_marker"))
    .values(status="sent", message_ref=bindparam("b_ref"), posted_at=bindparam("b_at"))
)
_WITHDRAW = delete(_POST).where(
    _POST.c.channel_id == bindparam("b_channel"),
    _POST.c.marker.in_(bindparam("b_markers", expanding=True)),
    _POST.c.status == "sending",
)
_FINISH = (
    update(_RUN)
    .where(_RUN.c.id == bindparam("b_run"))
    .values(status="done", finished_at=bindparam("b_at"))
)

#: A message about to be posted: (marker, the card's paper key, card number),
#: None, None for a header or footer.
Intent = tuple[str, str | None, int | None]


@dataclass(frozen=True)
class RunClaim:
    """One digest run to claim: ``claim_runs`` inserts it unless (channel, key) exists."""

    channel_id: int
    run_key: str
    trigger: str
    planned: Sequence[str]
    more: int


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
        return self.claim_runs([RunClaim(channel_id, run_key, trigger, planned, more)], when)[0]

    def claim_runs(self, claims: Sequence[RunClaim], when: datetime) -> list[RunInfo | None]:
        """``claim_run`` for many runs in one transaction: for each claim, its
        run, or None when (channel, run_key) was claimed before (by anyone).

        A second process claiming an overlapping batch waits for this one's
        commit on the rows they share (the unique index), then gets None for
        them: batches stay exactly-once, and short, so a waiting worker moves
        on to the next batch at once.
        """
        started = when.astimezone(UTC)
        ids: dict[tuple[int, str], int] = {}
        with self._units.session() as s:
            # One multi-row statement per chunk: it returns the rows it
            # inserted, and skips the (channel, run key) pairs already there.
            for chunk in chunked(claims, CLAIM_ROWS):
                stmt = (
                    insert_for(s, m.DigestRun)
                    .values(
                        [
                            {
                                "channel_id": c.channel_id,
                                "run_key": c.run_key,
                                "trigger": c.trigger,
                                "status": "claimed",
                                "planned": list(c.planned),
                                "more": c.more,
                                "started_at": when,
                            }
                            for c in chunk
                        ]
                    )
                    .on_conflict_do_nothing(index_elements=["channel_id", "run_key"])
                    .returning(m.DigestRun.id, m.DigestRun.channel_id, m.DigestRun.run_key)
                )
                ids.update(((cid, key), rid) for rid, cid, key in s.execute(stmt))
            # The planned papers join the never-repeat ledger with the claim,
            # so no other plan can pick them while this run is delivered.
            won = [c for c in claims if (c.channel_id, c.run_key) in ids]
            _mark_seen_many(s, [(c.channel_id, c.planned) for c in won], when, "digest")
        return [
            None
            if (rid := ids.get((c.channel_id, c.run_key))) is None
            else RunInfo(
                id=rid,
                channel_id=c.channel_id,
                run_key=c.run_key,
                trigger=c.trigger,
                status="claimed",
                planned=tuple(c.planned),
                more=c.more,
                started_at=started,
                finished_at=None,
            )
            for c in claims
        ]

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
        with self._units.session() as s:
            return _states(s, channel_id, markers)

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
            _intend(s, channel_id, when, [(marker, paper_key, number)], run_id, seen=True)

    def outbox_sent(self, channel_id: int, marker: str, message_ref: str, when: datetime) -> None:
        with self._units.session() as s:
            row = s.scalars(
                select(m.Post).where(m.Post.channel_id == channel_id, m.Post.marker == marker)
            ).one()
            row.status, row.message_ref, row.posted_at = "sent", message_ref, when

    def outbox_open(
        self,
        channel_id: int,
        when: datetime,
        intend: Sequence[Intent],
        *,
        run_id: int | None = None,
        known: bool = True,
    ) -> dict[str, OutboxState] | None:
        """The start of a delivery, in one transaction: what the outbox already
        knows of each message in ``intend`` (absent: nothing yet), and an intent
        (``sending``) recorded for every message it did not know, under
        ``run_id``, each card with its paper and number so its thread knows its
        paper once sent. (A run's papers entered the never-repeat ledger with
        its claim; other cards, a shuffle's or a filter's, are views and use
        nothing up.) ``known=False`` says the markers are fresh (a reply made
        once): nothing is read first.

        None, with nothing recorded, when run ``run_id`` is no longer open
        (finished by whoever delivered it first): nothing is left to post."""
        with self._units.session() as s:
            status = None if run_id is None else s.execute(_RUN_STATUS, {"b_run": run_id}).scalar()
            if run_id is not None and status != "claimed":
                return None
            states: dict[str, OutboxState] = {}
            if known:
                states = _states(s, channel_id, [marker for marker, _, _ in intend])
            new = [i for i in intend if i[0] not in states]
            _intend(s, channel_id, when, new, run_id, seen=False)
            return states

    def outbox_step(
        self,
        channel_id: int,
        when: datetime,
        *,
        sent: Sequence[tuple[str, str]] = (),
        finish_run: int | None = None,
        withdraw: Sequence[str] = (),
    ) -> None:
        """One step of a delivery (``bot.digest.deliver``), in one transaction:
        the messages ``sent`` (marker, message id) recorded as posted, a batch
        at a time; the intents ``withdraw`` removed (messages a failed delivery
        never tried: left ``sending``, they would cost the next attempt a look
        at the channel for nothing); and run ``finish_run`` finished."""
        with self._units.session() as s:
            for chunk in chunked(withdraw):
                s.execute(_WITHDRAW, {"b_channel": channel_id, "b_markers": list(chunk)})
            if sent:
                s.execute(
                    _MARK_SENT,
                    [
                        {"b_channel": channel_id, "b_marker": marker, "b_ref": ref, "b_at": when}
                        for marker, ref in sent
                    ],
                )
            if finish_run is not None:
                s.execute(_FINISH, {"b_run": finish_run, "b_at": when})

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
    _mark_seen_many(s, [(channel_id, keys)], when, via)


def _mark_seen_many(
    s: Session,
    shown: Sequence[tuple[int, Sequence[str]]],
    when: datetime,
    via: str,
    ids: dict[str, int] | None = None,
) -> None:
    """``mark_seen`` for many channels (channel id, keys) in one statement
    (``ids``: the keys' paper ids, when the caller has looked them up)."""
    if ids is None:
        ids = paper_ids(s, [key for _, keys in shown for key in keys])
    pairs = sorted({(cid, ids[key]) for cid, keys in shown for key in keys if key in ids})
    if not pairs:
        return
    stmt = insert_for(s, m.Seen.__table__).on_conflict_do_nothing(
        index_elements=["channel_id", "paper_id"]
    )
    s.execute(
        stmt,
        [{"channel_id": cid, "paper_id": pid, "shown_at": when, "via": via} for cid, pid in pairs],
    )


def _states(s: Session, channel_id: int, markers: Sequence[str]) -> dict[str, OutboxState]:
    out: dict[str, OutboxState] = {}
    for chunk in chunked(markers):
        rows = s.execute(_STATES, {"b_channel": channel_id, "b_markers": list(chunk)})
        for marker, status, ref, created in rows:
            out[marker] = OutboxState(status, ref, created)
    return out


def _intend(
    s: Session,
    channel_id: int,
    when: datetime,
    intend: Iterable[Intent],
    run_id: int | None,
    seen: bool,
) -> None:
    """Record ``intend`` as about to be posted (see ``Runs.outbox_open``)."""
    intend = list(intend)
    if not intend:
        return
    keys = [key for _, key, _ in intend if key is not None]
    ids = paper_ids(s, keys) if keys else {}
    missing = [key for key in keys if key not in ids]
    if missing:
        raise NotFoundError(f"No stored paper {missing[0]}.")
    if keys and seen:
        _mark_seen_many(s, [(channel_id, keys)], when, "digest", ids)
    s.execute(
        _ADD_POSTS,
        [
            {
                "channel_id": channel_id,
                "marker": marker,
                "status": "sending",
                "paper_id": ids[key] if key is not None else None,
                "run_id": run_id,
                "number": number,
                "created_at": when,
            }
            for marker, key, number in intend
        ],
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
