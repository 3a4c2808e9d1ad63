"""The front door: one platform event in, one core call, its messages out.

Every adapter turns its events into calls here and nothing else: a command
line, a button press (``bot.core.buttons``), a message in a card's thread.
Each call runs the service (blocking: database, arXiv, the model) in the
process's bounded pools (``bot.workpools``), by kind, then posts what it
returns through the one delivery path (``bot.digest.deliver``) with the
event's ``Replier``. Adapters never see a run id, the store or the outbox.

Platform-neutral: no SDK is imported here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import ParamSpec, TypeVar

from bot import workpools
from bot.core import buttons
from bot.core import commands as c
from bot.core.actor import Actor
from bot.core.cards import Reply
from bot.core.channel import ChannelRef
from bot.core.outgoing import Notice, Outbound, Outgoing
from bot.core.recent import Recent
from bot.digest.deliver import Delivered, Replier, deliver
from bot.service import RadarService
from bot.workpools import WorkPools

P = ParamSpec("P")
T = TypeVar("T")

#: Who sent an event, as the platform vouches for them. Called with True when
#: the reply depends on more than their id (``commands.names_sender``): their
#: name and whether they are an admin, which may cost the platform a look-up.
Who = Callable[[bool], Awaitable[Actor]]

#: Awaited before each step of an event's work (a job in a pool, a message
#: posted): where a platform must answer other events first and fast (Slack's
#: 3-second acks, which queue on the same event loop), it holds the work there
#: (``AckGate.clear``). Work started in a lull of a burst thus stops at its next
#: step when the burst goes on, instead of running beside the acks.
Pause = Callable[[], Awaitable[None]]


class Dispatcher:
    """The front door of one adapter. ``pools`` are the process's work pools
    (``App.pools``); None runs each call on a worker thread of the event
    loop, unbounded (the console: one person, one line at a time). ``pause``:
    see :data:`Pause` (none: every step runs at once)."""

    def __init__(
        self, service: RadarService, pools: WorkPools | None = None, pause: Pause | None = None
    ) -> None:
        self.service = service
        self.pools = pools
        self.pause = pause
        #: Cards whose thread already has the Ask prompt (the button pressed again).
        self._prompted = Recent()

    async def _job(self, kind: str, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn`` as one job of ``kind``'s pool (waits for a slot)."""
        if self.pause is not None:
            await self.pause()
        if self.pools is None:
            return await asyncio.to_thread(fn, *args, **kwargs)
        async with self.pools.slot(kind):
            return await self.pools.run(fn, *args, **kwargs)

    async def _call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """A short blocking call (a read, a record) inside the current job."""
        if self.pools is None:
            return await asyncio.to_thread(fn, *args, **kwargs)
        return await self.pools.run(fn, *args, **kwargs)

    # -- what a platform asks before it runs anything -------------------------------

    @staticmethod
    def private(line: str) -> bool:
        """Whether a line's reply is for its sender alone, whatever happens
        (for a platform that must choose before running: Discord's deferral)."""
        return c.answers_privately(workpools.parse_or_none(line))

    # -- events ------------------------------------------------------------------------

    async def command(self, ref: ChannelRef, line: str, replier: Replier, who: Who) -> Delivered:
        """A `/radar` line typed in ``ref``."""
        command = workpools.parse_or_none(line)  # None: the service says what is wrong
        actor = await who(c.names_sender(command))
        post = await self._job(workpools.kind_of(command), self.service.respond, ref, line, actor)
        return await self.deliver(post, replier)

    async def button(
        self, ref: ChannelRef, press: buttons.Press, value: str, replier: Replier, who: Who
    ) -> Delivered | None:
        """A button pressed on one of the bot's messages in ``ref``; None when
        its value is not one its button could carry (nothing runs)."""
        command = buttons.command_for(press, value)
        if command is None:
            return None
        actor = await who(c.names_sender(command))
        post = await self._job(workpools.kind_of(command), self.service.answer, ref, command, actor)
        return await self.deliver(post, replier)

    async def reaction(
        self, ref: ChannelRef, message_ref: str, name: str, removed: bool, who: Who
    ) -> bool:
        """An emoji reaction added to (or removed from) message ``message_ref``
        in ``ref``: a 👍/👎 on one of this channel's cards is that person's
        verdict on its paper, exactly as its More/Less like this button.
        Recorded silently (the reaction is its own acknowledgement); False when
        it means nothing (another emoji, a message that is not a card here)."""
        if buttons.reaction_verdict(name, "x:x") is None:
            return False  # not a verdict emoji: no look-up at all
        key = await self._call(self._card_key, ref, message_ref)
        command = None if key is None else buttons.reaction_verdict(name, key, removed)
        if command is None:
            return False
        actor = await who(c.names_sender(command))
        await self._job(workpools.kind_of(command), self.service.answer, ref, command, actor)
        return True

    def _card_key(self, ref: ChannelRef, message_ref: str) -> str | None:
        """The paper of card message ``message_ref`` in ``ref``, as the core
        recorded it when the card was posted; None for any other message."""
        store = self.service.store
        state = store.find_channel(ref)
        paper = None if state is None else store.paper_for_message(state.id, message_ref)
        return None if paper is None else paper.key

    async def ask_prompt(
        self, ref: ChannelRef, message_ref: str, replier: Replier
    ) -> Delivered | None:
        """The Ask button on a card whose platform threads need no opening
        (Slack): an invitation in its thread, once per card."""
        post = await self._job(workpools.COMMAND, self.service.ask_prompt, ref, message_ref)
        card = (ref.platform, ref.workspace, ref.channel, message_ref)
        if post.thread and not self._prompted.add(card):
            return None
        return await self.deliver(post, replier)

    async def question(
        self,
        ref: ChannelRef,
        thread: str,
        text: str,
        history: Sequence[str],
        replier: Replier,
        user: str | None = None,
    ) -> Delivered | None:
        """A message in the thread of card message ``thread``; None (silence)
        when that thread is not about one of this channel's cards."""
        post = await self._job(
            workpools.ASK, self.service.answer_in_thread, ref, thread, text, history, user
        )
        if post is None:
            return None
        return await self.deliver(post, replier)

    # -- small reads for a platform's UI ---------------------------------------------

    async def is_card(self, ref: ChannelRef, message_ref: str) -> bool:
        """Whether a thread under ``message_ref`` is about one of this channel's cards."""
        return await self._call(self.service.is_card, ref, message_ref)

    async def remember_thread(self, ref: ChannelRef, key: str, number: int, thread: str) -> None:
        """A thread opened for card ``number`` away from its message."""
        await self._call(self.service.remember_thread, ref, key, number, thread)

    async def chip_labels(self, ref: ChannelRef) -> list[tuple[str, str]]:
        """This channel's chips, (kind, label) in `/radar` order (autocomplete)."""
        return await self._call(self.service.chip_labels, ref)

    # -- delivery ----------------------------------------------------------------------

    async def deliver(self, post: Outbound, replier: Replier) -> Delivered:
        """Post ``post`` through the one path, then acknowledge the command.
        Raises ``DeliveryFailed`` (the platform refused a message): the
        adapter tells the person in its own words."""
        if post.exactly_once and not post.channel_id:
            post = replace(post, channel_id=await self._call(self.service.channel_id, post.ref))
        service = self.service
        if self.pause is not None:
            replier = _Paused(replier, self.pause)
        done = await deliver(service.store, replier, service.clock, post)
        await replier.acknowledge(done.notice)
        return done


class _Paused:
    """``replier``, each message of it after ``pause``."""

    def __init__(self, replier: Replier, pause: Pause) -> None:
        self.replier = replier
        self.pause = pause

    async def send(self, ref: ChannelRef, out: Outgoing, thread: str | None = None) -> str:
        await self.pause()
        return await self.replier.send(ref, out, thread)

    async def find(self, ref: ChannelRef, marker: str, since: datetime) -> str | None:
        await self.pause()
        return await self.replier.find(ref, marker, since)

    async def send_private(self, ref: ChannelRef, reply: Reply) -> None:
        await self.pause()
        await self.replier.send_private(ref, reply)

    async def acknowledge(self, notice: Notice | None) -> None:
        await self.replier.acknowledge(notice)


__all__ = ["Dispatcher", "Pause", "Who"]
