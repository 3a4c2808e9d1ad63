"""Who sent a Slack event, as Slack vouches for them.

``users.info`` says whether a person is a workspace admin or owner (for the
core's ``[permissions]`` policy) and how Slack shows their name (for the
message announcing a change). It is asked only when the reply depends on it,
after the ack, and cached; a failed look-up (no ``users:read`` scope, Slack
down) counts the person as a member, never as an admin.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.actor import Actor
from bot.handlers.slack.socket import describe

log = logging.getLogger("bot.handlers.slack.adapter")

#: How long whether a person is a workspace admin is trusted (``users.info``).
ADMIN_TTL = 600.0
#: ... and how long a failed look-up is (missing ``users:read``, Slack down):
#: they count as a member meanwhile, and the log is not flooded.
ADMIN_FAILED_TTL = 60.0


class People:
    """``users.info`` look-ups through ``client``, cached per (team, user)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._cache: dict[tuple[str, str], tuple[float, Actor]] = {}

    async def actor(self, team: str, user: str, full: bool) -> Actor:
        """The person behind ``user``: just their id unless ``full`` (the reply
        names them or the policy checks them), then looked up."""
        if not full or not user:
            return Actor(user)
        return await self.lookup(team, user)

    async def lookup(self, team: str, user: str) -> Actor:
        """``users.info``: admin or owner, and a display name; cached for
        ``ADMIN_TTL``. A failed look-up (no ``users:read`` scope, Slack down)
        counts them as a member, never as an admin."""
        now = time.monotonic()
        cached = self._cache.get((team, user))
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            response = await self.client.users_info(user=user)
            info = response.get("user") or {}
            actor = Actor(
                user,
                name=display_name(info),
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
        if len(self._cache) >= 10_000:  # forget the expired first, then everyone
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= 10_000:
                self._cache.clear()
        self._cache[(team, user)] = (now + ttl, actor)
        return actor


def display_name(info: Mapping[str, Any]) -> str:
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
