"""The one delivery path: post an ``Outbound`` through a platform's ``Poster``.

Whoever posts (a person's command on any platform, the schedule, a restart
resuming a digest) posts through ``deliver``, so these rules hold once:

- **In order, together.** A channel post's messages (header, cards, footer)
  are posted one after another under that channel's lock, so the messages of
  two replies never interleave, whatever runs concurrently; other channels
  post in parallel.
- **Exactly once** (``Outbound.exactly_once``: every post of more than one
  message, every digest and automatic briefing). For each message, in order:
  already ``sent`` in the outbox: skip it; ``sending`` (the process died
  between the platform call and recording it): ask the platform whether the
  channel holds a message with that marker, and record it if so, else post
  it; unknown: record the intent, post, record the message id. A run is
  finished once all its messages are posted.
- **Cards know their paper.** A card's outbox row holds its paper and number
  and, once posted, its message id, so a question in its thread is about
  that paper and `/radar ask 2` finds card 02.
- Private replies go to the person who asked (``Replier.send_private``); an
  answer for a card's thread goes there, or to the channel where the platform
  has no thread yet (``NoThread``).

Platforms implement ``Poster`` (and, for replies to a person, ``Replier``);
this module never imports one.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.clock import Clock
from bot.core.cards import Reply
from bot.core.channel import ChannelRef
from bot.core.outgoing import Audience, Notice, Outbound, Outgoing
from bot.errors import RadarError
from bot.store.repo import Store

log = logging.getLogger(__name__)


class NoThread(RadarError):
    """Raised by ``Poster.send`` when the thread it was given does not exist
    (on Discord a card gets a thread only once someone opens one)."""


class DeliveryFailed(RadarError):
    """A message could not be posted; ``__cause__`` is the platform's error.
    ``posted`` messages were posted first; when ``outbound.resumes``, the rest
    is posted by a later delivery (the outbox knows where it stopped)."""

    def __init__(self, outbound: Outbound, posted: int) -> None:
        super().__init__("the platform did not take the whole reply")
        self.outbound = outbound
        self.posted = posted


class Poster(Protocol):
    """What delivery needs from a platform."""

    async def send(self, ref: ChannelRef, out: Outgoing, thread: str | None = None) -> str:
        """Post ``out`` and return the platform's id for the message.

        In the channel: one message, carrying ``out.marker`` where the platform
        allows (Slack metadata, a Discord embed footer), for ``find``. With
        ``thread`` (a card message's id): ``out.reply`` whole, in that card's
        thread; ``NoThread`` when the platform has no such thread. Raises on
        any other failure.
        """
        ...

    async def find(self, ref: ChannelRef, marker: str, since: datetime) -> str | None:
        """The id of a message with ``marker`` posted since ``since``, if any."""
        ...


@runtime_checkable
class Replier(Poster, Protocol):
    """A poster for one event: it also reaches the person who sent it (Slack's
    ``response_url`` or an ephemeral message, the Discord interaction, the
    terminal) and acknowledges their command where the platform keeps an
    acknowledgement (Discord's deferred response)."""

    async def send_private(self, ref: ChannelRef, reply: Reply) -> None: ...

    async def acknowledge(self, notice: Notice | None) -> None:
        """The command is done: show ``notice`` as its acknowledgement, or
        tidy the acknowledgement away when there is none."""
        ...


@dataclass
class Delivered:
    """What a delivery of ``outbound`` did: ``posted`` messages posted now (not
    found already sent), ``ids`` of every message in order, and the ``notice``
    that fits where things went (an answer that found no thread has none)."""

    outbound: Outbound
    posted: int = 0
    ids: list[str] = field(default_factory=list)
    notice: Notice | None = None


#: One lock per channel (and event loop) while something posts there. Weakly
#: held: a lock lives only while a delivery holds or awaits it.
_locks: weakref.WeakValueDictionary[tuple[int, str, str, str], asyncio.Lock] = (
    weakref.WeakValueDictionary()
)


def channel_lock(ref: ChannelRef) -> asyncio.Lock:
    """The lock that keeps one channel's posts in order (see the module doc)."""
    key = (id(asyncio.get_running_loop()), ref.platform, ref.workspace, ref.channel)
    lock = _locks.get(key)
    if lock is None:
        lock = asyncio.Lock()
        _locks[key] = lock
    return lock


async def deliver(
    store: Store, poster: Poster, clock: Clock, post: Outbound, *, finish: bool = True
) -> Delivered:
    """Post ``post`` (see the module doc). Raises ``DeliveryFailed`` when the
    platform refuses a message; a resumable post then stays unfinished, and a
    later call resumes it where it stopped. A run is finished once delivered,
    unless ``finish`` is False (its caller posts more under it first)."""
    if post.audience is Audience.PRIVATE:
        if not isinstance(poster, Replier):
            raise TypeError("a private reply needs the poster of the event it answers")
        await poster.send_private(post.ref, post.reply)
        return Delivered(post)
    if post.audience is Audience.THREAD:
        try:
            message = await poster.send(post.ref, post.messages[0], thread=post.thread)
            return Delivered(post, 1, [message], post.notice)
        except NoThread:
            # No thread to answer in yet: the answer comes in the channel.
            post = replace(post, audience=Audience.CHANNEL, thread=None, notice=None)
        except Exception as err:
            raise DeliveryFailed(post, 0) from err
    async with channel_lock(post.ref):
        if post.exactly_once:
            done = await _exactly_once(store, poster, clock, post, finish)
        else:
            done = Delivered(post, notice=post.notice)
            for out in post.messages:
                try:
                    done.ids.append(await poster.send(post.ref, out))
                except Exception as err:
                    raise DeliveryFailed(post, done.posted) from err
                done.posted += 1
    return done


async def _exactly_once(
    store: Store, poster: Poster, clock: Clock, post: Outbound, finish: bool
) -> Delivered:
    if not post.channel_id:
        raise ValueError("an exactly-once post needs its stored channel")
    if not post.resumes:
        return await _fresh(store, poster, clock, post)
    channel_id, run_id = post.channel_id, post.run_id
    done = Delivered(post, notice=post.notice)
    # One read for the whole post: whoever delivers a resumable post holds it
    # alone (the scheduler's run lock; an adapter delivers the run it just
    # claimed).
    markers = [o.marker for o in post.messages]
    states = await asyncio.to_thread(store.outbox_states, channel_id, markers)
    # Each message is recorded as sent in the same transaction as the next
    # one's intent: one trip to the database per message, in the order the
    # rules need, so a resumed delivery knows exactly where it stopped.
    last: tuple[Outgoing, str] | None = None  # posted, not yet recorded
    for out in post.messages:
        state = states.get(out.marker)
        if state is not None and state.status == "sent":
            if state.message_ref:
                done.ids.append(state.message_ref)
            continue
        try:
            if state is not None:
                if last is not None:
                    await asyncio.to_thread(_record, store, clock, post, [last])
                    last = None
                found = await poster.find(post.ref, out.marker, state.created_at)
                if found is not None:
                    log.info(
                        "reconciled marker=%s channel=%d message=%s", out.marker, channel_id, found
                    )
                    await asyncio.to_thread(_record, store, clock, post, [(out, found)])
                    done.ids.append(found)
                    continue
            else:
                await asyncio.to_thread(_record, store, clock, post, [last] if last else [], [out])
                last = None
            message = await poster.send(post.ref, out)
        except Exception as err:
            raise DeliveryFailed(post, done.posted) from err
        last = (out, message)
        done.ids.append(message)
        done.posted += 1
    finished = run_id if run_id is not None and finish else None
    if last is not None or finished is not None:
        await asyncio.to_thread(_record, store, clock, post, [last] if last else [], [], finished)
    if finished is not None:
        log.info("digest delivered channel=%d run=%d posted=%d", channel_id, run_id, done.posted)
    return done


async def _fresh(store: Store, poster: Poster, clock: Clock, post: Outbound) -> Delivered:
    """A post made once (a chip reply, a shuffle): its markers are new, so no
    earlier attempt exists to reconcile, and no later one will resume it. Every
    message is recorded as about to be posted, together, before the first is
    sent, and what was posted is recorded as sent, together, after the last
    one (or when the platform refuses one): two transactions a reply, not
    several a message, which a busy channel's burst of commands would queue
    behind."""
    done = Delivered(post, notice=post.notice)
    await asyncio.to_thread(_record, store, clock, post, [], list(post.messages))
    posted: list[tuple[Outgoing, str]] = []
    try:
        for out in post.messages:
            try:
                message = await poster.send(post.ref, out)
            except Exception as err:
                raise DeliveryFailed(post, done.posted) from err
            posted.append((out, message))
            done.ids.append(message)
            done.posted += 1
    finally:
        if posted:  # the cards that did reach the channel know their paper
            await asyncio.shield(asyncio.to_thread(_record, store, clock, post, posted))
    return done


def _record(
    store: Store,
    clock: Clock,
    post: Outbound,
    sent: list[tuple[Outgoing, str]],
    intend: list[Outgoing] | None = None,
    finish_run: int | None = None,
) -> None:
    """One transaction: ``sent`` recorded as posted, ``intend`` as about to
    be, run ``finish_run`` finished. A card is recorded with its paper and
    number, so its thread knows its paper once posted; a digest's card enters
    the never-repeat ledger with its intent, while other cards (a shuffle's, a
    filter's) are views and use nothing up."""
    store.outbox_step(
        post.channel_id,
        clock.now(),
        sent=[(out.marker, message) for out, message in sent],
        intend=[
            (out.marker, out.card.key if out.card else None, out.card.number if out.card else None)
            for out in intend or ()
        ],
        run_id=post.run_id,
        seen=post.run_id is not None,
        finish_run=finish_run,
    )
