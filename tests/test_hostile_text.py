"""Hostile text and links from records and models (issue 10, "Security: text and
links that come from records"), and the display of LaTeX and clipped text.

Records are built the way the bot builds them: real OpenAlex work objects
(``tests/fixtures/openalex``) with one field replaced by a crafted value and
converted by ``bot.sources.openalex.paper_from_work``; real arXiv entries
(``tests/fixtures/arxiv``) through ``bot.sources.arxiv.paper_from_result``; the
real app with a local OpenAI-compatible model (``tests/fakellm.py``) for
briefings and answers. What reaches a platform is read back with that
platform's own link syntax: Slack's ``<url|text>`` and Discord's ``[text](url)``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from copy import deepcopy
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from arxiv import _feed
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.core.cards import Card, Reply, make_card
from bot.core.paper import Paper, own_urls
from bot.core.safety import (
    LINK_SPECIALS,
    char_kind,
    clip,
    defuse_links,
    safe_url,
    strip_controls,
)
from bot.core.text import render_latex
from bot.digest.brief.reply import extractive_reply
from bot.digest.brief.selection import BriefSet
from bot.digest.qa.reply import extractive_answer
from bot.handlers import render_discord, render_slack, render_text
from bot.llm import clean_untrusted
from bot.sources.arxiv import paper_from_result
from bot.sources.openalex import paper_from_work
from bot.store.repo import Store
from tests.fakellm import FakeLLM, Text, llm_radar
from tests.flowkit import CAPTURE, NOW, Radar

OPENALEX = Path(__file__).parent / "fixtures" / "openalex"
WORK = OPENALEX / "openalex_work_W2741809807.json"  # a real PeerJ article
LATEX_LINES = (
    Path(__file__).parent
    / "fixtures"
    / "arxiv_daily"
    / "arxiv_cs_daily_2026-06-02_latex_lines.jsonl"
)
#: A real SICI DOI (Wiley, 1996): the ``<`` and ``>`` are part of it.
SICI = "10.1002/(SICI)1097-4636(199604)30:4<497::AID-JBM9>3.0.CO;2-K"
PINGS = ("<!channel>", "<!here>", "<!everyone>", "<@U", "<#C", "@channel", "@here", "@everyone")
#: A Slack link as Slack reads one: ``<`` up to ``|``, text up to ``>``.
SLACK_LINK = re.compile(r"<([^<>|]*)\|([^<>]*)>")
#: A Discord masked link: ``[text](url)``, where ``\\]`` in the text is literal.
DISCORD_LINK = re.compile(r"(?<!\\)\[((?:\\.|[^\]\\])*)\]\(([^()\s]*)\)")


@cache
def real_work() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(WORK.read_text(encoding="utf-8"))
    return data


def crafted(**fields: Any) -> Paper:
    """The real PeerJ work with fields replaced: ``landing``/``pdf`` set the
    primary location's URLs, ``doi`` the DOI, anything else the work field."""
    work = deepcopy(real_work())
    if "landing" in fields:
        for loc in [work["primary_location"], work["best_oa_location"], *work["locations"]]:
            loc["landing_page_url"] = fields["landing"]
    if "pdf" in fields:
        for loc in [work["primary_location"], work["best_oa_location"], *work["locations"]]:
            loc["pdf_url"] = fields["pdf"]
    for key, value in fields.items():
        if key not in ("landing", "pdf"):
            work[key] = value
    paper = paper_from_work(work)
    assert paper is not None
    return paper


@cache
def arxiv_papers() -> dict[str, Paper]:
    return {
        p.key: p for p in (paper_from_result(r) for r in _feed.parse(CAPTURE.read_bytes()).results)
    }


def slack_card(card: Card) -> str:
    """The mrkdwn of a card's section, as Slack receives it."""
    blocks = render_slack.card_blocks_for(card)
    return str(blocks[0]["text"]["text"])


def discord_card(card: Card) -> dict[str, Any]:
    return render_discord.card_embed(card)


def assert_no_pings(text: str) -> None:
    for token in PINGS:
        assert token not in text, token


# -- 1. links on cards -----------------------------------------------------------------


