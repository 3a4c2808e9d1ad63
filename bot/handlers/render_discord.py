"""Render a ``Reply`` as Discord messages with embeds (plain dicts, no SDK import).

Discord's limits are enforced here, not hoped for: 2,000 characters of
content, 10 embeds and 6,000 embed characters per message; embed title 256,
description 4,096, field name 256, field value 1,024, footer 2,048, author
name 256, at most 25 fields. A long reply is split across messages.

Paper text is untrusted: mention tokens are defused (``AllowedMentions.none()``
on the client is the second lock) and Markdown is escaped, so an abstract
cannot ping, hide text in a spoiler, or show a masked link. Every URL (the
embed's ``url``, ``[PDF](…)``, other versions) passes
``bot.core.safety.safe_url``, which percent-encodes ``()[]<>`` and whitespace,
so a record's URL cannot break out of ``[text](…)`` and add a link of its own.

A reply posted in a channel (``bot.core.outgoing``: header, one card per
message, footer) has a builder per message, each an embed whose footer
carries the outbox marker, which is how ``DiscordPoster.find`` recognises a
message after a crash. ``plan`` draws a whole reply as few messages as the
limits allow (a private reply, an answer in a card's thread) and says which
cards and chips each carries, so the right buttons are attached; ``render``
is the same as plain payloads (``paper-radar preview --platform discord``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bot.core.cards import Card, Choice, Reply
from bot.core.chips import Chip
from bot.core.safety import clip, defuse_mentions, pack_lines, safe_url

MAX_EMBEDS = 10
MAX_TOTAL = 6000
TITLE = 256
DESCRIPTION = 4096
AUTHOR = 256
FIELD_NAME = 256
FIELD_VALUE = 1024
MAX_FIELDS = 25
FOOTER = 2048
CONTENT = 2000
LINKS = 3  # other versions linked on a card
LINK_URL = 500
COLOURS = {"arXiv": 0xB31B1B}
DEFAULT_COLOUR = 0x4F6D7A
#: Embed footers of digest messages read ``Paper Radar · <marker>``.
MARKER_PREFIX = "Paper Radar · "

_MARKDOWN = re.compile(r"([\\*_~|`\[\]])")
_LINE_START = re.compile(r"^([#>\-+]|\d+\.)")


def safe(text: str) -> str:
    """Defuse mentions; for the bot's own text, whose Markdown is intended."""
    return defuse_mentions(text)


def escape(text: str) -> str:
    """Untrusted text as literal Markdown: no emphasis, spoilers, code or masked
    links, no heading or quote at the start; mentions defused."""
    text = _MARKDOWN.sub(r"\\\1", defuse_mentions(text))
    return _LINE_START.sub(r"\\\1", text)


def fit(text: str, limit: int) -> str:
    """``clip`` (at a word boundary) for escaped text: never ends on half of
    an escape (``\\``)."""
    if len(text) <= limit:
        return text
    body = clip(text, limit).removesuffix("…")
    if (len(body) - len(body.rstrip("\\"))) % 2:
        body = body[:-1]
    return body + "…"


def link_label(text: str) -> str:
    """Text for a masked link's ``[…]``: Markdown escaped, brackets and
    parentheses too, so it can neither close the link nor open another."""
    return re.sub(r"([()])", r"\\\1", escape(text))


def masked_link(label: str, url: str | None) -> str | None:
    """``[label](url)``, or None when ``url`` cannot be linked safely."""
    target = safe_url(url, "discord")
    if target is None or len(target) > LINK_URL:
        return None
    return f"[{link_label(label)}]({target})"


def marker_text(marker: str) -> str:
    return clip(MARKER_PREFIX + marker, FOOTER)


def marker_of(embed: dict[str, Any]) -> str | None:
    """The outbox marker an embed carries in its footer, if any."""
    text = (embed.get("footer") or {}).get("text") or ""
    return text[len(MARKER_PREFIX) :] if text.startswith(MARKER_PREFIX) else None


def colour(card: Card) -> int:
    return COLOURS.get(card.source_label.split(" (", 1)[0], DEFAULT_COLOUR)


def card_embed(card: Card, marker: str | None = None) -> dict[str, Any]:
    """One card as the seed page shows it: ``01.  arXiv (CS.CL)  2026-06-18``
    above the linked title, then authors and the trimmed abstract."""
    authors = f"*{fit(escape(card.authors), 600)}*"
    if card.reason:  # why this card ranks here, in words (never a score)
        authors += f"\n_{fit(escape(card.reason), 200)}_"
    pdf = masked_link("PDF", card.pdf_url)
    links = f"\n{pdf}" if pdf else ""
    links += other_versions(card)
    room = DESCRIPTION - len(authors) - len(links) - 2
    description = f"{authors}\n\n{fit(escape(card.abstract), room)}{links}"
    embed: dict[str, Any] = {
        "author": {"name": clip(card.heading, AUTHOR)},
        "title": clip(safe(card.title), TITLE),
        "description": description,
        "color": colour(card),
    }
    url = safe_url(card.url, "discord")
    if url is not None and len(url) <= LINK_URL:
        embed["url"] = url
    if card.matched:
        embed["fields"] = [
            {
                "name": "Matched",
                "value": fit(escape("; ".join(card.matched)), FIELD_VALUE),
                "inline": False,
            }
        ]
    if marker is not None:
        embed["footer"] = {"text": marker_text(marker)}
    return embed


