"""Render a ``Reply`` as Slack Block Kit messages (plain dicts, no SDK import).

Block Kit's limits are enforced here, not hoped for: 50 blocks per message,
3000 characters per section text, 150 per header, 75 per button text, 2000 per
button value, 255 per action/block id. A long digest becomes several messages.
Every message carries a top-level ``text`` fallback for notifications and
screen readers.

Two shapes: ``render`` turns a whole reply into as few messages as fit (for
ephemeral replies and ``paper-radar preview``); ``render_outgoing`` renders
one delivery message (a reply's header, ONE card, or its footer), because the
Slack adapter posts each card as its own message, so each card has a thread
of its own for questions. ``render_thread`` renders an answer in such a thread.

Everything that reaches Slack is escaped (``&``, ``<``, ``>``) and
mention-proofed, plain_text included: Slack reads entities there too, and
paper titles, abstracts and model output are untrusted. Every link is built
by ``link``: its URL passes ``bot.core.safety.safe_url`` (http(s) only, ``<>|``
and whitespace percent-encoded) and its text cannot close it, so a record's
URL or title can neither ping (``<!channel>``) nor add a second link.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from bot.core import buttons
from bot.core.cards import Card, Reply, ReplyKind
from bot.core.chips import KIND_TITLES, Chip, ChipKind
from bot.core.outgoing import Outgoing
from bot.core.safety import clip, defuse_mentions, pack_lines, safe_url, slack_escape

MAX_BLOCKS = 50
SECTION_TEXT = 3000
HEADER_TEXT = 150
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
CONTEXT_ELEMENTS = 10
ACTION_ID = 255
FALLBACK_TEXT = 300
ACTIONS_PER_BLOCK = 25

#: action_ids of the buttons, as the Slack adapter matches them.
ACTION_SHUFFLE = "shuffle"
ACTION_CHIP_REMOVE = "chip_remove"  # chip_remove:<position>; value: see chip_target
ACTION_ASK = "ask"
ACTION_BRIEF = "brief"  # a card's Brief (that paper, in its thread); value: the card's paper key
ACTION_PICK = "pick"  # pick:<position>; value: the command line, e.g. "pick 2 openalex:A…"
#: A card's feedback buttons; value: the card's paper key (``bot.core.buttons``).
ACTION_MORE = "more"
ACTION_LESS = "less"
ACTION_SAVE = "save"
FEEDBACK = (
    (ACTION_MORE, "More like this"),
    (ACTION_LESS, "Less like this"),
    (ACTION_SAVE, "Save"),
)
#: Other versions of a paper linked on its card, and the characters of each link.
LINKS = 3
LINK_URL = 500


def esc(text: str) -> str:
    return slack_escape(defuse_mentions(text))


def esc_clip(text: str, limit: int) -> str:
    """Escape, then fit ``limit`` characters without cutting an ``&amp;`` in half:
    the longest clip of the raw text (at a word boundary, ``clip``) whose
    escaped form fits, found by bisection (escaping only ever lengthens)."""
    out = esc(text)
    if len(out) <= limit:
        return out
    best, lo, hi = "", 0, min(len(text), limit)
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = esc(clip(text, mid))
        if len(candidate) <= limit:
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    return best


def render(reply: Reply) -> list[dict[str, Any]]:
    """One or more ``chat.postMessage`` payloads (``blocks`` + ``text``)."""
    head = header_blocks(reply)
    card_blocks = [card_blocks_for(card) for card in reply.cards]
    tail = footer_blocks(reply.footer) if reply.footer else []

    messages: list[list[dict[str, Any]]] = [head]
    for blocks in card_blocks:
        if len(messages[-1]) + len(blocks) > MAX_BLOCKS:
            messages.append([])
        messages[-1].extend(blocks)
    if tail:
        if len(messages[-1]) + len(tail) > MAX_BLOCKS:
            messages.append([])
        messages[-1].extend(tail)
    fallback = fallback_text(reply.title)
    return [
        {"text": fallback if i == 0 else f"{fallback} (continued)", "blocks": blocks}
        for i, blocks in enumerate(messages)
    ]


def render_outgoing(out: Outgoing) -> dict[str, Any]:
    """One delivery message: a card (its section and buttons), a footer, or a
    reply's header (title, chips with their × buttons and Shuffle, lines)."""
    if out.card is not None:
        card = out.card
        return {
            "text": fallback_text(f"{card.tag} {card.title}"),
            "blocks": card_blocks_for(card),
        }
    reply = out.reply
    if reply.kind is ReplyKind.FOOTER:
        return {"text": fallback_text(reply.title), "blocks": footer_blocks(reply.title)}
    return {"text": fallback_text(reply.title), "blocks": header_blocks(reply)[:MAX_BLOCKS]}


