"""A local fake of Slack, both directions, for offline tests and benchmarks.

``FakeSlack`` is the Slack Web API on ``127.0.0.1`` (aiohttp, its own thread
and event loop). It records every call (method, arguments from query, form or
JSON body, headers) and answers like Slack does for the methods the bot uses:

- ``auth.test``, ``users.info`` (``USERS``: a member, an admin, an owner),
  ``chat.postMessage`` (ok + ``ts``; blocks checked against
  Block Kit's models and limits, ``invalid_blocks`` otherwise; metadata kept),
  ``chat.postEphemeral``, ``conversations.history`` (``oldest``, cursor
  paging, metadata only with ``include_all_metadata``), ``conversations.replies``,
  ``apps.connections.open`` plus a Socket Mode WebSocket at ``/link``;
- ``response_url`` endpoints (``/respond/<id>``), recorded as ephemerals;
- ``GET /stats``: counts of calls per method, for a benchmark in another process;
- scripted faults: ``fail("chat.postMessage", 429, retry_after=1)``, 500s
  (JSON or HTML), and 500s after the message was stored (the ambiguous case);
  ``hang`` (methods that never answer, until ``close``); ``socket_url`` (what
  ``apps.connections.open`` hands out, e.g. a URL that does not connect);
  ``drop_sockets`` (Slack closing every Socket Mode connection).

``SlackSide`` is Slack's other direction: it signs requests with the signing
secret exactly as Slack does (``v0:<timestamp>:<body>``, HMAC-SHA256) and
sends slash commands, block_actions and event_callback payloads over real HTTP
to the app's endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

import requests
from aiohttp import WSMsgType, web
from slack_sdk.models.blocks import Block

T = TypeVar("T")

TEAM = "T0FAKE01"
BOT_USER = "UBOT0001"
BOT_ID = "BBOT0001"
APP_ID = "AFAKE0001"
BOT_TOKEN = "xoxb-fake-bot-token-0123456789"
APP_TOKEN = "xapp-fake-app-token-0123456789"
SIGNING_SECRET = "fake-signing-secret-8f14e45fceea167a5a36dedd4bea2543"
MEMBER = "UHUMAN01"  # the default sender of commands and button presses
ADMIN = "UADMIN01"
OWNER = "UOWNER01"
#: ``users.info`` answers (abridged from Slack's documented ``user`` object).
USERS: dict[str, dict[str, Any]] = {
    MEMBER: {"name": "ada", "real_name": "Ada Lovelace", "profile": {"display_name": "ada"}},
    ADMIN: {"name": "grace", "is_admin": True, "profile": {"display_name": "Grace"}},
    OWNER: {"name": "alan", "is_owner": True, "profile": {"display_name": ""}},
}


class LoopThread:
    """An asyncio loop in a daemon thread, so sync tests can drive async code."""

    def __init__(self, name: str = "loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def _cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(_cancel_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@dataclass(frozen=True)
class Call:
    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    at: float


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    thread_ts: str | None = None
    user: str = BOT_USER
    bot_id: str | None = BOT_ID

    def as_slack(self, with_metadata: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text}
        out["user"] = self.user
        if self.bot_id:
            out["bot_id"] = self.bot_id
        if self.blocks:
            out["blocks"] = self.blocks
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if with_metadata and self.metadata:
            out["metadata"] = self.metadata
        return out


@dataclass
class Fault:
    status: int
    times: int
    retry_after: int | None = None
    deliver: bool = False  # store the message, then fail: "did it post?"
    html: bool = False
    after: int = 0  # let this many calls through first
    error: str | None = None  # the error code (default: by status)


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def block_problem(blocks: Any) -> str | None:
    """Why Slack would refuse these blocks (``invalid_blocks``), or None."""
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= 50:
        return "between 1 and 50 blocks"
    ids = [b.get("block_id") for b in blocks if isinstance(b, dict) and b.get("block_id")]
    if len(ids) != len(set(ids)):
        return "duplicate block_id"
    for raw in blocks:
        try:
            text = json.dumps(raw)
        except (TypeError, ValueError) as err:
            return f"{type(err).__name__}: {err}"
        if problem := _one_block_problem(text):
            return problem
    return None


@functools.lru_cache(maxsize=8192)
def _one_block_problem(text: str) -> str | None:
    """Why Slack would refuse the block ``text`` (its JSON), or None.

    Checked through slack_sdk's Block Kit models, which costs about a
    millisecond a block; a benchmark's 10,000 digests repeat a few thousand
    distinct blocks (the same papers, chips and buttons), so each distinct
    block is checked once (the answer depends on the block alone)."""
    raw = json.loads(text)
    try:
        block = Block.parse(raw)
        if block is None:
            return f"unknown block {raw!r:.80}"
        block.validate_json()
    except Exception as err:
        return f"{type(err).__name__}: {err}"
    if raw.get("type") == "section" and len(raw["text"]["text"]) > 3000:
        return "section text over 3000"
    return None


class FakeSlack:
    """The Slack Web API on 127.0.0.1 (see the module doc)."""

    def __init__(self, *, page_size: int = 1000) -> None:
        self.page_size = page_size  # conversations.* return at most this many per page
        self.calls: list[Call] = []
        self.messages: dict[str, list[Message]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.faults: dict[str, list[Fault]] = {}
        self.refuse: dict[str, str] = {}  # channel -> error code for chat.postMessage
        self.socket_acks: list[dict[str, Any]] = []
        #: Methods that never answer (the request is recorded, then held until close).
        self.hang: set[str] = set()
        #: Seconds each call of a method waits before it is handled: a Slack slow
        #: enough for concurrent replies to overlap.
        self.delay: dict[str, float] = {}
        #: What ``apps.connections.open`` hands out; None: this fake's own ``/link``.
        self.socket_url: str | None = None
        self._lock = threading.Lock()
        self._closing: asyncio.Event | None = None
        self._last_ts = 0.0
        self._sockets: list[web.WebSocketResponse] = []
        self._loop = LoopThread("fakeslack")
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> FakeSlack:
        self._loop.run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def _start(self) -> None:
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/respond/{rid}", self._respond)
        app.router.add_get("/link", self._link)
        app.router.add_get("/stats", self._stats)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    def close(self) -> None:
        async def _stop() -> None:
            if self._closing is not None:
                self._closing.set()
            for ws in list(self._sockets):
                await ws.close()
            if self._runner is not None:
                await self._runner.cleanup()

        self._loop.run(_stop())
        self._loop.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/respond/{uuid.uuid4().hex[:10]}"

    # -- scripting ---------------------------------------------------------------------

    def fail(
        self,
        method: str,
        status: int,
        times: int = 1,
        *,
        retry_after: int | None = None,
        deliver: bool = False,
        html: bool = False,
        after: int = 0,
        error: str | None = None,
    ) -> None:
        """The next ``times`` calls to ``method`` (after ``after`` good ones) fail
        with ``status``."""
        with self._lock:
            self.faults.setdefault(method, []).append(
                Fault(status, times, retry_after, deliver, html, after, error)
            )

    def user_says(
        self, channel: str, text: str, user: str = "UHUMAN01", thread_ts: str = ""
    ) -> str:
        """A person's message, as Slack would store it; returns its ts."""
        with self._lock:
            message = Message(channel, self._ts(), text, user=user, bot_id=None)
            message.thread_ts = thread_ts or None
            self.messages.setdefault(channel, []).append(message)
            return message.ts

    def reset(self) -> None:
        """Forget every call and message (a benchmark's next run starts empty)."""
        with self._lock:
            self.calls.clear()
            self.messages.clear()
            self.ephemerals.clear()

    # -- reading -------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def channel(self, channel: str, top_level: bool = True) -> list[Message]:
        """What the channel shows, oldest first (thread replies only if not ``top_level``)."""
        with self._lock:
            messages = list(self.messages.get(channel, []))
        return [m for m in messages if not (top_level and m.thread_ts)]

    def thread(self, channel: str, ts: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages.get(channel, []) if m.thread_ts == ts]

    def all_posted(self) -> list[Message]:
        with self._lock:
            return [m for ms in self.messages.values() for m in ms if m.bot_id]

    def wait_for(self, check: Callable[[], Any], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for Slack traffic")
            time.sleep(0.02)

    # -- Socket Mode -----------------------------------------------------------------------

    def socket_send(self, envelope: dict[str, Any]) -> None:
        """Push one Socket Mode envelope to every connected app."""

        async def _send() -> None:
            for ws in list(self._sockets):
                await ws.send_str(json.dumps(envelope))

        self._loop.run(_send())

    def socket_connected(self) -> bool:
        return bool(self._sockets)

    def drop_sockets(self) -> None:
        """Close every Socket Mode connection from Slack's side (a network blip,
        a Slack deploy)."""

        async def _drop() -> None:
            for ws in list(self._sockets):
                await ws.close()

        self._loop.run(_drop())

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        self._sockets.append(ws)
        hello = {"type": "hello", "num_connections": 1, "connection_info": {"app_id": APP_ID}}
        await ws.send_str(json.dumps(hello))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    with self._lock:
                        self.socket_acks.append(json.loads(msg.data))
        finally:
            self._sockets.remove(ws)
        return ws

    # -- the Web API -------------------------------------------------------------------------

    def _ts(self) -> str:
        now = max(time.time(), self._last_ts + 0.000001)
        ts = f"{now:.6f}"
        self._last_ts = float(ts)
        return ts

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        raw = await request.read()
        if raw:
            if request.content_type == "application/json":
                args.update(json.loads(raw))
            else:
                args.update(parse_qsl(raw.decode(), keep_blank_values=True))
        for key in ("blocks", "metadata"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        headers = dict(request.headers)
        with self._lock:
            self.calls.append(Call(method, args, headers, time.time()))
            fault = None
            queue = self.faults.get(method)
            if queue and queue[0].after > 0:
                queue[0].after -= 1
            elif queue:
                fault = queue[0]
                fault.times -= 1
                if fault.times <= 0:
                    queue.pop(0)
        if method in self.delay:
            await asyncio.sleep(self.delay[method])
        if method in self.hang:
            assert self._closing is not None
            await self._closing.wait()  # never answers while the fake runs
            return web.json_response({"ok": False, "error": "fatal_error"}, status=503)
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        if token != (APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN):
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if fault is not None and not fault.deliver:
            return self._fault(fault)
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"}, status=404)
        body = handler(args)
        if fault is not None:  # stored, and yet the caller sees an error
            return self._fault(fault)
        return web.json_response(body)

    def _fault(self, fault: Fault) -> web.Response:
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        if fault.html:
            return web.Response(
                status=fault.status, text="<html>oops</html>", content_type="text/html"
            )
        error = fault.error or ("ratelimited" if fault.status == 429 else "internal_error")
        return web.json_response(
            {"ok": False, "error": error}, status=fault.status, headers=headers
        )

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack.com/",
            "team": "Fake Lab",
            "user": "paper-radar",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.socket_url or f"ws://127.0.0.1:{self.port}/link"}

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        uid = str(args.get("user") or "")
        found = USERS.get(uid)
        if found is None:
            return {"ok": False, "error": "user_not_found"}
        user = {
            "id": uid,
            "team_id": TEAM,
            "deleted": False,
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_bot": False,
            **found,
        }
        return {"ok": True, "user": user}

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if channel in self.refuse:
            return {"ok": False, "error": self.refuse[channel]}
        text, blocks = args.get("text"), args.get("blocks")
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        if blocks is not None and (problem := block_problem(blocks)):
            return {"ok": False, "error": "invalid_blocks", "errors": [problem]}
        if text and len(text) > 40_000:
            return {"ok": False, "error": "msg_too_long"}
        with self._lock:
            message = Message(
                channel,
                self._ts(),
                str(text or ""),
                list(blocks or []),
                args.get("metadata"),
                str(args["thread_ts"]) if args.get("thread_ts") else None,
            )
            self.messages.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": message.ts, "message": message.as_slack(True)}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.ephemerals.append({"via": "chat.postEphemeral", **args})
            return {"ok": True, "message_ts": self._ts()}

    def _m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel") or "")
        oldest = float(args.get("oldest") or 0)
        with_meta = _truthy(args.get("include_all_metadata"))
        with self._lock:
            found = [
                m
                for m in self.messages.get(channel, [])
                if not m.thread_ts and float(m.ts) > oldest
            ]
        found.sort(key=lambda m: float(m.ts), reverse=True)
        return self._page([m.as_slack(with_meta) for m in found], args)

    def _m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel") or ""), str(args.get("ts") or "")
        with self._lock:
            messages = self.messages.get(channel, [])
            parent = [m for m in messages if m.ts == ts]
            replies = [m for m in messages if m.thread_ts == ts]
        if not parent:
            return {"ok": False, "error": "thread_not_found"}
        items = [parent[0].as_slack(False)] + [
            r.as_slack(False) for r in sorted(replies, key=lambda m: float(m.ts))
        ]
        return self._page(items, args)

    def _page(self, items: list[dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
        limit = min(int(args.get("limit") or 100), self.page_size)
        cursor = str(args.get("cursor") or "")
        start = int(base64.b64decode(cursor).decode().split(":")[1]) if cursor else 0
        page = items[start : start + limit]
        more = start + limit < len(items)
        out: dict[str, Any] = {"ok": True, "messages": page, "has_more": more}
        if more:
            token = base64.b64encode(f"next:{start + limit}".encode()).decode()
            out["response_metadata"] = {"next_cursor": token}
        return out

    async def _stats(self, _request: web.Request) -> web.Response:
        """Counts of what was received, for a load generator in another process."""
        with self._lock:
            methods: dict[str, int] = {}
            for call in self.calls:
                methods[call.method] = methods.get(call.method, 0) + 1
            return web.json_response({"calls": methods, "ephemerals": len(self.ephemerals)})

    async def _respond(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self.ephemerals.append(
                {"via": "response_url", "rid": request.match_info["rid"], **body}
            )
        return web.Response(text="ok")


# -- Slack's side of the app's endpoint ----------------------------------------------------


def sign(secret: str, timestamp: str, body: str) -> str:
    """``X-Slack-Signature`` as Slack computes it."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class SlackSide:
    """Sends signed requests to the app, as Slack does, over real HTTP."""

    endpoint: str
    fake: FakeSlack
    secret: str = SIGNING_SECRET
    session: requests.Session = field(default_factory=requests.Session)

    def send(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sent = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature or sign(self.secret, ts, body),
            **(headers or {}),
        }
        return self.session.post(self.endpoint, data=body.encode(), headers=sent, timeout=10)

    def command_body(self, text: str, **kwargs: Any) -> str:
        kwargs.setdefault("response_url", self.fake.response_url())
        return command_body(text, **kwargs)

    def command(self, text: str, **kwargs: Any) -> requests.Response:
        """``/radar <text>`` typed in a channel."""
        return self.send(self.command_body(text, **kwargs), "application/x-www-form-urlencoded")

    def action(
        self,
        action_id: str,
        value: str,
        *,
        message_ts: str,
        channel: str = "C0LAB001",
        team: str = TEAM,
        user: str = "UHUMAN01",
        block_id: str = "b1",
    ) -> requests.Response:
        """A button press on a message (``block_actions``)."""
        payload = {
            "type": "block_actions",
            "team": {"id": team, "domain": "fake"},
            "user": {"id": user, "username": "ada", "team_id": team},
            "api_app_id": APP_ID,
            "token": "legacy-verification-token",
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": f"{time.time():.0f}.1.{uuid.uuid4().hex[:8]}",
            "channel": {"id": channel, "name": "lab"},
            "message": {"type": "message", "ts": message_ts, "bot_id": BOT_ID, "text": ""},
            "response_url": self.fake.response_url(),
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": block_id,
                    "value": value,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)})
        return self.send(body, "application/x-www-form-urlencoded")

    def event(
        self,
        event: dict[str, Any],
        *,
        team: str = TEAM,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        timestamp: int | None = None,
    ) -> requests.Response:
        """An Events API ``event_callback`` delivery (a retry when ``retry_num`` is set)."""
        body = json.dumps(
            {
                "token": "legacy-verification-token",
                "team_id": team,
                "api_app_id": APP_ID,
                "event": event,
                "type": "event_callback",
                "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
                "event_time": int(time.time()),
                "authorizations": [
                    {
                        "enterprise_id": None,
                        "team_id": team,
                        "user_id": BOT_USER,
                        "is_bot": True,
                        "is_enterprise_install": False,
                    }
                ],
            }
        )
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return self.send(body, "application/json", headers=headers, timestamp=timestamp)


def slack_text(typed: str) -> str:
    """Text as Slack sends what a person typed: ``&``, ``<``, ``>`` as entities."""
    return typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def command_body(
    text: str,
    *,
    response_url: str,
    channel: str = "C0LAB001",
    team: str = TEAM,
    user: str = "UHUMAN01",
    channel_name: str = "lab",
) -> str:
    """The form body of a `/radar <text>` slash command, as Slack sends it
    (``&``, ``<``, ``>`` in the typed text arrive as entities)."""
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": team,
            "team_domain": "fake",
            "channel_id": channel,
            "channel_name": channel_name,
            "user_id": user,
            "user_name": "ada",
            "command": "/radar",
            "text": slack_text(text),
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"{time.time():.0f}.1.{uuid.uuid4().hex[:8]}",
        }
    )


def thread_message(
    channel: str,
    thread_ts: str,
    text: str,
    *,
    ts: str,
    user: str = "UHUMAN01",
    mention: bool = False,
) -> dict[str, Any]:
    """The ``event`` of a person's reply in a thread (``app_mention`` if ``mention``)."""
    return {
        "type": "app_mention" if mention else "message",
        "channel": channel,
        "channel_type": "channel",
        "user": user,
        "text": text,
        "ts": ts,
        "thread_ts": thread_ts,
        "event_ts": ts,
    }


def walk_strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from walk_strings(value)
    elif isinstance(obj, list | tuple):
        for value in obj:
            yield from walk_strings(value)