def other_versions(card: Card) -> str:
    """``\nAlso: [doi.org](…) · [arxiv.org](…)``: a merged paper's other versions;
    a URL that cannot be linked safely is left out."""
    shown = []
    for url in card.links[:LINKS]:
        host = (urlsplit(safe_url(url, "discord") or "").hostname or "link").removeprefix("www.")
        if (masked := masked_link(host, url)) is not None:
            shown.append(masked)
    return "\nAlso: " + " · ".join(shown) if shown else ""


def embed_size(embed: dict[str, Any]) -> int:
    """Characters Discord counts towards the 6,000 per message."""
    return (
        len(embed.get("title", ""))
        + len(embed.get("description", ""))
        + len(embed.get("author", {}).get("name", ""))
        + len(embed.get("footer", {}).get("text", ""))
        + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", ()))
    )


def chips_text(chips: tuple[tuple[int, Chip], ...]) -> str:
    return "Chips: " + " · ".join(
        f"{i}. {escape(chip.label())}" for i, (_, chip) in enumerate(chips, start=1)
    )


@dataclass
class Message:
    """One Discord message: its payload, and what its buttons are about.

    ``cards`` are the cards whose embeds it holds (an Ask button each);
    ``chips`` is set on the message that shows a radar's chips (a remove button
    each, plus Shuffle and Brief); ``choices`` on the message that asks a
    question (a button per answer, e.g. which person `/radar author` meant).
    """

    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    cards: list[Card] = field(default_factory=list)
    chips: tuple[tuple[int, Chip], ...] | None = None
    choices: tuple[Choice, ...] = ()

    def payload(self) -> dict[str, Any]:
        return {"content": self.content, "embeds": self.embeds}


def _content_pages(lines: list[str]) -> list[str]:
    """Join lines into contents of at most ``CONTENT`` characters, breaking
    between lines, and inside a line only when one alone is too long."""
    pages: list[str] = []
    current = ""
    for line in lines:
        while len(line) > CONTENT:
            if current:
                pages.append(current)
                current = ""
            cut = line.rfind(" ", CONTENT // 2, CONTENT)
            cut = cut if cut > 0 else CONTENT
            pages.append(line[:cut].rstrip())
            line = line[cut:].lstrip()
        joined = f"{current}\n{line}" if current else line
        if len(joined) > CONTENT:
            pages.append(current)
            current = line
        else:
            current = joined
    if current or not pages:
        pages.append(current)
    return pages


FENCE = "`" * 3


def code_pages(code: str) -> list[str]:
    """Verbatim text (BibTeX) as code blocks that each fit one message, split
    between lines; mentions defused, and no fence inside can close a block."""
    lines = defuse_mentions(code.replace(FENCE, "'" * 3)).splitlines()
    pages = pack_lines(lines, CONTENT - 2 * len(FENCE) - 2)
    return [f"{FENCE}\n{page}\n{FENCE}" for page in pages]


def plan(reply: Reply) -> list[Message]:
    """The messages of a reply: text first, then cards in order, split by the limits."""
    lines = [f"**{safe(clip(reply.title, TITLE))}**"]
    if reply.chips:
        lines.append(chips_text(reply.chips))
    lines.extend(safe(line) for line in reply.lines)
    lines.extend(code_pages(reply.code))
    messages = [Message(content=page) for page in _content_pages(lines)]
    messages[0].chips = reply.chips
    messages[0].choices = reply.choices
    total = 0
    for card in reply.cards:
        embed = card_embed(card)
        size = embed_size(embed)
        last = messages[-1]
        if len(last.embeds) >= MAX_EMBEDS or total + size > MAX_TOTAL:
            messages.append(Message())
            last, total = messages[-1], 0
        last.embeds.append(embed)
        last.cards.append(card)
        total += size
    if reply.footer:
        footer = safe(reply.footer)
        last = messages[-1]
        if last.content and len(last.content) + 1 + len(footer) > CONTENT:
            messages.append(Message(content=clip(footer, CONTENT)))
        else:
            last.content = clip(f"{last.content}\n{footer}" if last.content else footer, CONTENT)
    return messages


def render(reply: Reply) -> list[dict[str, Any]]:
    """One or more message payloads: ``content`` plus up to 10 ``embeds`` each."""
    return [m.payload() for m in plan(reply)]


# -- channel messages, one each (bot.core.outgoing) ---------------------------------


def header_message(reply: Reply, marker: str) -> Message:
    """A channel reply's header (a digest's, a shuffle's, a new chip's): title,
    notes and chips, with the chips' buttons and a question's answers."""
    parts = [safe(line) for line in reply.lines]
    parts.extend(code_pages(reply.code)[:1])
    if reply.chips:
        parts.append(chips_text(reply.chips))
    embed: dict[str, Any] = {
        "title": clip(safe(reply.title), TITLE),
        "description": fit("\n".join(parts), DESCRIPTION),
        "color": DEFAULT_COLOUR,
        "footer": {"text": marker_text(marker)},
    }
    if not embed["description"]:
        del embed["description"]
    return Message(embeds=[embed], chips=reply.chips, choices=reply.choices)


def card_message(card: Card, marker: str) -> Message:
    """One card per message, so a thread can hang off each card."""
    return Message(embeds=[card_embed(card, marker)], cards=[card])


def footer_message(reply: Reply, marker: str) -> Message:
    """A digest's closing note (``+3 more matching papers: ...``)."""
    embed = {
        "description": fit(safe(reply.title), DESCRIPTION),
        "color": DEFAULT_COLOUR,
        "footer": {"text": marker_text(marker)},
    }
    return Message(embeds=[embed])
