"""The one delivery path: post an ``Outbound`` through a platform's ``Poster``.

Whoever posts (a person's command on any platform, the schedule, a restart
resuming a digest) posts through ``deliver``, so these rules hold once:

- **In order, together.** A channel post's messages (header, cards, footer)
  are posted one after another under that channel's lock, so the messages of
  two replies never interleave, whatever runs concurrently; other channels
  post in parallel.
- **Within the platform's rates.** Before each message, the process's one
  limiter (``bot.digest.limiter``) is asked for the channel's turn under the
  rates the poster declares, so many concurrent deliveries never flood one
  channel, and other channels are not held back by it.
- **Exactly once** (``Outbound.exactly_once``: every post of more than one
  message, every digest and automatic briefing), at two or three
  transactions a post rather than two a message:

  1. one transaction reads what the outbox knows of the post's messages and
     records an intent (``sending``) for each one it did not know;
  2. the messages are posted in order: one already ``sent`` is skipped; one
     left ``sending`` by an earlier attempt may have reached the channel
     before that attempt died, so the platform is asked (``Poster.find``)
     and a message it has is recorded, not posted again;
  3. "sent" marks (with the platform's message ids) are recorded in batches:
     every ``MARK_EVERY`` messages, once the oldest unrecorded one is
     ``MARK_AFTER`` seconds old, while the limiter makes the post wait, when
     the platform refuses one, and at the end, together with finishing the
     run.

  A crash between a post and its batched mark leaves a few messages
  ``sending`` that did reach the channel. Because a post's messages go out
  one after another, the ones that reached it are the first of them: the
  next attempt asks the platform about each in turn until one is not found,
  and posts that one and everything after it without asking (nothing after
  a message that never arrived was posted). A resume costs one ``find`` per
  unrecorded post plus one, never one per message of the digest.
- **Cards know their paper.** A card's outbox row holds its paper and number
  and, once marked sent, its message id, so a question in its thread is about
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
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.clock import Clock
from bot.core.cards import Reply
from bot.core.channel import ChannelRef
from bot.core.outgoing import Audience, Notice, Outbound, Outgoing
from bot.digest.limiter import LIMITER, Limiter, rates_of
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
    that fits where things went (an answer that found no thread has none).
    ``closed``: the run was already finished (by whoever delivered it first),
    so nothing was posted."""

    outbound: Outbound
    posted: int = 0
    ids: list[str] = field(default_factory=list)
    notice: Notice | None = None
    closed: bool = False


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
    store: Store,
    poster: Poster,
    clock: Clock,
    post: Outbound,
    *,
    finish: bool = True,
    limiter: Limiter = LIMITER,
) -> Delivered:
    """Post ``post`` (see the module doc). Raises ``DeliveryFailed`` when the
    platform refuses a message; a resumable post then stays unfinished, and a
    later call resumes it where it stopped. A run is finished once delivered,
    unless ``finish`` is False (its caller posts more under it first).
    ``limiter`` paces the posts (the process's one limiter by default)."""
    rates = rates_of(poster)
    if post.audience is Audience.PRIVATE:
        if not isinstance(poster, Replier):
            raise TypeError("a private reply needs the poster of the event it answers")
        await poster.send_private(post.ref, post.reply)
        return Delivered(post)
    if post.audience is Audience.THREAD:
        try:
            await limiter.admit(post.ref, rates)
            message = await poster.send(post.ref, post.messages[0], thread=post.thread)
            return Delivered(post, 1, [message], post.notice)
        except NoThread:
            # No thread to answer in yet: the answer comes in the channel.
            post = replace(post, audience=Audience.CHANNEL, thread=None, notice=None)
        except Exception as err:
            raise DeliveryFailed(post, 0) from err
    async with channel_lock(post.ref):
        if post.exactly_once:
            if not post.channel_id:
                raise ValueError("an exactly-once post needs its stored channel")
            done = await _outboxed(store, poster, clock, post, finish, limiter)
        else:
            done = Delivered(post, notice=post.notice)
            for out in post.messages:
                try:
                    await limiter.admit(post.ref, rates)
                    done.ids.append(await poster.send(post.ref, out))
                except Exception as err:
                    raise DeliveryFailed(post, done.posted) from err
                done.posted += 1
    return done


#: "Sent" marks are recorded after this many posts at the latest ...
MARK_EVERY = 20
#: ... or once the oldest unrecorded post is this many seconds old: until its
#: mark is recorded, a question in a card's thread cannot find its paper.
MARK_AFTER = 2.0


