"""Threads on card messages: Discord opens one only when someone asks.

Slack has a thread under every message; on Discord the Ask button opens one
(``DiscordEvents.ask_button``), named after the card, and says how to ask in
it. Every message in such a thread is then a question for the core.
"""

from __future__ import annotations

from typing import Any

import discord

THREAD_NAME = 100  # Discord's limit on a channel or thread name
THREAD_ARCHIVE_MINUTES = 1440


def how_to_ask(client: discord.Client, message_content: bool) -> str:
    """The first line in a new card thread. Without the Message Content intent
    the bot sees only messages that mention it, so the line says to."""
    if message_content:
        return (
            "Ask anything about this paper in this thread: every message here is a "
            "question, answered with the thread so far as context."
        )
    me = client.user.mention if client.user else "the bot"
    return f"Ask about this paper here by mentioning {me} in your question."


async def open_thread(
    client: discord.Client,
    interaction: discord.Interaction[Any],
    message: discord.Message,
    name: str,
) -> tuple[discord.Thread, bool]:
    """The thread for a card of ``message`` (the button's message), and whether
    it is new: the message's own thread, or one of the paper's own when several
    cards share the message (a message has one thread)."""
    if len(message.embeds) > 1:
        # Several cards share this message and a message has one thread:
        # the paper gets a thread of its own in the channel.
        channel = interaction.channel
        if isinstance(channel, discord.Thread) and channel.parent is not None:
            channel = channel.parent
        if not isinstance(channel, discord.TextChannel):
            raise discord.ClientException("threads need a text channel")
        thread = await channel.create_thread(
            name=name,
            type=discord.ChannelType.public_thread,
            auto_archive_duration=THREAD_ARCHIVE_MINUTES,
        )
        return thread, True
    if message.thread is not None:
        return message.thread, False
    try:
        thread = await message.create_thread(
            name=name, auto_archive_duration=THREAD_ARCHIVE_MINUTES
        )
        return thread, True
    except discord.HTTPException as err:
        if err.code != 160004:  # "A thread has already been created for this message"
            raise
        found = await client.fetch_channel(message.id)
        if not isinstance(found, discord.Thread):
            raise
        return found, False


def card_title(message: discord.Message, number: int) -> str:
    """The title of card ``number`` among the embeds of ``message``."""
    tag = f"{number:02d}."
    for embed in message.embeds:
        if embed.author and embed.author.name and embed.author.name.startswith(tag):
            return embed.title or "this paper"
    return message.embeds[0].title or "this paper" if message.embeds else "this paper"
