"""Block Kit for the Slack adapter: one delivery message at a time, ephemerals, threads.

``render_outgoing`` renders what the adapter posts (a header, ONE card, or a
footer); every message must pass slack_sdk's block models and Block Kit's
limits whatever the paper text, and no text may ping anyone.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.cards import Reply
from bot.core.channel import ChannelRef, ChannelState
from bot.core.chips import Chip, ChipKind, find_chip
from bot.core.outgoing import run_messages
from bot.handlers import render_slack
from tests.fakeslack import block_problem
from tests.test_render import CHIPS, HOSTILE, SLACK_TOKENS, hostile_card, real_cards


def valid(message: dict[str, Any]) -> None:
    assert isinstance(message["text"], str) and message["text"].strip()
    assert len(message["text"]) <= render_slack.FALLBACK_TEXT
    problem = block_problem(message["blocks"])
    assert problem is None, problem
    for block in message["blocks"]:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= render_slack.HEADER_TEXT
        for element in block.get("elements", ()):
            if element.get("type") == "button":
                assert len(element["text"]["text"]) <= render_slack.BUTTON_TEXT
                assert len(element["value"]) <= render_slack.BUTTON_VALUE
                assert len(element["action_id"]) <= render_slack.ACTION_ID


def no_pings(messages: list[dict[str, Any]]) -> None:
    blob = json.dumps(messages, ensure_ascii=False)
    for token in SLACK_TOKENS:
        assert token not in blob, token


def digest(n: int = 12, **kwargs: Any) -> Reply:
    return Reply(
        "Paper Radar digest, 2026-04-30: 12 new",
        ("a note",),
        cards=real_cards(n),
        chips=CHIPS,
        footer="+3 more matching papers: `/radar filter since:7d`",
        kind="digest",
        **kwargs,
    )


def test_every_delivery_message_of_a_real_digest_is_valid_block_kit() -> None:
    reply = digest()
    outs = run_messages(7, reply)
    messages = [render_slack.render_outgoing(out) for out in outs]
    for message in messages:
        valid(message)
    header, cards, footer = messages[0], messages[1:-1], messages[-1]
    assert header["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Paper Radar digest, 2026-04-30: 12 new"},
    }
    assert header["text"] == "Paper Radar digest, 2026-04-30: 12 new"
    for card, message in zip(reply.cards, cards, strict=True):
        section, actions = message["blocks"]
        assert section["block_id"] == f"card:{card.number}:{card.key}"
        assert [b["action_id"] for b in actions["elements"]] == [
            "ask",
            "brief",
            "more",
            "less",
            "save",
        ]
        assert [b["text"]["text"] for b in actions["elements"]] == [
            "Ask about this paper",
            "Brief",
            "More like this",
            "Less like this",
            "Save",
        ]
        assert {b["value"] for b in actions["elements"]} == {card.key}  # the card's paper
        assert message["text"].startswith(f"{card.tag} ")
    assert footer["blocks"][0]["type"] == "context"
    assert "+3 more" in footer["blocks"][0]["elements"][0]["text"]


def test_chip_buttons_send_what_find_chip_matches_exactly() -> None:
    chips = (
        *CHIPS,
        (5, Chip(ChipKind.KEYWORD, "distillation")),
        (6, Chip(ChipKind.AUTHOR, "Yehui Tang")),
        (7, Chip(ChipKind.SOURCE, "arxiv")),
    )
    state = ChannelState(1, ChannelRef("slack", "T1", "C1"), chips=chips)
    message = render_slack.render_outgoing(run_messages(1, Reply("Radar", chips=chips))[0])
    valid(message)
    buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    removes = [b for b in buttons if b["action_id"].startswith("chip_remove:")]
    assert len(removes) == len(chips)
    for (chip_id, chip), button in zip(chips, removes, strict=True):
        assert find_chip(state.chips, button["value"]) == (chip_id, chip), button["value"]
    assert [b["value"] for b in removes][:4] == [
        "author Jörg Frochte",
        'keyword "diffusion model" agents',
        "category cs.CL",
        "exclude survey",
    ]
    assert buttons[-1]["action_id"] == "shuffle"


def test_fifty_chips_fit_one_header_message() -> None:
    chips = tuple((i, Chip(ChipKind.KEYWORD, f"topic number {i} " + "x" * 150)) for i in range(50))
    message = render_slack.render_outgoing(run_messages(1, Reply("Radar", chips=chips))[0])
    valid(message)
    actions = [b for b in message["blocks"] if b["type"] == "actions"]
    assert [len(a["elements"]) for a in actions] == [25, 25, 1]


def test_hostile_and_huge_cards_stay_within_limits_and_ping_no_one() -> None:
    huge = replace(real_cards(1)[0], title="T&<" * 400, authors="A, " * 2000, abstract=HOSTILE * 80)
    reply = Reply("Digest <!channel> @here", (HOSTILE,), cards=(hostile_card(), huge), chips=CHIPS)
    messages = [render_slack.render_outgoing(out) for out in run_messages(1, reply)]
    for message in messages:
        valid(message)  # raises on any Block Kit violation
    no_pings(messages)
    assert messages
    assert "&lt;!channel&gt;" in messages[1]["blocks"][0]["text"]["text"]


def test_an_error_is_shown_whole_not_clipped_to_a_header() -> None:
    message = "No chip matches `x`. Chips: " + ", ".join(f"{i}. chip {i}" for i in range(60))
    error = Reply(message + "\nUsage: /radar remove <chip number or text>", kind="error")
    [rendered] = render_slack.render_ephemeral(error)
    valid(rendered)
    text = rendered["blocks"][0]["text"]["text"]
    assert rendered["blocks"][0]["type"] == "section"
    assert "59. chip 59" in text and text.endswith(
        "Usage: /radar remove &lt;chip number or text&gt;"
    )
    [echo] = render_slack.render_ephemeral(Reply(f"Unknown command `{HOSTILE[:60]}`", kind="error"))
    no_pings([echo])
    # Help keeps its header: a short title and its lines.
    [help_] = render_slack.render_ephemeral(Reply("Paper Radar commands", ("a", "b"), kind="help"))
    assert help_["blocks"][0]["type"] == "header"


def test_a_long_thread_answer_splits_into_valid_messages_in_order() -> None:
    lines = tuple(f"> {i:03d} " + "word " * 60 + HOSTILE for i in range(400))
    messages = render_slack.render_thread(Reply("About: <b>Q&A</b>", lines, kind="answer"))
    assert len(messages) >= 2
    for message in messages:
        valid(message)
    no_pings(messages)
    text = "\n".join(b["text"]["text"] for m in messages for b in m["blocks"])
    assert text.startswith("*About: &lt;b&gt;Q&amp;A&lt;/b&gt;*")
    numbers = [int(line.split()[1]) for line in text.splitlines()[1:]]
    assert numbers == list(range(400))


def test_long_titles_are_clipped_to_the_header_limit() -> None:
    message = render_slack.render_outgoing(run_messages(1, Reply("Filter (" + "a & b, " * 60))[0])
    valid(message)
    assert message["blocks"][0]["text"]["text"].endswith("…")


@settings(max_examples=60, deadline=None)
@given(
    title=st.text(min_size=1, max_size=400),
    abstract=st.text(max_size=4000),
    authors=st.text(max_size=700),
)
def test_any_paper_text_renders_valid_and_harmless(title: str, abstract: str, authors: str) -> None:
    card = replace(real_cards(1)[0], title=title + " <!here>", abstract=abstract, authors=authors)
    reply = Reply(title, (abstract[:500],), cards=(card,), chips=CHIPS, footer=authors or None)
    messages = [render_slack.render_outgoing(out) for out in run_messages(1, reply)]
    messages += render_slack.render_thread(Reply(title, (abstract,), kind="answer"))
    messages += render_slack.render_ephemeral(Reply(title + "\n" + abstract, kind="error"))
    assert messages
    for message in messages:
        valid(message)  # raises on any Block Kit violation
    no_pings(messages)  # raises on any <!here>, <!channel>, <@U…> or raw &<>
