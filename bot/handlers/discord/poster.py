"""``DiscordPoster``: how ``bot.digest.deliver`` posts a digest to a Discord channel.

One message per outgoing item (header, each card, footer), so a thread can
hang off every card. Each message is an embed whose footer carries the
outbox marker (``Paper Radar · r12:card:arxiv:2604.01234``); after a crash
between posting and recording, ``find`` reads the channel's history since the
intent was recorded and recognises the message by that marker, so delivery
neither drops nor repeats a card.

Rate limits (429) are discord.py's: its HTTP client waits ``retry_after`` and
retries. Any other failure raises out of ``send``, and ``deliver_run`` leaves
the run unfinished for a later retry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import discord

from bot.core.channel import ChannelRef
from bot.digest.deliver import Outgoing
from bot.handlers import render_discord as rd
from bot.handlers.discord.views import view_for

#: How far back of the recorded intent ``find`` looks: the bot's clock and
#: Discord's may disagree a little.
CLOCK_SKEW = timedelta(minutes=10)
#: How many messages ``find`` reads at most; a digest is at most ~52 messages.
FIND_LIMIT = 500


def outgoing_message(out: Outgoing) -> rd.Message:
    """The Discord message for one item of a digest run."""
    if out.card is not None:
        return rd.card_message(out.card, out.marker)
    if out.reply.kind == "footer":
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

    def __init__(self, client: Callable[[], discord.Client]) -> None:
        self._client = client

    def channel(self, ref: ChannelRef) -> discord.PartialMessageable:
        """The channel to post to, without fetching it first (one request less)."""
        guild_id = int(ref.workspace) if ref.workspace.isdigit() else None
        return self._client().get_partial_messageable(int(ref.channel), guild_id=guild_id)

    async def send(self, ref: ChannelRef, out: Outgoing) -> str:
        message = await self.channel(ref).send(**send_kwargs(outgoing_message(out)))
        return str(message.id)

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
