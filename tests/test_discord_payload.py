"""What the Discord adapter would send, checked against Discord's documented limits.

No connection here: the command tree's sync payload, the buttons' custom_ids,
and the embeds of real digests (the captured arXiv feed through the real
service) are validated offline.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import DiscordSettings
from bot.core import commands as c
from bot.core.cards import Card, Reply
from bot.core.chips import Chip, ChipKind
from bot.core.outgoing import run_messages
from bot.handlers import render_discord as rd
from bot.handlers.discord import DiscordAdapter, command_line
from bot.handlers.discord.commands import category_choices, chip_choices, zone_choices
from bot.handlers.discord.poster import outgoing_message
from bot.handlers.discord.views import DYNAMIC_ITEMS, view_for
from tests.flowkit import NOW, Radar, radar

# Discord's rules for application commands (developer docs, "Application Commands").
NAME = re.compile(r"^[-_\w]{1,32}$")  # \w: letters and digits in any script, and _
MAX_OPTIONS = 25
MAX_CHOICES = 25
MAX_COMMAND_CHARS = 4000  # names, descriptions and choices of one command, combined


@pytest.fixture
def r(tmp_path: Path) -> Iterator[Radar]:
    with radar(tmp_path) as r:
        yield r


@pytest.fixture
def payload(r: Radar) -> list[dict[str, Any]]:
    adapter = DiscordAdapter(r.app, DiscordSettings(), "token")
    tree = adapter.client.tree
    return [cmd.to_dict(tree) for cmd in tree.get_commands()]


def check_name(name: str) -> None:
    assert NAME.match(name), name
    assert name == name.lower(), name


def check_description(text: str) -> None:
    assert 1 <= len(text) <= 100, text


def count_chars(node: dict[str, Any]) -> int:
    n = len(node["name"]) + len(node.get("description", ""))
    for choice in node.get("choices", ()):
        n += len(choice["name"]) + len(str(choice["value"]))
    return n + sum(count_chars(o) for o in node.get("options", ()))


def check_options(options: list[dict[str, Any]]) -> None:
    assert len(options) <= MAX_OPTIONS
    names = [o["name"] for o in options]
    assert len(set(names)) == len(names)
    required = [o.get("required", False) for o in options]
    assert required == sorted(required, reverse=True), "required options come first"
    for option in options:
        check_name(option["name"])
        check_description(option["description"])
        choices = option.get("choices", [])
        assert len(choices) <= MAX_CHOICES
        assert not (choices and option.get("autocomplete")), "choices or autocomplete, not both"
        for choice in choices:
            assert 1 <= len(choice["name"]) <= 100
            assert len(str(choice["value"])) <= 100
        if "max_length" in option:
            assert 1 <= option["max_length"] <= 6000
            assert 0 <= option.get("min_length", 0) <= option["max_length"]
        if option["type"] in (1, 2):
            check_options(option.get("options", []))


def test_the_synced_payload_keeps_discords_rules(payload: list[dict[str, Any]]) -> None:
    (radar_cmd,) = payload
    assert radar_cmd["name"] == "radar" and radar_cmd["type"] == 1
    check_name(radar_cmd["name"])
    check_description(radar_cmd["description"])
    assert all(o["type"] == 1 for o in radar_cmd["options"])  # every one a subcommand
    check_options(radar_cmd["options"])
    assert count_chars(radar_cmd) <= MAX_COMMAND_CHARS
    # Anyone may use it: permissions are checked per subcommand at run time.
    assert radar_cmd["default_member_permissions"] is None


def test_one_subcommand_per_command_of_the_grammar(payload: list[dict[str, Any]]) -> None:
    subs = {o["name"]: o for o in payload[0]["options"]}
    assert set(subs) == {name for name in c.USAGE if name} | {"show"}
    options = {
        name: [(o["name"], o["type"], o.get("required", False)) for o in sub["options"]]
        for name, sub in subs.items()
    }
    assert options["author"] == [("name", 3, True)]
    assert options["keyword"] == [("words", 3, True)]
    assert options["category"] == [("name", 3, True)]
    assert options["source"] == [("name", 3, True)]
    assert options["remove"] == [("chip", 3, True)]
    assert options["shuffle"] == [("n", 4, False)]
    assert options["filter"] == [("terms", 3, True)]
    assert options["brief"] == [("topic", 3, False)]
    assert options["schedule"] == [("time", 3, False), ("zone", 3, False)]  # empty: say it
    assert options["cap"] == [("n", 4, False)]
    assert options["help"] == [("command", 3, False)]
    assert options["pick"] == [("choice", 3, True)]
    for bare in ("show", "clear", "digest"):
        assert options[bare] == []
    shuffle_n = subs["shuffle"]["options"][0]
    assert (shuffle_n["min_value"], shuffle_n["max_value"]) == (1, c.MAX_SHUFFLE)
    auto = {
        (s, o["name"]) for s, sub in subs.items() for o in sub["options"] if o.get("autocomplete")
    }
    assert auto == {("category", "name"), ("remove", "chip"), ("schedule", "zone")}
    assert [ch["value"] for ch in subs["source"]["options"][0]["choices"]] == list(c.KNOWN_SOURCES)
    help_topics = [ch["value"] for ch in subs["help"]["options"][0]["choices"]]
    assert help_topics == [name for name in c.USAGE if name]


def test_options_become_the_consoles_command_lines() -> None:
    assert command_line("author", "Yehui Tang") == "author Yehui Tang"
    assert (
        command_line("keyword", '"diffusion model" -survey') == 'keyword "diffusion model" -survey'
    )
    assert command_line("schedule", "09:00", None) == "schedule 09:00"
    assert command_line("schedule", "09:00", "Asia/Shanghai") == "schedule 09:00 Asia/Shanghai"
    assert command_line("shuffle", None) == "shuffle"
    assert command_line("shuffle", 3) == "shuffle 3"
    assert command_line("brief", "every week") == "brief every week"
    assert command_line("help", None) == "help"
    # A line is only joined, never interpreted: the core parses it as typed.
    terms = 'since:7d author:"Yehui Tang" -survey'
    assert c.parse(command_line("filter", terms)) == c.parse(f"filter {terms}")


def test_autocomplete_sources_stay_within_limits() -> None:
    for current in ("", "c", "cs.", "math", "quantum", "zz-nothing"):
        choices = category_choices(current)
        assert len(choices) <= 25
        assert all(1 <= len(ch.name) <= 100 and len(ch.value) <= 100 for ch in choices)
    assert category_choices("CS.cl")[0].value == "cs.CL"
    assert zone_choices("shang")[0].value == "Asia/Shanghai"
    assert all(len(zone_choices(q)) <= 25 for q in ("", "a", "America/", "x" * 50))
    long_chips = [("keyword", "w" * 300)] * 40
    choices = chip_choices(long_chips, "")
    assert len(choices) == 25 and all(len(ch.name) <= 100 for ch in choices)


# -- buttons ---------------------------------------------------------------------------------


def card(number: int, key: str = "arxiv:2604.26951") -> Card:
    return Card(
        number,
        key,
        "arXiv (CS.LG)",
        "2026-04-29",
        "A title",
        "https://arxiv.org/abs/x",
        "A. B",
        "Text.",
    )


def test_custom_ids_are_a_stable_contract() -> None:
    """Messages already posted carry these ids; changing them breaks their buttons."""
    message = rd.Message(
        cards=[card(1)],
        chips=((7, Chip(ChipKind.AUTHOR, "Yehui Tang")), (9, Chip(ChipKind.EXCLUDE, "survey"))),
    )
    view = view_for(message)
    assert view is not None
    ids = [item.custom_id for item in view.children]  # type: ignore[attr-defined]
    assert ids == [
        "radar:chip:7",
        "radar:chip:9",
        "radar:shuffle",
        "radar:brief",
        "radar:ask:1:arxiv:2604.26951",
    ]
    assert [item.item.label for item in view.children] == [  # type: ignore[attr-defined]
        "× author: Yehui Tang",
        "× not: survey",
        "Shuffle",
        "Brief",
        "Ask about this paper",
    ]
    assert view.timeout is None and view.is_persistent()
    templates = {item.__discord_ui_compiled_template__.pattern for item in DYNAMIC_ITEMS}
    assert templates == {
        "radar:shuffle",
        "radar:brief",
        r"radar:chip:(?P<chip_id>[0-9]{1,18})",
        r"radar:ask:(?P<number>[0-9]{1,3}):(?P<key>\S{1,80})",
        r"radar:brief:(?P<number>[0-9]{1,3}):(?P<key>\S{1,80})",
        r"radar:(?P<press>more|less|save):(?P<key>\S{1,80})",
        r"radar:pick:(?P<choice>[0-9]{1,2}:A[0-9]{1,12}|name)",
    }
    for cid in [
        *ids,
        "radar:ask:12:arxiv:astro-ph/0601001",
        "radar:brief:12:arxiv:astro-ph/0601001",
        "radar:pick:2:A5017898742",
        "radar:pick:name",
    ]:
        assert (
            sum(1 for item in DYNAMIC_ITEMS if item.__discord_ui_compiled_template__.fullmatch(cid))
            == 1
        )


def test_a_full_message_keeps_to_five_rows_of_five() -> None:
    chips = tuple((i, Chip(ChipKind.KEYWORD, "k" * 120 + str(i))) for i in range(1, 51))
    for n_cards in (0, 1, 5, 10):
        message = rd.Message(
            cards=[card(i, f"arxiv:2604.{i:05d}") for i in range(1, n_cards + 1)], chips=chips
        )
        view = view_for(message)
        assert view is not None
        rows: dict[int, int] = {}
        for item in view.children:
            rows[item.row] = rows.get(item.row, 0) + 1  # type: ignore[index]
            assert len(item.custom_id) <= 100 and len(item.item.label) <= 80  # type: ignore[attr-defined]
        assert set(rows) <= set(range(5)) and max(rows.values()) <= 5
        asks = [i for i in view.children if i.custom_id.startswith("radar:ask:")]  # type: ignore[attr-defined]
        assert len(asks) == n_cards
        assert "radar:shuffle" in [i.custom_id for i in view.children]  # type: ignore[attr-defined]
    assert view_for(rd.Message(content="hi")) is None


# -- embeds of real digests ---------------------------------------------------------------


def validate(message: rd.Message) -> None:
    assert len(message.content) <= rd.CONTENT
    assert message.content or message.embeds
    assert len(message.embeds) <= rd.MAX_EMBEDS
    total = 0
    for e in message.embeds:
        assert len(e.get("title", "")) <= rd.TITLE
        assert len(e.get("description", "")) <= rd.DESCRIPTION
        assert len(e.get("author", {}).get("name", "")) <= rd.AUTHOR
        assert len(e.get("footer", {}).get("text", "")) <= rd.FOOTER
        assert len(e.get("fields", [])) <= rd.MAX_FIELDS
        for f in e.get("fields", []):
            assert 1 <= len(f["name"]) <= rd.FIELD_NAME and 1 <= len(f["value"]) <= rd.FIELD_VALUE
        if "url" in e:
            assert e["url"].startswith("https://")
        total += rd.embed_size(e)
    assert total <= rd.MAX_TOTAL


def test_a_real_digest_and_its_delivery_messages_fit_discord(r: Radar) -> None:
    r.say("/radar category cs.LG")
    r.say("/radar keyword -survey")
    r.say("/radar cap 50")
    r.clock.set(NOW + timedelta(minutes=1))
    posted = r.app.service.respond(r.ref, "digest")
    reply = posted.reply
    assert reply.kind == "digest" and len(reply.cards) == 12
    for message in rd.plan(reply):
        validate(message)
    assert posted.run_id is not None
    outs = list(posted.messages)
    messages = [outgoing_message(o) for o in outs]
    for out, message in zip(outs, messages, strict=True):
        validate(message)
        assert [rd.marker_of(e) for e in message.embeds] == [out.marker]
    header = messages[0]
    cards = [m for o, m in zip(outs, messages, strict=True) if o.card is not None]
    assert header.chips == reply.chips
    assert [m.cards for m in cards] == [[c] for c in reply.cards]
    for got, want in zip(cards, reply.cards, strict=True):
        (embed,) = got.embeds
        assert embed["author"]["name"] == want.heading  # "01.  arXiv (CS.LG)  2026-04-29"
        assert embed["title"] == want.title and embed["url"] == want.url
        assert embed["color"] == rd.COLOURS["arXiv"]
        assert embed["fields"][0]["value"]  # why it matched


def test_huge_and_hostile_cards_still_fit_and_split(r: Radar) -> None:
    r.say("/radar category cs.LG")
    real = r.app.service.handle(r.ref, "shuffle 1").cards[0]
    big = replace(
        real,
        title="T" * 1000,
        authors="A_" * 3000,
        abstract="**bold** `code` ||spoiler|| [x](https://evil) " * 400,
        matched=("m" * 900,) * 5,
    )
    cards = tuple(replace(big, number=i) for i in range(1, 26))
    reply = Reply("Digest " + "x" * 5000, ("y " * 3000, "z" * 5000), cards=cards, footer="+9 more")
    messages = rd.plan(reply)
    for message in messages:
        validate(message)
    assert sum(len(m.embeds) for m in messages) == 25
    assert [c.number for m in messages for c in m.cards] == list(range(1, 26))
    assert messages[-1].content.endswith("+9 more")
    description = messages[-1].embeds[0]["description"]
    for raw in ("**bold**", "`code`", "||spoiler||", "[x](https"):
        assert raw not in description
    for out in run_messages(1, replace(reply, chips=((1, Chip(ChipKind.KEYWORD, "x" * 300)),))):
        validate(outgoing_message(out))


def test_long_answers_are_split_not_cut() -> None:
    lines = tuple(f"Line {i}: " + "word " * 150 for i in range(12))
    messages = rd.plan(Reply("About: a paper", lines, kind="answer"))
    assert len(messages) > 1
    for message in messages:
        validate(message)
    text = "\n".join(m.content for m in messages)
    for i in range(12):
        assert f"Line {i}:" in text


def test_the_invite_asks_for_exactly_the_documented_permissions() -> None:
    from bot.handlers.discord import PERMISSIONS, invite_url

    assert PERMISSIONS.value == 309237730304
    granted = {name for name, on in PERMISSIONS if on}
    assert granted == {
        "read_messages",  # discord.py's name for View Channels
        "send_messages",
        "embed_links",
        "read_message_history",
        "create_public_threads",
        "send_messages_in_threads",
    }
    url = invite_url(123)
    assert url == (
        "https://discord.com/oauth2/authorize?client_id=123"
        "&scope=bot+applications.commands&permissions=309237730304"
    )
    docs = (Path(__file__).resolve().parent.parent / "docs" / "discord.md").read_text()
    assert "permissions=309237730304" in docs and "bot applications.commands" in docs
