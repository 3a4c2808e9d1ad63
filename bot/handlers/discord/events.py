"""Discord events in, one front-door call each: the translation half of ``DiscordAdapter``.

- A `/radar` command (its typed options joined into the console's line,
  ``bot.handlers.discord.commands``) becomes ``Dispatcher.command``; a button
  (``bot.handlers.discord.views``) the core's ``Press``; a message in a card's
  thread ``Dispatcher.question``. What comes back is posted by the dispatcher
  through an ``InteractionReplier`` or ``ThreadReplier``.
- Every interaction is acknowledged at once (``defer``), privately when its
  reply is for the sender alone (help, a line that does not parse); the work
  then runs in the process's bounded pools, so Discord's 3-second deadline
  holds however slow arXiv or the database is.
- Who asked (``bot.core.actor.Actor``): whoever holds the configured
  permission (``discord.manage_permission``, Manage Channels by default) in
  the channel counts as an admin, and anyone in a DM (their own radar); the
  core decides what they may do.
- A radar belongs to a guild id + channel id (direct messages use the
  workspace ``dm``); commands typed in a thread act on its parent channel.
- Ask about a card, or Brief on a card: the paper's thread is opened (or
  found) here, since only Discord needs one opened; questions in it, and the
  brief posted there, are the core's.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import discord
from discord import app_commands

from bot.core.actor import Actor
from bot.core.buttons import Press, command_for
from bot.core.channel import ChannelRef
from bot.core.outgoing import Notice
from bot.digest.deliver import DeliveryFailed
from bot.dispatch import Dispatcher
from bot.handlers import render_discord as rd
from bot.handlers.discord.poster import DiscordPoster, InteractionReplier, ThreadReplier
from bot.handlers.discord.threads import THREAD_NAME, card_title, how_to_ask, open_thread
from bot.settings import DiscordSettings

log = logging.getLogger("bot.handlers.discord.adapter")

PLATFORM = "discord"
HISTORY_TURNS = 20  # earlier thread messages passed to ``ask`` as context


class DiscordEvents:
    """What ``RadarClient`` hands over, translated (``DiscordAdapter`` is one)."""

    dispatch: Dispatcher
    poster: DiscordPoster
    client: discord.Client
    settings: DiscordSettings
    message_content: bool
    completed: int
    _inflight: int

    # -- where and who ---------------------------------------------------------

    def ref_for(self, interaction: discord.Interaction[Any]) -> ChannelRef:
        """The radar an interaction is about: its channel, or a thread's parent."""
        channel = interaction.channel
        channel_id = interaction.channel_id
        if isinstance(channel, discord.Thread) and channel.parent_id:
            channel_id = channel.parent_id
            channel = channel.parent
        if channel_id is None:
            raise ValueError("an interaction without a channel")
        if interaction.guild_id is None:
            return ChannelRef(PLATFORM, "dm", str(channel_id), "dm")
        name = getattr(channel, "name", None) or ""
        return ChannelRef(PLATFORM, str(interaction.guild_id), str(channel_id), name)

    def is_admin(self, interaction: discord.Interaction[Any]) -> bool:
        """Whether Discord vouches for this person as an admin of the channel:
        they hold the configured permission there (or Administrator). A DM is
        the person's own radar."""
        if interaction.guild_id is None:
            return True
        perms = interaction.permissions
        return perms.administrator or bool(getattr(perms, self.settings.manage_permission))

    def actor(self, interaction: discord.Interaction[Any]) -> Actor:
        """Who sent the interaction, for the core's policy and its announcement."""
        user = interaction.user
        return Actor(str(user.id), name=user.display_name, is_admin=self.is_admin(interaction))

    # -- interactions ----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _handling(self, what: str) -> AsyncIterator[None]:
        self._inflight += 1
        try:
            yield
        except Exception:
            log.exception("discord: %s failed", what)
        finally:
            self._inflight -= 1
            self.completed += 1

    async def run_line(self, interaction: discord.Interaction[Any], line: str) -> None:
        """A `/radar` command typed in Discord (its options joined into a line)."""
        async with self._handling(f"/radar {line[:40]}"):
            private = self.dispatch.private(line)
            await interaction.response.defer(ephemeral=private, thinking=True)
            replier = InteractionReplier(interaction, self.poster, private)
            await self._answer(
                replier,
                lambda: self.dispatch.command(
                    self.ref_for(interaction), line, replier, self._who(interaction)
                ),
            )

    async def press(
        self, interaction: discord.Interaction[Any], press: Press, value: str = ""
    ) -> None:
        """A button on one of the bot's messages (``bot.handlers.discord.views``)."""
        async with self._handling(f"button {press.value}"):
            await interaction.response.defer(thinking=True)
            replier = InteractionReplier(interaction, self.poster, private=False)
            await self._answer(
                replier,
                lambda: self.dispatch.button(
                    self.ref_for(interaction), press, value, replier, self._who(interaction)
                ),
            )

    async def verdict(self, interaction: discord.Interaction[Any], press: Press, key: str) -> None:
        """A card's More like this / Less like this / Save: recorded for the
        person who clicked; the acknowledgement is theirs alone."""
        async with self._handling(f"button {press.value}"):
            await interaction.response.defer(ephemeral=True, thinking=True)
            replier = InteractionReplier(interaction, self.poster, private=True)
            await self._answer(
                replier,
                lambda: self.dispatch.button(
                    self.ref_for(interaction), press, key, replier, self._who(interaction)
                ),
            )

    def _who(self, interaction: discord.Interaction[Any]) -> Callable[[bool], Awaitable[Actor]]:
        async def who(_full: bool) -> Actor:  # Discord says all there is to know
            return self.actor(interaction)

        return who

    async def _answer(
        self, replier: InteractionReplier, work: Callable[[], Awaitable[object]]
    ) -> None:
        """Run the front door's ``work``; a post Discord refused becomes the
        command's notice, anything else a short private apology."""
        try:
            await work()
        except DeliveryFailed as err:
            cause = err.__cause__
            log.warning("discord: posting interrupted: %r", cause)
            detail = (
                f"{cause.status} {rd.safe(str(cause.text or '')[:100])}"
                if isinstance(cause, discord.HTTPException)
                else type(cause).__name__
            )
            what, then = (
                ("part of this digest", "the rest will be posted when it is retried")
                if err.outbound.resumes
                else ("this reply", "please try again")
            )
            await replier.acknowledge(
                Notice(
                    f"Discord refused {what} ({detail}); {then}. Check that the bot may "
                    "send messages and embed links here."
                )
            )
        except Exception:
            await replier.failed()
            raise

    async def on_tree_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        """Errors discord.py raises before our callback runs (e.g. a command
        Discord knows but this version does not): a short ephemeral note."""
        log.warning("discord: app command error: %s", error)
        with contextlib.suppress(discord.HTTPException):
            if not interaction.response.is_done():
                await interaction.response.send_message(
                    "That command is not available in this version of the bot; try `/radar help`.",
                    ephemeral=True,
                )

    # -- Ask about this paper: a thread per card -------------------------------------

    async def ask_button(
        self, interaction: discord.Interaction[Any], number: int, key: str
    ) -> None:
        """Open (or point to) the thread for card ``number`` of the clicked message."""
        async with self._handling("ask"):
            await interaction.response.defer(ephemeral=True, thinking=True)
            thread = await self._card_thread(interaction, number, key)
            if thread is not None:
                await interaction.followup.send(f"Ask away in {thread.mention}.", ephemeral=True)

    async def brief_button(
        self, interaction: discord.Interaction[Any], number: int, key: str
    ) -> None:
        """Brief on card ``number``: its paper briefed in the card's thread,
        opened first when it has none (Discord threads exist only once opened);
        the core finds the thread by the paper and posts the brief there."""
        async with self._handling("brief"):
            if command_for(Press.PAPER_BRIEF, key) is None:
                return  # not a paper key: nothing runs, no thread is opened
            await interaction.response.defer(ephemeral=True, thinking=True)
            if await self._card_thread(interaction, number, key) is None:
                return
            replier = InteractionReplier(interaction, self.poster, private=True)
            await self._answer(
                replier,
                lambda: self.dispatch.button(
                    self.ref_for(interaction),
                    Press.PAPER_BRIEF,
                    key,
                    replier,
                    self._who(interaction),
                ),
            )

    async def _card_thread(
        self, interaction: discord.Interaction[Any], number: int, key: str
    ) -> discord.Thread | None:
        """The thread of card ``number`` (paper ``key``) on the clicked message,
        opened (with a line on how to ask in it) when it is new, and recorded
        so the core knows its paper; None, with a private note, when Discord
        would not open one."""
        message = interaction.message
        if message is None:
            return None
        title = card_title(message, number)
        name = rd.clip(f"{number:02d}. {title}", THREAD_NAME)
        try:
            thread, created = await open_thread(self.client, interaction, message, name)
        except (discord.HTTPException, discord.ClientException) as err:
            log.warning("discord: could not open a thread: %s", err)
            await interaction.followup.send(
                "I could not open a thread here; the bot needs the Create Public "
                "Threads and Send Messages in Threads permissions in a text channel.",
                ephemeral=True,
            )
            return None
        await self.dispatch.remember_thread(self.ref_for(interaction), key, number, str(thread.id))
        if created:
            with contextlib.suppress(discord.HTTPException):
                intro = how_to_ask(self.client, self.message_content)
                await thread.send(f"**{rd.safe(rd.clip(title, 200))}**\n{intro}")
        return thread

    # -- questions in card threads ---------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        """A message in a card's thread is a question about that paper."""
        async with self._handling("thread message"):
            if message.author.bot or message.guild is None:
                return
            thread = message.channel
            if not isinstance(thread, discord.Thread):
                if not isinstance(thread, discord.PartialMessageable):
                    return
                fetched = await self.client.fetch_channel(thread.id)  # an uncached thread?
                if not isinstance(fetched, discord.Thread):
                    return
                thread = fetched
            if thread.parent_id is None:
                return
            ref = ChannelRef(
                PLATFORM,
                str(message.guild.id),
                str(thread.parent_id),
                thread.parent.name if thread.parent is not None else "",
            )
            question = self._question(message)
            if not question:
                return
            if not await self.dispatch.is_card(ref, str(thread.id)):
                return
            history = [
                m.content
                async for m in thread.history(limit=HISTORY_TURNS, before=message)
                if m.content
            ][::-1]
            replier = ThreadReplier(self.poster, thread)
            async with thread.typing():
                await self.dispatch.question(ref, str(thread.id), question, history, replier)

    def _question(self, message: discord.Message) -> str:
        text = message.content
        user = self.client.user
        if user is not None:
            text = re.sub(rf"<@!?{user.id}>", " ", text)
        return " ".join(text.split())
