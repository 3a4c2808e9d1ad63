"""A card's Brief briefs that paper in its thread (issue 12), on every platform.

Problem, method, main result, limits, and how the paper relates to what the
channel likes: the model's (through the real ``openai`` SDK against the
local fake server, ``tests/fakellm.py``) or, without one, a labelled
extractive brief. Slack through Bolt's real request pipeline (signed
``block_actions``, ``tests/test_slack.py``'s rig), Discord through the real
discord.py client (``tests/fakediscord.py``), the console through the same
command flow. The whole-radar briefing (`/radar brief [topic]`) stays as it
was; a card's button never posts it, nor re-posts cards.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.core import commands as c
from bot.core.actor import Actor
from bot.core.channel import ChannelRef
from bot.core.outgoing import Audience
from tests.fakediscord import CHANNEL, EPHEMERAL, GUILD, Bot, connected, custom_ids, labels
from tests.fakellm import FakeLLM, Smart, Text, llm_radar
from tests.flowkit import NOW, Radar, flat, radar
from tests.test_qa import full_text_server
from tests.test_slack import SLACK_TOKENS, C, buttons, card_key, slack_rig

#: "Turning the TIDE: Cross-Architecture Distillation for Diffusion LLMs", card
#: 01 of `/radar category cs.LG` on the capture, and the paper nearest to it.
TIDE = "arxiv:2604.26951"
TIDE_TITLE = "Turning the TIDE: Cross-Architecture Distillation for Diffusion Large"
EDGE_KD = "arxiv:2604.26857"
PARTS = ("Problem:", "Method:", "Main result:", "Limits:", "For this channel:")
LAB = ChannelRef("discord", GUILD, CHANNEL, "lab")
ADA = Actor("U1", "ada")

#: A model answer written to test the safety path: pings, a foreign link, a
#: citation of a passage it was not shown.
HOSTILE = "\n".join(
    [
        "PROBLEM",
        "- Distilling diffusion LLMs across architectures was unsolved. [P1] <!channel> @everyone",
        "METHOD",
        "- TIDE combines three components; see https://evil.example/x <@U123> [P1][P9]",
        "MAIN RESULT",
        "- A 0.6B student gains 1.53 points on average. [P1] @here",
        "LIMITS",
        "- Only eight benchmarks are reported. [P1]",
    ]
)


def in_order(text: str, parts: tuple[str, ...] = PARTS) -> bool:
    """Whether every part heading is in ``text``, in order."""
    at = [text.find(p) for p in parts]
    return all(i >= 0 for i in at) and at == sorted(at)


# -- the grammar ------------------------------------------------------------------------------


def test_a_card_number_or_an_arxiv_id_alone_briefs_that_paper_and_topics_stay_topics() -> None:
    assert c.parse("brief 2") == c.BriefPaper(card=2)
    assert c.parse("/radar brief #12") == c.BriefPaper(card=12)
    assert c.parse("brief 2604.26951v2") == c.BriefPaper(arxiv_id="2604.26951")
    assert c.parse("brief https://arxiv.org/abs/hep-th/9901001") == c.BriefPaper(
        arxiv_id="hep-th/9901001"
    )
    assert c.parse("brief") == c.Brief(None)
    assert c.parse("brief protein folding") == c.Brief("protein folding")
    assert c.parse("brief 2 stage detectors") == c.Brief("2 stage detectors")
    assert c.parse("brief 2026") == c.Brief("2026")  # a year is a topic, not card 2026
    assert c.parse("brief every week") == c.BriefCadence("week")
    assert not c.changes_radar(c.BriefPaper(card=2))


# -- the console: the same command flow, typed --------------------------------------------------


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[Radar]:
    with radar(tmp_path) as r:
        r.app.service.fulltext = None  # answers from the abstract: no arxiv.org
        yield r


def test_without_a_model_a_card_brief_is_extractive_labelled_and_has_all_five_parts(
    plain: Radar,
) -> None:
    plain.say("/radar category cs.LG")
    requests = len(plain.server.received)
    post = plain.app.service.respond(plain.ref, "brief 1")
    reply = post.reply
    assert post.audience is Audience.THREAD and post.thread  # in card 01's thread
    assert plain.app.store.paper_for_message(post.channel_id, post.thread).key == TIDE  # type: ignore[arg-type, union-attr]
    assert reply.title.startswith(f"Brief: {TIDE_TITLE}")
    assert reply.cards == ()  # no card re-posted
    assert reply.lines[0].startswith("Extractive brief (no language model is configured)")
    body = "\n".join(reply.lines)
    assert in_order(body)
    # Each part is the paper's own sentence, quoted with where it comes from.
    assert "“We present TIDE, the first framework" in body
    assert "outperforms the baseline by an average of 1.53 points" in body
    assert "none address cross-architecture knowledge transfer" in body
    assert "No likes yet in this channel" in body
    assert reply.footer is not None and "https://arxiv.org/abs/2604.26951" in reply.footer
    assert len(plain.server.received) == requests  # nothing fetched for a brief

    # The whole-radar briefing is still `/radar brief`, with its cards.
    radar_brief = plain.reply("/radar brief")
    assert radar_brief.lines[0].startswith("Extractive briefing on") and radar_brief.cards


def test_the_full_text_when_fetchable_adds_what_the_abstract_does_not_say(
    tmp_path: Path,
) -> None:
    """The full text (a real arXiv HTML page's shape, ``tests/test_qa.py``)
    gives the brief its limits, quoted from the paper's Limitations section."""
    with full_text_server() as pages, llm_radar(tmp_path, None, fulltext_url=pages.url) as r:
        r.say("/radar category cs.LG")
        reply = r.reply("/radar brief 1")
        body = "\n".join(reply.lines)
        assert "the abstract and full text" in reply.lines[0] and in_order(body)
        limits = body.split("Limits:", 1)[1].split("For this channel:", 1)[0]
        assert "transfers to multilingual dLLMs remains open" in limits
        assert "4 Limitations]" in limits
        assert reply.footer is not None
        assert reply.footer.startswith("Source: the abstract and the full text (arXiv HTML).")


def test_for_this_channel_names_the_nearest_liked_paper(plain: Radar) -> None:
    plain.say("/radar category cs.LG")
    plain.say(f"/radar like {TIDE.removeprefix('arxiv:')}")
    text = flat(plain.say(f"/radar brief {EDGE_KD.removeprefix('arxiv:')}"))
    assert in_order(text)
    channel = text.split("For this channel:", 1)[1]
    assert f"Closest to “{TIDE_TITLE}" in channel and "which this channel liked" in channel
    assert "distillation" in channel  # what the two papers share, in their words
    # The liked paper itself says so; a far paper says it is far.
    assert "This channel likes this paper" in flat(plain.say(f"/radar brief {TIDE}"))
    far = flat(plain.say("/radar brief 2604.26942"))  # convex networks: far from TIDE
    assert "Not close to anything this channel liked" in far


def test_a_paper_it_cannot_brief_gets_a_short_private_answer(plain: Radar) -> None:
    plain.say("/radar category cs.LG")
    missing = plain.reply("/radar brief 9")
    assert missing.ephemeral and missing.title.startswith("No card 09 has been posted")
    unknown = plain.reply("/radar brief 2601.00001")
    assert unknown.ephemeral and "arXiv has no paper 2601.00001" in unknown.title
    # A button's key of a paper never shown here briefs nothing.
    shown = plain.app.store.find_channel(plain.ref)
    assert shown is not None
    hidden = next(
        p.key
        for p in plain.app.service._pool()
        if plain.app.store.posted_card(shown.id, paper_key=p.key) is None
    )
    post = plain.app.service.answer(plain.ref, c.BriefPaper(key=hidden))
    assert post.audience is Audience.PRIVATE
    assert post.reply.title == "That card is not one I can brief here."


# -- with a model -----------------------------------------------------------------------------


def test_the_models_brief_is_used_cached_and_cannot_ping(tmp_path: Path) -> None:
    with FakeLLM(default=Text(HOSTILE)) as llm, llm_radar(tmp_path, llm) as r:
        r.app.service.handle(r.ref, "category cs.LG", ADA)
        r.app.service.handle(r.ref, f"like {EDGE_KD.removeprefix('arxiv:')}", ADA)
        reply = r.app.service.handle(r.ref, f"brief {TIDE}", ADA)
        assert llm.calls == 1
        body = "\n".join(reply.lines)
        assert reply.lines[0].startswith("Brief by fake-model from the abstract")
        assert in_order(body)
        assert "• TIDE combines three components" in body
        assert "• A 0.6B student gains 1.53 points on average. [P1]" in body
        for token in ("<!channel>", "<@U123>", "evil.example/x", "[P9]"):
            assert token not in body
        assert "@everyone" not in body.replace("@\u200beveryone", "")
        assert reply.footer is not None and "1 citation to passages it was not shown" in (
            reply.footer
        )
        # The model saw the paper's passages and the channel's liked paper, as data.
        prompt = json.dumps(llm.requests[0]["messages"])
        assert "<passages>" in prompt and "[P1] (Abstract)" in prompt
        assert "<liked>" in prompt and "Edge" in prompt.split("<liked>", 1)[1]
        assert "Closest to" in body.split("For this channel:", 1)[1]
        # The same brief again comes from the cache (content hash): no second call.
        again = r.app.service.handle(r.ref, f"brief {TIDE}", ADA)
        assert again.lines == reply.lines and llm.calls == 1


def test_a_model_reply_without_the_parts_falls_back_and_is_not_cached(tmp_path: Path) -> None:
    with FakeLLM(default=Smart()) as llm, llm_radar(tmp_path, llm) as r:
        r.say("/radar category cs.LG")
        for calls in (1, 2):
            reply = r.reply("/radar brief 1")
            assert llm.calls == calls  # refused answers are never served again
            assert reply.lines[0].startswith(
                "Extractive brief (the language model did not brief the paper)"
            )
            assert in_order("\n".join(reply.lines))


def test_the_model_budget_and_the_daily_caps_are_respected(tmp_path: Path) -> None:
    with (
        FakeLLM(default=Text(HOSTILE)) as llm,
        llm_radar(tmp_path, llm, daily_token_budget=50, user_daily_calls=2) as r,
    ):
        r.say("/radar category cs.LG")
        reply = r.reply("/radar brief 1")
        assert llm.calls == 0  # the reservation did not fit the budget: no call at all
        assert reply.lines[0].startswith("Extractive brief (this workspace has used its daily")
        assert in_order("\n".join(reply.lines))
        assert r.reply("/radar brief 2").kind == "brief"
        refused = r.reply("/radar brief 3")  # this person's third today
        assert refused.ephemeral and refused.title.startswith("You have asked for 2 briefings")
        assert llm.calls == 0


# -- Slack: the card's Brief button, through Bolt ------------------------------------------------


def test_slack_card_brief_answers_in_that_cards_thread_not_the_channel(tmp_path: Path) -> None:
    with slack_rig(tmp_path) as rig:
        rig.command("category cs.LG")
        card = rig.posted()[1]
        brief = next(b for b in buttons(card) if b["action_id"] == "brief")
        assert brief["value"] == card_key(card) == TIDE
        top_level = len(rig.posted())
        assert rig.slack.action("brief", brief["value"], message_ts=card.ts).status_code == 200
        rig.settle()
        [answer] = rig.fake.thread(C, card.ts)
        assert answer.thread_ts == card.ts
        text = json.dumps(answer.blocks, ensure_ascii=False)
        assert answer.text.startswith("Brief: Turning the TIDE")
        assert "Extractive brief (no language model is configured)" in text
        assert in_order(text)
        # No whole-radar briefing, no re-posted card, nothing private.
        assert len(rig.posted()) == top_level
        assert "Extractive briefing on" not in json.dumps(
            [m.blocks for m in rig.fake.all_posted()], ensure_ascii=False
        )
        assert rig.private() == []


def test_slack_a_forged_brief_value_runs_nothing(tmp_path: Path) -> None:
    with slack_rig(tmp_path) as rig:
        rig.command("category cs.LG")
        card = rig.posted()[1]
        before = len(rig.fake.all_posted())
        for forged in ("<!channel> clear", "", "brief", "arxiv: 1"):
            rig.slack.action("brief", forged, message_ts=card.ts)
        rig.settle()
        assert len(rig.fake.all_posted()) == before and rig.private() == []
        # A well-formed key of a paper this channel was never shown: a private no.
        rig.slack.action("brief", "arxiv:9999.99999", message_ts=card.ts)
        rig.settle()
        assert len(rig.fake.all_posted()) == before
        assert "not one I can brief" in json.dumps(rig.private())


def test_slack_model_brief_in_the_thread_cannot_ping(tmp_path: Path) -> None:
    with FakeLLM(default=Text(HOSTILE)) as llm, slack_rig(tmp_path, llm=llm) as rig:
        rig.command("category cs.LG")
        card = rig.posted()[1]
        rig.slack.action("brief", TIDE, message_ts=card.ts)
        rig.settle()
        [answer] = rig.fake.thread(C, card.ts)
        text = json.dumps(answer.blocks, ensure_ascii=False)
        assert "Brief by fake-model" in text and "TIDE combines three components" in text
        assert in_order(text)
        assert not any(token in text for token in (*SLACK_TOKENS, "evil.example"))
        assert llm.calls == 1


# -- Discord: the card's Brief button, through discord.py ----------------------------------------


async def _digest(bot: Bot, r: Radar) -> list[dict[str, Any]]:
    await bot.command("cap", {"n": 2})
    await bot.command("category", {"name": "cs.LG"})
    r.clock.set(NOW + timedelta(minutes=1))
    before = len(bot.fake.channel_messages())
    await bot.command("digest")
    return [m for m in bot.fake.channel_messages()[before:] if m["embeds"]]


def test_discord_card_brief_opens_the_cards_thread_and_briefs_there(plain: Radar) -> None:
    async def main() -> None:
        async with connected(plain.app) as bot:
            _, card, second, *_ = await _digest(bot, plain)
            key = custom_ids(card)[0].split(":", 3)[3]
            assert custom_ids(card)[1] == f"radar:brief:1:{key}"
            assert labels(card)[:2] == ["Ask about this paper", "Brief"]
            top_level = len(bot.fake.channel_messages())
            rec = await bot.click(card, f"radar:brief:1:{key}")
            thread = card["id"]  # a thread opened on a message has its id
            assert thread in bot.fake.threads
            said = bot.fake.channel_messages(thread)
            intro, brief = said[0], said[-1]
            assert "every message here is a question" in intro["content"]
            assert brief["content"].startswith("**Brief: ")
            assert in_order(brief["content"])
            assert rec.messages[-1]["content"] == f"Briefed in <#{thread}>."
            assert rec.messages[-1]["flags"] & EPHEMERAL
            assert len(bot.fake.channel_messages()) == top_level  # nothing in the channel
            # Pressed again: the same thread, one more brief, no second intro.
            await bot.click(card, f"radar:brief:1:{key}")
            assert len(bot.fake.channel_messages(thread)) == 3
            # A message whose Brief carries a forged key (discord.py ignores ids
            # not on the message): nothing runs, no thread is opened.
            forged_id = "radar:brief:2:not-a-key"
            row = {"type": 1, "components": [{"type": 2, "style": 2, "custom_id": forged_id}]}
            forged = dict(second, components=[row])
            threads = dict(bot.fake.threads)
            rec = await bot.click(forged, forged_id)
            assert bot.fake.threads == threads and not rec.posted
            assert len(bot.fake.channel_messages()) == top_level
            # The header's Brief is still the whole radar's briefing.
            header = next(m for m in bot.fake.channel_messages() if "radar:brief" in custom_ids(m))
            rec = await bot.click(header, "radar:brief")
            assert any(m["embeds"] for m in rec.posted)

    asyncio.run(main())
