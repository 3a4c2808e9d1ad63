"""Text that reaches a channel must never ping anyone.

Paper titles, abstracts and (later) model output are untrusted: an abstract
can contain ``<!channel>`` or ``@everyone`` by accident or on purpose. Each
renderer escapes for its platform; this module holds the shared pieces.
"""

from __future__ import annotations

import re

_ZWSP = "\u200b"
_MASS_MENTION = re.compile(r"@(?=(everyone|here|channel)\b)", re.IGNORECASE)
_DISCORD_MENTION = re.compile(r"<(?=[@#]|a?:)")


def slack_escape(text: str) -> str:
    """Escape for Slack mrkdwn/plain_text: ``&``, ``<`` and ``>`` become entities.

    With ``<`` escaped, no ``<!channel>``, ``<!here>``, ``<@U…>`` or link can
    form, whatever the input holds.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def defuse_mentions(text: str) -> str:
    """Break ``@everyone``/``@here``/``@channel`` and Discord ``<@…>``/``<#…>``
    tokens with a zero-width space, so no platform reads them as mentions."""
    text = _MASS_MENTION.sub("@" + _ZWSP, text)
    return _DISCORD_MENTION.sub("<" + _ZWSP, text)


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"