def render_ephemeral(reply: Reply) -> list[dict[str, Any]]:
    """A private answer (errors, usage, help). An error's whole message is its
    title, often with a usage line: it goes in a section, never a header block,
    which would clip it at 150 characters and lose its line breaks."""
    if (
        reply.kind is not ReplyKind.ERROR
        and len(reply.title) <= HEADER_TEXT
        and "\n" not in reply.title
    ):
        return render(reply)
    text = esc_clip("\n".join((reply.title, *reply.lines)), SECTION_TEXT)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    blocks.extend(code_blocks(reply.code))
    if reply.footer:
        blocks.extend(footer_blocks(reply.footer))
    return [{"text": fallback_text(reply.title), "blocks": blocks}]


def render_thread(reply: Reply) -> list[dict[str, Any]]:
    """An answer posted in a card's thread: compact sections (no header block),
    split into several messages only past Block Kit's limits."""
    chunks: list[str] = []
    current = f"*{esc_clip(reply.title, HEADER_TEXT * 2)}*"
    for line in reply.lines:
        piece = esc_clip(line, SECTION_TEXT)
        if len(current) + 1 + len(piece) > SECTION_TEXT:
            chunks.append(current)
            current = piece
        else:
            current = f"{current}\n{piece}"
    chunks.append(current)
    sections = [{"type": "section", "text": {"type": "mrkdwn", "text": c}} for c in chunks]
    fallback = fallback_text(reply.title)
    return [
        {"text": fallback, "blocks": sections[i : i + MAX_BLOCKS]}
        for i in range(0, len(sections), MAX_BLOCKS)
    ]


def fallback_text(text: str) -> str:
    """The top-level ``text`` (notifications, screen readers): escaped, never empty."""
    return esc_clip(" ".join(text.split()), FALLBACK_TEXT) or "Paper Radar"


def header_blocks(reply: Reply) -> list[dict[str, Any]]:
    title = esc_clip(" ".join(reply.title.split()), HEADER_TEXT) or "Paper Radar"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title}}
    ]
    if reply.chips:
        blocks.extend(chip_blocks(reply))
    if reply.lines:
        body = esc_clip("\n".join(reply.lines), SECTION_TEXT)
        if body:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body}})
    blocks.extend(code_blocks(reply.code))
    if reply.choices:
        blocks.extend(choice_blocks(reply))
    return blocks


FENCE = "`" * 3


def code_blocks(code: str) -> list[dict[str, Any]]:
    """Verbatim text (BibTeX) in code sections, split between lines to fit a
    section; escaped like everything else, and no fence inside can close one."""
    lines = [esc(line) for line in code.replace(FENCE, "'" * 3).splitlines()]
    chunks = pack_lines(lines, SECTION_TEXT - 2 * len(FENCE) - 2)
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{FENCE}{chunk}{FENCE}"}}
        for chunk in chunks[: MAX_BLOCKS - 10]
    ]


def choice_blocks(reply: Reply) -> list[dict[str, Any]]:
    """One button per answer (``pick 2 openalex:A…``, ``pick name``); the Slack
    adapter runs a button's value as the command line a person could type."""
    buttons = [
        {
            "type": "button",
            "action_id": f"{ACTION_PICK}:{position}",
            "value": clip(choice.line, BUTTON_VALUE),
            "text": {"type": "plain_text", "text": esc_clip(choice.label, BUTTON_TEXT) or "?"},
        }
        for position, choice in enumerate(reply.choices, start=1)
    ]
    return [
        {"type": "actions", "elements": buttons[i : i + ACTIONS_PER_BLOCK]}
        for i in range(0, len(buttons), ACTIONS_PER_BLOCK)
    ]


