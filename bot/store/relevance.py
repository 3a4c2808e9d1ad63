"""Relevance storage: each paper's vectors, and what each channel said about papers.

Two tables (``bot.store.models``):

- ``paper_vectors``: one row per paper for the whole bot (never per channel),
  the bytes of :class:`~bot.relevance.vectors.PaperVectors` rows plus the ids
  of the spaces they live in and the hash of the text they were made from. A
  row of another space or another text is *stale*: it is never returned, and
  the harvest's vectorizer (``bot.digest.vectorize``) rebuilds it;
- ``feedback``: one row per (channel, paper, person, kind), ``kind`` being
  ``like``, ``dislike`` or ``save``. The unique constraint is what makes a
  second click of the same person count once, under concurrency too (``INSERT
  … ON CONFLICT DO NOTHING``); taking a verdict back deletes the row.

``/radar forget`` ("clears the learned part, chips stay") deletes the likes
and dislikes of the channel. Saves are different: they are the channel's
reading list, which people built on purpose and expect to find again (``/radar
saved``), so they stay listed, but they stop counting as likes (``learn``
False): after a forget the ranking starts from nothing but the chips, as the
person asked. Saving the paper again later makes it count again. Like chips
are chips (kind ``like``, value the paper key) and so are not touched here.

Feedback and vectors follow their paper: ``ON DELETE CASCADE`` on the paper.
When two stored rows are folded into one work (``bot.store.papers``), call
:func:`fold_relevance` in the same session so a like is not lost with the row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, and_, delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.errors import NotFoundError
from bot.relevance.model import Feedback
from bot.relevance.vectors import PaperVectors
from bot.store import db
from bot.store import models as m
from bot.store.db import chunked, insert_for
from bot.store.papers import paper_ids
from bot.store.unit import Units

#: Verdict kinds, and where a verdict came from.
LIKE, DISLIKE, SAVE = "like", "dislike", "save"
KINDS = (LIKE, DISLIKE, SAVE)
SOURCES = ("button", "reaction", "command")
#: Kinds that count as a like (a save is a like too, while it learns).
POSITIVE = (LIKE, SAVE)


@dataclass(frozen=True)
class ChannelFeedback:
    """What one channel's people said, by paper key (the paper's current key).

    ``liked``: liked or saved (and still learning), earliest first;
    ``disliked``: disliked and liked by nobody here (someone wanting a paper
    outweighs someone not wanting it, as in :meth:`Feedback.cleaned`);
    ``liked_by``/``disliked_by``: distinct people per paper, for reason lines
    (``liked by 3 here``) and ``/radar likes``.
    """

    liked: tuple[str, ...] = ()
    disliked: tuple[str, ...] = ()
    liked_by: dict[str, int] = field(default_factory=dict)
    disliked_by: dict[str, int] = field(default_factory=dict)

    @property
    def has_signal(self) -> bool:
        return bool(self.liked or self.disliked)

    def as_feedback(self, ignored: Sequence[str] = (), pool: Sequence[str] = ()) -> Feedback:
        """The learner's input; ``ignored``/``pool`` come from the runs, not from here."""
        return Feedback(self.liked, self.disliked, tuple(ignored), tuple(pool)).cleaned()


@dataclass(frozen=True)
class SavedPaper:
    """A paper on a channel's reading list: when it was first saved, by how many."""

    key: str
    saved_at: datetime
    savers: int