HOSTILE_URLS = [
    pytest.param({"landing": "https://x.org/a|<!channel>", "doi": None}, id="pipe-channel"),
    pytest.param({"landing": "https://x.org/a><@U024BE7LH>", "doi": None}, id="close-user"),
    pytest.param({"landing": "https://x.org/a|<!here> <https://evil.example|x>", "doi": None}),
    pytest.param({"doi": f"https://doi.org/{SICI}"}, id="sici-doi"),
]


@pytest.mark.parametrize("fields", HOSTILE_URLS)
def test_a_crafted_openalex_url_is_one_slack_link_and_pings_nobody(fields: dict[str, Any]) -> None:
    paper = crafted(**fields)
    card = make_card(1, paper, 400)
    text = slack_card(card)
    assert_no_pings(text)
    links = SLACK_LINK.findall(text)
    # Every "<" opens one intended link: the title's, and one per other version.
    assert text.count("<") == len(links) == 1 + len(card.links[: render_slack.LINKS])
    url, title = links[0]
    assert url == safe_url(paper.url, "slack")
    assert title.startswith("The state of OA")  # the real title, not a crafted label
    for target, _ in links:
        assert target.startswith("https://") and not set(target) & set(" <>|\n")


def test_a_sici_doi_keeps_working_as_a_link_on_every_platform() -> None:
    paper = crafted(doi=f"https://doi.org/{SICI}")
    assert paper.url == f"https://doi.org/{SICI.lower()}"  # the store keeps it as sent
    card = make_card(1, paper, 400)
    [(slack_url, _), *_] = SLACK_LINK.findall(slack_card(card))
    assert (
        slack_url
        == "https://doi.org/10.1002/(sici)1097-4636(199604)30:4%3C497::aid-jbm9%3E3.0.co;2-k"
    )
    embed = discord_card(card)
    assert embed["url"] == (
        "https://doi.org/10.1002/%28sici%291097-4636%28199604%2930:4%3C497::aid-jbm9%3E3.0.co;2-k"
    )
    assert "https://doi.org/10.1002/%28sici%29" in render_text.render(Reply("r", cards=(card,)))


def test_a_crafted_pdf_url_adds_no_markdown_link_on_discord() -> None:
    paper = crafted(pdf="https://x.org/a.pdf)[click](https://evil.example)", doi=None)
    card = make_card(1, paper, 400)
    description = discord_card(card)["description"]
    links = DISCORD_LINK.findall(description)
    assert [text for text, _ in links] == ["PDF"] + [
        DISCORD_LINK.findall(render_discord.other_versions(card))[i][0]
        for i in range(len(card.links[: render_discord.LINKS]))
    ]
    assert description.count("](") == len(links)  # no other masked link
    assert links[0][1] == "https://x.org/a.pdf%29%5Bclick%5D%28https://evil.example%29"
    assert "[click]" not in description
    # Slack has no markdown links, and gets no second <…|…> link either.
    assert len(SLACK_LINK.findall(slack_card(card))) == 1 + len(card.links)


def test_a_url_that_cannot_be_made_safe_is_not_linked() -> None:
    paper = replace(
        arxiv_papers()["arxiv:2604.26841"],
        url="javascript:alert(1)//https://arxiv.org",
        pdf_url="https://arxiv.org@evil.example/pdf",
        links=("data:text/html,<script>", "https://[::1]/x", "https://ok.example/1"),
    )
    card = make_card(1, paper, 400)
    slack = slack_card(card)
    assert SLACK_LINK.findall(slack) == [("https://ok.example/1", "ok.example")]
    assert "javascript" not in slack
    embed = discord_card(card)
    assert "url" not in embed  # no link rather than a dangerous one
    assert DISCORD_LINK.findall(embed["description"]) == [("ok.example", "https://ok.example/1")]
    text = render_text.render(Reply("r", cards=(card,)))
    assert "javascript" not in text and "evil.example" not in text


