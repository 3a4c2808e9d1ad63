"""Cards and the three renderers: terminal text, Slack Block Kit, Discord embeds.

Cards are made from the real capture (20 arXiv papers of 2026-04-29, LaTeX
and non-ASCII names included), parsed by the ``arxiv`` package and converted
by ``bot.sources.arxiv.paper_from_result``, exactly as the bot does. Hostile
cards (huge abstracts, mention tokens) are built on top of real ones.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import replace
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from arxiv import _feed
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from bot.core.cards import Card, Choice, Reply, make_card, shorten_authors, trim_abstract
from bot.core.chips import Chip, ChipKind
from bot.core.paper import Paper
from bot.handlers import render_discord, render_slack, render_text
from bot.sources.arxiv import paper_from_result
from tests.flowkit import CAPTURE, NOW, radar

# -- real material ---------------------------------------------------------------------


@cache
def real_papers() -> tuple[Paper, ...]:
    feed = _feed.parse(CAPTURE.read_bytes())
    papers = tuple(paper_from_result(r) for r in feed.results)
    assert len(papers) == 20
    return papers


def real_cards(n: int, abstract_chars: int = 500) -> tuple[Card, ...]:
    papers = real_papers()
    return tuple(
        make_card(i + 1, papers[i % len(papers)], abstract_chars, ("category cs.LG",))
        for i in range(n)
    )


def paper(key: str) -> Paper:
    return next(p for p in real_papers() if p.key == key)


CHIPS = (
    (1, Chip(ChipKind.AUTHOR, "Jörg Frochte")),
    (2, Chip(ChipKind.KEYWORD, '"diffusion model" agents')),
    (3, Chip(ChipKind.CATEGORY, "cs.CL")),
    (4, Chip(ChipKind.EXCLUDE, "survey")),
)

HOSTILE = (
    "We study <!channel> alerts, <!here> and <!everyone>, ping <@U123> and "
    "<@U123|bob>, <#C999>, @everyone and @here and @channel; Discord <@123>, "
    "<@!123>, <@&456>, <#789>; and a link <https://evil.example|click me>. "
    "Q&A: x < y > z & done."
)
SLACK_TOKENS = (
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U123>",
    "<@U123|bob>",
    "<#C999>",
    "@everyone",
    "@here",
    "@channel",
    "<https://evil",
)
DISCORD_TOKENS = ("@everyone", "@here", "<@123>", "<@!123>", "<@&456>", "<#789>")


def hostile_card(number: int = 1, abstract: str = HOSTILE) -> Card:
    base = real_cards(1)[0]
    return replace(
        base,
        number=number,
        title=f"<!channel> @everyone A & B <@U123> <@&456> {base.title}",
        authors="@here <@123>, Jörg Frochte",
        abstract=abstract,
    )


def walk_strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in walk_strings(v)]
    if isinstance(obj, list | tuple):
        return [s for v in obj for s in walk_strings(v)]
    return []


def dump(messages: list[dict[str, Any]]) -> str:
    return json.dumps(messages, ensure_ascii=False)


# -- trim_abstract ---------------------------------------------------------------------


@pytest.mark.parametrize("limit", [60, 120, 200, 333, 500, 1000])
def test_trim_abstract_on_every_real_abstract(limit: int) -> None:
    for p in real_papers():
        out = trim_abstract(p.abstract, limit)
        assert len(out) <= limit, (p.key, limit, out)
        assert out, p.key
        text = " ".join(p.abstract.split())
        if len(text) <= limit:
            assert out == text
            continue
        body = out.removesuffix("…")
        assert text.startswith(body), (p.key, out)
        # Never mid-word: the cut falls just before a space (or at a sentence end).
        assert text[len(body)] == " " or text[len(body) :].startswith((" ", ",", ";", ":")), (
            p.key,
            limit,
            out[-40:],
        )
        # A cut at a sentence end has no ellipsis; any other cut has one.
        assert out.endswith(("…", ".", "!", "?")), out[-20:]


def test_trim_abstract_prefers_a_sentence_end_in_the_last_third() -> None:
    text = (
        "Diffusion large language models offer parallel decoding. "
        "We distil them across architectures with a new objective. "
        "Experiments on eight benchmarks show consistent gains over baselines."
    )
    first_two = text.split(". ")[0] + ". " + text.split(". ")[1] + "."
    out = trim_abstract(text, len(first_two) + 20)
    assert out == first_two
    assert not out.endswith("…")


def test_trim_abstract_falls_back_to_a_word_boundary_with_an_ellipsis() -> None:
    text = "Alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu."
    out = trim_abstract(text, 30)
    assert out == "Alpha beta gamma delta…"
    assert len(out) <= 30


def test_trim_abstract_keeps_a_sentence_that_ends_exactly_at_the_limit() -> None:
    text = "We propose a method. It works well on many tasks. Code is released."
    two = "We propose a method. It works well on many tasks."
    assert trim_abstract(text, len(two)) == two


def test_trim_abstract_folds_whitespace_and_keeps_short_text() -> None:
    assert trim_abstract("  a\n\tshort   abstract \n", 100) == "a short abstract"


def test_trim_abstract_latex_is_cut_between_tokens_not_inside_them() -> None:
    text = (
        r"We remove the $\ln\ln T$ term from the Squint bound, showing that "
        r"$\textit{with emergent creative capabilities}$ the regret is $O(\sqrt{T \ln N})$ "
        r"for all $\epsilon > 0$ and every $\mathcal{F}$-measurable loss sequence."
    )
    for limit in range(20, len(text), 7):
        out = trim_abstract(text, limit)
        assert len(out) <= limit
        body = out.removesuffix("…")
        assert text.startswith(body)
        # Every token of the output is a whole token of the input (a trailing
        # comma or colon may go before the ellipsis).
        words = body.split()
        source = text.split()[: len(words)]
        assert words[:-1] == source[:-1]
        assert words[-1] == source[-1] or words[-1] == source[-1].rstrip(",;:-")


def test_trim_abstract_unicode_counts_characters_and_keeps_combining_marks() -> None:
    decomposed = unicodedata.normalize("NFD", "Jörg Frochte und Gülşen Çelik prüfen Modelle ")
    text = decomposed * 20
    for limit in (25, 50, 101, 240):
        out = trim_abstract(text, limit)
        assert len(out) <= limit
        body = out.removesuffix("…")
        # The character after the cut is a space, never an orphaned combining mark.
        nxt = " ".join(text.split())[len(body)]
        assert nxt == " " and unicodedata.category(nxt) != "Mn"
    cjk = "我们提出了一种新的蒸馏方法" * 40  # no spaces at all
    out = trim_abstract(cjk, 100)
    assert len(out) <= 100 and out.endswith("…") and cjk.startswith(out[:-1])


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("ab .,A!?é$\\{}(")), max_size=400),
    st.integers(min_value=1, max_value=300),
)
def test_trim_abstract_never_exceeds_the_limit(text: str, limit: int) -> None:
    out = trim_abstract(text, limit)
    assert len(out) <= limit
    assert out.removesuffix("…") in " ".join(text.split())


# -- shorten_authors ---------------------------------------------------------------------


def test_shorten_authors_up_to_four_in_full() -> None:
    assert shorten_authors(("Janis Mohr", "Jörg Frochte")) == "Janis Mohr, Jörg Frochte"
    four = ("Gongbo Zhang", "Wen Wang", "Ye Tian", "Li Yuan")
    assert shorten_authors(four) == "Gongbo Zhang, Wen Wang, Ye Tian, Li Yuan"
    assert shorten_authors(("Francesco Orabona",)) == "Francesco Orabona"


def test_shorten_authors_more_than_four_keeps_first_three_and_last() -> None:
    thirteen = paper("arxiv:2604.26904").authors
    assert len(thirteen) == 13
    out = shorten_authors(thirteen)
    assert out == (f"{thirteen[0]}, {thirteen[1]}, {thirteen[2]}, … {thirteen[-1]} (13 authors)")
    five = ("A One", "B Two", "C Three", "D Four", "E Five")
    assert shorten_authors(five) == "A One, B Two, C Three, … E Five (5 authors)"


def test_shorten_authors_folds_whitespace_and_handles_none() -> None:
    assert shorten_authors(("  Shay  B.\nCohen ", "", " ")) == "Shay B. Cohen"
    assert shorten_authors(()) == "Unknown authors"


def test_make_card_from_a_real_paper() -> None:
    card = make_card(3, paper("arxiv:2604.26888"), 300, ("author Jorg Frochte",))
    assert card.heading == "03.  arXiv (CS.LG)  2026-04-29"
    assert card.title == "Multiple Additive Neural Networks for Structured and Unstructured Data"
    assert card.url == "https://arxiv.org/abs/2604.26888"
    assert card.authors == "Janis Mohr, Jörg Frochte"
    assert len(card.abstract) <= 300
    assert card.key == "arxiv:2604.26888"


# -- console text ------------------------------------------------------------------------


def test_text_renders_heading_title_url_authors_and_chips() -> None:
    cards = real_cards(3)
    out = render_text.render(
        Reply("Paper Radar digest", ("one line",), cards=cards, chips=CHIPS, footer="+4 more")
    )
    lines = out.splitlines()
    assert lines[0] == "Paper Radar digest"
    assert "[1] author: Jörg Frochte ×" in lines[1]
    assert "[4] not: survey ×" in lines[1]
    folded = " ".join(out.split())
    for card in cards:
        assert card.heading in lines
        assert card.title in folded
        assert f"     {card.url}" in lines
        assert card.authors in folded
    assert lines[-1] == "+4 more"
    assert out.index(cards[0].heading) < out.index(cards[1].heading) < out.index(cards[2].heading)


def test_text_marks_errors() -> None:
    assert render_text.render(Reply("No chip matches `x`.", kind="error")).startswith("! ")


# -- Slack ---------------------------------------------------------------------------------


def validate_slack(messages: list[dict[str, Any]]) -> None:
    for message in messages:
        assert isinstance(message.get("text"), str) and message["text"].strip()
        assert 1 <= len(message["blocks"]) <= render_slack.MAX_BLOCKS
        block_ids = [b["block_id"] for b in message["blocks"] if "block_id" in b]
        assert len(block_ids) == len(set(block_ids)), "block_id must be unique per message"
        for raw in message["blocks"]:
            block = Block.parse(raw)
            assert block is not None, raw
            block.validate_json()
            if raw["type"] == "section":
                assert len(raw["text"]["text"]) <= render_slack.SECTION_TEXT


def slack_card_ids(messages: list[dict[str, Any]]) -> list[str]:
    return [
        b["block_id"]
        for m in messages
        for b in m["blocks"]
        if b.get("block_id", "").startswith("card:")
    ]


@pytest.mark.parametrize(
    "reply",
    [
        Reply(
            "Paper Radar digest, 2026-04-30: 5 new",
            ("a note",),
            cards=real_cards(5),
            chips=CHIPS,
            footer="+3 more",
            kind="digest",
        ),
        Reply("Added author chip Jörg Frochte.", chips=CHIPS[:1], kind="radar"),
        Reply("No chip matches `x`.", ephemeral=True, kind="error"),
        Reply("Nothing new", ("No new papers on this radar in the last 7 days.",), chips=CHIPS),
        Reply("Paper Radar commands", tuple(f"line {i}" for i in range(14)), kind="help"),
    ],
    ids=["digest", "chip", "error", "empty", "help"],
)
def test_slack_messages_have_fallback_and_valid_blocks(reply: Reply) -> None:
    messages = render_slack.render(reply)
    assert messages
    validate_slack(messages)
    assert messages[0]["blocks"][0]["type"] == "header"


def test_slack_card_block_reads_like_the_seed_page() -> None:
    card = make_card(1, paper("arxiv:2604.26888"), 500)
    [message] = render_slack.render(Reply("d", cards=(card,)))
    section = next(b for b in message["blocks"] if b.get("block_id", "").startswith("card:"))
    text = section["text"]["text"]
    assert text.startswith("*01.*  arXiv (CS.LG)  2026-04-29\n")
    assert "*<https://arxiv.org/abs/2604.26888|Multiple Additive Neural Networks" in text
    assert "Janis Mohr, Jörg Frochte" in text


def test_slack_forty_cards_split_under_fifty_blocks_in_order() -> None:
    cards = real_cards(40)
    messages = render_slack.render(
        Reply("Paper Radar digest", ("note",), cards=cards, chips=CHIPS, footer="+9 more")
    )
    assert len(messages) >= 2
    validate_slack(messages)
    assert slack_card_ids(messages) == [f"card:{c.number}:{c.key}" for c in cards]
    assert messages[0]["text"] != messages[1]["text"]  # continuation is labelled
    # The footer comes last, once.
    last = messages[-1]["blocks"][-1]
    assert last["type"] == "context" and "+9 more" in last["elements"][0]["text"]
    assert sum("+9 more" in dump([m]) for m in messages) == 1


def test_slack_many_chips_stay_within_limits() -> None:
    chips = tuple((i, Chip(ChipKind.KEYWORD, f"topic number {i}")) for i in range(1, 51))
    messages = render_slack.render(Reply("Radar", chips=chips, cards=real_cards(30)))
    validate_slack(messages)
    assert len(slack_card_ids(messages)) == 30


def test_slack_section_text_is_clipped_even_for_a_20k_abstract() -> None:
    card = replace(real_cards(1)[0], abstract="x & y < z " * 2000)  # 20,000 characters
    assert len(card.abstract) == 20_000
    messages = render_slack.render(Reply("d", cards=(card,)))
    validate_slack(messages)


def test_slack_section_text_is_clipped_even_for_a_huge_title_and_author_line() -> None:
    card = replace(real_cards(1)[0], title="Long title " * 500, authors="A. Author, " * 400)
    messages = render_slack.render(Reply("d", cards=(card,)))
    validate_slack(messages)  # every section within 3,000 characters, every block valid
    assert "Long title" in dump(messages)


def test_slack_escapes_ampersand_and_angle_brackets() -> None:
    card = replace(real_cards(1)[0], title="Q&A for x<y", abstract="A<B & C>D")
    [message] = render_slack.render(Reply("d", ("R&D <3",), cards=(card,), footer="a > b"))
    text = dump([message])
    assert "A&lt;B &amp; C&gt;D" in text
    assert "Q&amp;A for x&lt;y" in text
    assert "R&amp;D &lt;3" in text
    assert "a &gt; b" in text


def test_slack_mention_tokens_in_cards_never_survive() -> None:
    card = hostile_card()
    messages = render_slack.render(
        Reply("Digest", (HOSTILE,), cards=(card,), footer=HOSTILE, chips=CHIPS)
    )
    validate_slack(messages)
    blob = dump(messages)
    for token in SLACK_TOKENS:
        assert token not in blob, token
    # The one link that is allowed is the card's own.
    assert re.findall(r"<(https?://[^|>]+)\|", blob) == [card.url]


def test_slack_mention_tokens_in_a_20k_hostile_abstract_never_survive() -> None:
    card = hostile_card(abstract=HOSTILE * 60)
    messages = render_slack.render(Reply("Digest", cards=(card,)))
    validate_slack(messages)
    for token in SLACK_TOKENS:
        assert token not in dump(messages)


def test_slack_fallback_text_is_escaped() -> None:
    messages = render_slack.render(Reply("Brief: Q&A <!channel> <@U123> @everyone"))
    for message in messages:
        for token in ("<!channel>", "<@U123>", "@everyone", "Q&A"):
            assert token not in message["text"], token


# -- Discord ---------------------------------------------------------------------------------


def validate_discord(messages: list[dict[str, Any]]) -> None:
    for message in messages:
        embeds = message["embeds"]
        assert len(embeds) <= render_discord.MAX_EMBEDS
        assert len(message["content"]) <= render_discord.CONTENT
        assert message["content"] or embeds
        total = 0
        for e in embeds:
            assert len(e["title"]) <= render_discord.TITLE
            assert len(e["description"]) <= render_discord.DESCRIPTION
            assert len(e["author"]["name"]) <= render_discord.AUTHOR
            assert e["url"].startswith("https://")
            total += len(e["title"]) + len(e["description"]) + len(e["author"]["name"])
            total += len(e.get("footer", {}).get("text", ""))
        assert total <= render_discord.MAX_TOTAL


def discord_titles(messages: list[dict[str, Any]]) -> list[str]:
    return [e["title"] for m in messages for e in m["embeds"]]


def test_discord_twenty_five_real_cards_split_in_order() -> None:
    cards = real_cards(25)
    messages = render_discord.render(
        Reply("Paper Radar digest", ("note",), cards=cards, chips=CHIPS, footer="+2 more")
    )
    validate_discord(messages)
    assert len(messages) >= 3
    assert discord_titles(messages) == [c.title for c in cards]
    assert [e["author"]["name"] for m in messages for e in m["embeds"]] == [
        c.heading for c in cards
    ]
    assert messages[0]["content"].startswith("**Paper Radar digest**")
    assert "Chips: 1. Jörg Frochte" in messages[0]["content"]
    assert messages[-1]["content"].endswith("+2 more")


def test_discord_huge_cards_respect_every_limit() -> None:
    big = replace(real_cards(1)[0], title="T" * 1000, authors="A" * 3000, abstract="word " * 4000)
    cards = tuple(replace(big, number=i) for i in range(1, 26))
    messages = render_discord.render(Reply("Digest " + "x" * 5000, ("y" * 5000,), cards=cards))
    validate_discord(messages)
    assert len(discord_titles(messages)) == 25


def test_discord_mentions_are_defused() -> None:
    card = hostile_card()
    messages = render_discord.render(
        Reply("Digest @everyone", (HOSTILE,), cards=(card,), footer="@here <@123>")
    )
    validate_discord(messages)
    for text in walk_strings(messages):
        for token in DISCORD_TOKENS:
            assert token not in text, (token, text[:80])
    # Defused, not deleted: the words are still there for a reader.
    assert "everyone" in messages[0]["content"]
    assert "456" in messages[0]["embeds"][0]["title"]


# -- the real flow, through every renderer -------------------------------------------------------


def test_a_real_digest_renders_validly_on_every_platform(tmp_path: Path) -> None:
    with radar(tmp_path) as r:
        r.say("/radar category cs.LG")
        r.say("/radar keyword -survey")
        r.say("/radar cap 50")
        r.clock.set(NOW + timedelta(minutes=1))
        reply = r.reply("/radar digest")
    assert reply.kind == "digest" and len(reply.cards) == 12  # 17 minus 5 shown by the chip
    slack = render_slack.render(reply)
    validate_slack(slack)
    assert slack_card_ids(slack) == [f"card:{c.number}:{c.key}" for c in reply.cards]
    discord = render_discord.render(reply)
    validate_discord(discord)
    assert discord_titles(discord) == [c.title for c in reply.cards]
    text = render_text.render(reply)
    assert [line for line in text.splitlines() if line.startswith(tuple("0123456789"))] == [
        c.heading for c in reply.cards
    ]


# -- venues, other versions, questions (OpenAlex) ------------------------------------


def test_source_label_names_the_venue() -> None:
    arxiv = paper("arxiv:2604.26888")
    assert make_card(1, arxiv, 300).source_label == "arXiv (CS.LG)"
    journal = replace(arxiv, venue="Nature Machine Intelligence", source="openalex")
    assert make_card(1, journal, 300).source_label == "Nature Machine Intelligence"
    preprint = replace(arxiv, key="openalex:W1", source="openalex", venue="bioRxiv (Neuroscience)")
    assert make_card(1, preprint, 300).source_label == "bioRxiv (Neuroscience)"
    # arXiv's own record keeps arXiv's category, even when OpenAlex named its subfield.
    renamed = replace(arxiv, venue="arXiv (Materials Chemistry)")
    assert make_card(1, renamed, 300).source_label == "arXiv (CS.LG)"
    bare = replace(arxiv, source="openalex", venue=None, primary_category="Geology")
    assert make_card(1, bare, 300).source_label == "OpenAlex (Geology)"


def merged_card(links: tuple[str, ...]) -> Card:
    base = replace(
        paper("arxiv:2604.26888"),
        venue="Nature Machine Intelligence",
        url="https://doi.org/10.1038/s42256-024-00832-8",
        links=links,
    )
    return make_card(1, base, 500)


def test_cards_link_the_other_versions_on_every_platform() -> None:
    card = merged_card(("https://arxiv.org/abs/2604.26888", "https://www.biorxiv.org/x"))
    assert card.links == ("https://arxiv.org/abs/2604.26888", "https://www.biorxiv.org/x")
    text = render_text.render(Reply("r", cards=(card,)))
    assert "also: https://arxiv.org/abs/2604.26888  https://www.biorxiv.org/x" in text
    slack = render_slack.render(Reply("r", cards=(card,)))
    validate_slack(slack)
    section = slack[0]["blocks"][1]["text"]["text"]
    assert section.endswith(
        "\nAlso: <https://arxiv.org/abs/2604.26888|arxiv.org>, <https://www.biorxiv.org/x|biorxiv.org>"
    )
    discord = render_discord.render(Reply("r", cards=(card,)))
    validate_discord(discord)
    description = discord[0]["embeds"][0]["description"]
    assert "Also: [arxiv.org](https://arxiv.org/abs/2604.26888) · [biorxiv.org](" in description


def test_hostile_or_huge_links_stay_within_limits() -> None:
    links = (
        "https://evil.example/a|b>c",
        "https://evil.example/(x)",
        "https://" + "l" * 3000 + ".example/",
        "javascript:alert(1)",
        "https://ok.example/1",
        "https://ok.example/2",
        "https://ok.example/3",
    )
    card = replace(merged_card(links), abstract="word " * 5000, authors="A, " * 2000)
    assert len(card.links) == 3 and "javascript:alert(1)" not in card.links
    slack = render_slack.render(Reply("r", cards=(card,)))
    validate_slack(slack)
    blob = json.dumps(slack)
    assert "a|b>c" not in blob and "lll" not in blob  # would break out of the <url|text> link
    assert "<https://evil.example/(x)|evil.example>" in blob
    discord = render_discord.render(Reply("r", cards=(card,) * 10))
    validate_discord(discord)
    # Both would break a masked [text](url) link raw: they are percent-encoded (issue 10).
    description = discord[0]["embeds"][0]["description"]
    assert "a|b>c" not in description and "(x)" not in description
    assert "[evil.example](https://evil.example/%28x%29)" in description


def test_questions_become_buttons_within_limits() -> None:
    people = [
        Choice(f"{i}. Somebody Mearman — " + "Institute " * 20, f"pick {i} openalex:A{i}")
        for i in range(1, 10)
    ]
    choices = (*people, Choice("Name only", "pick name"))
    reply = Reply("Which Mearman?", ("1. …",), kind="choice", choices=choices)
    slack = render_slack.render(reply)
    validate_slack(slack)
    picks = [e for b in slack[0]["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [e["value"] for e in picks] == [c.line for c in choices]
    assert all(len(e["text"]["text"]) <= render_slack.BUTTON_TEXT for e in picks)
    assert [e["action_id"] for e in picks] == [f"pick:{i}" for i in range(1, 11)]
    (message,) = render_discord.plan(reply)
    assert message.choices == choices
