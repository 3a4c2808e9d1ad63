"""What to post for one event: the core's answer as typed, ordered messages.

The core answers a command with a ``Reply`` (what the bot says); this module
says how it reaches people, the same way for every platform:

- ``Audience.PRIVATE``: only the person who asked sees it (errors, usage,
  help): Slack's ``response_url`` or an ephemeral message, a Discord ephemeral
  follow-up, the terminal;
- ``Audience.THREAD``: in the thread under a card's message (an answer about
  that paper), or in the channel where the platform has no such thread yet;
- ``Audience.CHANNEL``: everyone in the channel, as an ordered list of
  messages: a header (title, notes, chips and their buttons), one message per
  card (so each card has its own thread), and a footer. Each message has a
  ``marker`` unique in the channel; a post of more than one message (and every
  digest and automatic briefing) goes through the outbox, so it reaches the
  channel exactly once, and cards are recorded so their threads know their
  paper.

An ``Outbound`` is that value; ``bot.digest.deliver.deliver`` is the one
function that posts it, through a platform's ``Poster``. Adapters never
decide any of this: they render one message at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from bot.core.cards import Card, Reply, ReplyKind
from bot.core.channel import ChannelRef


class Audience(StrEnum):
    CHANNEL = "channel"
    PRIVATE = "private"
    THREAD = "thread"


@dataclass(frozen=True)
class Outgoing:
    """One message to post. A channel post's message is its header (``reply``
    without cards or footer), one ``card`` (``reply`` is then the whole reply
    it belongs to), or its footer (a ``ReplyKind.FOOTER`` reply). In a thread
    it is a whole reply. ``marker`` is unique in the channel: platforms carry
    it in the message (Slack metadata, a Discord embed footer) so ``find``
    can recognise the message after a crash."""

    marker: str
    reply: Reply
    card: Card | None = None


@dataclass(frozen=True)
class Notice:
    """A short line acknowledging the command itself, for platforms that keep
    one (Discord's deferred interaction): ``Posted the digest below: 3 new
    cards.``. ``{thread}`` in ``text`` stands for a link to ``thread``."""

    text: str
    thread: str | None = None

    def render(
        self, link: Callable[[str], str], escape: Callable[[str], str] = lambda text: text
    ) -> str:
        """The text made safe by ``escape``, with ``{thread}`` as the platform
        links a thread (after escaping: the link is the platform's own)."""
        text = escape(self.text)
        return text if self.thread is None else text.replace("{thread}", link(self.thread))


@dataclass(frozen=True)
class Outbound:
    """Everything one event posts, in order, for one channel.

    ``channel_id`` is the stored channel (0: not stored yet; delivery stores
    it when it records something). ``run_id`` is the digest run these messages
    deliver (finished once all are posted); ``resumes`` says the markers are
    stable across attempts (a run, an automatic briefing), so a later delivery
    resumes what an earlier one left, and what failed is posted on the next try.
    """

    ref: ChannelRef
    reply: Reply
    audience: Audience = Audience.CHANNEL
    messages: tuple[Outgoing, ...] = ()
    #: ``Audience.THREAD``: the card message whose thread this goes in.
    thread: str | None = None
    channel_id: int = 0
    run_id: int | None = None
    resumes: bool = False
    notice: Notice | None = None

    @property
    def exactly_once(self) -> bool:
        """Whether delivery goes through the outbox: every channel post of more
        than one message, and every resumable one."""
        return self.audience is Audience.CHANNEL and (self.resumes or len(self.messages) > 1)


def fresh_prefix() -> str:
    """Markers for a post made once (a chip reply, a shuffle): unique per post."""
    return f"m{uuid.uuid4().hex[:12]}"


def channel_messages(prefix: str, reply: Reply) -> tuple[Outgoing, ...]:
    """A reply as channel messages, in posting order: header, each card, footer."""
    out = [Outgoing(f"{prefix}:header", replace(reply, cards=(), footer=None))]
    out += [Outgoing(f"{prefix}:card:{card.key}", reply, card) for card in reply.cards]
    if reply.footer:
        out.append(Outgoing(f"{prefix}:footer", Reply(reply.footer, kind=ReplyKind.FOOTER)))
    return tuple(out)


def run_messages(run_id: int, digest: Reply) -> tuple[Outgoing, ...]:
    """The messages of digest run ``run_id`` (markers ``r<run id>:…``)."""
    return channel_messages(f"r{run_id}", digest)


def outbound(
    ref: ChannelRef,
    reply: Reply,
    *,
    channel_id: int = 0,
    thread: str | None = None,
    prefix: str | None = None,
) -> Outbound:
    """What to post for ``reply``: privately when it is ephemeral; in the
    thread of the card message ``thread`` when given; else in the channel,
    header, cards and footer, under fresh markers (or ``prefix``)."""
    if reply.ephemeral:
        return Outbound(ref, reply, Audience.PRIVATE, channel_id=channel_id)
    if thread:
        marker = f"{prefix or fresh_prefix()}:answer"
        return Outbound(
            ref,
            reply,
            Audience.THREAD,
            (Outgoing(marker, reply),),
            thread=thread,
            channel_id=channel_id,
            notice=Notice("Answered in {thread}.", thread),
        )
    messages = channel_messages(prefix or fresh_prefix(), reply)
    return Outbound(ref, reply, Audience.CHANNEL, messages, channel_id=channel_id)


def for_run(ref: ChannelRef, channel_id: int, run_id: int, digest: Reply) -> Outbound:
    """Digest run ``run_id`` as posted by anyone (a person, the schedule, a
    restart): resumable, finished once delivered."""
    n = len(digest.cards)
    return Outbound(
        ref,
        digest,
        Audience.CHANNEL,
        run_messages(run_id, digest),
        channel_id=channel_id,
        run_id=run_id,
        resumes=True,
        notice=Notice(f"Posted the digest below: {n} new card{'s' if n != 1 else ''}."),
    )
