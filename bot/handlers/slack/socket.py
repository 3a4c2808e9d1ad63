"""Socket Mode that says when it cannot connect, and reconnects with backoff.

slack_sdk's aiohttp ``SocketModeClient`` retries a failed connection every few
seconds, forever, from the very first one: with a revoked app token
(``apps.connections.open`` answers ``invalid_auth``) or a socket URL that does
not connect, ``paper-radar run`` used to sit there "starting" and never say
why. It also retries the same socket URL after a failed connect, though those
URLs are issued for one connection.

``RadarSocketClient`` keeps the SDK's client (its message loop, acks, ping
monitor) and changes only how connections are made:

- the first connection is one attempt: ``start`` raises what went wrong, so the
  adapter can name the token's variable and the process exits non-zero;
- after that, a lost connection is reopened with a fresh URL each try, after
  an exponential, jittered backoff (``backoff`` doubling up to
  ``backoff_max``), one log line per try and one when it is back.

It relies on the attributes slack_sdk's aiohttp client has kept through 3.x
(``current_session``, ``wss_uri``, ``current_session_monitor``,
``message_receiver``...); tests/test_slack.py exercises both paths against the
fake Slack's real WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import ConfigError
from bot.handlers.slack.acks import AckGate

log = logging.getLogger("bot.handlers.slack")

#: How long opening the WebSocket may take before it counts as failed.
WS_CONNECT_SECONDS = 10.0


class RadarSocketClient(SocketModeClient):
    """slack_sdk's aiohttp Socket Mode client, with the connection policy above."""

    def __init__(
        self,
        app_token: str,
        *,
        web_client: AsyncWebClient,
        logger: logging.Logger,
        ping_interval: float = 10.0,
        backoff: float = 1.0,
        backoff_max: float = 60.0,
    ) -> None:
        super().__init__(
            app_token=app_token,
            logger=logger,
            web_client=web_client,
            ping_interval=ping_interval,
        )
        self.backoff = backoff
        self.backoff_max = backoff_max
        #: Set once the first connection is up; from then on failures are retried.
        self.started = False
        #: Reconnection attempts since the connection was last up (for tests and logs).
        self.failures = 0

    async def connect(self) -> None:
        if not self.started:
            await self._open()  # at start: say what is wrong, do not retry
            self.started = True
            return
        while not self.closed:
            try:
                await self._open()
            except Exception as err:
                if self.closed:
                    return
                self.failures += 1
                wait = min(self.backoff_max, self.backoff * 2 ** (self.failures - 1))
                wait *= 0.5 + random.random() / 2  # jitter: many workers do not retry in step
                log.warning(
                    "event=slack.socket.reconnect attempt=%d wait_s=%.1f error=%s",
                    self.failures,
                    wait,
                    describe(err),
                )
                await asyncio.sleep(wait)
                continue
            if self.failures:
                log.info("event=slack.socket.reconnected attempts=%d", self.failures)
            self.failures = 0
            return

    async def connect_to_new_endpoint(self, force: bool = False) -> None:
        """What the SDK's monitor and receiver call when the connection is lost:
        one reconnection at a time, through ``connect``'s backoff."""
        try:
            acquired = await asyncio.wait_for(self.connect_operation_lock.acquire(), timeout=5)
        except TimeoutError:
            acquired = False  # another task is reconnecting already
        try:
            if force or (acquired and not await self.is_connected()):
                self.wss_uri = None
                await self.connect()
        finally:
            if acquired:
                self.connect_operation_lock.release()

    async def _open(self) -> None:
        """One connection attempt, made as the SDK's ``connect`` makes it: a
        fresh URL from ``apps.connections.open`` unless one is waiting unused,
        then the WebSocket, then the SDK's monitor and receiver for it."""
        old = self.current_session
        self.auto_reconnect_enabled = False
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
        if self.aiohttp_client_session.closed and not self.closed:
            self.aiohttp_client_session = aiohttp.ClientSession()
        if self.wss_uri is None:
            self.wss_uri = await self.issue_new_wss_url()
        url, self.wss_uri = self.wss_uri, None  # a socket URL is good for one connection
        session = await asyncio.wait_for(
            self.aiohttp_client_session.ws_connect(
                url,
                autoping=False,
                heartbeat=self.ping_interval,
                proxy=self.proxy,
                ssl=self.web_client.ssl if self.web_client.ssl is not None else True,
            ),
            timeout=WS_CONNECT_SECONDS,
        )
        self.current_session = session
        self.auto_reconnect_enabled = self.default_auto_reconnect_enabled
        self.stale = False
        await session.ping(f"sdk-ping-pong:{time.time()}".encode())
        # Nothing is awaited below: when a reconnect runs inside the old monitor
        # or receiver task, cancelling it takes effect only once this returns.
        if self.current_session_monitor is not None:
            self.current_session_monitor.cancel()
        self.current_session_monitor = asyncio.ensure_future(self.monitor_current_session())
        if self.message_receiver is not None:
            self.message_receiver.cancel()
        self.message_receiver = asyncio.ensure_future(self.receive_messages())


class RadarSocketHandler(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler on a ``RadarSocketClient`` (Bolt's own
    ``__init__`` would build the SDK's client; this builds ours instead). Each
    envelope counts as being acknowledged (``acks``) until its ack is sent."""

    def __init__(self, app: AsyncApp, client: RadarSocketClient, acks: AckGate) -> None:
        self.app = app
        self.app_token = client.app_token
        self.client = client
        self.acks = acks
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        with self.acks.acknowledging():
            await super().handle(client, req)


async def connect(
    app: AsyncApp,
    app_token: str,
    *,
    variable: str,
    timeout: float,
    backoff: float,
    acks: AckGate,
) -> RadarSocketHandler:
    """The first Socket Mode connection, in one attempt: a refused app token or
    a socket URL that does not connect within ``timeout`` is a ``ConfigError``
    naming the token's environment ``variable``, not a silent retry loop."""
    client = RadarSocketClient(
        app_token,
        web_client=app.client,
        logger=logging.getLogger("bot.handlers.slack.bolt"),
        backoff=backoff,
    )
    handler = RadarSocketHandler(app, client, acks)
    try:
        await asyncio.wait_for(handler.connect_async(), timeout)
    except BaseException as err:  # refused, unreachable, or cancelled (SIGTERM): close
        with contextlib.suppress(Exception):
            await handler.close_async()
        if isinstance(err, SlackApiError):
            raise ConfigError(
                f"Slack refused the app token in {variable} "
                f"({err.response.get('error') or 'no answer'}); Socket Mode needs an "
                "app-level token (xapp-...) with the connections:write scope."
            ) from None
        if isinstance(err, TimeoutError | aiohttp.ClientError | OSError):
            raise ConfigError(
                f"Slack Socket Mode did not connect with the app token in {variable} "
                f"({describe(err)}); check the token and that Socket Mode is enabled "
                "for the app."
            ) from None
        raise
    log.info("Slack Socket Mode connected")
    return handler


def describe(err: BaseException) -> str:
    """A short, secret-free account of a connection failure. Never the URL:
    a socket URL carries its one-time ticket."""
    status = getattr(err, "status", None)
    if isinstance(err, aiohttp.WSServerHandshakeError) or (
        isinstance(err, aiohttp.ClientResponseError) and status
    ):
        return f"the socket URL answered HTTP {status}"
    if isinstance(err, TimeoutError):
        return "no answer in time"
    response: Any = getattr(err, "response", None)
    if response is not None and hasattr(response, "get"):
        return str(response.get("error") or type(err).__name__)
    return type(err).__name__