def footer_blocks(footer: str) -> list[dict[str, Any]]:
    return [{"type": "context", "elements": [{"type": "mrkdwn", "text": esc_clip(footer, 3000)}]}]


def chip_target(chip: Chip) -> str:
    """What a chip's × button sends back (``bot.core.buttons.chip_target``)."""
    return clip(buttons.chip_target(chip), BUTTON_VALUE)


def chip_blocks(reply: Reply) -> list[dict[str, Any]]:
    assert reply.chips
    groups: dict[str, list[str]] = {}
    for _, chip in reply.chips:
        title = KIND_TITLES[chip.kind]
        groups.setdefault(title, []).append(
            chip.label() if chip.kind is ChipKind.LIKE else chip.value
        )
    summary = "   ".join(f"*{t}:* " + ", ".join(esc(v) for v in vals) for t, vals in groups.items())
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(summary, SECTION_TEXT)}}
    ]
    buttons: list[dict[str, Any]] = [
        {
            "type": "button",
            "action_id": f"{ACTION_CHIP_REMOVE}:{position}",
            "value": chip_target(chip),
            "text": {"type": "plain_text", "text": esc_clip(f"× {chip.label()}", BUTTON_TEXT)},
        }
        for position, (_, chip) in enumerate(reply.chips, start=1)
    ]
    buttons.append(
        {
            "type": "button",
            "action_id": ACTION_SHUFFLE,
            "value": "shuffle",
            "text": {"type": "plain_text", "text": "Shuffle"},
        }
    )
    for i in range(0, len(buttons), ACTIONS_PER_BLOCK):
        blocks.append({"type": "actions", "elements": buttons[i : i + ACTIONS_PER_BLOCK]})
    return blocks


def link(url: str | None, label: str) -> str:
    """``<url|label>``, or just ``label`` when ``url`` cannot be linked safely.

    ``label`` is already escaped (``esc``); its ``|`` becomes a look-alike so
    it cannot split the link. The URL is ``safe_url(…, "slack")`` with ``&``
    as Slack's entity, at most ``LINK_URL`` characters.
    """
    label = label.replace("|", "∣")
    target = safe_url(url, "slack")
    target = target.replace("&", "&amp;") if target is not None else None
    if target is None or len(target) > LINK_URL:
        return label
    return f"<{target}|{label or target}>"


def links_text(card: Card) -> str:
    """``\nAlso: <url|host>, <url|host>`` for a card's other versions, or ``""``;
    a URL that cannot be linked safely is left out."""
    shown = []
    for url in card.links[:LINKS]:
        target = safe_url(url, "slack")
        if target is None or len(target) > LINK_URL:
            continue
        host = (urlsplit(target).hostname or "link").removeprefix("www.")
        shown.append(link(url, esc(host)))
    return "\nAlso: " + ", ".join(shown) if shown else ""


def card_blocks_for(card: Card) -> list[dict[str, Any]]:
    # Title and authors are clipped too: a pathological record must not push
    # the section past Slack's 3000 characters and sink the whole message.
    title = link(card.url, esc_clip(card.title, 600))
    text = (
        f"*{card.tag}*  {esc_clip(card.source_label, 100)}  {card.date}\n"
        f"*{title}*\n{esc_clip(card.authors, 600)}\n"
    )
    if card.reason:  # why this card ranks here, in words (never a score)
        text += f"_{esc_clip(card.reason, 200)}_\n"
    also = links_text(card)
    text += esc_clip(card.abstract, SECTION_TEXT - len(text) - len(also)) + also
    return [
        {
            "type": "section",
            "block_id": clip(f"card:{card.number}:{card.key}", 255),
            "text": {"type": "mrkdwn", "text": text},
        },
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": ACTION_ASK,
                    "value": clip(card.key, BUTTON_VALUE),
                    "text": {"type": "plain_text", "text": "Ask about this paper"},
                },
                {
                    "type": "button",
                    "action_id": ACTION_BRIEF,
                    "value": clip(card.key, BUTTON_VALUE),
                    "text": {"type": "plain_text", "text": "Brief"},
                },
                *(
                    {
                        "type": "button",
                        "action_id": action,
                        "value": clip(card.key, BUTTON_VALUE),
                        "text": {"type": "plain_text", "text": label},
                    }
                    for action, label in FEEDBACK
                ),
            ],
        },
    ]
