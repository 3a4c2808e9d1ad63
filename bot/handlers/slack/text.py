"""What a person typed, from Slack's wire format.

Slack sends ``&``, ``<`` and ``>`` as entities and mentions and links as
``<…>`` tokens. The core gets plain text: mentions are dropped (the bot's own
included), links become their label or URL; renderers escape again on the
way out (``bot.handlers.render_slack``).
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"<([^<>]*)>")


def from_slack(text: str) -> str:
    """Plain text from Slack's wire format (see the module doc)."""

    def token(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith(("@", "!")):
            return " "
        if target.startswith("#"):
            return f"#{label}" if label else " "
        return label or target

    return unescape(_TOKEN.sub(token, text))


def unescape(text: str) -> str:
    """Slack's three entities undone (a button's value may come back escaped)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def strip_mentions(text: str) -> str:
    """A thread message as a question: plain text, whitespace folded."""
    return " ".join(from_slack(text).split())
