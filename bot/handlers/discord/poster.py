"""How ``bot.digest.deliver`` posts to Discord: ``DiscordPoster`` (a channel and
its card threads, for every event and the scheduler) and the per-event
repliers (``InteractionReplier`` for a slash command or a button,
``ThreadReplier`` for a message in a card's thread).

One message per outgoing item (header, each card, footer), so a thread can
hang off every card. Each message is an embed whose footer carries the
outbox marker (``Paper Radar · r12:card:arxiv:2604.01234``); after a crash
between posting and recording, ``find`` reads the channel's history since the
intent was recorded and recognises the message by that marker, so delivery
neither drops nor repeats a card.

Rate limits: ``DiscordPoster.rates`` declares Discord's (``DISCORD_RATES``),
which ``bot.digest.deliver`` keeps to through the process's one limiter; a
429 all the same is discord.py's to handle: its HTTP client waits
``retry_after`` and retries. Any other failure raises out of ``send``, and
delivery leaves a digest run unfinished for a later retry.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import discord

from bot.core.cards import Reply, ReplyKind
from bot.core.channel import ChannelRef
from bot.core.outgoing import Notice, Outgoing
from bot.digest.deliver import NoThread
from bot.digest.limiter import PostRates, Rate
from bot.handlers import render_discord as rd
from bot.handlers.discord.views import view_for

#: How far back of the recorded intent ``find`` looks: the bot's clock and
#: Discord's may disagree a little.
CLOCK_SKEW = timedelta(minutes=10)
#: How many messages ``find`` reads at most; a digest is at most ~52 messages.
FIND_LIMIT = 500
#: Creating messages: a per-route bucket of 5 per 5 seconds per channel, under
#: the global limit of 50 requests a second per bot.
DISCORD_RATES = PostRates(channel=Rate(1.0, burst=5), overall=Rate(50.0, burst=50))


def outgoing_message(out: Outgoing) -> rd.Message:
    """The Discord message for one item of a digest run."""
    if out.card is not None:
        return rd.card_message(out.card, out.marker)
    if out.reply.kind is ReplyKind.FOOTER:
        return rd.footer_message(out.reply, out.marker)
    return rd.header_message(out.reply, out.marker)


def send_kwargs(message: rd.Message) -> dict[str, Any]:
    """``send`` keyword arguments for a planned message (embeds as SDK objects)."""
    kwargs: dict[str, Any] = {}
    if message.content:
        kwargs["content"] = message.content
    if message.embeds:
        kwargs["embeds"] = [discord.Embed.from_dict(e) for e in message.embeds]
    view = view_for(message)
    if view is not None:
        kwargs["view"] = view
    return kwargs


class DiscordPoster:
    """``bot.digest.deliver.Poster`` for Discord.

    ``client`` is called for the current ``discord.Client`` each time, since
    the adapter may replace its client (e.g. reconnecting without the
    message-content intent).
    """

    rates: PostRates = DISCORD_RATES

    def __init__(self, client: Callable[[], discord.Client]) -> None:
        self._client = client

    def channel(self, ref: ChannelRef) -> discord.PartialMessageable:
        """The channel to post to, without fetching it first (one request less)."""
        guild_id = int(ref.workspace) if ref.workspace.isdigit() else None
        return self._client().get_partial_messageable(int(ref.channel), guild_id=guild_id)

    async def send(self, ref: ChannelRef, out: Outgoing, thread: str | None = None) -> str:
        if thread is not None:
            first: str | None = None
            target = await self.thread(thread)
            for planned in rd.plan(out.reply):
                message = await target.send(**send_kwargs(planned))
                first = first or str(message.id)
            return first or thread
        message = await self.channel(ref).send(**send_kwargs(outgoing_message(out)))
        return str(message.id)

    async def thread(self, thread_id: str) -> discord.Thread:
        """The thread ``thread_id`` names (a card's message id, which a thread
        opened on it shares); ``NoThread`` when there is none (yet)."""
        client = self._client()
        found = client.get_channel(int(thread_id)) if thread_id.isdigit() else None
        if found is None and thread_id.isdigit():
            with contextlib.suppress(discord.HTTPException):
                found = await client.fetch_channel(int(thread_id))
        if not isinstance(found, discord.Thread):
            raise NoThread(f"no thread {thread_id}")
        return found

    async def find(self, ref: ChannelRef, marker: str, since: datetime) -> str | None:
        client = self._client()
        me = client.user.id if client.user is not None else None
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        history = self.channel(ref).history(
            limit=FIND_LIMIT, after=since - CLOCK_SKEW, oldest_first=True
        )
        async for message in history:
            if me is not None and message.author.id != me:
                continue
            if any(rd.marker_of(embed.to_dict()) == marker for embed in message.embeds):
                return str(message.id)
        return None


class InteractionReplier:
    """``bot.digest.deliver.Replier`` for one interaction (a `/radar` command, a
    button), acknowledged at once with a deferral, ``private`` (ephemeral) or
    not. Channel and thread posts go through ``poster``; a private reply
    replaces the deferral's "thinking" message (a public one is deleted first:
    Discord cannot make it private); ``acknowledge`` turns it into the
    command's notice, or deletes it when the posts below say it all."""

    def __init__(
        self, interaction: discord.Interaction[Any], poster: DiscordPoster, private: bool
    ) -> None:
        self.interaction, self.poster, self.private = interaction, poster, private
        self._settled = False

    async def send(self, ref: ChannelRef, out: Outgoing, thread: str | None = None) -> str:
        return await self.poster.send(ref, out, thread)

    async def find(self, ref: ChannelRef, marker: str, since: datetime) -> str | None:
        return await self.poster.find(ref, marker, since)

    async def send_private(self, ref: ChannelRef, reply: Reply) -> None:
        await self._private(rd.plan(reply))

    async def _private(self, messages: list[rd.Message]) -> None:
        if not self.private and not self._settled:
            await self.interaction.delete_original_response()
        self._settled = True
        for message in messages:
            kwargs = send_kwargs(message)
            kwargs.pop("view", None)  # errors and help need no buttons
            await self.interaction.followup.send(ephemeral=True, **kwargs)

    async def acknowledge(self, notice: Notice | None) -> None:
        if self._settled:
            return
        self._settled = True
        if notice is not None:
            text = notice.render(lambda thread: f"<#{thread}>", rd.safe)
            await self.interaction.edit_original_response(content=text)
            return
        with contextlib.suppress(discord.NotFound):  # already gone: nothing to tidy
            await self.interaction.delete_original_response()

    async def failed(self) -> None:
        """An unexpected failure: tell the person briefly, never a stack trace."""
        with contextlib.suppress(discord.HTTPException):
            await self._private(
                [
                    rd.Message(
                        content="Something went wrong on the bot's side; please try again later."
                    )
                ]
            )


class ThreadReplier:
    """``bot.digest.deliver.Replier`` for a message in a card's thread. Discord
    has no private reply to a message, so a private one (a used-up daily cap)
    is said in the thread, to the person who asked there."""

    def __init__(self, poster: DiscordPoster, thread: discord.Thread) -> None:
        self.poster, self.thread = poster, thread

    async def send(self, ref: ChannelRef, out: Outgoing, thread: str | None = None) -> str:
        return await self.poster.send(ref, out, thread)

    async def find(self, ref: ChannelRef, marker: str, since: datetime) -> str | None:
        return await self.poster.find(ref, marker, since)

    async def send_private(self, ref: ChannelRef, reply: Reply) -> None:
        for planned in rd.plan(reply):
            await self.thread.send(**send_kwargs(planned))

    async def acknowledge(self, notice: Notice | None) -> None:
        return None
