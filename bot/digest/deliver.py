"""Post a digest run to a channel exactly once, whatever crashes in between.

A run is a list of outgoing messages (header, one per card, footer), each
with a ``marker`` unique in the channel. For each one, in order:

1. already ``sent`` in the outbox: skip it;
2. ``sending`` (we died between the platform call and recording it): ask the
   platform whether the channel already holds a message with that marker; if
   so record it, else post it;
3. unknown: record the intent, post, record the message id.

Platforms implement ``Poster``; this module is the one delivery path for the
console, Slack, Discord and the scheduler, so exactly-once is proven once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from bot.clock import Clock
from bot.core.cards import Card, Reply
from bot.core.channel import ChannelRef
from bot.store.repo import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    """One message to post. ``card`` is set for a card; ``reply`` is the digest
    (for a header or footer it holds only that part)."""

    marker: str
    reply: Reply
    card: Card | None = None


class Poster(Protocol):
    """What delivery needs from a platform."""

    async def send(self, ref: ChannelRef, out: Outgoing) -> str:
        """Post ``out`` and return the platform's id for the message.

        Must carry ``out.marker`` in the message where the platform allows
        (Slack metadata, a Discord embed footer), for ``find``. Raises on failure.
        """
        ...

    async def find(self, ref: ChannelRef, marker: str, since: datetime) -> str | None:
        """The id of a message with ``marker`` posted since ``since``, if any."""
        ...


def run_messages(run_id: int, digest: Reply) -> list[Outgoing]:
    """The messages of a digest run, in posting order."""
    out = [Outgoing(f"r{run_id}:header", replace(digest, cards=(), footer=None))]
    out += [Outgoing(f"r{run_id}:card:{card.key}", digest, card) for card in digest.cards]
    if digest.footer:
        out.append(Outgoing(f"r{run_id}:footer", Reply(digest.footer, kind="footer")))
    return out


async def deliver_run(
    store: Store,
    poster: Poster,
    clock: Clock,
    ref: ChannelRef,
    channel_id: int,
    run_id: int,
    digest: Reply,
) -> int:
    """Post what is left of run ``run_id``; returns how many messages were posted now.

    Raises whatever the poster raises; the run then stays unfinished and a
    later call resumes it where it stopped.
    """
    posted = 0
    messages = run_messages(run_id, digest)
    # One read for the whole run: whoever delivers a run holds it alone (the
    # scheduler's run lock; an adapter delivers the run it just claimed).
    states = await asyncio.to_thread(
        store.outbox_states, channel_id, [out.marker for out in messages]
    )
    for out in messages:
        state = states.get(out.marker)
        if state is not None and state.status == "sent":
            continue
        if state is not None:
            found = await poster.find(ref, out.marker, state.created_at)
            if found is not None:
                log.info("reconciled marker=%s run=%d message=%s", out.marker, run_id, found)
                await asyncio.to_thread(
                    store.outbox_sent, channel_id, out.marker, found, clock.now()
                )
                continue
        else:
            await asyncio.to_thread(
                store.outbox_intend,
                channel_id,
                out.marker,
                clock.now(),
                run_id,
                out.card.key if out.card else None,
                out.card.number if out.card else None,
            )
        message = await poster.send(ref, out)
        await asyncio.to_thread(store.outbox_sent, channel_id, out.marker, message, clock.now())
        posted += 1
    await asyncio.to_thread(store.finish_run, run_id, clock.now())
    log.info("digest delivered channel=%d run=%d posted=%d", channel_id, run_id, posted)
    return posted
