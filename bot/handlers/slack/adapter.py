"""``SlackAdapter``: Paper Radar as a Slack app, on slack-bolt's ``AsyncApp``.

A thin translator. Slack events become ``RadarService`` calls; the core's
``Reply`` values become Block Kit messages (``bot.handlers.render_slack``).
Parsing and execution stay in the core; nothing here interprets user text
beyond stripping the bot's own @-mention from a thread question.

- ``/radar <line>``: acknowledged at once (before any work, so always inside
  Slack's 3 seconds), then ``service.handle`` runs in a worker thread. Errors,
  usage and help go back ephemeral (the command's ``response_url``, else
  ``chat.postEphemeral``); digests go through ``deliver_run`` (exactly once, via
  the outbox); other replies are posted header / one card per message / footer,
  and each card's ``ts`` is recorded so its thread knows its paper.
- Buttons: Shuffle = ``/radar shuffle``; a chip's × = remove that chip; Ask =
  a prompt in the card's thread; Brief = ``/radar brief``.
- Threads: a reply (or an @-mention) in the thread under one of this channel's
  cards is a question about that paper, answered in the same thread with the
  thread's earlier messages as context.
- Delivery guarantees for events: retries Slack sends after a slow ack, and
  redeliveries of an ``event_id`` already seen, are acknowledged and skipped.
- HTTP mode verifies every request's signature (5-minute window) and refuses
  a replayed signature; a body that does not arrive within
  ``body_timeout_seconds`` gets 408 and the connection closed (slow-loris), and
  a correctly signed body that is not a Slack payload gets 400 before Bolt sees
  it. Socket Mode needs no public URL at all; a refused app token or a socket
  URL that does not connect stops ``start`` with the variable's name, and a
  connection lost later is reopened with backoff (``bot.handlers.slack.socket``).
- Work runs after the ack in the process's bounded pools (``bot.workpools``),
  by kind: a stuck briefing or thread question never holds up a command.
- Who asked travels with the command (``bot.core.actor.Actor``): the user id,
  and for commands that change the radar whether Slack counts them a workspace
  admin or owner (``users.info``, cached); the core decides what they may do.

Secrets come only from the environment variables named in ``SlackSettings``
and are never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot import workpools
from bot.core import commands as c
from bot.core.actor import Actor
from bot.core.cards import Reply
from bot.core.channel import ChannelRef
from bot.digest.deliver import Outgoing, deliver_run
from bot.errors import ConfigError
from bot.handlers import render_slack
from bot.handlers.slack.poster import SlackPoster, SlackPostError, make_client, retry_handlers
from bot.handlers.slack.socket import RadarSocketClient, RadarSocketHandler, describe
from bot.service import RadarService
from bot.settings import SlackSettings
from bot.workpools import WorkPools

log = logging.getLogger(__name__)

PLATFORM = "slack"
#: The slash command. A workspace that renamed it (``/radar-dev``) still works.
COMMAND = re.compile(r"^/radar(\b|[-_])")
ACTIONS = re.compile(r"^(shuffle|chip_remove:\d+|ask|brief|pick:\d+)$")
#: What a pick button may run: an answer to `/radar author`, nothing else.
PICK_LINE = re.compile(r"^pick (?:[0-9]{1,2} openalex:A[0-9]{1,12}|name)$")
SIGNATURE_WINDOW = 60 * 5  # Slack's, and slack_sdk's SignatureVerifier's
ASK_PROMPT = (
    "Ask your question about this paper here: reply in this thread "
    "(no need to mention me). I answer from its abstract and the thread so far."
)
NOT_IN_CHANNEL = (
    "I can't post in this channel yet. Invite me with `/invite @Paper Radar`, then try again."
)
HISTORY_TURNS = 20
QUIET = 0.005  # seconds without a new request before queued work starts
HOLD_MAX = 0.25  # the longest work waits for such a pause
_TOKEN = re.compile(r"<([^<>]*)>")
#: Message subtypes that are a person talking (the others are edits, joins, bots...).
_HUMAN_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})
#: Slack error codes that mean "the bot cannot post here": tell the person how to fix it.
_CANNOT_POST = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
#: How long a Socket Mode start may take (``apps.connections.open`` + the WebSocket)
#: before ``start`` gives up and says so; well inside the 30 s an operator waits.
CONNECT_SECONDS = 20.0
#: How long whether a person is a workspace admin is trusted (``users.info``).
ADMIN_TTL = 600.0
#: ... and how long a failed look-up is (missing ``users:read``, Slack down):
#: they count as a member meanwhile, and the log is not flooded.
ADMIN_FAILED_TTL = 60.0
#: Top-level keys of a Slack payload that Bolt reads as objects when present.
_OBJECT_KEYS = ("team", "user", "channel", "container", "message", "enterprise", "view", "event")


@dataclass(frozen=True, repr=False)
class SlackCredentials:
    """The three Slack secrets. ``repr`` never shows them."""

    bot_token: str
    app_token: str = ""
    signing_secret: str = ""

    @classmethod
    def from_env(
        cls, settings: SlackSettings, environ: Mapping[str, str] | None = None
    ) -> SlackCredentials:
        env = os.environ if environ is None else environ
        return cls(
            bot_token=env.get(settings.bot_token_env, "").strip(),
            app_token=env.get(settings.app_token_env, "").strip(),
            signing_secret=env.get(settings.signing_secret_env, "").strip(),
        )

    def missing(self, settings: SlackSettings) -> list[str]:
        """Names of the environment variables ``settings.mode`` needs and lacks."""
        out = [] if self.bot_token else [settings.bot_token_env]
        if settings.mode == "socket" and not self.app_token:
            out.append(settings.app_token_env)
        if settings.mode == "http" and not self.signing_secret:
            out.append(settings.signing_secret_env)
        return out

    def __repr__(self) -> str:
        return "SlackCredentials(<redacted>)"


class Recent:
    """A bounded set of recently seen keys (oldest forgotten first)."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._keys: OrderedDict[Any, None] = OrderedDict()

    def add(self, key: Any) -> bool:
        """Remember ``key``; False when it was already there."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self.size:
            self._keys.popitem(last=False)
        return True


class ReplayGuard:
    """Refuses a signed request seen before.

    A signature is valid for five minutes, so a captured request could be
    replayed inside that window and would pass verification; remembering each
    signature for the window closes that gap. (Slack's own retries are signed
    afresh, so they are not refused here.)
    """

    def __init__(self, window: float = SIGNATURE_WINDOW + 60, size: int = 100_000) -> None:
        self.window = window
        self.size = size
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_use(self, signature: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        while self._seen and next(iter(self._seen.values())) < now:
            self._seen.popitem(last=False)
        if signature in self._seen:
            return False
        self._seen[signature] = now + self.window
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return True


@dataclass(frozen=True)
class _Where:
    """Where to answer: the channel, who asked, and how to reach them privately."""

    ref: ChannelRef
    user: str = ""
    response_url: str = ""


class SlackAdapter:
    """Paper Radar on Slack (``bot.platform.PlatformAdapter``).

    ``service`` is the bot's ``RadarService`` (``bot.app.build(config).service``);
    ``settings`` is ``config.slack``; ``credentials`` come from
    ``SlackCredentials.from_env``. In HTTP mode the server listens on ``host``
    and ``settings.port`` (0 picks a free port; ``self.port`` tells which).
    ``poster`` delivers digests; the scheduler should use this same one.
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
        self.service = service
        self.settings = settings
        self.host = host
        self.port: int | None = None
        self.client = client or make_client(settings, credentials.bot_token)
        self.poster = poster or SlackPoster(self.client)
        self._credentials = credentials
        self._http = settings.mode == "http"
        self._verifier = SignatureVerifier(credentials.signing_secret) if self._http else None
        self._replays = ReplayGuard()
        self._events = Recent()
        self._messages = Recent()
        self._prompted = Recent()  # cards whose thread already has the Ask prompt
        self._tasks: set[asyncio.Task[None]] = set()
        self._own_pools = pools is None
        self.pools = pools or WorkPools()
        self.connect_timeout = connect_timeout
        self.reconnect_backoff = reconnect_backoff
        self._admins: dict[tuple[str, str], tuple[float, Actor]] = {}
        self._last_request = 0.0
        self._session: aiohttp.ClientSession | None = None
        self._auth: dict[str, Any] | None = None
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None

        async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
            # One install, one bot token: every request is authorised as the bot
            # (auth.test runs once, in start(), not on the request path).
            auth = await self._identity()
            return AuthorizeResult(
                enterprise_id=enterprise_id,
                team_id=team_id,
                bot_user_id=auth.get("user_id"),
                bot_id=auth.get("bot_id"),
                bot_token=credentials.bot_token,
            )

        # Bolt gets a client without the token: ``authorize`` supplies it per request
        # (Bolt would warn that a client token is ignored next to ``authorize``).
        bolt_client = AsyncWebClient(base_url=self.client.base_url, retry_handlers=retry_handlers())
        bolt_log = logging.getLogger("bot.handlers.slack.bolt")
        if not any(isinstance(f, _TokenNotice) for f in bolt_log.filters):
            bolt_log.addFilter(_TokenNotice())
        self.app = AsyncApp(
            client=bolt_client,
            authorize=authorize,
            signing_secret=credentials.signing_secret or None,
            # HTTP requests are verified in _http_request (signature, window and
            # replay) before Bolt sees them, on the raw bytes; Socket Mode's need none.
            request_verification_enabled=False,
            process_before_response=False,
            logger=bolt_log,
        )
        self.app.middleware(self._events_once)
        self.app.command(COMMAND, middleware=[self._ack_first])(self._on_command)
        self.app.action(ACTIONS, middleware=[self._ack_first])(self._on_action)
        self.app.event("app_mention")(self._on_event)
        self.app.event("message")(self._on_event)

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
            if self._http:
                await self._listen_http()
            else:
                await self._listen_socket()
        except BaseException:
            await self._close_listeners()
            await self._close_session()
            raise

    async def _listen_http(self) -> None:
        server = web.Application(client_max_size=1024 * 1024)
        server.router.add_post(self.settings.path, self._http_request)
        server.router.add_get("/healthz", self._healthz)
        # lingering_time: after answering a request whose body never came (408),
        # aiohttp would otherwise keep reading that connection for 10 s more.
        self._runner = web.AppRunner(
            server, access_log=None, shutdown_timeout=5.0, lingering_time=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.settings.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        log.info("Slack HTTP endpoint on %s:%d%s", self.host, self.port, self.settings.path)

    async def _listen_socket(self) -> None:
        """The first Socket Mode connection, in one attempt: a refused app token or
        a socket URL that does not connect is an error now, not a silent retry loop."""
        client = RadarSocketClient(
            self._credentials.app_token,
            web_client=self.app.client,
            logger=logging.getLogger("bot.handlers.slack.bolt"),
            backoff=self.reconnect_backoff,
        )
        self._socket = RadarSocketHandler(self.app, client)
        variable = self.settings.app_token_env
        try:
            await asyncio.wait_for(self._socket.connect_async(), self.connect_timeout)
        except SlackApiError as err:
            raise ConfigError(
                f"Slack refused the app token in {variable} "
                f"({err.response.get('error') or 'no answer'}); Socket Mode needs an "
                "app-level token (xapp-...) with the connections:write scope."
            ) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as err:
            raise ConfigError(
                f"Slack Socket Mode did not connect with the app token in {variable} "
                f"({describe(err)}); check the token and that Socket Mode is enabled "
                "for the app."
            ) from None
        log.info("Slack Socket Mode connected")

    async def stop(self) -> None:
        """Stop taking requests, let in-flight work finish (briefly), close."""
        await self._close_listeners()
        await self.drain(timeout=10.0)
        if self._tasks:  # past the grace period; digests resume from the outbox
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close_session()
        if self._own_pools:
            self.pools.close()

    async def _close_listeners(self) -> None:
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await socket.close_async()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _close_session(self) -> None:
        if self._session is not None:
            if self.client.session is self._session:
                self.client.session = None
            await self._session.close()
            self._session = None

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until the work started by requests so far (and any it started) is done."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for _ in range(3):  # let listeners Bolt scheduled after an ack spawn their work
            await asyncio.sleep(0)
        while self._tasks:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                log.warning("Slack: %d tasks still running at stop", len(self._tasks))
                return
            await asyncio.wait(set(self._tasks), timeout=left)

    async def _identity(self) -> dict[str, Any]:
        if self._auth is None:
            response = await self.client.auth_test()
            self._auth = dict(response.data) if isinstance(response.data, dict) else {}
        return self._auth

    def _spawn(self, work: Coroutine[Any, Any, None], kind: str = workpools.COMMAND) -> None:
        """Run ``work`` after the ack in ``kind``'s pool, tracked so ``drain`` and
        ``stop`` can wait for it."""
        task = asyncio.get_running_loop().create_task(self._in_slot(work, kind))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _in_slot(self, work: Coroutine[Any, Any, None], kind: str) -> None:
        """Run ``work`` once the ack path is quiet, in its kind's bounded pool.

        Slack's 3-second ack deadline is hard; the work's is not. Work running in
        worker threads takes the GIL from the event loop that acks the next
        requests, so during a burst of requests new work waits (at most
        ``HOLD_MAX``) until none has arrived for ``QUIET``. Then it waits for a
        slot of its own kind only (``bot.workpools``): five stuck questions fill
        the "ask" pool, and a command still runs at once.
        """
        held = 0.0
        while time.monotonic() - self._last_request < QUIET and held < HOLD_MAX:
            await asyncio.sleep(QUIET)
            held += QUIET
        try:
            async with self.pools.slot(kind):
                await work
        finally:
            work.close()  # never started (cancelled while waiting): no "never awaited"

    # -- HTTP mode --------------------------------------------------------------------

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _http_request(self, request: web.Request) -> web.Response:
        """Read the body (within ``body_timeout_seconds``), verify it (signature,
        5-minute window, no replay), check it is a Slack payload, hand it to Bolt."""
        self._last_request = time.monotonic()
        limit = self.settings.body_timeout_seconds
        try:
            raw = await asyncio.wait_for(request.read(), timeout=limit)
        except TimeoutError:
            # A slow-loris client: answer and close, instead of holding a
            # connection (and a request slot) open for as long as it likes.
            log.warning("Slack request refused: body not received within %g s", limit)
            response = web.Response(status=408, text="request body timeout")
            response.force_close()
            return response
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return web.Response(status=400, text="invalid request")
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        assert self._verifier is not None
        try:
            valid = self._verifier.is_valid(body, timestamp, signature)
        except ValueError:  # a timestamp that is not a number
            valid = False
        if not valid:
            log.warning("Slack request refused: bad signature or stale timestamp")
            return web.Response(status=401, text="invalid request")
        if not self._replays.first_use(signature):
            log.warning("Slack request refused: replayed signature")
            return web.Response(status=401, text="invalid request")
        try:
            payload = read_payload(body, request.content_type)
        except ValueError as err:
            # Signed by someone with the secret, yet not what Slack sends: a
            # short 400, instead of a 500 and a traceback from deep inside Bolt.
            log.warning("Slack request refused: %s", err)
            return web.Response(status=400, text="invalid request")
        # Bolt gets the payload as parsed and checked here, as JSON: one parser
        # decides what a request says (Bolt's own reads a slash command whose
        # text contains the word "payload" as an empty request). The signature
        # was verified above, on the bytes Slack signed.
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-type"}
        headers["Content-Type"] = "application/json"
        bolt_request = AsyncBoltRequest(
            body=json.dumps(payload), query=request.query_string, headers=headers
        )
        return await to_aiohttp_response(await self.app.async_dispatch(bolt_request))

    # -- Bolt middleware and listeners ----------------------------------------------------

    async def _events_once(
        self, body: dict[str, Any], req: AsyncBoltRequest, next: Callable[[], Awaitable[Any]]
    ) -> Any:
        """Acknowledge and skip an event already handled: an ``event_id`` seen
        before (Socket Mode redeliveries, HTTP retries), or a retry Slack sent
        because the first ack was slow (the first delivery is being handled)."""
        self._last_request = time.monotonic()  # Socket Mode's requests too
        if body.get("type") != "event_callback":
            return await next()
        event_id = body.get("event_id")
        fresh = self._events.add(event_id) if event_id else True
        retry = (req.headers.get("x-slack-retry-num") or [None])[0]
        reason = (req.headers.get("x-slack-retry-reason") or [None])[0]
        if not fresh or (retry is not None and reason == "http_timeout"):
            log.info("Slack event skipped event_id=%s retry=%s reason=%s", event_id, retry, reason)
            return BoltResponse(status=200, body="")
        return await next()

    async def _ack_first(
        self, ack: Callable[..., Awaitable[Any]], next: Callable[[], Awaitable[Any]]
    ) -> None:
        """Acknowledge before the listener even starts. Slack gets its empty 200 as
        soon as Bolt has matched the request (Bolt otherwise polls every 10 ms for a
        listener's ack); the work, however slow, runs afterwards."""
        await ack()
        await next()

    async def _on_command(self, command: dict[str, Any], context: Any) -> None:
        where = _Where(
            self._ref(context, command.get("channel_id"), command.get("channel_name")),
            command.get("user_id") or "",
            command.get("response_url") or "",
        )
        text = _from_slack(str(command.get("text") or ""))
        parsed = workpools.parse_or_none(text)
        self._spawn(
            self._guard(where, self._command(where, text, parsed)), workpools.kind_of(parsed)
        )

    async def _command(self, where: _Where, text: str, parsed: c.Command | None) -> None:
        actor = await self._actor(where, parsed)
        reply = await self.pools.run(self.service.handle, where.ref, text, actor)
        await self._answer(where, reply)

    async def _on_action(self, body: dict[str, Any], context: Any) -> None:
        channel = body.get("channel") or {}
        action = (body.get("actions") or [{}])[0]
        where = _Where(
            self._ref(context, channel.get("id"), channel.get("name")),
            (body.get("user") or {}).get("id") or "",
            body.get("response_url") or "",
        )
        message_ts = (body.get("container") or {}).get("message_ts") or (
            body.get("message") or {}
        ).get("ts")
        kind = workpools.BRIEF if action.get("action_id") == render_slack.ACTION_BRIEF else None
        self._spawn(
            self._guard(where, self._action(where, action, message_ts)),
            kind or workpools.COMMAND,
        )

    async def _action(self, where: _Where, action: dict[str, Any], message_ts: str | None) -> None:
        action_id = str(action.get("action_id") or "")
        value = str(action.get("value") or "")[: render_slack.BUTTON_VALUE]
        run = self.pools.run
        if action_id == render_slack.ACTION_SHUFFLE:
            reply = await run(self.service.handle, where.ref, "shuffle", Actor(where.user))
        elif action_id.startswith(render_slack.ACTION_CHIP_REMOVE):
            # The value is what render_slack.chip_target wrote (entities undone in
            # case Slack hands it back escaped; chips never hold ``;``).
            target = c.RemoveChip(_unescape(value))
            actor = await self._actor(where, target)
            reply = await run(self.service.execute, where.ref, target, actor)
        elif action_id == render_slack.ACTION_BRIEF:
            reply = await run(self.service.handle, where.ref, "brief", Actor(where.user))
        elif action_id.startswith(render_slack.ACTION_PICK + ":"):
            # The value is the line render_slack.choice_blocks wrote; only a pick
            # runs, so a forged value cannot become any other command.
            line = _unescape(value).strip()
            if not PICK_LINE.fullmatch(line):
                return
            actor = await self._actor(where, workpools.parse_or_none(line))
            reply = await run(self.service.handle, where.ref, line, actor)
        elif action_id == render_slack.ACTION_ASK and message_ts:
            await self._ask_prompt(where, message_ts)
            return
        else:
            return
        await self._answer(where, reply)

    async def _ask_prompt(self, where: _Where, card_ts: str) -> None:
        """Open the card's thread with a prompt (once), if the card is this channel's."""
        if not await self.pools.run(self._is_card, where.ref, card_ts):
            await self._ephemeral(
                where, Reply("That card is not one I can answer about.", kind="error")
            )
            return
        if self._prompted.add((where.ref.workspace, where.ref.channel, card_ts)):
            await self.client.chat_postMessage(
                channel=where.ref.channel, thread_ts=card_ts, text=render_slack.esc(ASK_PROMPT)
            )

    async def _on_event(self, event: dict[str, Any], context: Any) -> None:
        # Events are acknowledged by Bolt before this runs.
        self._spawn(self._thread_question(context, event), workpools.ASK)

    async def _thread_question(self, context: Any, event: dict[str, Any]) -> None:
        """A person's message in the thread under one of this channel's cards."""
        channel, ts = event.get("channel"), event.get("ts")
        thread_ts = event.get("thread_ts")
        if not channel or not ts or not thread_ts or thread_ts == ts:
            return  # not a reply in a thread
        if event.get("bot_id") or event.get("subtype") not in _HUMAN_SUBTYPES:
            return  # bots (this one included), edits, joins...
        # A mention in a thread arrives twice (app_mention and message): answer once.
        if not self._messages.add((context.team_id, channel, ts)):
            return
        ref = self._ref(context, channel, None)
        try:
            if event.get("user") == (await self._identity()).get("user_id"):
                return
            if not await self.pools.run(self._is_card, ref, thread_ts):
                return
            history = await self._history(channel, thread_ts, ts)
            question = _strip_mentions(str(event.get("text") or ""))
            reply = await self.pools.run(self.service.ask, ref, thread_ts, question, history)
            if reply is None:
                return
            await self._post_in_thread(channel, thread_ts, reply)
        except Exception:
            log.exception("Slack thread answer failed channel=%s thread=%s", channel, thread_ts)

    # -- who asked ------------------------------------------------------------------------

    async def _actor(self, where: _Where, command: c.Command | None) -> Actor:
        """Who sent ``command``, for the core's permission policy and for the
        channel message that names them. Slack is asked (admin or owner, and a
        display name) only for commands whose reply names the person: changes
        to the radar, the only ones the policy checks, and `/radar ask`, whose
        answer says who asked. Always after the ack."""
        names = isinstance(command, c.Ask) or (command is not None and c.changes_radar(command))
        if not names or not where.user:
            return Actor(where.user)
        return await self._person(where.ref.workspace, where.user)

    async def _person(self, team: str, user: str) -> Actor:
        """``users.info``: admin or owner, and a display name; cached for
        ``ADMIN_TTL``. A failed look-up (no ``users:read`` scope, Slack down)
        counts them as a member, never as an admin."""
        now = time.monotonic()
        cached = self._admins.get((team, user))
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            response = await self.client.users_info(user=user)
            info = response.get("user") or {}
            actor = Actor(
                user,
                name=_display_name(info),
                is_admin=bool(
                    info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner")
                ),
            )
            ttl = ADMIN_TTL
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as err:
            log.warning(
                "Slack users.info failed for %s (%s); counted as a member, not an admin",
                user,
                describe(err),
            )
            actor, ttl = Actor(user), ADMIN_FAILED_TTL
        if len(self._admins) >= 10_000:  # forget the expired first, then everyone
            self._admins = {k: v for k, v in self._admins.items() if v[0] > now}
            if len(self._admins) >= 10_000:
                self._admins.clear()
        self._admins[(team, user)] = (now + ttl, actor)
        return actor

    # -- replies ----------------------------------------------------------------------------

    async def _guard(self, where: _Where, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work``; any failure is logged and told to the person, briefly."""
        try:
            await work
        except Exception:
            log.exception("Slack command failed channel=%s", where.ref.channel)
            await self._ephemeral(
                where,
                Reply("Something went wrong on my side; please try again.", kind="error"),
            )

    async def _answer(self, where: _Where, reply: Reply) -> None:
        """Show ``reply``: privately, as a digest run, or as channel messages."""
        if reply.ephemeral:
            await self._ephemeral(where, reply)
            return
        run_id = reply.extra.get("run_id")
        thread = reply.extra.get("thread")
        try:
            if isinstance(thread, str) and thread and run_id is None:
                # `/radar ask 2 …` about a card posted here: answered in that
                # card's thread, where its conversation continues.
                await self._post_in_thread(where.ref.channel, thread, reply)
            elif run_id is not None:
                await deliver_run(
                    self.service.store,
                    self.poster,
                    self.service.clock,
                    where.ref,
                    int(reply.extra["channel_id"]),
                    int(run_id),
                    reply,
                )
            else:
                await self._post(where.ref, reply)
        except SlackPostError as err:
            log.warning("Slack post failed channel=%s error=%s", where.ref.channel, err.error)
            if err.error in _CANNOT_POST:
                message = NOT_IN_CHANNEL
            elif run_id is not None:
                message = "Slack did not take the whole digest; the rest is posted on the next try."
            else:
                message = f"Slack did not take the reply ({err.error}); please try again."
            await self._ephemeral(where, Reply(message, kind="error"))

    async def _post(self, ref: ChannelRef, reply: Reply) -> None:
        """A reply as channel messages: header, one message per card (so each card has
        its own thread, recorded against its paper), footer."""
        prefix = f"m{uuid.uuid4().hex[:12]}"
        messages = [Outgoing(f"{prefix}:header", _without_cards(reply))]
        messages += [Outgoing(f"{prefix}:card:{card.key}", reply, card) for card in reply.cards]
        if reply.footer:
            messages.append(Outgoing(f"{prefix}:footer", Reply(reply.footer, kind="footer")))
        channel_id: int | None = None
        for out in messages:
            ts = await self.poster.send(ref, out)
            if out.card is None:
                continue
            if channel_id is None:
                channel_id = await self.pools.run(self._channel_id, ref)
            await self.pools.run(
                self.service.store.record_card,
                channel_id,
                out.card.key,
                out.card.number,
                ts,
                self.service.clock.now(),
            )

    async def _post_in_thread(self, channel: str, thread_ts: str, reply: Reply) -> None:
        """An answer about a card's paper, in the card's thread."""
        for message in render_slack.render_thread(reply):
            try:
                await self.client.chat_postMessage(
                    channel=channel,
                    thread_ts=thread_ts,
                    text=message["text"],
                    blocks=message["blocks"],
                    unfurl_links=False,
                    unfurl_media=False,
                )
            except SlackApiError as err:
                error = str(err.response.get("error") or "unknown")
                raise SlackPostError(f"chat.postMessage: {error}", error, True) from None

    async def _ephemeral(self, where: _Where, reply: Reply) -> None:
        """Only the person who asked sees it: the request's ``response_url`` (works
        even where the bot is not a member), else ``chat.postEphemeral``."""
        for message in render_slack.render_ephemeral(reply):
            if where.response_url:
                try:
                    webhook = AsyncWebhookClient(where.response_url, session=self._session)
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
            if not where.user:
                return
            try:
                await self.client.chat_postEphemeral(
                    channel=where.ref.channel,
                    user=where.user,
                    text=message["text"],
                    blocks=message["blocks"],
                )
            except SlackApiError as err:
                log.warning("chat.postEphemeral failed: %s", err.response.get("error"))
                return

    # -- helpers ----------------------------------------------------------------------------

    def _ref(self, context: Any, channel: Any, name: Any) -> ChannelRef:
        """The channel as the core knows it: team id + channel id, from the payload."""
        team = getattr(context, "team_id", None) or getattr(context, "enterprise_id", None)
        return ChannelRef(PLATFORM, str(team or ""), str(channel or ""), str(name or ""))

    def _channel_id(self, ref: ChannelRef) -> int:
        """The stored channel's id, creating the row if a read-only reply showed cards."""
        state = self.service.store.find_channel(ref)
        if state is None:
            state = self.service.store.channel(ref, self.service.config.radar.digest_cap)
        return state.id

    def _is_card(self, ref: ChannelRef, message_ts: str) -> bool:
        state = self.service.store.find_channel(ref)
        return state is not None and (
            self.service.store.paper_for_message(state.id, message_ts) is not None
        )

    async def _history(self, channel: str, thread_ts: str, before_ts: str) -> list[str]:
        """The thread's earlier messages (card excluded), oldest first, mentions stripped."""
        try:
            response = await self.client.conversations_replies(
                channel=channel, ts=thread_ts, limit=100
            )
        except SlackApiError as err:
            log.warning("conversations.replies failed: %s", err.response.get("error"))
            return []
        out = []
        messages: Sequence[dict[str, Any]] = response.get("messages") or ()
        for message in messages:
            ts = str(message.get("ts") or "")
            if ts == thread_ts or not ts or float(ts) >= float(before_ts):
                continue
            text = _strip_mentions(str(message.get("text") or ""))
            if text:
                out.append(text)
        return out[-HISTORY_TURNS:]


class _TokenNotice(logging.Filter):
    """Drops Bolt's start-up notice that ``$SLACK_BOT_TOKEN`` is unused: the token
    comes from ``settings.bot_token_env`` through ``authorize``, on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("`token`" in message and ("unused" in message or "ignored" in message))


def _from_slack(text: str) -> str:
    """What a person typed, from Slack's wire format: Slack sends ``&``, ``<``
    and ``>`` as entities and mentions/links as ``<…>`` tokens. Mentions are
    dropped (the bot's own included), links become their label or URL; the core
    gets plain text, and the renderer escapes again on the way out."""

    def token(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith(("@", "!")):
            return " "
        if target.startswith("#"):
            return f"#{label}" if label else " "
        return label or target

    return _unescape(_TOKEN.sub(token, text))


def read_payload(body: str, content_type: str) -> dict[str, Any]:
    """What a (correctly signed) HTTP request from Slack says, or ``ValueError``
    saying why it is not something Slack sends.

    Slack sends JSON (Events API envelopes, ``url_verification``) or a form:
    a slash command's fields, ``payload=<JSON>`` for buttons and other
    interactivity, or ``ssl_check=1``. What is checked is what Bolt and the
    listeners rely on: an object with a ``type``, and objects (or ids) where
    they read objects (or ids), so no malformed body reaches them.
    """
    if content_type == "application/json" or body.lstrip().startswith(("{", "[")):
        return _envelope(_json(body, "body"))
    form = dict(parse_qsl(body, keep_blank_values=True))
    if "payload" in form:
        return _envelope(_json(form["payload"], "payload"))
    if form.get("ssl_check"):
        return form
    if form.get("command"):
        missing = [k for k in ("team_id", "channel_id", "user_id") if not form.get(k)]
        if missing:
            raise ValueError(f"a command without {', '.join(missing)}")
        return form
    raise ValueError("neither a command, nor a payload, nor JSON")


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError(f"{what} is not JSON") from None


def _envelope(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"payload is JSON {type(data).__name__}, not an object")
    kind = data.get("type")
    if not isinstance(kind, str) or not kind:
        raise ValueError("payload without a type")
    for key in _OBJECT_KEYS:  # top level: objects, or absent
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise ValueError(f"payload {key} is not an object")
    if kind == "event_callback" and not isinstance(data.get("event"), dict):
        raise ValueError("event_callback without an event object")
    for key in ("actions", "authorizations"):
        items = data.get(key)
        if items is not None and not (
            isinstance(items, list) and all(isinstance(i, dict) for i in items)
        ):
            raise ValueError(f"payload {key} is not a list of objects")
    for key in ("event", "message", "previous_message", "item", "view"):
        inner = data.get(key)
        if not isinstance(inner, dict):
            continue
        for ref in ("team", "user", "channel", "enterprise"):  # an id, or an object
            if inner.get(ref) is not None and not isinstance(inner[ref], str | dict):
                raise ValueError(f"payload {key}.{ref} is neither an id nor an object")
    return data


def _display_name(info: Mapping[str, Any]) -> str:
    """How Slack shows a person: their display name, else their full name."""
    profile = info.get("profile")
    profile = profile if isinstance(profile, dict) else {}
    for name in (
        profile.get("display_name"),
        profile.get("real_name"),
        info.get("real_name"),
        info.get("name"),
    ):
        if isinstance(name, str) and name.strip():
            return name.strip()
    return ""


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _strip_mentions(text: str) -> str:
    return " ".join(_from_slack(text).split())


def _without_cards(reply: Reply) -> Reply:
    """The header of a reply: everything but its cards and footer (which are
    messages of their own); its chips and choices keep their buttons."""
    return replace(reply, cards=(), footer=None)
