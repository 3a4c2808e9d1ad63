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
  a replayed signature; Socket Mode needs no public URL at all.

Secrets come only from the environment variables named in ``SlackSettings``
and are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

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

from bot.core import commands as c
from bot.core.cards import Reply
from bot.core.channel import ChannelRef
from bot.digest.deliver import Outgoing, deliver_run
from bot.errors import ConfigError
from bot.handlers import render_slack
from bot.handlers.slack.poster import SlackPoster, SlackPostError, make_client, retry_handlers
from bot.service import RadarService
from bot.settings import SlackSettings

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
        work_slots: int = 4,
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
        self._slots = asyncio.Semaphore(work_slots)
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
            request_verification_enabled=self._http,
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
        """Check the bot token, then listen (HTTP server, or Socket Mode connection)."""
        if self._session is None and self.client.session is None:
            # One connection pool for every Web API call and response_url reply,
            # instead of a new session (and TCP connection) per call.
            self._session = aiohttp.ClientSession()
            self.client.session = self._session
        try:
            auth = await self._identity()
        except SlackApiError as err:
            await self._close_session()
            raise ConfigError(
                f"Slack refused the bot token in {self.settings.bot_token_env} "
                f"({err.response.get('error') or 'no answer'})."
            ) from None
        except Exception:
            await self._close_session()
            raise
        log.info(
            "Slack bot %s in team %s, %s mode",
            auth.get("user_id"),
            auth.get("team_id"),
            self.settings.mode,
        )
        if self._http:
            server = web.Application(client_max_size=1024 * 1024)
            server.router.add_post(self.settings.path, self._http_request)
            server.router.add_get("/healthz", self._healthz)
            self._runner = web.AppRunner(server, access_log=None, shutdown_timeout=5.0)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.settings.port)
            await site.start()
            self.port = int(self._runner.addresses[0][1])
            log.info("Slack HTTP endpoint on %s:%d%s", self.host, self.port, self.settings.path)
        else:
            self._socket = AsyncSocketModeHandler(self.app, self._credentials.app_token)
            await self._socket.connect_async()
            log.info("Slack Socket Mode connected")

    async def stop(self) -> None:
        """Stop taking requests, let in-flight work finish (briefly), close."""
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.drain(timeout=10.0)
        if self._tasks:  # past the grace period; digests resume from the outbox
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close_session()

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

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` after the ack, tracked so ``drain``/``stop`` can wait for it."""
        task = asyncio.get_running_loop().create_task(self._in_slot(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _in_slot(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` once the ack path is quiet, a few jobs at a time.

        Slack's 3-second ack deadline is hard; the work's is not. Work running in
        worker threads takes the GIL from the event loop that acks the next
        requests, so during a burst of requests new work waits (at most
        ``HOLD_MAX``) until none has arrived for ``QUIET``, and then at most
        ``work_slots`` jobs run at once.
        """
        held = 0.0
        while time.monotonic() - self._last_request < QUIET and held < HOLD_MAX:
            await asyncio.sleep(QUIET)
            held += QUIET
        async with self._slots:
            await work

    # -- HTTP mode --------------------------------------------------------------------

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _http_request(self, request: web.Request) -> web.Response:
        """Verify (signature, 5-minute window, no replay), then hand to Bolt."""
        self._last_request = time.monotonic()
        body = await request.text()
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
        bolt_request = AsyncBoltRequest(
            body=body,
            query=request.query_string,
            headers={k: v for k, v in request.headers.items()},
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
        self._spawn(self._guard(where, self._command(where, text)))

    async def _command(self, where: _Where, text: str) -> None:
        reply = await asyncio.to_thread(self.service.handle, where.ref, text)
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
        self._spawn(self._guard(where, self._action(where, action, message_ts)))

    async def _action(self, where: _Where, action: dict[str, Any], message_ts: str | None) -> None:
        action_id = str(action.get("action_id") or "")
        value = str(action.get("value") or "")[: render_slack.BUTTON_VALUE]
        if action_id == render_slack.ACTION_SHUFFLE:
            reply = await asyncio.to_thread(self.service.handle, where.ref, "shuffle")
        elif action_id.startswith(render_slack.ACTION_CHIP_REMOVE):
            # The value is what render_slack.chip_target wrote (entities undone in
            # case Slack hands it back escaped; chips never hold ``;``).
            target = c.RemoveChip(_unescape(value))
            reply = await asyncio.to_thread(self.service.execute, where.ref, target)
        elif action_id == render_slack.ACTION_BRIEF:
            reply = await asyncio.to_thread(self.service.handle, where.ref, "brief")
        elif action_id.startswith(render_slack.ACTION_PICK + ":"):
            # The value is the line render_slack.choice_blocks wrote; only a pick
            # runs, so a forged value cannot become any other command.
            line = _unescape(value).strip()
            if not PICK_LINE.fullmatch(line):
                return
            reply = await asyncio.to_thread(self.service.handle, where.ref, line)
        elif action_id == render_slack.ACTION_ASK and message_ts:
            await self._ask_prompt(where, message_ts)
            return
        else:
            return
        await self._answer(where, reply)

    async def _ask_prompt(self, where: _Where, card_ts: str) -> None:
        """Open the card's thread with a prompt (once), if the card is this channel's."""
        if not await asyncio.to_thread(self._is_card, where.ref, card_ts):
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
        self._spawn(self._thread_question(context, event))

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
            if not await asyncio.to_thread(self._is_card, ref, thread_ts):
                return
            history = await self._history(channel, thread_ts, ts)
            question = _strip_mentions(str(event.get("text") or ""))
            reply = await asyncio.to_thread(self.service.ask, ref, thread_ts, question, history)
            if reply is None:
                return
            for message in render_slack.render_thread(reply):
                await self.client.chat_postMessage(
                    channel=channel,
                    thread_ts=thread_ts,
                    text=message["text"],
                    blocks=message["blocks"],
                    unfurl_links=False,
                    unfurl_media=False,
                )
        except Exception:
            log.exception("Slack thread answer failed channel=%s thread=%s", channel, thread_ts)

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
        try:
            if run_id is not None:
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
                channel_id = await asyncio.to_thread(self._channel_id, ref)
            await asyncio.to_thread(
                self.service.store.record_card,
                channel_id,
                out.card.key,
                out.card.number,
                ts,
                self.service.clock.now(),
            )

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


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _strip_mentions(text: str) -> str:
    return " ".join(_from_slack(text).split())


def _without_cards(reply: Reply) -> Reply:
    """The header of a reply: everything but its cards and footer (which are
    messages of their own); its chips and choices keep their buttons."""
    return replace(reply, cards=(), footer=None)
