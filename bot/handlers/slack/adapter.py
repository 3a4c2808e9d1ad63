"""``SlackAdapter``: Paper Radar as a Slack app, on slack-bolt's ``AsyncApp``.

A translator (``bot.handlers.slack.events``): each Slack event becomes one
call of the core's front door (``bot.dispatch.Dispatcher``), and what comes
back is posted through the one delivery path with a ``SlackReplier``
(``bot.handlers.slack.replier``); ``bot.handlers.render_slack`` draws each
message as Block Kit. Nothing here interprets what a person typed or decides
what to post. This module wires it up and runs it:

- HTTP mode is hardened in ``bot.handlers.slack.http`` (signatures, replays,
  slow bodies, malformed payloads); Socket Mode connects through
  ``bot.handlers.slack.socket`` (a refused token stops ``start``, a lost
  connection is reopened with backoff).
- The ack path is only what the ack needs (``bot.handlers.slack.acks``);
  work runs after it, once no other ack is being made, in the process's
  bounded pools (``bot.workpools``, by kind, taken by the dispatcher).
- Who asked (``bot.core.actor.Actor``) is looked up only when the reply
  depends on it (``bot.handlers.slack.people``); the core decides what they
  may do.

Secrets come only from the environment variables named in ``SlackSettings``
and are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine, Mapping
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.recent import Recent
from bot.dispatch import Dispatcher
from bot.errors import ConfigError
from bot.handlers.slack import socket
from bot.handlers.slack.acks import AckGate, BotAuthorize, Direct
from bot.handlers.slack.credentials import SlackCredentials
from bot.handlers.slack.events import PLATFORM, SlackEvents
from bot.handlers.slack.http import HttpEndpoint
from bot.handlers.slack.people import People
from bot.handlers.slack.poster import SlackPoster, make_client, retry_handlers
from bot.service import RadarService
from bot.settings import SlackSettings
from bot.workpools import WorkPools

log = logging.getLogger(__name__)

#: The slash command. A workspace that renamed it (``/radar-dev``) still works.
COMMAND = re.compile(r"^/radar(\b|[-_])")
ACTIONS = re.compile(r"^(shuffle|chip_remove:\d+|ask|brief|pick:\d+|more|less|save)$")
#: How long a Socket Mode start may take (``apps.connections.open`` + the WebSocket)
#: before ``start`` gives up and says so; well inside the 30 s an operator waits.
CONNECT_SECONDS = 20.0


class SlackAdapter(SlackEvents):
    """Paper Radar on Slack (``bot.platform.PlatformAdapter``).

    ``service`` is the bot's ``RadarService`` (``bot.app.build(config).service``);
    ``settings`` is ``config.slack``; ``credentials`` come from
    ``SlackCredentials.from_env``. In HTTP mode the server listens on ``host``
    and ``settings.port`` (0 picks a free port; ``self.port`` tells which).
    ``poster`` posts to channels; the scheduler should use this same one.
    ``pools`` are the process's work pools (``App.pools``; a private set when
    not given). ``connect_timeout`` bounds a Socket Mode start;
    ``reconnect_backoff`` is the first wait before reopening a lost connection.
    """

    platform = PLATFORM

    def __init__(
        self,
        service: RadarService,
        settings: SlackSettings,
        credentials: SlackCredentials,
        *,
        host: str = "0.0.0.0",
        client: AsyncWebClient | None = None,
        poster: SlackPoster | None = None,
        pools: WorkPools | None = None,
        connect_timeout: float = CONNECT_SECONDS,
        reconnect_backoff: float = 1.0,
    ) -> None:
        missing = credentials.missing(settings)
        if missing:
            raise ConfigError(
                f"Slack ({settings.mode} mode) needs the environment variable"
                f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}."
            )
        self.settings = settings
        self.host = host
        self.port: int | None = None
        self.client = client or make_client(settings, credentials.bot_token)
        self.poster = poster or SlackPoster(self.client)
        self._credentials = credentials
        self._events = Recent()
        self._messages = Recent()
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting: set[Coroutine[Any, Any, None]] = set()
        self._own_pools = pools is None
        self.pools = pools or WorkPools()
        self.acks = AckGate()
        self.dispatch = Dispatcher(service, self.pools, pause=self.acks.clear)
        self.people = People(self.client)
        self.connect_timeout = connect_timeout
        self.reconnect_backoff = reconnect_backoff
        self._session: aiohttp.ClientSession | None = None
        self._auth: dict[str, Any] | None = None
        self._http: HttpEndpoint | None = None
        self._socket: AsyncSocketModeHandler | None = None

        # Bolt gets a client without the token: ``authorize`` supplies it per request
        # (Bolt would warn that a client token is ignored next to ``authorize``).
        # Its logger is the bot client's, so it too builds debug lines only when asked
        # (``poster._SdkLogger``), not on every call of a busy channel's replies.
        bolt_client = AsyncWebClient(
            base_url=self.client.base_url,
            retry_handlers=retry_handlers(),
            logger=self.client.logger,
        )
        # Bolt warns at start that $SLACK_BOT_TOKEN "will be ignored" (it reads the
        # variable itself); the token is used, through ``authorize``. The
        # application's log set-up drops that line (``bot.run.BoltTokenNotice``):
        # a filter here would reach Bolt's own loggers, which copy ours.
        bolt_log = logging.getLogger("bot.handlers.slack.bolt")
        self.app = AsyncApp(
            client=bolt_client,
            # One install, one bot token: every request is authorised as the bot
            # (auth.test runs once, in start(), not on the request path).
            authorize=BotAuthorize(self._identity, credentials.bot_token),
            signing_secret=credentials.signing_secret or None,
            # HTTP requests are verified in bot.handlers.slack.http (signature,
            # window and replay) before Bolt sees them, on the raw bytes; Socket
            # Mode's need none.
            request_verification_enabled=False,
            # Listeners run inline, before the response: each only spawns its
            # work (commands and actions are acked first, ``_ack_first``; Bolt
            # acks events right after), so the ack waits for nothing, and no
            # task per request is made on the ack path.
            process_before_response=True,
            logger=bolt_log,
        )
        # Middleware in Bolt's own form (``Direct``): on the ack path of every request.
        self.app.middleware(Direct(self._events_once))
        self.app.command(COMMAND, middleware=[Direct(self._ack_first)])(self._on_command)
        self.app.action(ACTIONS, middleware=[Direct(self._ack_first)])(self._on_action)
        self.app.event("app_mention")(self._on_event)
        self.app.event("message")(self._on_event)
        self.app.event("reaction_added")(self._on_reaction)
        self.app.event("reaction_removed")(self._on_reaction)

    @classmethod
    def from_env(
        cls,
        service: RadarService,
        settings: SlackSettings,
        environ: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> SlackAdapter | None:
        """The adapter, or None (logged, by variable name) when credentials are missing:
        ``paper-radar run`` starts only the platforms that have them."""
        credentials = SlackCredentials.from_env(settings, environ)
        missing = credentials.missing(settings)
        if missing:
            log.info("Slack not started: %s not set", ", ".join(missing))
            return None
        return cls(service, settings, credentials, **kwargs)

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Check the bot token, then listen: the HTTP server, or Socket Mode, whose
        app token is checked the same way. A token Slack refuses (or a Socket Mode
        connection that cannot be made within ``connect_timeout``) raises
        ``ConfigError`` naming the token's environment variable; nothing is left
        open. Cancelling ``start`` (SIGTERM while connecting) closes what it opened."""
        if self._session is None and self.client.session is None:
            # One connection pool for every Web API call and response_url reply,
            # instead of a new session (and TCP connection) per call.
            self._session = aiohttp.ClientSession()
            self.client.session = self._session
        try:
            try:
                auth = await self._identity()
            except SlackApiError as err:
                raise ConfigError(
                    f"Slack refused the bot token in {self.settings.bot_token_env} "
                    f"({err.response.get('error') or 'no answer'})."
                ) from None
            log.info(
                "Slack bot %s in team %s, %s mode",
                auth.get("user_id"),
                auth.get("team_id"),
                self.settings.mode,
            )
            if self.settings.mode == "http":
                self._http = HttpEndpoint(
                    self.app,
                    self._credentials.signing_secret,
                    host=self.host,
                    port=self.settings.port,
                    path=self.settings.path,
                    body_timeout=self.settings.body_timeout_seconds,
                    acks=self.acks,
                    acked_first=_is_command,
                    later=self._spawn,
                )
                self.port = await self._http.start()
            else:
                self._socket = await socket.connect(
                    self.app,
                    self._credentials.app_token,
                    variable=self.settings.app_token_env,
                    timeout=self.connect_timeout,
                    backoff=self.reconnect_backoff,
                    acks=self.acks,
                )
        except BaseException:
            await self._close_listeners()
            await self._close_session()
            raise

    async def stop(self) -> None:
        """Stop taking requests, let in-flight work finish (briefly), close."""
        await self._close_listeners()
        await self.drain(timeout=10.0)
        if self._tasks:  # past the grace period; digests resume from the outbox
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._drop_waiting()
        await self._close_session()
        if self._own_pools:
            self.pools.close()

    async def _close_listeners(self) -> None:
        if self._socket is not None:
            handler, self._socket = self._socket, None
            await handler.close_async()
        if self._http is not None:
            endpoint, self._http = self._http, None
            await endpoint.close()

    async def _close_session(self) -> None:
        if self._session is not None:
            if self.client.session is self._session:
                self.client.session = None
            await self._session.close()
            self._session = None

    async def _identity(self) -> dict[str, Any]:
        if self._auth is None:
            response = await self.client.auth_test()
            self._auth = dict(response.data) if isinstance(response.data, dict) else {}
        return self._auth


def _is_command(payload: dict[str, Any]) -> bool:
    """A `/radar` slash command: acknowledged before Bolt routes it (``_ack_first``
    would ack it the same way, empty, whatever the line says)."""
    return bool(COMMAND.match(str(payload.get("command") or "")))