def test_titles_authors_and_venues_cannot_open_or_close_a_link() -> None:
    evil_title = "Q|<!channel> ](https://evil.example) [click](https://evil.example) <x|y>"
    paper = replace(
        crafted(doi=None),
        title=evil_title,
        authors=("Ada](https://evil.example) <@U1>", "Bob|<!here>"),
        venue="<https://evil.example|Nature>] (x)",
    )
    card = make_card(1, paper, 400)
    slack = slack_card(card)
    assert_no_pings(slack)
    assert len(SLACK_LINK.findall(slack)) == 1 + len(card.links)
    embed = discord_card(card)
    description = embed["description"]
    opened = len(re.findall(r"(?<!\\)\]\(", description))  # an escaped "\](" is text
    assert opened == len(DISCORD_LINK.findall(description)) == 1 + len(card.links)
    # Slack shows the title as the link's text, its "|" a look-alike, its "<" escaped.
    assert SLACK_LINK.findall(slack)[0][1].startswith("Q∣&lt;!channel&gt; ](https://evil")


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["slack", "discord", "text"]),
    st.text(
        alphabet=st.sampled_from(list("ab/:.?#&=%()[]<>|!@ \t\n\x1b\u202e\u00e9_-~'\"`{}\\^*")),
        max_size=40,
    ),
)
def test_safe_url_output_is_always_one_link_target(platform: str, tail: str) -> None:
    url = safe_url("https://x.org/" + tail, platform)  # type: ignore[arg-type]
    if url is None:
        assert any(char_kind(ch) == "control" for ch in tail)
        return
    assert url.startswith("https://x.org/")
    assert not set(url) & set(LINK_SPECIALS[platform] + ' \t\n"\\`{}^')
    assert all(char_kind(ch) == "text" and ord(ch) < 128 for ch in url)
    assert safe_url(url, platform) == url  # stable
    if platform == "slack":
        link = render_slack.link("https://x.org/" + tail, "t")
        assert SLACK_LINK.fullmatch(link.replace("&amp;", "&"))
    if platform == "discord":
        link = render_discord.masked_link("t", "https://x.org/" + tail)
        assert link is not None and DISCORD_LINK.fullmatch(link)


# -- 2. control characters from records ------------------------------------------------


def every_text(paper: Paper) -> list[str]:
    values: list[str] = [
        paper.key,
        paper.title,
        paper.abstract,
        paper.primary_category,
        paper.url,
        *(
            v
            for v in (paper.pdf_url, paper.doi, paper.journal_ref, paper.comment, paper.venue)
            if v
        ),
        *paper.authors,
        *paper.categories,
        *paper.links,
        *paper.extra.values(),
    ]
    return values


def test_control_characters_in_a_record_are_gone_before_it_is_stored(store: Store) -> None:
    title = "The \x1b[31mstate\x1b[0m\x07 of \u202eOA\u202c: \x9bopen access"
    paper = crafted(
        display_name=title,
        authorships=[
            {
                "author": {
                    "id": "https://openalex.org/A1",
                    "display_name": "Ada\u2066 Lovelace\u2069",
                }
            },
            {"author": {"id": "https://openalex.org/A2", "display_name": "Bob\x00 \x85Smith"}},
        ],
        abstract_inverted_index={"We\x1b]8;;https://evil.example\x07": [0], "study\u200f": [1]},
    )
    assert paper.title == "The state of OA: open access"
    assert paper.authors == ("Ada Lovelace", "Bob Smith")
    assert paper.abstract == "We study"
    store.upsert_papers([paper], NOW)
    stored = store.papers_by_key([paper.key])[paper.key]
    for value in every_text(stored):
        assert all(char_kind(ch) in ("text", "nontext") or ch == " " for ch in value), value
    card = make_card(1, stored, 400)
    shown = [
        render_text.render(Reply("r", cards=(card,))),
        json.dumps(render_slack.render(Reply("r", cards=(card,))), ensure_ascii=False),
        json.dumps(render_discord.render(Reply("r", cards=(card,))), ensure_ascii=False),
    ]
    for out in shown:
        assert not {"\x1b", "\x07", "\u202e", "\u2066", "\x9b", "\x00"} & set(out)


