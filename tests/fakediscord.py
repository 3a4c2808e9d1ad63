"""A local Discord: the REST API and the gateway, as far as Paper Radar uses them.

The adapter runs unchanged on the real discord.py against this server
(``[discord] api_url`` points at it, and the gateway URL comes from its
``GET /gateway/bot``, as Discord's own does). So the tests exercise the real
client: login, IDENTIFY with the real intents, READY, command sync, the
interaction callbacks and webhooks, channel messages, history, threads,
discord.py's own 429 handling. Only the network edge is fake.

The server records every request (method, path, JSON body) and keeps what a
person would see: channel messages (ephemeral ones only in their
interaction's record), threads, and per interaction the callbacks and
responses. ``interact`` / ``click`` / ``complete`` / ``say`` push gateway
events the way Discord does.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, ClassVar

from aiohttp import WSMsgType, web

DISCORD_EPOCH = 1420070400000
TOKEN = "fake-bot-token"
APP_ID = "1100000000000000001"
BOT_ID = "1100000000000000002"
GUILD = "1200000000000000001"
CHANNEL = "1300000000000000001"
OTHER_CHANNEL = "1300000000000000002"
OTHER_GUILD = "1200000000000000002"
OTHER_GUILD_CHANNEL = "1300000000000000003"
ALICE = "1400000000000000001"  # a member with Manage Channels
BOB = "1400000000000000002"  # a member without it
MANAGE_CHANNELS = 1 << 4
MEMBER = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 31)  # view, send, embed links, use commands
EPHEMERAL = 1 << 6
MESSAGE_CONTENT = 1 << 15

BOT_USER = {
    "id": BOT_ID,
    "username": "Paper Radar",
    "discriminator": "0000",
    "global_name": None,
    "avatar": None,
    "bot": True,
    "flags": 0,
}


def user(uid: str, name: str) -> dict[str, Any]:
    return {"id": uid, "username": name, "discriminator": "0", "global_name": name, "avatar": None}


USERS = {ALICE: user(ALICE, "alice"), BOB: user(BOB, "bob")}
PERMISSIONS = {ALICE: MEMBER | MANAGE_CHANNELS, BOB: MEMBER}


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def text_channel(cid: str, gid: str, name: str) -> dict[str, Any]:
    return {
        "id": cid,
        "guild_id": gid,
        "type": 0,
        "name": name,
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
    }


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int
    after: int = 0  # let this many matching requests through first


@dataclass
class InteractionRecord:
    """What Discord knows of one interaction: the acknowledgement and the messages."""

    id: str
    token: str
    channel_id: str
    sent_at: float
    acked_at: float | None = None
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    original: dict[str, Any] | None = None  # None, or a message ("thinking" while deferred)
    thinking: bool = False
    deleted: list[dict[str, Any]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)
    #: Messages the bot posted to channels (not through the interaction) while
    #: handling it, in order: a reply's header, cards and footer (``Bot`` fills it).
    posted: list[dict[str, Any]] = field(default_factory=list)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """What the person sees now: the original response, then follow-ups."""
        out = [self.original] if self.original is not None and not self.thinking else []
        return out + self.followups

    @property
    def choices(self) -> list[dict[str, Any]]:
        for cb in self.callbacks:
            if cb["type"] == 8:
                return list(cb["data"]["choices"])
        raise AssertionError("no autocomplete answer")


class FakeDiscord:
    def __init__(
        self,
        now: Callable[[], datetime] | None = None,
        *,
        refuse_message_content: bool = False,
        hello: bool = True,
    ) -> None:
        self.now = now or (lambda: datetime.now(UTC))
        self.refuse_message_content = refuse_message_content
        #: False: the gateway accepts the WebSocket and never says HELLO (a
        #: Discord that hangs while the bot connects).
        self.hello = hello
        self.gateway_connections = 0
        self.requests: list[tuple[str, str, Any]] = []
        self.identifies: list[dict[str, Any]] = []
        self.synced: dict[str | None, list[dict[str, Any]]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel id -> messages
        self.threads: dict[str, dict[str, Any]] = {}
        self.interactions: dict[str, InteractionRecord] = {}
        self.guilds = {
            GUILD: (
                "Lab",
                [
                    text_channel(CHANNEL, GUILD, "lab"),
                    text_channel(OTHER_CHANNEL, GUILD, "reading"),
                ],
            ),
            OTHER_GUILD: ("Elsewhere", [text_channel(OTHER_GUILD_CHANNEL, OTHER_GUILD, "lab")]),
        }
        self.faults: list[Fault] = []
        #: (method, path pattern) -> seconds each such request waits before it
        #: is handled: a Discord slow enough for concurrent replies to overlap.
        self.delays: dict[tuple[str, str], float] = {}
        self._ids = itertools.count(1)
        self._last_id = 0
        self._seq = itertools.count(1)
        self._ws: web.WebSocketResponse | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- life -------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    def snowflake(self) -> str:
        ms = int(self.now().timestamp() * 1000)
        value = max(((ms - DISCORD_EPOCH) << 22) + next(self._ids) % 4096, self._last_id + 1)
        self._last_id = value
        return str(value)

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """Answer ``times`` requests matching ``method`` and the path regex with
        ``status`` (e.g. 429 with ``retry_after``, 503), after letting ``after``
        of them through."""
        if body is None:
            body = {"message": "fault", "code": 0}
        fault = Fault(method, re.compile(path), status, body, headers or {}, times, after)
        self.faults.append(fault)

    def rate_limit(self, method: str, path: str, retry_after: float = 0.05) -> None:
        """Discord's 429: discord.py honours it only with a ``Via`` header."""
        self.fail(
            method,
            path,
            429,
            {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
            headers={"Via": "1.1 google", "X-RateLimit-Scope": "user"},
        )

    # -- the gateway ----------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        self.gateway_connections += 1
        if not self.hello:
            async for _msg in ws:  # silence, until the bot gives up and closes
                pass
            return ws
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if data["op"] == 1:
                await ws.send_json({"op": 11})
            elif data["op"] == 2:
                self.identifies.append(data["d"])
                if self.refuse_message_content and data["d"]["intents"] & MESSAGE_CONTENT:
                    await ws.close(code=4014, message=b"Disallowed intent(s).")
                    break
                await self._ready(ws)
        return ws

    async def _ready(self, ws: web.WebSocketResponse) -> None:
        await self._send(
            ws,
            "READY",
            {
                "v": 10,
                "user": BOT_USER,
                "guilds": [{"id": gid, "unavailable": True} for gid in self.guilds],
                "session_id": "fake-session",
                "resume_gateway_url": f"ws://127.0.0.1:{self.port}/gateway",
                "application": {"id": APP_ID, "flags": 0},
                "private_channels": [],
            },
        )
        for gid, (name, channels) in self.guilds.items():
            await self._send(ws, "GUILD_CREATE", self.guild_payload(gid, name, channels))

    def guild_payload(self, gid: str, name: str, channels: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": gid,
            "name": name,
            "icon": None,
            "owner_id": ALICE,
            "unavailable": False,
            "member_count": 3,
            "large": False,
            "features": [],
            "roles": [
                {
                    "id": gid,
                    "name": "@everyone",
                    "permissions": str(MEMBER),
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "emojis": [],
            "stickers": [],
            "channels": channels,
            "threads": [],
            "members": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "joined_at": iso(self.now()),
        }

    async def _send(self, ws: web.WebSocketResponse, event: str, data: dict[str, Any]) -> None:
        await ws.send_json({"op": 0, "t": event, "s": next(self._seq), "d": data})

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        assert self._ws is not None, "the bot is not connected"
        await self._send(self._ws, event, data)

    # -- pushing events ---------------------------------------------------------------------

    def _base(self, kind: int, who: str, channel: str, guild: str | None) -> dict[str, Any]:
        iid = self.snowflake()
        payload: dict[str, Any] = {
            "id": iid,
            "application_id": APP_ID,
            "type": kind,
            "token": f"itoken-{iid}",
            "version": 1,
            "locale": "en-US",
            "attachment_size_limit": 8 * 1024 * 1024,
            "entitlements": [],
            "app_permissions": str(MEMBER | (1 << 35) | (1 << 38)),
        }
        if guild is None:
            payload["channel"] = {"id": channel, "type": 1, "recipients": [USERS[who]]}
            payload["channel_id"] = channel
            payload["user"] = USERS[who]
            payload["context"] = 1
            return payload
        chan = self._channel(channel) or text_channel(channel, guild, "unknown")
        payload.update(
            guild_id=guild,
            channel_id=channel,
            channel=chan,
            guild_locale="en-US",
            context=0,
            member={
                "user": USERS[who],
                "roles": [],
                "joined_at": iso(self.now()),
                "deaf": False,
                "mute": False,
                "flags": 0,
                "permissions": str(PERMISSIONS[who]),
            },
        )
        return payload

    def _channel(self, cid: str) -> dict[str, Any] | None:
        if cid in self.threads:
            return self.threads[cid]
        for _, channels in self.guilds.values():
            for chan in channels:
                if chan["id"] == cid:
                    return chan
        return None

    async def _push(self, payload: dict[str, Any]) -> InteractionRecord:
        record = InteractionRecord(
            payload["id"], payload["token"], payload["channel_id"], time.monotonic()
        )
        self.interactions[payload["token"]] = record
        await self.dispatch("INTERACTION_CREATE", payload)
        return record

    async def interact(
        self,
        sub: str,
        options: dict[str, Any] | None = None,
        *,
        who: str = ALICE,
        channel: str = CHANNEL,
        guild: str | None = GUILD,
        focused: str | None = None,
    ) -> InteractionRecord:
        """``/radar <sub> option:value ...``; with ``focused``, the autocomplete
        request Discord sends while that option is typed."""
        payload = self._base(4 if focused else 2, who, channel, guild)
        opts = []
        for name, value in (options or {}).items():
            kind = 4 if isinstance(value, int) else 3
            opt: dict[str, Any] = {"name": name, "type": kind, "value": value}
            if name == focused:
                opt["focused"] = True
            opts.append(opt)
        data: dict[str, Any] = {
            "id": "1500000000000000001",
            "name": "radar",
            "type": 1,
            "options": [{"name": sub, "type": 1, "options": opts}],
        }
        if guild is not None:
            data["guild_id"] = guild
        payload["data"] = data
        return await self._push(payload)

    async def click(
        self, message: dict[str, Any], custom_id: str, *, who: str = ALICE
    ) -> InteractionRecord:
        """A button press on a message the bot posted."""
        channel = message["channel_id"]
        payload = self._base(3, who, channel, message.get("_guild"))
        payload["message"] = {k: v for k, v in message.items() if not k.startswith("_")}
        payload["data"] = {"custom_id": custom_id, "component_type": 2}
        return await self._push(payload)

    async def say(
        self, channel: str, content: str, *, who: str = ALICE, bot: bool = False
    ) -> dict[str, Any]:
        """A person (or another bot) posts ``content`` in ``channel`` or a thread."""
        author = dict(BOT_USER, id="1999", username="other-bot") if bot else USERS[who]
        message = self._message(channel, {"content": content}, author=author)
        guild = self._guild_of(channel)
        event = dict(message, guild_id=guild) if guild else message
        if guild and not bot:
            event["member"] = {
                "roles": [],
                "joined_at": iso(self.now()),
                "deaf": False,
                "mute": False,
            }
        await self.dispatch("MESSAGE_CREATE", event)
        return message

    def _guild_of(self, channel: str) -> str | None:
        chan = self._channel(channel)
        return None if chan is None else chan.get("guild_id")

    # -- REST ---------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            if request.content_type == "application/json" and raw:
                body = json.loads(raw)
        self.requests.append((request.method, path, body))
        for (method, pattern), seconds in self.delays.items():
            if method == request.method and re.search(pattern, path):
                await asyncio.sleep(seconds)
        for fault in self.faults:
            if fault.times > 0 and fault.method == request.method and fault.path.search(path):
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.times -= 1
                return _json(fault.body, status=fault.status, headers=fault.headers)
        webhook = path.startswith(("/interactions/", "/webhooks/"))  # the token is in the URL
        if not webhook and request.headers.get("Authorization") != f"Bot {TOKEN}":
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        for pattern, handler in self._routes:
            m = re.fullmatch(pattern, f"{request.method} {path}")
            if m:
                result = handler(self, body, request, *m.groups())
                if result is None:
                    return web.Response(status=204)
                if isinstance(result, web.Response):
                    return result
                return _json(result)
        return _json({"message": f"no fake for {request.method} {path}"}, status=404)

    def _message(
        self,
        channel: str,
        body: dict[str, Any],
        *,
        author: dict[str, Any] | None = None,
        keep: bool = True,
        **extra: Any,
    ) -> dict[str, Any]:
        message = {
            "id": self.snowflake(),
            "channel_id": channel,
            "author": author or BOT_USER,
            "content": body.get("content") or "",
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "attachments": [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "type": 0,
            "flags": body.get("flags") or 0,
            "timestamp": iso(self.now()),
            "edited_timestamp": None,
            "_allowed_mentions": body.get("allowed_mentions"),
            "_guild": self._guild_of(channel),
            **extra,
        }
        if keep:
            self.messages.setdefault(channel, []).append(message)
        return message

    @staticmethod
    def public(message: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in message.items() if not k.startswith("_")}

    def _me(self, body: Any, request: web.Request) -> Any:
        return BOT_USER

    def _app(self, body: Any, request: web.Request) -> Any:
        return {
            "id": APP_ID,
            "name": "Paper Radar",
            "icon": None,
            "description": "",
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": user(ALICE, "alice"),
            "verify_key": "0" * 64,
            "flags": 0,
        }

    def _gateway_bot(self, body: Any, request: web.Request) -> Any:
        return {
            "url": f"ws://127.0.0.1:{self.port}/gateway",
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 0,
                "max_concurrency": 1,
            },
        }

    def _sync(self, body: Any, request: web.Request, guild: str | None = None) -> Any:
        self.synced[guild] = body
        return [dict(cmd, id=self.snowflake(), application_id=APP_ID, version="1") for cmd in body]

    def _callback(self, body: Any, request: web.Request, iid: str, token: str) -> Any:
        record = self.interactions[token]
        record.callbacks.append(body)
        if record.acked_at is None:
            record.acked_at = time.monotonic()
        kind = body["type"]
        data = body.get("data") or {}
        if kind == 4:  # a message now
            record.original = self._message(record.channel_id, data, keep=not _ephemeral(data))
        elif kind == 5:  # "thinking": a deferred message
            record.original = self._message(record.channel_id, data, keep=False)
            record.thinking = True
        return {
            "interaction": {
                "id": iid,
                "type": 2,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": _ephemeral(data),
            }
        }

    def _followup(self, body: Any, request: web.Request, app: str, token: str) -> Any:
        record = self.interactions[token]
        if record.thinking and record.original is not None:
            # The first follow-up replaces the "thinking" message, keeping
            # the deferral's visibility (as Discord does).
            flags = record.original["flags"]
            message = self._message(
                record.channel_id, dict(body, flags=flags), keep=not flags & EPHEMERAL
            )
            message["id"] = record.original["id"]
            record.original, record.thinking = message, False
            return self.public(message)
        message = self._message(record.channel_id, body, keep=not _ephemeral(body))
        record.followups.append(message)
        return self.public(message)

    def _original(self, body: Any, request: web.Request, app: str, token: str) -> Any:
        record = self.interactions[token]
        if record.original is None:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        if request.method == "DELETE":
            record.deleted.append(record.original)
            self._unkeep(record.original)
            record.original, record.thinking = None, False
            return None
        if request.method == "PATCH":
            record.original.update(
                {k: v for k, v in body.items() if k in ("content", "embeds", "components")},
                _allowed_mentions=body.get("allowed_mentions"),
            )
            if record.thinking and not record.original["flags"] & EPHEMERAL:
                self.messages.setdefault(record.channel_id, []).append(record.original)
            record.thinking = False
        return self.public(record.original)

    def _unkeep(self, message: dict[str, Any]) -> None:
        kept = self.messages.get(message["channel_id"], [])
        self.messages[message["channel_id"]] = [m for m in kept if m["id"] != message["id"]]

    def _post_message(self, body: Any, request: web.Request, channel: str) -> Any:
        if self._channel(channel) is None and channel not in self.messages:
            self.messages.setdefault(channel, [])  # a DM channel, known once used
        return self.public(self._message(channel, body))

    def _history(self, body: Any, request: web.Request, channel: str) -> Any:
        limit = int(request.query.get("limit", 50))
        after = int(request.query.get("after", 0))
        before = int(request.query.get("before", 0)) or None
        found = [
            m
            for m in self.messages.get(channel, [])
            if int(m["id"]) > after and (before is None or int(m["id"]) < before)
        ]
        found.sort(key=lambda m: int(m["id"]))
        found = found[:limit] if "after" in request.query else found[-limit:]
        return [self.public(m) for m in reversed(found)]

    def _thread_payload(self, tid: str, parent: str, name: str) -> dict[str, Any]:
        return {
            "id": tid,
            "guild_id": self._guild_of(parent),
            "parent_id": parent,
            "owner_id": BOT_ID,
            "name": name,
            "type": 11,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": iso(self.now()),
                "locked": False,
            },
        }

    def _thread_from_message(
        self, body: Any, request: web.Request, channel: str, message: str
    ) -> Any:
        if message in self.threads:
            return _json(
                {"message": "A thread has already been created for this message", "code": 160004},
                status=400,
            )
        thread = self._thread_payload(message, channel, body["name"])
        self.threads[message] = thread
        asyncio.get_running_loop().create_task(
            self.dispatch("THREAD_CREATE", dict(thread, newly_created=True))
        )
        return thread

    def _thread_alone(self, body: Any, request: web.Request, channel: str) -> Any:
        thread = self._thread_payload(self.snowflake(), channel, body["name"])
        self.threads[thread["id"]] = thread
        asyncio.get_running_loop().create_task(
            self.dispatch("THREAD_CREATE", dict(thread, newly_created=True))
        )
        return thread

    def _get_channel(self, body: Any, request: web.Request, channel: str) -> Any:
        found = self._channel(channel)
        if found is None:
            return _json({"message": "Unknown Channel", "code": 10003}, status=404)
        return found

    def _typing(self, body: Any, request: web.Request, channel: str) -> Any:
        return None

    _routes: ClassVar[list[tuple[str, Callable[..., Any]]]] = [
        (r"GET /users/@me", _me),
        (r"GET /oauth2/applications/@me", _app),
        (r"GET /gateway/bot", _gateway_bot),
        (r"PUT /applications/\d+/commands", _sync),
        (r"PUT /applications/\d+/guilds/(\d+)/commands", _sync),
        (r"POST /interactions/(\d+)/([^/]+)/callback", _callback),
        (r"POST /webhooks/(\d+)/([^/]+)", _followup),
        (r"(?:GET|PATCH|DELETE) /webhooks/(\d+)/([^/]+)/messages/@original", _original),
        (r"POST /channels/(\d+)/messages", _post_message),
        (r"GET /channels/(\d+)/messages", _history),
        (r"POST /channels/(\d+)/messages/(\d+)/threads", _thread_from_message),
        (r"POST /channels/(\d+)/threads", _thread_alone),
        (r"GET /channels/(\d+)", _get_channel),
        (r"POST /channels/(\d+)/typing", _typing),
    ]

    # -- reading what happened ------------------------------------------------------------------

    def channel_messages(self, channel: str = CHANNEL) -> list[dict[str, Any]]:
        return sorted(self.messages.get(channel, []), key=lambda m: int(m["id"]))

    def message_bodies(self) -> list[Any]:
        """Every JSON body the bot sent that creates or edits a message."""
        creating = re.compile(
            r"^(POST /channels/\d+/messages$|POST /webhooks/|PATCH /webhooks/|POST /interactions/)"
        )
        return [body for method, path, body in self.requests if creating.match(f"{method} {path}")]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON as Discord sends it: discord.py parses a body only when the
    content type is exactly ``application/json`` (no charset)."""
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def _ephemeral(data: dict[str, Any]) -> bool:
    return bool((data.get("flags") or 0) & EPHEMERAL)


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message.get("components", []) for c in row["components"]]


def labels(message: dict[str, Any]) -> list[str]:
    return [c.get("label", "") for row in message.get("components", []) for c in row["components"]]


# -- the bot against the fake -------------------------------------------------------------


class Bot:
    """The real adapter connected to a ``FakeDiscord``; each action waits until
    the adapter has finished handling the event it caused."""

    def __init__(self, fake: FakeDiscord, adapter: Any) -> None:
        self.fake, self.adapter = fake, adapter

    async def _done(self, before: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.adapter.completed <= before:
            if time.monotonic() > deadline:
                raise AssertionError("the adapter did not finish handling the event")
            await asyncio.sleep(0.01)

    def _bot_posts(self) -> list[dict[str, Any]]:
        every = [m for kept in self.fake.messages.values() for m in kept]
        return sorted(
            (m for m in every if m["author"]["id"] == BOT_USER["id"]), key=lambda m: int(m["id"])
        )

    def _posted(self, record: InteractionRecord, seen: set[str]) -> None:
        own = {m["id"] for m in [*record.messages, *record.deleted] if m is not None}
        record.posted = [m for m in self._bot_posts() if m["id"] not in seen | own]

    async def command(
        self, sub: str, options: dict[str, Any] | None = None, **kw: Any
    ) -> InteractionRecord:
        before = self.adapter.completed
        seen = {m["id"] for m in self._bot_posts()}
        record = await self.fake.interact(sub, options, **kw)
        await self._done(before)
        self._posted(record, seen)
        return record

    async def click(self, message: dict[str, Any], custom_id: str, **kw: Any) -> InteractionRecord:
        before = self.adapter.completed
        seen = {m["id"] for m in self._bot_posts()}
        record = await self.fake.click(message, custom_id, **kw)
        await self._done(before)
        self._posted(record, seen)
        return record

    async def say(self, channel: str, content: str, **kw: Any) -> dict[str, Any]:
        before = self.adapter.completed
        message = await self.fake.say(channel, content, **kw)
        await self._done(before)
        return message

    async def complete(
        self, sub: str, options: dict[str, Any], focused: str, **kw: Any
    ) -> list[dict[str, Any]]:
        """The autocomplete choices Discord would show while ``focused`` is typed."""
        record = await self.fake.interact(sub, options, focused=focused, **kw)
        deadline = time.monotonic() + 10
        while not record.callbacks:
            if time.monotonic() > deadline:
                raise AssertionError("no autocomplete answer")
            await asyncio.sleep(0.01)
        return record.choices


@asynccontextmanager
async def connected(
    app: Any,
    settings: Any = None,
    *,
    fake: FakeDiscord | None = None,
    token: str = TOKEN,
    refuse_message_content: bool = False,
) -> AsyncIterator[Bot]:
    """``app`` on Discord: a fresh (or the given) fake, the real adapter started
    against it, commands synced. Stops the adapter (and a fake it made) after."""
    from bot.config import DiscordSettings
    from bot.handlers.discord import DiscordAdapter

    own = fake is None
    if fake is None:
        fake = FakeDiscord(now=app.clock.now, refuse_message_content=refuse_message_content)
        await fake.start()
    settings = replace(settings or DiscordSettings(), api_url=fake.api_url)
    adapter = DiscordAdapter(app, settings, token, guild_ready_timeout=0.05)
    try:
        await adapter.start()
        await asyncio.wait_for(adapter.synced.wait(), 10)
        yield Bot(fake, adapter)
    finally:
        await adapter.stop()
        if own:
            await fake.stop()
