"""The Discord adapter: `/radar` app commands, buttons and card threads on discord.py.

It only translates: an interaction becomes a command line for
``RadarService.handle`` (the same lines the console takes), a ``Reply`` becomes
messages with embeds (``render_discord``), digests go through the one
delivery path (``deliver_run`` with ``DiscordPoster``), and a message in a
card's thread becomes ``RadarService.ask``.

Rules it keeps:
- every interaction is acknowledged at once (``defer``) and the work runs in
  the process's bounded pools (``bot.workpools``), by kind, so Discord's
  3-second deadline holds however slow arXiv or the database is, and a stuck
  briefing or thread question never holds up a command; errors and usage go
  only to the person who asked;
- ``AllowedMentions.none()`` is the client default: nothing the bot posts can
  ping anyone, whatever a paper or a model says;
- who may change a channel's radar is the core's decision
  (``bot.core.permissions``, ``[permissions]``); the adapter says who asked
  (``bot.core.actor.Actor``), counting as an admin whoever holds the
  configured permission (``discord.manage_permission``, Manage Channels by
  default) in that channel, and anyone in a DM (their own radar);
- a radar belongs to a guild id + channel id (``ChannelRef("discord", guild,
  channel)``; direct messages use the workspace ``dm``); commands typed in a
  thread act on the thread's parent channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot import workpools
from bot.core import commands as c
from bot.core.actor import Actor
from bot.core.cards import Reply
from bot.core.channel import ChannelRef
from bot.digest.deliver import deliver_run
from bot.errors import ConfigError
from bot.handlers import render_discord as rd
from bot.handlers.discord.commands import RadarGroup
from bot.handlers.discord.poster import DiscordPoster, send_kwargs
from bot.handlers.discord.views import DYNAMIC_ITEMS
from bot.service import error_reply
from bot.settings import DiscordSettings

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

PLATFORM = "discord"
THREAD_NAME = 100  # Discord's limit on a channel or thread name
HISTORY_TURNS = 20  # earlier thread messages passed to ``ask`` as context
THREAD_ARCHIVE_MINUTES = 1440
READY_TIMEOUT = 60.0
#: What the bot needs in a channel: see it, read its history (``find`` after a
#: crash, thread context), send messages with embeds, open threads on cards
#: and answer in them. 309237730304; docs/discord.md explains each bit.
PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    embed_links=True,
    read_message_history=True,
    create_public_threads=True,
    send_messages_in_threads=True,
)
SCOPES = ("bot", "applications.commands")


def invite_url(application_id: int | str) -> str:
    """The OAuth2 URL that adds the bot to a server with what it needs."""
    return (
        "https://discord.com/oauth2/authorize"
        f"?client_id={application_id}&scope={'+'.join(SCOPES)}&permissions={PERMISSIONS.value}"
    )


def intents(message_content: bool = True) -> discord.Intents:
    """The least the bot needs.

    - ``guilds``: the guild, channel and thread caches (where a thread's
      parent is, which guilds to sync commands to);
    - ``guild_messages``: message events in threads, the card Q&A;
    - ``message_content`` (privileged): the text of those messages. Without
      it Discord sends empty content unless the bot is mentioned, so thread
      questions would need an @mention; ``start`` falls back to that when the
      application has not been granted the intent.

    Slash commands, buttons and autocomplete need no intent at all.
    """
    flags = discord.Intents.none()
    flags.guilds = True
    flags.guild_messages = True
    flags.message_content = message_content
    return flags


class RadarClient(discord.Client):
    """A ``discord.Client`` that hands every event to its ``DiscordAdapter``."""

    def __init__(self, adapter: DiscordAdapter, *, message_content: bool, **options: Any) -> None:
        super().__init__(
            intents=intents(message_content),
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self.radar = adapter
        self.tree = app_commands.CommandTree(self)
        self.tree.add_command(RadarGroup(adapter))
        self.tree.on_error = adapter.on_tree_error  # type: ignore[method-assign]

    async def setup_hook(self) -> None:
        # Registered before the gateway connects, so a button pressed on any
        # message ever posted is dispatched from the first event on.
        self.add_dynamic_items(*DYNAMIC_ITEMS)

    async def on_ready(self) -> None:
        await self.radar.on_ready()

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.radar.on_guild_join(guild)

    async def on_message(self, message: discord.Message) -> None:
        await self.radar.on_message(message)


class DiscordAdapter:
    """Paper Radar on Discord. ``paper-radar run`` builds it with the app, the
    ``[discord]`` settings and the token, then ``await start()`` / ``stop()``;
    the scheduler posts digests through ``poster``."""

    platform = PLATFORM

    def __init__(
        self,
        app: App,
        settings: DiscordSettings,
        token: str,
        *,
        guild_ready_timeout: float = 2.0,
        ready_timeout: float = READY_TIMEOUT,
    ) -> None:
        if not token.strip():
            raise ConfigError(f"The Discord token is empty; set ${settings.token_env}.")
        if settings.manage_permission not in discord.Permissions.VALID_FLAGS:
            raise ConfigError(
                f"discord.manage_permission {settings.manage_permission!r} is not a Discord "
                "permission (e.g. manage_channels, manage_guild, administrator)"
            )
        bad = [g for g in settings.guilds if not g.isdigit()]
        if bad:
            raise ConfigError(f"discord.guilds must be guild ids (digits), not {bad[0]!r}")
        self.app, self.settings, self.token = app, settings, token
        self.service = app.service
        #: The process's work pools, shared with the other adapters.
        self.pools = app.pools
        self.guild_ready_timeout = guild_ready_timeout
        self.ready_timeout = ready_timeout
        self.message_content = True
        self.client = self._new_client()
        self.poster = DiscordPoster(lambda: self.client)
        #: Set once the commands are synced after the first READY.
        self.synced = asyncio.Event()
        #: Interactions and messages fully handled (ignored ones included):
        #: a cheap liveness signal, and what tests wait on.
        self.completed = 0
        self._inflight = 0
        self._connection: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._sync_started = False
        self._saved_urls: tuple[str, yarl.URL] | None = None

    def _new_client(self) -> RadarClient:
        return RadarClient(
            self,
            message_content=self.message_content,
            guild_ready_timeout=self.guild_ready_timeout,
        )

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Log in, connect in a background task, and return once READY (or after
        ``ready_timeout``, with the connection still coming up). Raises on a bad
        token or a gateway that refuses us."""
        if self._connection is not None:
            return
        try:
            try:
                await self._connect()
            except discord.PrivilegedIntentsRequired:
                log.warning(
                    "discord: the Message Content intent is not enabled for this application "
                    "(Developer Portal > Bot > Privileged Gateway Intents); continuing "
                    "without it: questions in card threads must @mention the bot"
                )
                await self.client.close()
                self._connection = None
                self.message_content = False
                self.client = self._new_client()
                await self._connect()
        except BaseException:
            await self.stop()  # no half-open sessions left behind
            raise

    async def _connect(self) -> None:
        self._use_api_url()
        await self.client.login(self.token)
        if self.settings.api_url:
            # A non-default API (a local replay or test server) names its own
            # gateway, as Discord's does, in GET /gateway/bot.
            _, url, _ = await self.client.http.get_bot_gateway()
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        self._connection = asyncio.create_task(self.client.connect(reconnect=True))
        ready = asyncio.create_task(self.client.wait_until_ready())
        done, _ = await asyncio.wait(
            {self._connection, ready},
            timeout=self.ready_timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if self._connection in done:
            ready.cancel()
            self._connection.result()  # raises what ended the connection
            raise ConnectionError("the Discord gateway closed during start-up")
        if not done:
            ready.cancel()
            log.warning("discord: not READY after %.0f s; still connecting", self.ready_timeout)
        self._connection.add_done_callback(_log_connection_end)

    def _use_api_url(self) -> None:
        """Point discord.py at ``settings.api_url`` (empty: Discord's own)."""
        if self.settings.api_url and self._saved_urls is None:
            self._saved_urls = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
            Route.BASE = self.settings.api_url.rstrip("/")

    async def stop(self, drain_seconds: float = 10.0) -> None:
        """Let in-flight handlers finish (up to ``drain_seconds``), then close the
        gateway and HTTP sessions."""
        for task in list(self._background):
            task.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_seconds
        while self._inflight and loop.time() < deadline:
            await asyncio.sleep(0.05)
        await self.client.close()
        if self._connection is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._connection, timeout=10)
            self._connection = None
        if self._saved_urls is not None:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = self._saved_urls
            self._saved_urls = None

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def on_ready(self) -> None:
        user = self.client.user
        log.info(
            "discord: ready as %s in %d guilds; invite: %s",
            user,
            len(self.client.guilds),
            invite_url(self.client.application_id or "APPLICATION_ID"),
        )
        if not self._sync_started:  # READY comes again after a reconnect
            self._sync_started = True
            self._spawn(self.sync_commands())

    async def on_guild_join(self, guild: discord.Guild) -> None:
        if self.settings.global_sync:
            return
        if not self.settings.guilds or str(guild.id) in self.settings.guilds:
            self._spawn(self._sync_guild(guild))

    async def sync_commands(self) -> None:
        """Publish `/radar`: to each configured guild (or every joined one),
        which takes effect at once; or globally when ``global_sync`` is set
        (also in DMs; then not per guild, or members would see it twice)."""
        try:
            if self.settings.global_sync:
                await self.client.tree.sync()
                log.info("discord: /radar synced globally")
            else:
                guilds: list[discord.abc.Snowflake] = [
                    discord.Object(int(g)) for g in self.settings.guilds
                ] or list(self.client.guilds)
                for guild in guilds:
                    await self._sync_guild(guild)
        except discord.HTTPException as err:
            log.error("discord: command sync failed: %s", err)
        finally:
            self.synced.set()

    async def _sync_guild(self, guild: discord.abc.Snowflake) -> None:
        tree = self.client.tree
        tree.copy_global_to(guild=guild)
        try:
            await tree.sync(guild=guild)
            log.info("discord: /radar synced to guild %s", guild.id)
        except discord.Forbidden:
            log.warning(
                "discord: guild %s refused the commands; re-invite the bot with the "
                "applications.commands scope (docs/discord.md)",
                guild.id,
            )

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

    def chip_labels(self, ref: ChannelRef) -> list[tuple[str, str]]:
        """(kind, label) of this channel's chips in their `/radar` order (for
        autocomplete; runs in a worker thread)."""
        state = self.service.store.find_channel(ref)
        if state is None:
            return []
        return [(chip.kind.value, chip.label()) for _, chip in state.chips]

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
        """Answer one command line typed (or clicked) in Discord, as the console would."""
        async with self._handling(f"/radar {line[:40]}"):
            command = workpools.parse_or_none(line)  # None: the service says what is wrong
            private = command is None or isinstance(command, c.Help)
            await interaction.response.defer(ephemeral=private, thinking=True)
            try:
                ref = self.ref_for(interaction)
                async with self.pools.slot(workpools.kind_of(command)):
                    reply = await self.pools.run(
                        self.service.handle, ref, line, self.actor(interaction)
                    )
            except Exception:
                await self._failed(interaction, private)
                raise
            await self._answer(interaction, ref, reply, private)

    async def remove_chip(self, interaction: discord.Interaction[Any], chip_id: int) -> None:
        """The × on a chip: `/radar remove <its current number>`."""
        async with self._handling("remove chip"):
            await interaction.response.defer(thinking=True)
            ref = self.ref_for(interaction)
            async with self.pools.slot(workpools.COMMAND):
                number = await self.pools.run(self._chip_number, ref, chip_id)
                if number is None:
                    reply = error_reply("That chip is no longer on this radar; nothing changed.")
                else:
                    reply = await self.pools.run(
                        self.service.handle, ref, f"remove {number}", self.actor(interaction)
                    )
            await self._answer(interaction, ref, reply, private=False)

    def _chip_number(self, ref: ChannelRef, chip_id: int) -> int | None:
        state = self.service.store.find_channel(ref)
        if state is None:
            return None
        ids = [cid for cid, _ in state.chips]
        return ids.index(chip_id) + 1 if chip_id in ids else None

    async def _answer(
        self, interaction: discord.Interaction[Any], ref: ChannelRef, reply: Reply, private: bool
    ) -> None:
        if "run_id" in reply.extra:
            await self._deliver_digest(interaction, ref, reply)
            return
        thread = await self._card_thread(reply.extra.get("thread"))
        if thread is not None:
            # `/radar ask 2 …` about a card whose thread exists: the answer goes
            # there, where the card's conversation continues.
            for planned in rd.plan(reply):
                await thread.send(**send_kwargs(planned))
            await interaction.edit_original_response(content=f"Answered in {thread.mention}.")
            return
        if reply.ephemeral and not private:
            # The deferral promised a public answer; it turned out private
            # (an error found while executing): swap the "thinking" message
            # for an ephemeral one.
            await interaction.delete_original_response()
        await self._send(interaction, reply, deferred=True)

    async def _card_thread(self, thread_id: Any) -> discord.Thread | None:
        """The thread a card's message id names, when it has one (a card shown
        but never asked about has none: the answer then comes here)."""
        if not isinstance(thread_id, str) or not thread_id.isdigit():
            return None
        found = self.client.get_channel(int(thread_id))
        if found is None:
            try:
                found = await self.client.fetch_channel(int(thread_id))
            except discord.HTTPException:
                return None
        return found if isinstance(found, discord.Thread) else None

    async def _send(
        self, interaction: discord.Interaction[Any], reply: Reply, *, deferred: bool
    ) -> None:
        messages = rd.plan(reply)
        private = reply.ephemeral
        sent: list[tuple[rd.Message, discord.WebhookMessage]] = []
        for i, message in enumerate(messages):
            kwargs = send_kwargs(message)
            if private:
                kwargs.pop("view", None)  # errors and help need no buttons
            if i == 0 and not deferred:
                await interaction.response.send_message(ephemeral=private, **kwargs)
                continue
            out = await interaction.followup.send(ephemeral=private, wait=True, **kwargs)
            sent.append((message, out))
        if not private:
            await self._record_single_cards(interaction, sent)

    async def _record_single_cards(
        self,
        interaction: discord.Interaction[Any],
        sent: list[tuple[rd.Message, discord.WebhookMessage]],
    ) -> None:
        """A message holding one card is that card's: a thread opened on it
        (by the Ask button or by hand) is about its paper."""
        singles = [(m.cards[0], out.id) for m, out in sent if len(m.cards) == 1]
        if singles:
            ref = self.ref_for(interaction)
            await self.pools.run(self._record_cards, ref, singles)

    def _record_cards(self, ref: ChannelRef, cards: list[tuple[Any, int]]) -> None:
        store = self.service.store
        state = store.find_channel(ref)
        if state is None:
            return
        now = self.app.clock.now()
        for card, message_id in cards:
            store.record_card(state.id, card.key, card.number, str(message_id), now)

    async def _deliver_digest(
        self, interaction: discord.Interaction[Any], ref: ChannelRef, reply: Reply
    ) -> None:
        """A digest goes to the channel through the one delivery path, one
        message per card; the command's own answer just says so."""
        n = len(reply.cards)
        try:
            await deliver_run(
                self.service.store,
                self.poster,
                self.app.clock,
                ref,
                int(reply.extra["channel_id"]),
                int(reply.extra["run_id"]),
                reply,
            )
        except discord.HTTPException as err:
            log.warning("discord: digest run %s interrupted: %s", reply.extra["run_id"], err)
            await interaction.edit_original_response(
                content=(
                    "Discord refused part of this digest "
                    f"({err.status} {rd.safe(str(err.text or '')[:100])}); the rest will be "
                    "posted when it is retried. Check that the bot may send messages and "
                    "embed links here."
                )
            )
            return
        await interaction.edit_original_response(
            content=f"Posted the digest below: {n} new card{'s' if n != 1 else ''}."
        )

    async def _failed(self, interaction: discord.Interaction[Any], private: bool) -> None:
        """An unexpected failure: tell the person briefly, never a stack trace."""
        with contextlib.suppress(discord.HTTPException):
            if not private:
                await interaction.delete_original_response()
            await interaction.followup.send(
                "Something went wrong on the bot's side; please try again later.",
                ephemeral=True,
            )

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
            message = interaction.message
            if message is None:
                return
            ref = self.ref_for(interaction)
            title = _card_title(message, number)
            name = rd.clip(f"{number:02d}. {title}", THREAD_NAME)
            try:
                thread, created = await self._thread_for(interaction, message, name)
            except (discord.HTTPException, discord.ClientException) as err:
                log.warning("discord: could not open a thread: %s", err)
                await interaction.followup.send(
                    "I could not open a thread here; the bot needs the Create Public "
                    "Threads and Send Messages in Threads permissions in a text channel.",
                    ephemeral=True,
                )
                return
            await self.pools.run(self._remember_thread, ref, key, number, thread.id)
            if created:
                with contextlib.suppress(discord.HTTPException):
                    await thread.send(f"**{rd.safe(rd.clip(title, 200))}**\n{self._how_to_ask()}")
            await interaction.followup.send(f"Ask away in {thread.mention}.", ephemeral=True)

    def _how_to_ask(self) -> str:
        if self.message_content:
            return (
                "Ask anything about this paper in this thread: every message here is a "
                "question, answered with the thread so far as context."
            )
        me = self.client.user.mention if self.client.user else "the bot"
        return f"Ask about this paper here by mentioning {me} in your question."

    async def _thread_for(
        self, interaction: discord.Interaction[Any], message: discord.Message, name: str
    ) -> tuple[discord.Thread, bool]:
        """The paper's thread and whether it is new."""
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
            found = await self.client.fetch_channel(message.id)
            if not isinstance(found, discord.Thread):
                raise
            return found, False

    def _remember_thread(self, ref: ChannelRef, key: str, number: int, thread_id: int) -> None:
        store = self.service.store
        state = store.find_channel(ref) or store.channel(ref, self.app.config.radar.digest_cap)
        store.record_card(state.id, key, number, str(thread_id), self.app.clock.now())

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
            if not await self.pools.run(self._is_card_thread, ref, str(thread.id)):
                return
            history = [
                m.content
                async for m in thread.history(limit=HISTORY_TURNS, before=message)
                if m.content
            ][::-1]
            async with thread.typing(), self.pools.slot(workpools.ASK):
                reply = await self.pools.run(
                    self.service.ask, ref, str(thread.id), question, history
                )
            if reply is None:
                return
            for planned in rd.plan(reply):
                await thread.send(**send_kwargs(planned))

    def _question(self, message: discord.Message) -> str:
        text = message.content
        user = self.client.user
        if user is not None:
            text = re.sub(rf"<@!?{user.id}>", " ", text)
        return " ".join(text.split())

    def _is_card_thread(self, ref: ChannelRef, thread_ref: str) -> bool:
        store = self.service.store
        state = store.find_channel(ref)
        return state is not None and store.paper_for_message(state.id, thread_ref) is not None


def _card_title(message: discord.Message, number: int) -> str:
    """The title of card ``number`` among the embeds of ``message``."""
    tag = f"{number:02d}."
    for embed in message.embeds:
        if embed.author and embed.author.name and embed.author.name.startswith(tag):
            return embed.title or "this paper"
    return message.embeds[0].title or "this paper" if message.embeds else "this paper"


def _log_connection_end(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    err = task.exception()
    if err is not None:
        log.error("discord: the gateway connection ended: %r", err)