def test_what_the_bot_wrote_can_be_pasted_back_as_a_command() -> None:
    """Replies defuse whatever Slack would link with zero-width spaces, arXiv
    category ids included (``cs.CL``: .cl is a domain); copied from a
    briefing into a command, they are the category, not "control characters"."""
    from bot.core import commands
    from bot.core.chips import Chip, ChipKind

    shown = clean_untrusted("[03] is cross-listed in cs.CL, cs.LG")
    pasted = shown.split("in ", 1)[1].split(",")[0]
    assert pasted == "cs.\u200bCL"
    assert commands.parse(f"/radar category {pasted}") == commands.AddChip(
        Chip(ChipKind.CATEGORY, "cs.CL")
    )
    assert commands.parse(f"/radar filter cat:{pasted}").query.categories == ("cs.CL",)  # type: ignore[union-attr]


def test_records_and_typed_commands_share_one_notion_of_control_characters() -> None:
    from bot.core import commands
    from bot.errors import UsageError

    for ch in ("\x00", "\x07", "\x1b", "\x9b", "\u202e", "\u2066", "\u200b", "\ufeff"):
        assert char_kind(ch) == "control"
        assert strip_controls(f"a{ch}b") == "ab"
        if ch == "\u200b":  # the bot's own, pasted back (see the next test): dropped
            continue
        with pytest.raises(UsageError, match="control characters"):
            commands.parse(f"keyword a{ch}b")
    for ch in ("\t", "\n", "\r", "\u2028"):
        assert strip_controls(f"a{ch}b") == "a b"
    for ch in ("\u200d", "é", "ß", "中"):  # joiners and letters stay
        assert strip_controls(f"a{ch}b") == f"a{ch}b"


# -- 3. model output ---------------------------------------------------------------------


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture
def r(tmp_path: Path, llm: FakeLLM) -> Iterator[Radar]:
    with llm_radar(tmp_path, llm) as radar:
        yield radar


def slack_text(reply: Reply) -> str:
    return json.dumps(render_slack.render(reply), ensure_ascii=False)


def test_a_briefing_keeps_only_links_to_its_papers(r: Radar, llm: FakeLLM) -> None:
    r.say("/radar category cs.LG")
    digest = r.reply("/radar digest")
    own = digest.cards[0].url
    llm.push(
        Text(
            "THEMES\n"
            f"- Read it at {own} or log in at evil.example/login, www.x.com and "
            "http://evil.example/a [01][02]\n"
            f"- Mirrors: [the paper]({own}) and [a prize](https://prize.example/claim) [01]\n"
            "WHAT TO READ FIRST\n- The first one [01]"
        )
    )
    reply = r.reply("/radar brief")
    assert reply.lines[0].startswith("Briefing by fake-model")
    out = slack_text(reply)
    assert own in out  # the cited paper's own page stays
    for domain in ("evil.example", "www.x.com", "prize.example"):
        assert domain not in out, domain  # Slack would link it
    assert "evil.\u200bexample/login" in out  # still readable
    assert "the paper (" + own in out


def test_an_answer_keeps_only_links_to_its_paper(r: Radar, llm: FakeLLM) -> None:
    papers = arxiv_papers()
    r.app.store.upsert_papers(list(papers.values()), NOW)
    state = r.app.store.channel(r.ref)
    key = "arxiv:2604.26841"
    r.app.store.record_card(state.id, key, 1, "M1", NOW)
    paper = papers[key]
    llm.push(
        Text(
            f"See {paper.url} and {paper.pdf_url}; the code is at evil.example/login "
            "(mirror: https://evil.example/x). [P1]"
        )
    )
    reply = r.app.service.ask(r.ref, "M1", "What do they propose?", ())
    assert reply is not None and reply.footer and reply.footer.startswith("Answered by")
    out = slack_text(reply)
    assert paper.url in out and str(paper.pdf_url) in out
    assert "evil.example" not in out and "evil.\u200bexample/login" in out


def test_defuse_links_on_text_slack_would_link() -> None:
    keep = own_urls(arxiv_papers()["arxiv:2604.26841"])
    text = (
        "Visit evil.example/login, WWW.X.COM or me@evil.example; "
        "https://arxiv.org/abs/2604.26841 stays, ftp://evil.example/x goes. "
        "E.g. 3.5 points, i.e. Fig.3 stay as they are."
    )
    out = defuse_links(text, keep)
    assert "https://arxiv.org/abs/2604.26841 stays" in out
    assert "ftp:" not in out
    for bare in ("evil.example", "WWW.X.COM", "X.COM"):
        assert bare not in out
    # Only the URL that is not kept is gone; the rest reads as it did.
    assert out.replace("\u200b", "") == text.replace("ftp://evil.example/x", "")
    assert "E.g. 3.5 points, i.e. Fig.3 stay" in out
    assert clean_untrusted("go to evil.example now") == "go to evil.\u200bexample now"


