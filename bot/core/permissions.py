"""Who may change a channel's radar: one policy, decided here for every platform.

Adapters only say who is asking (an ``Actor``: their id, a display name, and
whether the platform counts them as an admin: a Slack workspace admin or
owner, a holder of ``discord.manage_permission``, the person at a terminal).
``[permissions] change`` then decides:

- ``members`` (the default): anyone who can use the channel may change it;
- ``admins``: only admins;
- ``listed``: admins and the user ids in ``[permissions] users``.

Only commands that change the radar are checked (``commands.changes_radar``:
chips, picks, schedule, digest size, briefing cadence). Reading, views,
briefings and questions stay open to everyone, because a radar is a shared
reading list and asking about it harms no one. Every permitted change is
announced in the channel with the actor's name (``credit``), so even under
``members`` nobody changes a radar silently.
"""

from __future__ import annotations

import re
import unicodedata

from bot.core.actor import LOCAL, Actor
from bot.core.safety import clip
from bot.settings import PermissionsSettings

#: Characters of a name in an announcement; display names can be long.
NAME_CHARS = 60
#: Format characters that only join emoji and scripts; every other one is dropped.
_JOINERS = "\u200d\u200c"
#: Terminal escape sequences (colours, cursor moves): dropped whole, not just their ESC.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-_])")
_OPEN = "reading, digests, shuffles, filters, briefings and questions are open to everyone"


def may_change(settings: PermissionsSettings, actor: Actor) -> bool:
    """Whether ``actor`` may change a channel's radar under ``settings``."""
    if settings.change == "members" or actor.is_admin:
        return True
    return settings.change == "listed" and actor.user_id in settings.users


def refusal(settings: PermissionsSettings, platform: str, manage_permission: str) -> str:
    """What a refused person reads: what it takes, what stays open, and that
    nothing changed. ``manage_permission`` is Discord's configured flag name."""
    if platform == "discord":
        admins = f"members with the {manage_permission.replace('_', ' ').title()} permission"
    elif platform == "slack":
        admins = "workspace admins and owners"
    else:
        admins = "admins"
    who = admins
    if settings.change == "listed":
        who = f"{admins} and the people listed in the bot's configuration"
    return f"Only {who} can change this channel's radar here; {_OPEN}. Nothing was changed."


def check(
    settings: PermissionsSettings, actor: Actor, platform: str, manage_permission: str
) -> str | None:
    """None when ``actor`` may change the radar, else the refusal to show them."""
    if may_change(settings, actor):
        return None
    return refusal(settings, platform, manage_permission)


def credit(actor: Actor) -> str:
    """How an announcement names ``actor`` at the start of a sentence, pinging nobody.

    Their display name (else their plain user id), never a ``<@U…>`` mention;
    control and format characters (bidi overrides, ANSI escapes) are dropped and
    long names clipped, since display names are whatever people typed. The
    person at a terminal is "You". Renderers still escape what is left for
    their platform, as for any other text.
    """
    if actor == LOCAL:
        return "You"
    for raw in (actor.name, actor.user_id):
        raw = _ANSI.sub("", raw)
        text = "".join(
            " " if ch.isspace() else ch
            for ch in raw
            if ch.isspace() or ch in _JOINERS or unicodedata.category(ch)[0] != "C"
        )
        text = " ".join(text.split())
        if text:
            return clip(text, NAME_CHARS)
    return "Someone"
