"""Slack's HTTP mode: a hardened endpoint in front of Bolt.

Every request's signature is verified (Slack's 5-minute window) on the bytes
Slack signed, and a replayed signature is refused (``ReplayGuard``); a body
that does not arrive within ``body_timeout_seconds`` gets 408 and the
connection closed (slow-loris); a correctly signed body that is not a Slack
payload gets 400 before Bolt sees it (``read_payload``). What passes goes to
Bolt as the payload parsed here, so one parser decides what a request says,
and it parses it once. From the body read to the response, the request counts
as being acknowledged (``AckGate``): no event's work starts meanwhile. A slash
command is answered here, its empty 200 sent before Bolt routes it; it goes
through Bolt (middleware, listener) once the burst's acks are out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.handlers.slack.acks import AckGate

log = logging.getLogger("bot.handlers.slack.adapter")

SIGNATURE_WINDOW = 60 * 5  # Slack's, and slack_sdk's SignatureVerifier's
#: Top-level keys of a Slack payload that Bolt reads as objects when present.
_OBJECT_KEYS = ("team", "user", "channel", "container", "message", "enterprise", "view", "event")


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


class HttpEndpoint:
    """The aiohttp server Slack posts to: ``path`` for events, commands and
    interactivity, ``/healthz`` for a load balancer. ``acks`` is the adapter's
    ``AckGate``, told which requests are being acknowledged.

    ``acked_first`` says which payloads are acknowledged before Bolt sees them
    (the adapter's slash commands, whose ack is always the same empty 200):
    they are handed to ``later`` (the adapter's tracked, gated work) to go
    through Bolt after the ack, so Bolt's routing, context and listeners are
    not on the ack path of a burst of commands."""

    def __init__(
        self,
        app: AsyncApp,
        signing_secret: str,
        *,
        host: str,
        port: int,
        path: str,
        body_timeout: float,
        acks: AckGate,
        acked_first: Callable[[dict[str, Any]], bool] | None = None,
        later: Callable[[Coroutine[Any, Any, None]], None] | None = None,
    ) -> None:
        self.app = app
        self.host, self.port, self.path = host, port, path
        self.body_timeout = body_timeout
        self.acks = acks
        self.acked_first = acked_first
        self.later = later
        self._verifier = SignatureVerifier(signing_secret)
        self._replays = ReplayGuard()
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Listen; returns the port (``settings.port``, or the one picked for 0)."""
        server = web.Application(client_max_size=1024 * 1024)
        server.router.add_post(self.path, self._request)
        server.router.add_get("/healthz", self._healthz)
        self._runner, port = await listen(server, self.host, self.port)
        log.info("Slack HTTP endpoint on %s:%d%s", self.host, port, self.path)
        return port

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _request(self, request: web.Request) -> web.Response:
        """Read the body (within ``body_timeout_seconds``), verify it (signature,
        5-minute window, no replay), check it is a Slack payload, hand it to Bolt."""
        limit = self.body_timeout
        try:
            if request.content.is_eof():  # the whole body is here: nothing to time
                raw = await request.read()
            else:
                async with asyncio.timeout(limit):  # no task of its own, unlike wait_for
                    raw = await request.read()
        except TimeoutError:
            # A slow-loris client: answer and close, instead of holding a
            # connection (and a request slot) open for as long as it likes.
            log.warning("Slack request refused: body not received within %g s", limit)
            response = web.Response(status=408, text="request body timeout")
            response.force_close()
            return response
        with self.acks.acknowledging():
            return await self._acknowledge(request, raw)

    async def _acknowledge(self, request: web.Request, raw: bytes) -> web.Response:
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return web.Response(status=400, text="invalid request")
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
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
        # Bolt gets the payload as parsed and checked here, in the shape its
        # Socket Mode requests have (a parsed body, no raw text): one parser
        # decides what a request says (Bolt's own reads a slash command whose
        # text contains the word "payload" as an empty request), and the body
        # is parsed once, not re-encoded as JSON for Bolt to parse again. The
        # signature was verified above, on the bytes Slack signed.
        bolt_request = AsyncBoltRequest(
            body=payload,
            query=request.query_string,
            headers=request.headers,  # type: ignore[arg-type]  # a mapping of str
            mode="socket_mode",
        )
        if self.later is not None and self.acked_first is not None and self.acked_first(payload):
            self.later(self._dispatch_after_ack(bolt_request))
            return web.Response(status=200, body=b"", content_type="text/plain")
        return await to_aiohttp_response(await self.app.async_dispatch(bolt_request))

    async def _dispatch_after_ack(self, bolt_request: AsyncBoltRequest) -> None:
        """A request already acknowledged, through Bolt: its listener acks
        (nothing more is sent) and starts the work."""
        response = await self.app.async_dispatch(bolt_request)
        if response.status != 200:
            log.warning("Slack request acknowledged, then refused by Bolt: %d", response.status)


async def listen(server: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve ``server`` on ``host``:``port`` the way HTTP mode does; returns the
    runner (to ``cleanup``) and the port (the one picked, for 0). The ack
    benchmark serves its minimal Bolt baseline through this too, so both sit on
    the same server stack."""
    # lingering_time: after answering a request whose body never came (408),
    # aiohttp would otherwise keep reading that connection for 10 s more.
    runner = web.AppRunner(server, access_log=None, shutdown_timeout=5.0, lingering_time=1.0)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner, int(runner.addresses[0][1])


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