def test_defusing_is_linear_on_hostile_text() -> None:
    started = time.perf_counter()
    for text in (
        "a." * 50_000,
        "a-" * 50_000 + ".",
        "https://x.org/" + ")" * 50_000,
        "x" * 100_000,
    ):
        defuse_links(text, ("https://x.org/",))
    assert time.perf_counter() - started < 5


# -- 4. LaTeX on cards, previews and briefings ---------------------------------------------


def test_latex_renders_on_cards_and_the_store_keeps_the_original(store: Store) -> None:
    papers = arxiv_papers()
    store.upsert_papers(list(papers.values()), NOW)
    stored = store.papers_by_key(["arxiv:2604.26841", "arxiv:2604.26926"])
    assert "$\\textit{with emergent creative capabilities}$" in stored["arxiv:2604.26841"].abstract
    assert "$\\ln\\ln T$" in stored["arxiv:2604.26926"].title
    memories = make_card(1, stored["arxiv:2604.26841"], 2000)
    squint = make_card(2, stored["arxiv:2604.26926"], 2000)
    assert "(AMs) with emergent creative capabilities." in memories.abstract
    assert squint.title == "A Note on How to Remove the ln ln T Term from the Squint Bound"
    previews = [
        render_text.render(Reply("r", cards=(memories, squint))),
        slack_text(Reply("r", cards=(memories, squint))),
        json.dumps(render_discord.render(Reply("r", cards=(memories, squint))), ensure_ascii=False),
    ]
    for out in previews:
        assert "\\textit" not in out and "$\\ln" not in out


def test_latex_renders_in_briefings_and_answers() -> None:
    papers = arxiv_papers()
    memories = papers["arxiv:2604.26841"]
    items = tuple(enumerate([memories, papers["arxiv:2604.26926"], papers["arxiv:2604.26922"]], 1))
    reply = extractive_reply(BriefSet(items, "x"))
    body = "\n".join([*reply.lines, *(c.title + c.abstract for c in reply.cards)])
    assert "\\textit" not in body and "\\ln" not in body and "\\sqrt" not in body
    answer = extractive_answer(memories, "emergent creative capabilities")
    quotes = "\n".join(answer.lines)
    assert "with emergent creative capabilities" in quotes and "\\textit" not in quotes


def test_latex_of_real_abstracts_renders_fast_and_readably() -> None:
    rows = [json.loads(line) for line in LATEX_LINES.read_text(encoding="utf-8").splitlines()]
    texts = [t for row in rows for t in (row["title"], row["summary"])]
    assert len(rows) == 120
    started = time.perf_counter()
    rendered = [render_latex(t) for t in texts]
    assert time.perf_counter() - started < 5  # ~0.05 s here; cached afterwards
    leftover = re.compile(r"\\(?:textit|textbf|emph|mathbf|mathcal|mathbb|textsc|frac|alpha)\b")
    assert not [t for t in rendered if leftover.search(t)]
    inline_math = re.compile(r"\$[^$\s][^$]{0,80}\\[A-Za-z]+[^$]{0,80}\$")
    assert sum(bool(inline_math.search(t)) for t in rendered) == 0
    assert sum(bool(inline_math.search(t)) for t in texts) > 15
    # Plain text is left exactly alone: money, percent signs, ampersands.
    assert render_latex("costs $5 and $10, 100% R&D") == "costs $5 and $10, 100% R&D"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("\\${}[]()^_%&~ ab1'\"`=.\nxyz")), max_size=80))
def test_render_latex_never_raises_and_never_makes_controls(text: str) -> None:
    out = render_latex("\\textbf{" + text) + render_latex("$" + text + "$") + render_latex(text)
    assert isinstance(out, str)
    assert all(char_kind(ch) != "control" for ch in out)


# -- 5. clipping at a word boundary ----------------------------------------------------------