class RelevanceStore:
    """The ``paper_vectors`` and ``feedback`` tables, one unit of work per method."""

    def __init__(self, engine: Engine | Units) -> None:
        self._units = engine if isinstance(engine, Units) else Units(engine)

    # -- vectors ---------------------------------------------------------------------

    def save_vectors(self, vectors: PaperVectors, hashes: Mapping[str, str] | None = None) -> int:
        """Store (or replace) the vectors of ``vectors.keys``; returns how many rows.

        Keys that name no stored paper are skipped (a vector without its paper
        is useless). ``hashes``: the text hash of each key (see
        ``bot.digest.vectorize.text_hash``), so a later version is noticed.
        Idempotent and safe beside concurrent harvests: ``ON CONFLICT (paper_id)
        DO UPDATE``, the last writer's vectors win (both are of the same text).
        """
        hashes = hashes or {}
        with self._units.session() as s:
            ids = paper_ids(s, vectors.keys)
            rows: dict[int, dict[str, object]] = {}  # one row per paper: ON CONFLICT needs it
            for k, key in enumerate(vectors.keys):
                pid = ids.get(key)
                if pid is None:
                    continue
                rows[pid] = {
                    "paper_id": pid,
                    "tfidf": vectors.tfidf_bytes(k),
                    "embedding": vectors.embedding_bytes(k),
                    "tfidf_id": vectors.tfidf_id,
                    "model_id": vectors.model_id,
                    "text_hash": hashes.get(key, ""),
                    "created_at": m.utcnow(),
                }
            batch = list(rows.values())
            # Each row binds 7 values: keep one statement's parameters within
            # db.CHUNK (read now, as ``chunked`` does), under old SQLite's 999.
            for chunk in chunked(batch, max(1, db.CHUNK // 7)):
                stmt = insert_for(s, m.PaperVector).values(list(chunk))
                stmt = stmt.on_conflict_do_update(
                    index_elements=[m.PaperVector.paper_id],
                    set_={
                        col: getattr(stmt.excluded, col)
                        for col in (
                            "tfidf",
                            "embedding",
                            "tfidf_id",
                            "model_id",
                            "text_hash",
                            "created_at",
                        )
                    },
                )
                s.execute(stmt)
            return len(batch)

    def vectors_for(self, keys: Sequence[str], tfidf_id: str, model_id: str) -> PaperVectors:
        """The stored vectors of ``keys`` in the spaces ``tfidf_id``/``model_id``.

        Rows are in the order of ``keys`` and under the keys asked for (an alias
        finds its paper); a key with no current vector is absent. An empty
        result has zero columns (nothing to score).
        """
        with self._units.session() as s:
            ids = paper_ids(s, keys)
            found: dict[int, tuple[bytes, bytes]] = {}
            for chunk in chunked(sorted(set(ids.values()))):
                q = select(m.PaperVector.paper_id, m.PaperVector.tfidf, m.PaperVector.embedding)
                q = q.where(
                    m.PaperVector.paper_id.in_(chunk),
                    m.PaperVector.tfidf_id == tfidf_id,
                    m.PaperVector.model_id == model_id,
                )
                found.update((pid, (bytes(t), bytes(e))) for pid, t, e in s.execute(q))
        hits = [k for k in dict.fromkeys(keys) if ids.get(k) in found]
        return PaperVectors.from_bytes(
            hits,
            [found[ids[k]][0] for k in hits],
            [found[ids[k]][1] for k in hits],
            tfidf_id,
            model_id,
        )

    def missing_vectors(
        self,
        keys: Sequence[str],
        tfidf_id: str,
        model_id: str,
        hashes: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Those of ``keys`` (stored papers) whose vectors must be computed: none
        stored, stored in other spaces (the model changed), or, when ``hashes``
        gives a key's text hash, made from another text (a new version)."""
        with self._units.session() as s:
            ids = paper_ids(s, keys)
            stored: dict[int, tuple[str, str, str]] = {}
            for chunk in chunked(sorted(set(ids.values()))):
                q = select(
                    m.PaperVector.paper_id,
                    m.PaperVector.tfidf_id,
                    m.PaperVector.model_id,
                    m.PaperVector.text_hash,
                ).where(m.PaperVector.paper_id.in_(chunk))
                stored.update((pid, (t, mo, h)) for pid, t, mo, h in s.execute(q))
        out = []
        for key in dict.fromkeys(keys):
            pid = ids.get(key)
            if pid is None:
                continue
            row = stored.get(pid)
            want = hashes.get(key) if hashes else None
            if row is None or row[:2] != (tfidf_id, model_id) or (want and row[2] != want):
                out.append(key)
        return out

    # -- feedback --------------------------------------------------------------------

    def add_feedback(
        self, channel_id: int, paper_key: str, user_id: str, kind: str, source: str
    ) -> bool:
        """Record one person's verdict; False when it was already there (nothing changed).

        A save that ``forget`` had stopped from learning learns again (it was
        given again, so it is news), and that counts as a change.
        """
        _check(kind, source, user_id)
        with self._units.session() as s:
            pid = _paper_id(s, paper_key)
            stmt = (
                insert_for(s, m.Feedback)
                .values(
                    channel_id=channel_id,
                    paper_id=pid,
                    user_id=user_id,
                    kind=kind,
                    source=source,
                    learn=True,
                    created_at=m.utcnow(),
                )
                .on_conflict_do_nothing()
                .returning(m.Feedback.id)
            )
            if s.execute(stmt).first() is not None:
                return True
            revived = s.execute(
                update(m.Feedback)
                .where(_one(channel_id, pid, user_id, kind), m.Feedback.learn.is_(False))
                .values(learn=True)
            )
            return bool(revived.rowcount)

    def remove_feedback(self, channel_id: int, paper_key: str, user_id: str, kind: str) -> bool:
        """Take one person's verdict back (a removed reaction); False if there was none."""
        _check(kind, "button", user_id)
        with self._units.session() as s:
            ids = paper_ids(s, [paper_key])
            if paper_key not in ids:
                return False
            done = s.execute(
                delete(m.Feedback).where(_one(channel_id, ids[paper_key], user_id, kind))
            )
            return bool(done.rowcount)

    def feedback(self, channel_id: int) -> ChannelFeedback:
        """What this channel's people said (only this channel's rows, ever)."""
        return self.feedback_many([channel_id]).get(channel_id, ChannelFeedback())

    def feedback_many(self, channel_ids: Sequence[int]) -> dict[int, ChannelFeedback]:
        """What each of ``channel_ids``' people said, read at once (a daily run
        ranks thousands of channels: one query per chunk of ids, not one per
        channel). Only channels with feedback are keys; each sees only its rows."""
        rows: dict[int, list[tuple[str, str, str]]] = {}
        with self._units.session() as s:
            for chunk in chunked(sorted(set(channel_ids))):
                q = (
                    select(m.Feedback.channel_id, m.Paper.key, m.Feedback.kind, m.Feedback.user_id)
                    .join(m.Paper, m.Paper.id == m.Feedback.paper_id)
                    .where(m.Feedback.channel_id.in_(chunk), m.Feedback.learn.is_(True))
                    .order_by(m.Feedback.channel_id, m.Feedback.created_at, m.Feedback.id)
                )
                for channel_id, key, kind, user in s.execute(q):
                    rows.setdefault(channel_id, []).append((key, kind, user))
        return {cid: _channel_feedback(found) for cid, found in rows.items()}

    def saved(self, channel_id: int) -> list[SavedPaper]:
        """The channel's reading list, most recently saved first (forgotten saves too)."""
        with self._units.session() as s:
            q = (
                select(m.Paper.key, m.Feedback.created_at, m.Feedback.user_id)
                .join(m.Paper, m.Paper.id == m.Feedback.paper_id)
                .where(m.Feedback.channel_id == channel_id, m.Feedback.kind == SAVE)
            )
            rows = s.execute(q).all()
        first: dict[str, datetime] = {}
        savers: dict[str, set[str]] = {}
        for key, when, user in rows:
            first[key] = min(first.get(key, when), when)
            savers.setdefault(key, set()).add(user)
        items = [SavedPaper(k, first[k], len(savers[k])) for k in first]
        return sorted(items, key=lambda p: (p.saved_at, p.key), reverse=True)

    def forget(self, channel_id: int) -> int:
        """Forget what the channel taught (see the module docstring); returns how
        many verdicts stopped counting. Saves stay on the reading list."""
        with self._units.session() as s:
            gone = s.execute(
                delete(m.Feedback).where(
                    m.Feedback.channel_id == channel_id, m.Feedback.kind.in_((LIKE, DISLIKE))
                )
            ).rowcount
            muted = s.execute(
                update(m.Feedback)
                .where(
                    m.Feedback.channel_id == channel_id,
                    m.Feedback.kind == SAVE,
                    m.Feedback.learn.is_(True),
                )
                .values(learn=False)
            ).rowcount
            return int(gone or 0) + int(muted or 0)


def _channel_feedback(rows: Sequence[tuple[str, str, str]]) -> ChannelFeedback:
    """One channel's (paper key, kind, person) rows, oldest first, as its feedback."""
    likers: dict[str, set[str]] = {}
    dislikers: dict[str, set[str]] = {}
    for key, kind, user in rows:
        (likers if kind in POSITIVE else dislikers).setdefault(key, set()).add(user)
    return ChannelFeedback(
        liked=tuple(likers),
        disliked=tuple(k for k in dislikers if k not in likers),
        liked_by={k: len(v) for k, v in likers.items()},
        disliked_by={k: len(v) for k, v in dislikers.items()},
    )


def _one(channel_id: int, paper_id: int, user_id: str, kind: str) -> ColumnElement[bool]:
    return and_(
        m.Feedback.channel_id == channel_id,
        m.Feedback.paper_id == paper_id,
        m.Feedback.user_id == user_id,
        m.Feedback.kind == kind,
    )


def _check(kind: str, source: str, user_id: str) -> None:
    """Programming errors, not user input: adapters map buttons and reactions to these."""
    if kind not in KINDS:
        raise ValueError(f"feedback kind must be one of {KINDS}, not {kind!r}")
    if source not in SOURCES:
        raise ValueError(f"feedback source must be one of {SOURCES}, not {source!r}")
    if not user_id or len(user_id) > 128:
        raise ValueError("feedback needs the id of the person who gave it")


def _paper_id(s: Session, key: str) -> int:
    ids = paper_ids(s, [key])
    if key not in ids:
        raise NotFoundError(f"No stored paper {key}: fetch it first.")
    return ids[key]
