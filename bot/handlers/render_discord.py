"""Render a ``Reply`` as Discord messages with embeds (plain dicts, no SDK import).

Discord's limits: 10 embeds and 6,000 embed characters per message; title 256,
description 4,096, author name 256, footer 2,048. A long digest is split.
"""

from __future__ import annotations

from typing import Any

from bot.core.cards import Card, Reply
from bot.core.safety import clip, defuse_mentions

MAX_EMBEDS = 10
MAX_TOTAL = 6000
TITLE = 256
DESCRIPTION = 4096
AUTHOR = 256
FOOTER = 2048
CONTENT = 2000
COLOURS = {"arXiv": 0xB31B1B}
DEFAULT_COLOUR = 0x4F6D7A


def safe(text: str) -> str:
    return defuse_mentions(text)


def card_embed(card: Card) -> dict[str, Any]:
    source = card.source_label.split(" (", 1)[0]
    description = clip(f"*{safe(card.authors)}*\n\n{safe(card.abstract)}", DESCRIPTION)
    return {
        "author": {"name": clip(card.heading, AUTHOR)},
        "title": clip(safe(card.title), TITLE),
        "url": card.url,
        "description": description,
        "color": COLOURS.get(source, DEFAULT_COLOUR),
    }


def embed_size(embed: dict[str, Any]) -> int:
    return (
        len(embed.get("title", ""))
        + len(embed.get("description", ""))
        + len(embed.get("author", {}).get("name", ""))
        + len(embed.get("footer", {}).get("text", ""))
    )


def render(reply: Reply) -> list[dict[str, Any]]:
    """One or more message payloads: ``content`` plus up to 10 ``embeds`` each."""
    lines = [f"**{safe(reply.title)}**"]
    if reply.chips:
        lines.append(
            "Chips: "
            + " · ".join(
                f"{i}. {safe(chip.label())}" for i, (_, chip) in enumerate(reply.chips, start=1)
            )
        )
    lines.extend(safe(line) for line in reply.lines)
    content = clip("\n".join(lines), CONTENT)
    messages: list[dict[str, Any]] = [{"content": content, "embeds": []}]
    total = 0
    for card in reply.cards:
        embed = card_embed(card)
        size = embed_size(embed)
        if len(messages[-1]["embeds"]) >= MAX_EMBEDS or total + size > MAX_TOTAL:
            messages.append({"content": "", "embeds": []})
            total = 0
        messages[-1]["embeds"].append(embed)
        total += size
    if reply.footer:
        messages[-1]["content"] = clip(
            (messages[-1]["content"] + "\n" if messages[-1]["content"] else "")
            + safe(reply.footer),
            CONTENT,
        )
    return messages
