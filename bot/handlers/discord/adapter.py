"""The Discord adapter: `/radar` app commands, buttons and card threads on discord.py.

It only translates (``bot.handlers.discord.events``): a slash command, a
button or a message in a card's thread becomes one call of the front door
(``bot.dispatch``), and what comes back is posted through the one delivery
path (``bot.handlers.discord.poster``), drawn as embeds by ``render_discord``.
This module connects it: the intents and permissions it asks for, the client,
start and stop, and publishing `/radar` to guilds.

``AllowedMentions.none()`` is the client default: nothing the bot posts can
ping anyone, whatever a paper or a model says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.dispatch import Dispatcher
from bot.errors import ConfigError
from bot.handlers.discord.commands import RadarGroup, publish, publish_to_guild
from bot.handlers.discord.events import PLATFORM, DiscordEvents
from bot.handlers.discord.poster import DiscordPoster
from bot.handlers.discord.views import DYNAMIC_ITEMS
from bot.settings import DiscordSettings

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

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


class DiscordAdapter(DiscordEvents):
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
        #: The front door every event goes through.
        self.dispatch = Dispatcher(app.service, app.pools)
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
            self._spawn(publish_to_guild(self.client.tree, guild))

    async def sync_commands(self) -> None:
        """Publish `/radar` (``bot.handlers.discord.commands.publish``); ``synced`` after."""
        try:
            await publish(self.client, self.client.tree, self.settings)
        finally:
            self.synced.set()


def _log_connection_end(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    err = task.exception()
    if err is not None:
        log.error("discord: the gateway connection ended: %r", err)