def test_clip_cuts_at_a_word_boundary() -> None:
    text = "Large Language Models as Clinical Question Answering Systems"
    assert clip(text, 36) == "Large Language Models as Clinical…"
    assert clip(text, 500) == text
    assert clip("Supercalifragilisticexpialidocious", 10) == "Supercali…"  # one word: hard cut
    assert clip("a, b, c, d", 6) == "a, b…"  # no dangling comma


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab ,.-\n")), max_size=60), st.integers(1, 60))
@example("  aaa", 4)  # leading blanks then one word: a mid-word cut is the only cut
def test_clip_is_a_prefix_within_the_limit(text: str, limit: int) -> None:
    out = clip(text, limit)
    assert len(out) <= limit
    if len(text) <= limit:
        assert out == text
        return
    assert out.endswith("…")
    body = out[:-1]
    assert text.startswith(body)
    cut_mid_word = body and not text[len(body)].isspace() and text[len(body)] not in ",.-"
    if cut_mid_word:  # only when no word ends in the second half (one long word)
        space = text.rfind(" ", 0, limit - 1)
        assert space < (limit - 1) // 2 or not text[:space].strip()


def test_briefing_quotes_and_slack_headers_end_on_whole_words() -> None:
    papers = list(arxiv_papers().values())
    reply = extractive_reply(BriefSet(tuple(enumerate(papers[:8], 1)), "x"))
    abstracts = " ".join(" ".join(p.abstract.split()) for p in papers)
    clipped = [line for line in reply.lines if "…”" in line]
    assert clipped, "the capture has results longer than a quote"
    for line in clipped:
        quote = line.split("“", 1)[1].removesuffix("…”")
        last_word = quote.split()[-1]
        at = abstracts.find(quote)
        assert at >= 0, quote
        following = abstracts[at + len(quote) : at + len(quote) + 1]
        assert not following.isalnum(), f"cut inside a word: {last_word}{following}"
    header = render_slack.render(Reply("Briefing on " + "Clinical Question Answering " * 9))
    title = header[0]["blocks"][0]["text"]["text"]
    assert title.endswith("…") and title.removesuffix("…").split()[-1] in {
        "Clinical",
        "Question",
        "Answering",
    }


# -- verbatim text (BibTeX) ------------------------------------------------------------------


HOSTILE_BIB = (
    "@misc{x,\n  title = {A ``` fence <!channel> & <@U123> @everyone},\n"
    + "".join(f"  note{i} = {{{'long words ' * 20}}},\n" for i in range(40))
    + "}"
)


def test_verbatim_text_stays_in_its_code_block_on_slack_and_pings_nobody() -> None:
    reply = Reply("Reading list as BibTeX: 1 paper", ("Save it as a .bib file.",), code=HOSTILE_BIB)
    for message in render_slack.render(reply) + render_slack.render_ephemeral(reply):
        codes = [
            b["text"]["text"]
            for b in message["blocks"]
            if b.get("type") == "section" and b["text"]["text"].startswith("```")
        ]
        assert codes, message
        for text in codes:
            assert len(text) <= render_slack.SECTION_TEXT
            assert text.endswith("```") and text.count("```") == 2  # the fence inside is defused
            assert "<!channel>" not in text and "<@U" not in text
        # Split between lines, never inside one: every field is whole in some block.
        joined = "\n".join(c.strip("`") for c in codes)
        assert "note39 = {" in joined and joined.count("note") == 40
        assert "&lt;!channel&gt;" in joined  # shown, escaped


def test_verbatim_text_is_a_code_block_on_discord_within_the_limits() -> None:
    reply = Reply("Reading list as BibTeX: 1 paper", code=HOSTILE_BIB)
    contents = [m["content"] for m in render_discord.render(reply) if m.get("content")]
    blocks = [c[c.index("```") :] for c in contents if "```" in c]
    assert len(blocks) >= 2  # too long for one message: split between lines
    for block in blocks:
        assert len(block) <= render_discord.CONTENT and block.count("```") == 2
    text = "\n".join(blocks)
    assert "@everyone" not in text and "<@U123>" not in text  # defused


def test_verbatim_text_is_printed_as_is_in_a_terminal() -> None:
    out = render_text.render(Reply("BibTeX", code=HOSTILE_BIB))
    assert HOSTILE_BIB in out
