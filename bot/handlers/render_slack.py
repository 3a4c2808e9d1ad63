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
from bot.core.chips import ChipKind
from bot.core.safety import clip, defuse_mentions, slack_escape

MAX_BLOCKS = 50
SECTION_TEXT = 3000
HEADER_TEXT = 150
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
CONTEXT_ELEMENTS = 10


def esc(text: str) -> str:
    return slack_escape(defuse_mentions(text))


def render(reply: Reply) -> list[dict[str, Any]]:
    """One or more ``chat.postMessage`` payloads (``blocks`` + ``text``)."""
    head: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(reply.title, HEADER_TEXT)}}
    ]
    if reply.chips:
        head.extend(chip_blocks(reply))
    if reply.lines:
        body = "\n".join(esc(line) for line in reply.lines)
        head.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": clip(body, SECTION_TEXT)}}
        )
    card_blocks = [card_blocks_for(card) for card in reply.cards]
    tail: list[dict[str, Any]] = []
    if reply.footer:
        tail.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": clip(esc(reply.footer), 3000)}],
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
    fallback = clip(reply.title, 300)
    return [
        {"text": fallback if i == 0 else f"{fallback} (continued)", "blocks": blocks}
        for i, blocks in enumerate(messages)
    ]


def chip_blocks(reply: Reply) -> list[dict[str, Any]]:
    assert reply.chips
    groups: dict[str, list[str]] = {}
    for _, chip in reply.chips:
        title = "Excluding" if chip.kind is ChipKind.EXCLUDE else chip.kind.value.title() + "s"
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
    title = esc(card.title).replace("|", "∣")
    text = (
        f"*{card.tag}*  {esc(card.source_label)}  {card.date}\n"
        f"*<{card.url}|{title}>*\n{esc(card.authors)}\n"
    )
    text += clip(esc(card.abstract), SECTION_TEXT - len(text))
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
