"""The poster for one Slack event: the channel, its threads, and the person who asked.

Channel and thread messages go through the adapter's ``SlackPoster`` (the
one the scheduler uses too); a private reply goes to the person who sent the
command or pressed the button: through the request's ``response_url``, which
works even where the bot is not a member, else ``chat.postEphemeral``.
Slack keeps no acknowledgement to update (the slash command was acked at
once, empty), so ``acknowledge`` has nothing to do.
"""

from __future__ import annotations

import logging
from datetime import datetime

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.core.cards import Reply
from bot.core.channel import ChannelRef
from bot.core.outgoing import Notice, Outgoing
from bot.handlers import render_slack
from bot.handlers.slack.poster import SlackPoster

log = logging.getLogger("bot.handlers.slack.adapter")


class SlackReplier:
    """``bot.digest.deliver.Replier`` for one Slack event: ``user`` sent it,
    ``response_url`` (may be empty) answers it privately; an event in a card's
    thread answers privately in that ``thread``."""

    def __init__(
        self,
        poster: SlackPoster,
        user: str = "",
        response_url: str = "",
        session: aiohttp.ClientSession | None = None,
        thread: str | None = None,
    ) -> None:
        self.poster = poster
        self.user = user
        self.response_url = response_url
        self.session = session
        self.thread = thread

    async def send(self, ref: ChannelRef, out: Outgoing, thread: str | None = None) -> str:
        return await self.poster.send(ref, out, thread)

    async def find(self, ref: ChannelRef, marker: str, since: datetime) -> str | None:
        return await self.poster.find(ref, marker, since)

    async def acknowledge(self, notice: Notice | None) -> None:
        return None

    async def send_private(self, ref: ChannelRef, reply: Reply) -> None:
        """Only the person who asked sees it: the request's ``response_url``,
        else ``chat.postEphemeral``; a failure of both is logged, not raised
        (the person's command is done either way)."""
        for message in render_slack.render_ephemeral(reply):
            if self.response_url:
                try:
                    webhook = AsyncWebhookClient(self.response_url, session=self.session)
                    response = await webhook.send(
                        text=message["text"],
                        blocks=message["blocks"],
                        response_type="ephemeral",
                        replace_original=False,
                    )
                    if response.status_code == 200:
                        continue
                    log.warning("response_url answered %d", response.status_code)
                except Exception as err:
                    log.warning("response_url failed: %s", type(err).__name__)
            if not self.user:
                return
            extra = {"thread_ts": self.thread} if self.thread else {}
            try:
                await self.poster.client.chat_postEphemeral(
                    channel=ref.channel,
                    user=self.user,
                    text=message["text"],
                    blocks=message["blocks"],
                    **extra,
                )
            except SlackApiError as err:
                log.warning("chat.postEphemeral failed: %s", err.response.get("error"))
                return
