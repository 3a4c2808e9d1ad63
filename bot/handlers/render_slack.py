"""Render a ``Reply`` as Slack Block Kit messages (plain dicts, no SDK import).

Block Kit's limits are enforced here, not hoped for: 50 blocks per message,
3000 characters per section text, 150 per header, 75 per button text, 2000 per
button value, 255 per action/block id. A long digest becomes several messages.
Every message carries a top-level ``text`` fallback for notifications and
screen readers.
"""

from __future__ import annotations

from typing import Any

from bot.core.cards import Card, Reply
from bot.core.chips import KIND_TITLES
from bot.core.safety import clip, defuse_mentions, slack_escape

MAX_BLOCKS = 50
SECTION_TEXT = 3000
HEADER_TEXT = 150
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
CONTEXT_ELEMENTS = 10


def esc(text: str) -> str:
    return slack_escape(defuse_mentions(text))


def esc_clip(text: str, limit: int) -> str:
    """Escape, then fit ``limit`` characters without cutting an ``&amp;`` in half:
    the raw text is shortened until its escaped form fits."""
    out = esc(text)
    n = len(text)
    while len(out) > limit and n > 0:
        n -= max(1, len(out) - limit)
        out = esc(clip(text, n))
    return out if len(out) <= limit else ""


def render(reply: Reply) -> list[dict[str, Any]]:
    """One or more ``chat.postMessage`` payloads (``blocks`` + ``text``)."""
    head: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(reply.title, HEADER_TEXT)}}
    ]
    if reply.chips:
        head.extend(chip_blocks(reply))
    if reply.lines:
        body = esc_clip("\n".join(reply.lines), SECTION_TEXT)
        head.append({"type": "section", "text": {"type": "mrkdwn", "text": body}})
    card_blocks = [card_blocks_for(card) for card in reply.cards]
    tail: list[dict[str, Any]] = []
    if reply.footer:
        tail.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": esc_clip(reply.footer, 3000)}],
            }
        )

    messages: list[list[dict[str, Any]]] = [head]
    for blocks in card_blocks:
        if len(messages[-1]) + len(blocks) > MAX_BLOCKS:
            messages.append([])
        messages[-1].extend(blocks)
    if tail:
        if len(messages[-1]) + len(tail) > MAX_BLOCKS:
            messages.append([])
        messages[-1].extend(tail)
    fallback = esc_clip(reply.title, 300)
    return [
        {"text": fallback if i == 0 else f"{fallback} (continued)", "blocks": blocks}
        for i, blocks in enumerate(messages)
    ]


def chip_blocks(reply: Reply) -> list[dict[str, Any]]:
    assert reply.chips
    groups: dict[str, list[str]] = {}
    for _, chip in reply.chips:
        title = KIND_TITLES[chip.kind]
        groups.setdefault(title, []).append(chip.value)
    summary = "   ".join(f"*{t}:* " + ", ".join(esc(v) for v in vals) for t, vals in groups.items())
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(summary, SECTION_TEXT)}}
    ]
    buttons: list[dict[str, Any]] = [
        {
            "type": "button",
            "action_id": f"chip_remove:{chip_id}",
            "value": str(chip_id),
            "text": {"type": "plain_text", "text": clip(f"× {chip.label()}", BUTTON_TEXT)},
        }
        for chip_id, chip in reply.chips
    ]
    buttons.append(
        {
            "type": "button",
            "action_id": "shuffle",
            "value": "shuffle",
            "text": {"type": "plain_text", "text": "Shuffle"},
        }
    )
    # An actions block holds at most 25 elements.
    for i in range(0, len(buttons), 25):
        blocks.append({"type": "actions", "elements": buttons[i : i + 25]})
    return blocks


def card_blocks_for(card: Card) -> list[dict[str, Any]]:
    # Title and authors are clipped too: a pathological record must not push
    # the section past Slack's 3000 characters and sink the whole message.
    title = esc_clip(card.title, 600).replace("|", "∣")
    text = (
        f"*{card.tag}*  {esc_clip(card.source_label, 100)}  {card.date}\n"
        f"*<{clip(card.url, 500)}|{title}>*\n{esc_clip(card.authors, 600)}\n"
    )
    text += esc_clip(card.abstract, SECTION_TEXT - len(text))
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
                    "action_id": "ask",
                    "value": clip(card.key, BUTTON_VALUE),
                    "text": {"type": "plain_text", "text": "Ask about this paper"},
                },
                {
                    "type": "button",
                    "action_id": "brief",
                    "value": clip(card.key, BUTTON_VALUE),
                    "text": {"type": "plain_text", "text": "Brief"},
                },
            ],
        },
    ]