class _Marks:
    """The "sent" marks of one delivery not yet recorded (see the module doc)."""

    def __init__(self, store: Store, clock: Clock, post: Outbound) -> None:
        self.store, self.clock, self.post = store, clock, post
        self.pending: list[tuple[Outgoing, str]] = []
        self._since = 0.0

    def add(self, out: Outgoing, message: str) -> None:
        if not self.pending:
            self._since = time.monotonic()
        self.pending.append((out, message))

    def due(self) -> bool:
        return len(self.pending) >= MARK_EVERY or (
            bool(self.pending) and time.monotonic() - self._since >= MARK_AFTER
        )

    async def flush(self, finish_run: int | None = None, withdraw: Sequence[str] = ()) -> None:
        """Record the pending marks (and finish ``finish_run``, withdraw the
        intents ``withdraw``) in one transaction. The marks are handed over
        first: if recording fails, the next attempt finds those messages
        through the platform instead."""
        sent, self.pending = self.pending, []
        if sent or finish_run is not None or withdraw:
            await asyncio.to_thread(
                self.store.outbox_step,
                self.post.channel_id,
                self.clock.now(),
                sent=[(out.marker, message) for out, message in sent],
                finish_run=finish_run,
                withdraw=withdraw,
            )

    async def settle(self, untried: Sequence[str]) -> None:
        """After a failure or a cancellation, whatever happens to this task
        meanwhile: record what was posted, and withdraw the intents of the
        messages ``untried`` (certainly never posted), so the next attempt
        asks the platform only about the one whose fate is unknown. A database
        fault here is logged: the next attempt then reconciles through ``find``."""
        if not self.pending and not untried:
            return
        try:
            await asyncio.shield(self.flush(withdraw=untried))
        except Exception as err:
            log.warning(
                "event=outbox.mark_failed channel=%d error=%s: %s",
                self.post.channel_id,
                type(err).__name__,
                err,
            )


async def _outboxed(
    store: Store, poster: Poster, clock: Clock, post: Outbound, finish: bool, limiter: Limiter
) -> Delivered:
    """An exactly-once post: intents in one transaction, then the messages in
    order, their marks in batches (the module doc has the rules). A post made
    once (a chip reply, a shuffle: ``not post.resumes``) has fresh markers, so
    there is nothing to read first and nothing to reconcile."""
    channel_id, run_id = post.channel_id, post.run_id
    done = Delivered(post, notice=post.notice)
    rates = rates_of(poster)
    states = await asyncio.to_thread(
        store.outbox_open,
        channel_id,
        clock.now(),
        [
            (out.marker, out.card.key if out.card else None, out.card.number if out.card else None)
            for out in post.messages
        ],
        run_id=run_id,
        known=post.resumes,
    )
    if states is None:
        log.info("digest already delivered channel=%d run=%d", channel_id, run_id)
        return replace(done, closed=True)
    marks = _Marks(store, clock, post)
    unsure = True  # messages left ``sending`` may have reached the channel
    at = 0  # the message being handled, for the except clause
    try:
        for at, out in enumerate(post.messages):  # noqa: B007
            state = states.get(out.marker)
            if state is not None and state.status == "sent":
                if state.message_ref:
                    done.ids.append(state.message_ref)
                continue
            if state is not None and unsure:
                found = await poster.find(post.ref, out.marker, state.created_at)
                if found is not None:
                    log.info(
                        "reconciled marker=%s channel=%d message=%s", out.marker, channel_id, found
                    )
                    marks.add(out, found)
                    done.ids.append(found)
                    continue
                # Posted in order: nothing after a message that never arrived did.
                unsure = False
            wait = limiter.delay(post.ref, rates)
            if wait > 0:
                await marks.flush()  # idle anyway: record what is posted so far
                await limiter.sleep(wait)
            message = await poster.send(post.ref, out)
            marks.add(out, message)
            done.ids.append(message)
            done.posted += 1
            if marks.due():
                await marks.flush()
    except (Exception, asyncio.CancelledError) as err:
        # Nothing after message ``at`` was tried now; nor before now, unless an
        # earlier attempt's ``sending`` rows are still unresolved.
        untried = [
            out.marker for out in post.messages[at + 1 :] if not unsure or out.marker not in states
        ]
        await marks.settle(untried)
        if isinstance(err, asyncio.CancelledError):  # shutdown stopped waiting
            raise
        raise DeliveryFailed(post, done.posted) from err
    finished = run_id if run_id is not None and finish else None
    if marks.pending or finished is not None:
        await marks.flush(finished)
    if finished is not None:
        log.info("digest delivered channel=%d run=%d posted=%d", channel_id, run_id, done.posted)
    return done
