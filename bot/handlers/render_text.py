"""Render a ``Reply`` as terminal text (the console adapter and `preview`).

URLs are shown as ``bot.core.safety.safe_url`` spells them (http(s) only,
whitespace and brackets percent-encoded), so what a terminal links is what a
chat platform would link.
"""

from __future__ import annotations

import textwrap

from bot.core.cards import Card, Reply, ReplyKind
from bot.core.chips import ChipKind, shown_kind
from bot.core.safety import safe_url

WIDTH = 88
INDENT = " " * 5


def render(reply: Reply, width: int = WIDTH) -> str:
    out: list[str] = []
    prefix = "! " if reply.kind is ReplyKind.ERROR else ""
    out.append(prefix + reply.title)
    if reply.chips:
        out.append(chips_line(reply))
    for line in reply.lines:
        out.extend(textwrap.wrap(line, width) or [""])
    if reply.code:
        out.append("")
        out.append(reply.code)
    for card in reply.cards:
        out.append("")
        out.extend(render_card(card, width))
    if reply.footer:
        out.append("")
        out.append(reply.footer)
    return "\n".join(out)


def chips_line(reply: Reply) -> str:
    assert reply.chips is not None
    parts = []
    for i, (_, chip) in enumerate(reply.chips, start=1):
        if chip.kind is ChipKind.LIKE:  # the liked paper by its title, as the seed shows it
            parts.append(f"[{i}] More like: {chip.label()} ×")
            continue
        parts.append(f"[{i}] {shown_kind(chip.kind)}: {chip.value} ×")
    return "Chips: " + "   ".join(parts)


def render_card(card: Card, width: int = WIDTH) -> list[str]:
    lines = [card.heading]
    wrap = textwrap.TextWrapper(width=width, initial_indent=INDENT, subsequent_indent=INDENT)
    lines.extend(wrap.wrap(card.title))
    url = safe_url(card.url, "text")
    if url is not None:
        lines.append(INDENT + url)
    links = [u for u in (safe_url(link, "text") for link in card.links) if u is not None]
    if links:
        lines.extend(wrap.wrap("also: " + "  ".join(links)))
    lines.extend(wrap.wrap(card.authors))
    lines.extend(wrap.wrap(card.abstract))
    if card.matched:
        lines.extend(wrap.wrap("matched: " + "; ".join(card.matched)))
    if card.reason:
        lines.extend(wrap.wrap(f"why: {card.reason}"))
    return lines
