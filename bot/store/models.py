"""SQLAlchemy 2 typed models.

Identity choices, and why:
- a channel is (platform, workspace, channel): Slack channel ids are unique only
  within a team, Discord's within a guild, so isolation needs all three;
- a paper is its versionless key (``arxiv:2604.26951``): a v2 replaces v1 in
  place, so a channel that saw v1 never gets v2 as "new";
- ``seen`` is the never-repeat ledger, one row per (channel, paper), separate
  from ``posts`` (one row per card message) so a repost for threads never
  weakens the never-repeat rule;
- one work reported by several sources (an arXiv preprint, its OpenAlex
  records, the journal version) is ONE ``papers`` row, merged at store time
  (``bot.core.dedupe`` rules); the other versions' keys and every DOI the work
  is known by are ``paper_aliases`` of that row, so a lookup by any of them
  (a ledger, a planned run, the next harvest) finds the same paper.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names: Alembic batch migrations on SQLite need them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no timezone type and hands back naive values; storing naive UTC
    and re-attaching UTC on the way out keeps comparisons honest everywhere.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class Channel(Base):
    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("platform", "workspace", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    workspace: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200), default="")
    digest_cap: Mapped[int] = mapped_column(Integer, default=10)
    schedule_time: Mapped[str | None] = mapped_column(String(5), default=None)
    schedule_tz: Mapped[str | None] = mapped_column(String(64), default=None)
    brief_cadence: Mapped[str | None] = mapped_column(String(8), default=None)
    last_shuffle: Mapped[list[str]] = mapped_column(default=list)
    #: A pending author choice (``/radar author`` found several people): the
    #: typed name, the candidates and when it was asked; ``/radar pick`` reads it.
    pending: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    chips: Mapped[list[Chip]] = relationship(
        back_populates="channel", cascade="all, delete-orphan", order_by="Chip.id"
    )


class Chip(Base):
    __tablename__ = "chips"
    __table_args__ = (UniqueConstraint("channel_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(300))
    #: An author chip's identity (``openalex:A5017898742``), ``name-only`` when
    #: the channel chose the name, None for chips made before identities.
    ref: Mapped[str | None] = mapped_column(String(64), default=None)
    #: The spellings an identity chip's person publishes under (name matching
    #: in sources without author ids, i.e. arXiv bylines).
    names: Mapped[list[str] | None] = mapped_column(default=None)
    #: What confirms an identity chip's name matches (``cat:cs.CL``,
    #: ``co:<surname key>``), gathered from the person's works when it was made.
    evidence: Mapped[list[str] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    channel: Mapped[Channel] = relationship(back_populates="chips")


class Paper(Base):
    __tablename__ = "papers"
    __table_args__ = (
        Index("ix_papers_published", "published"),
        Index("ix_papers_title_key", "title_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    source: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str] = mapped_column(Text)
    authors: Mapped[list[str]] = mapped_column(default=list)
    categories: Mapped[list[str]] = mapped_column(default=list)
    # OpenAlex subfields ("Computer Vision and Pattern Recognition") are long.
    primary_category: Mapped[str] = mapped_column(String(128), default="")
    published: Mapped[datetime]
    updated: Mapped[datetime]
    url: Mapped[str] = mapped_column(String(500))
    pdf_url: Mapped[str | None] = mapped_column(String(500), default=None)
    doi: Mapped[str | None] = mapped_column(String(255), default=None)
    journal_ref: Mapped[str | None] = mapped_column(Text, default=None)
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    venue: Mapped[str | None] = mapped_column(String(300), default=None)
    links: Mapped[list[str] | None] = mapped_column(default=None)
    extra: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    #: The folded title a version of this work can be found under at store
    #: time (``bot.core.dedupe.title_keys``, the shortest, clipped).
    title_key: Mapped[str | None] = mapped_column(String(255), default=None)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)


class PaperAlias(Base):
    """Another name of a stored paper: a merged version's key or a DOI (``doi:10.…``)."""

    __tablename__ = "paper_aliases"
    __table_args__ = (Index("ix_paper_aliases_paper", "paper_id"),)

    alias: Mapped[str] = mapped_column(String(300), primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"))


class Seen(Base):
    """The never-repeat ledger: this channel has been shown this paper."""

    __tablename__ = "seen"

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    paper_id: Mapped[int] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    shown_at: Mapped[datetime] = mapped_column(default=utcnow)
    via: Mapped[str] = mapped_column(String(16), default="digest")


class DigestRun(Base):
    """One digest for one channel; ``run_key`` makes a scheduled day claimable once."""

    __tablename__ = "digest_runs"
    __table_args__ = (UniqueConstraint("channel_id", "run_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    run_key: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(16))  # "schedule" | "manual"
    status: Mapped[str] = mapped_column(String(16), default="claimed")
    planned: Mapped[list[str]] = mapped_column(default=list)
    more: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class Post(Base):
    """One message the bot posts on its own (a digest's header, cards, footer).

    It doubles as an outbox: the row is written as ``sending`` before the
    platform call and becomes ``sent`` with the message's id after it, so a
    crash in between leaves a row to reconcile against the channel instead of
    a guess. ``marker`` names the message within the channel (``r12:card:arxiv:2604.26951``)
    and is what a platform stores in the message itself (Slack metadata) for
    that reconciliation. Card rows carry their paper, so a thread under the
    message is a question about that paper.
    """

    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("channel_id", "marker"),
        Index("ix_posts_message", "channel_id", "message_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    marker: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(8), default="sending")
    paper_id: Mapped[int | None] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), default=None
    )
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("digest_runs.id", ondelete="SET NULL"), default=None
    )
    number: Mapped[int | None] = mapped_column(Integer, default=None)
    message_ref: Mapped[str | None] = mapped_column(String(128), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    posted_at: Mapped[datetime | None] = mapped_column(default=None)


class Harvest(Base):
    """A completed upstream pass, so a window is fetched once however many radars want it."""

    __tablename__ = "harvests"
    __table_args__ = (Index("ix_harvests_fetched", "source", "scope", "fetched_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(300), default="")
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    papers: Mapped[int] = mapped_column(Integer, default=0)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)


class LlmResult(Base):
    """A language-model result, cached by the hash of everything that shaped it.

    ``key`` hashes the kind, prompt version, model and the exact messages
    (paper set, passages, question), so the same briefing asked in ten
    channels is one call, and a new prompt or model never reuses a stale text.
    The raw model text is kept; it is checked and cleaned every time it is
    shown, so better cleaning applies to old rows too.
    """

    __tablename__ = "llm_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(200))
    prompt_version: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LlmUsage(Base):
    """Tokens one workspace spent on the language model on one UTC day (the budget)."""

    __tablename__ = "llm_usage"

    workspace: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    calls: Mapped[int] = mapped_column(Integer, default=0)


class FullText(Base):
    """A paper's full text as fetched once (arXiv HTML or PDF), or that none exists.

    ``status`` is ``ok`` or ``missing``; a missing text is asked for again only
    after a while, so a paper without HTML or PDF costs one fetch, not one per
    question. Transient failures (timeouts, 5xx) are not stored at all.
    """

    __tablename__ = "full_texts"

    paper_id: Mapped[int] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(8), default="")  # html | pdf
    url: Mapped[str] = mapped_column(String(500), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)


class ThreadTurn(Base):
    """One question or answer in the thread under a card, for follow-up context."""

    __tablename__ = "thread_turns"
    __table_args__ = (Index("ix_thread_turns_thread", "channel_id", "thread_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    thread_ref: Mapped[str] = mapped_column(String(128))
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(8))  # "user" | "bot"
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AutoBrief(Base):
    """An automatic briefing claimed for one channel and period (a day or an ISO week).

    The unique constraint makes the claim: however many workers run the
    scheduler, one period gets one automatic briefing.
    """

    __tablename__ = "auto_briefs"
    __table_args__ = (UniqueConstraint("channel_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PaperVector(Base):
    """A paper's relevance vectors, computed once at harvest for the whole bot.

    ``tfidf_id``/``model_id`` name the vector spaces (``bot.relevance.vectors``):
    a row whose ids differ from the running configuration is stale and rebuilt,
    never compared. ``text_hash`` is the hash of the text the vectors were made
    from, so a new version of a paper (another abstract) is represented again.
    """

    __tablename__ = "paper_vectors"

    paper_id: Mapped[int] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    tfidf: Mapped[bytes] = mapped_column(LargeBinary)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    tfidf_id: Mapped[str] = mapped_column(String(64))
    model_id: Mapped[str] = mapped_column(String(200))
    text_hash: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Feedback(Base):
    """One person's verdict on one paper in one channel: like, dislike or save.

    The unique constraint makes a verdict idempotent (the same person clicking
    twice counts once); taking it back (a removed reaction) deletes the row.
    ``learn`` is False for a save kept in the reading list after ``/radar
    forget`` (see ``bot.store.relevance``).
    """

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("channel_id", "paper_id", "user_id", "kind"),
        Index("ix_feedback_paper", "paper_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(8))  # like | dislike | save
    source: Mapped[str] = mapped_column(String(16))  # button | reaction | command
    learn: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
