"""The Slack app end to end, offline, through Bolt's real request pipeline.

The real bot (``bot.app.build``: SQLite file, pinned clock, arXiv replayed
from a real capture) runs behind ``SlackAdapter`` in HTTP mode on localhost.
``SlackSide`` sends it what Slack sends, signed with the signing secret as
Slack signs it: slash commands, ``block_actions`` and ``event_callback``
bodies over real HTTP. ``FakeSlack`` is the Web API it talks back to, and
records what the channel would show. Socket Mode runs against the fake's
WebSocket.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
import requests

from bot.config import SlackSettings
from bot.core.channel import ChannelRef
from bot.core.outgoing import for_run, run_messages
from bot.digest.deliver import DeliveryFailed
from bot.digest.deliver import deliver as deliver_post
from bot.errors import ConfigError
from bot.handlers.slack import SlackAdapter, SlackCredentials, SlackPoster, SlackPostError
from bot.handlers.slack.poster import message_marker
from bot.sources.replay import Reply, Rule
from tests.fakellm import FakeLLM, Smart, llm_radar
from tests.fakeslack import (
    ADMIN,
    APP_TOKEN,
    BOT_ID,
    BOT_TOKEN,
    BOT_USER,
    MEMBER,
    OWNER,
    SIGNING_SECRET,
    TEAM,
    FakeSlack,
    LoopThread,
    Message,
    SlackSide,
    block_problem,
    sign,
    thread_message,
    walk_strings,
)
from tests.flowkit import CAPTURE, Radar, is_backfill, radar

C = "C0LAB001"
TEAM2 = "T0OTHER2"
SLACK_TOKENS = ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "@everyone", "@here")


# -- the rig -----------------------------------------------------------------------------------


@dataclass
class Rig:
    radar: Radar
    fake: FakeSlack
    loop: LoopThread
    adapter: SlackAdapter
    slack: SlackSide

    def settle(self) -> None:
        """Wait for everything the app started after its acks."""
        self.loop.run(self.adapter.drain(), timeout=60)

    def command(self, text: str, **kwargs: Any) -> requests.Response:
        response = self.slack.command(text, **kwargs)
        assert response.status_code == 200, response.text
        self.settle()
        return response

    def ref(self, team: str = TEAM, channel: str = C) -> ChannelRef:
        return ChannelRef("slack", team, channel, "lab")

    def channel_id(self, team: str = TEAM, channel: str = C) -> int:
        state = self.radar.app.store.find_channel(self.ref(team, channel))
        assert state is not None
        return state.id

    def posted(self, channel: str = C) -> list[Message]:
        return self.fake.channel(channel)

    def private(self) -> list[dict[str, Any]]:
        return list(self.fake.ephemerals)

    def chips(self, team: str = TEAM) -> list[tuple[str, str]]:
        return self.radar.chips(self.ref(team))


@contextmanager
def slack_rig(
    tmp_path: Path,
    *,
    mode: str = "http",
    feed: Path = CAPTURE,
    rules: Sequence[Rule] = (),
    openalex: Sequence[Rule] | None = None,
    llm: FakeLLM | None = None,
    settings: dict[str, Any] | None = None,
    **adapter_options: Any,
) -> Iterator[Rig]:
    """The app behind ``SlackAdapter`` against a fresh ``FakeSlack``. With
    ``llm``, the model is that server (arXiv replayed as usual); ``settings``
    override ``[slack]`` fields; ``adapter_options`` go to ``SlackAdapter``."""
    app_rig = (
        llm_radar(tmp_path, llm, timeout_seconds=30.0)
        if llm is not None
        else radar(tmp_path, rules, feed=feed, openalex=openalex)
    )
    with app_rig as r, FakeSlack() as fake:
        # No test touches the internet: thread answers here come from the abstract
        # (full-text fetching from arxiv.org is the language-model work's, tested there).
        fetcher = getattr(r.app.service, "fulltext", None)
        if fetcher is not None:
            fetcher.close()
            r.app.service.fulltext = None
        loop = LoopThread("slack-app")
        slack = SlackSettings(mode=mode, port=0, api_url=fake.url, **(settings or {}))
        credentials = SlackCredentials(BOT_TOKEN, APP_TOKEN, SIGNING_SECRET)

        async def start() -> SlackAdapter:
            adapter = SlackAdapter(
                r.app.service, slack, credentials, host="127.0.0.1", **adapter_options
            )
            # Fast pauses between 5xx retries; 429s still wait Retry-After.
            adapter.poster = SlackPoster(adapter.client, attempts=3, backoff=0.01)
            await adapter.start()
            return adapter

        adapter = loop.run(start())
        try:
            endpoint = f"http://127.0.0.1:{adapter.port}{slack.path}"
            yield Rig(r, fake, loop, adapter, SlackSide(endpoint, fake))
        finally:
            loop.run(adapter.stop())
            loop.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with slack_rig(tmp_path) as rig:
        yield rig


# -- reading what the channel shows ------------------------------------------------------------


def header_text(message: Message | dict[str, Any]) -> str:
    blocks = message.blocks if isinstance(message, Message) else message["blocks"]
    first = blocks[0]
    return str(first["text"]["text"])


def buttons(message: Message) -> list[dict[str, Any]]:
    return [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


def card_key(message: Message) -> str | None:
    for block in message.blocks:
        if block.get("block_id", "").startswith("card:"):
            return str(block["block_id"].split(":", 2)[2])
    return None


def markers(messages: Sequence[Message]) -> list[str | None]:
    return [message_marker({"metadata": m.metadata}) for m in messages]


def everything_posted(rig: Rig) -> list[str]:
    """Every string the app sent to Slack: posts, ephemerals, thread answers."""
    out: list[str] = []
    for call in rig.fake.calls:
        if call.method.startswith("chat."):
            out += list(walk_strings(call.args))
    for eph in rig.private():
        out += list(walk_strings(eph))
    return out


def valid_messages(messages: Sequence[Message | dict[str, Any]]) -> None:
    for message in messages:
        blocks = message.blocks if isinstance(message, Message) else message["blocks"]
        text = message.text if isinstance(message, Message) else message["text"]
        assert text.strip(), "a top-level text fallback is always set"
        assert block_problem(blocks) is None, block_problem(blocks)


# -- slash commands ----------------------------------------------------------------------------


def test_command_is_acked_at_once_then_posts_a_header_and_one_message_per_card(rig: Rig) -> None:
    started = time.perf_counter()
    response = rig.slack.command("category cs.LG")
    assert time.perf_counter() - started < 1.0
    assert response.status_code == 200 and response.text == ""
    rig.settle()

    posted = rig.posted()
    assert len(posted) == 6, [m.text for m in posted]
    header, cards = posted[0], posted[1:]
    assert header_text(header) == "ada added category chip cs.LG."
    assert [(b["action_id"], b["value"]) for b in buttons(header)] == [
        ("chip_remove:1", "category cs.LG"),
        ("shuffle", "shuffle"),
    ]
    valid_messages(posted)
    channel_id = rig.channel_id()
    for n, message in enumerate(cards, start=1):
        key = card_key(message)
        assert key is not None
        assert message.text.startswith(f"{n:02d}. ")
        section = message.blocks[0]["text"]["text"]
        assert re.match(rf"\*{n:02d}\.\*  arXiv \([A-Z-]+\.[A-Z]+\)  2026-04-2\d\n", section)
        assert f"<https://arxiv.org/abs/{key.split(':')[1]}|" in section
        assert [b["action_id"] for b in buttons(message)] == [
            "ask",
            "brief",
            "more",
            "less",
            "save",
        ]
        assert {b["value"] for b in buttons(message)} == {key}
        assert message.metadata is not None
        assert message.metadata["event_type"] == "paper_radar_post"
        assert message_marker({"metadata": message.metadata}).endswith(f":card:{key}")
        # Its ts is stored against its paper, so the thread under it knows it.
        paper = rig.radar.app.store.paper_for_message(channel_id, message.ts)
        assert paper is not None and paper.key == key
    assert rig.private() == []


def test_slow_work_continues_after_the_ack(tmp_path: Path) -> None:
    slow = Rule("/api/query", Reply(200, CAPTURE, delay=1.5), when=is_backfill)
    with slack_rig(tmp_path, rules=[slow]) as rig:
        started = time.perf_counter()
        response = rig.slack.command("author Janis Mohr")
        acked = time.perf_counter() - started
        assert response.status_code == 200 and acked < 0.5, acked
        assert rig.posted() == []  # the backfill is still running
        rig.settle()
        assert time.perf_counter() - started >= 1.5
        assert header_text(rig.posted()[0]) == "ada added author chip Janis Mohr."
        assert any("Janis Mohr" in m.blocks[0]["text"]["text"] for m in rig.posted()[1:])


def test_a_command_is_acked_before_bolt_routes_it_and_still_goes_through_bolt(
    tmp_path: Path,
) -> None:
    """A slash command's ack is the same empty 200 whatever it says, so HTTP
    mode sends it once the request is verified and parsed; Bolt (its
    middleware, the listener) runs after, off the ack path of a burst."""
    with slack_rig(tmp_path) as rig:
        seen: list[str] = []

        async def slow_middleware(body: dict[str, Any], next: Any) -> None:
            seen.append(str(body.get("command") or body.get("type")))
            await asyncio.sleep(1.0)  # Bolt is busy: the ack does not wait for it
            await next()

        rig.adapter.app.middleware(slow_middleware)
        started = time.perf_counter()
        response = rig.slack.command("category cs.LG")
        acked = time.perf_counter() - started
        assert response.status_code == 200 and response.text == ""
        assert acked < 0.5, acked
        rig.settle()
        assert seen == ["/radar"]  # it went through Bolt once, after the ack
        assert header_text(rig.posted()[0]) == "ada added category chip cs.LG."


def test_commands_are_acked_while_the_database_is_locked_and_answered_after(
    tmp_path: Path,
) -> None:
    """Another writer holds the database (a second worker's digest run, a
    backup): a change is acknowledged at once and waits for the lock in its
    pool, a bad line is refused meanwhile (it needs no database), and once the
    lock is released the change is made and announced as usual."""
    import sqlite3

    with slack_rig(tmp_path) as rig:
        database = sqlite3.connect(tmp_path / "radar.db", isolation_level=None)
        try:
            database.execute("BEGIN IMMEDIATE")  # the write lock, as another process takes it
            response = rig.slack.command("keyword distillation")
            assert response.status_code == 200 and response.text == ""
            assert rig.slack.command("schedule 25:00").status_code == 200
            rig.fake.wait_for(lambda: len(rig.private()) == 1)
            assert "25:00" in json.dumps(rig.private()[0])
            pool = rig.adapter.pools["command"]
            rig.fake.wait_for(lambda: pool.running == 1)  # the change, waiting on the lock
            assert rig.posted() == [] and rig.chips() == []
        finally:
            database.execute("ROLLBACK")
            database.close()
        rig.settle()
        assert header_text(rig.posted()[0]) == "ada added keyword chip distillation."
        assert rig.chips() == [("keyword", "distillation")]


def test_work_waits_while_requests_are_acknowledged_and_at_most_hold_max() -> None:
    """Acks come first (Slack waits for them, not for replies): work that an
    event started waits while any request is still being acknowledged, starts
    once none is, and never waits past ``hold_max``, so a steady stream of
    requests still gets its replies."""
    from bot.handlers.slack.acks import AckGate

    async def scenario() -> list[str]:
        gate, order = AckGate(quiet=0.0, hold_max=60.0), []

        async def reply() -> None:
            await gate.clear()
            order.append("reply")

        with gate.acknowledging():
            task = asyncio.create_task(reply())
            for _ in range(5):  # the gate checks on every turn of the loop (quiet=0)
                await asyncio.sleep(0)
            order.append("ack")
        await task
        steady = AckGate(quiet=0.0, hold_max=0.0)
        with steady.acknowledging():
            await steady.clear()  # held no longer than hold_max, acks or not
        return order

    assert asyncio.run(scenario()) == ["ack", "reply"]


def test_work_handed_over_during_an_ack_starts_after_it_in_order_whatever_fails() -> None:
    """``AckGate.after``, what a listener's ``_spawn`` uses: nothing starts
    while a request is being acknowledged; then everything, oldest first, and
    one start that raises does not strand the others."""
    from bot.handlers.slack.acks import AckGate

    async def scenario() -> list[str]:
        gate, order = AckGate(quiet=0.0, hold_max=60.0), []

        def fails() -> None:
            order.append("second")
            raise RuntimeError("boom")

        with gate.acknowledging():
            assert gate.after(lambda: order.append("first"))
            assert gate.after(fails)
            assert gate.after(lambda: order.append("third"))
            for _ in range(5):
                await asyncio.sleep(0)
            order.append("ack")
        for _ in range(5):
            await asyncio.sleep(0)
        assert not gate.after(lambda: order.append("at once"))  # nothing held, nobody acking
        return order

    assert asyncio.run(scenario()) == ["ack", "first", "second", "third", "at once"]


def test_work_under_way_posts_nothing_while_a_new_request_is_acknowledged(
    tmp_path: Path,
) -> None:
    """Work that started in a lull (its job already running) does not post its
    replies beside the acks of requests that come meanwhile: each message waits
    for the gate, so a burst's acks never queue behind another command's posts."""
    import sqlite3

    with slack_rig(tmp_path) as rig:
        gate = rig.adapter.acks
        gate.hold_max = 60.0  # work waits for the ack however long it takes
        database = sqlite3.connect(tmp_path / "radar.db", isolation_level=None)
        acking = gate.acknowledging()
        try:
            database.execute("BEGIN IMMEDIATE")  # holds the command's job in its pool
            assert rig.slack.command("keyword distillation").status_code == 200
            pool = rig.adapter.pools["command"]
            rig.fake.wait_for(lambda: pool.running == 1)

            async def ack_begins() -> None:
                acking.__enter__()  # another request, being acknowledged from now on

            rig.loop.run(ack_begins())
        finally:
            database.execute("ROLLBACK")
            database.close()
        rig.fake.wait_for(lambda: rig.chips() == [("keyword", "distillation")])
        rig.fake.wait_for(lambda: pool.running == 0)
        time.sleep(0.3)  # the job is done: only the gate keeps its replies back
        assert rig.posted() == [] and rig.private() == []

        async def ack_ends() -> None:
            acking.__exit__(None, None, None)

        rig.loop.run(ack_ends())
        rig.settle()
        assert header_text(rig.posted()[0]) == "ada added keyword chip distillation."


BAD_INPUT = [
    "bogus",
    "author",
    "keyword au:x OR cat:*",
    'keyword "unbalanced',
    "shuffle 99",
    "cap 0",
    "schedule 25:00",
    "schedule 09:00 Mars/Olympus_Mons",
    "remove 9",
    "filter since:forever",
    "category cs.XX",
    "author Ada\x07Lovelace",
    "x" * 1500,
]


def test_bad_input_is_ephemeral_specific_and_changes_nothing(rig: Rig) -> None:
    rig.command("category cs.LG")
    before = rig.radar.snapshot()
    posts = len(rig.fake.calls_to("chat.postMessage"))
    for n, line in enumerate(BAD_INPUT, start=1):
        rig.command(line)
        assert len(rig.private()) == n, line
        answer = rig.private()[-1]
        assert answer["via"] == "response_url" and answer["response_type"] == "ephemeral"
        assert answer["replace_original"] is False
        text = answer["blocks"][0]["text"]["text"]
        assert text and "Traceback" not in text and "went wrong" not in text, (line, text)
        valid_messages([answer])
    assert len(rig.fake.calls_to("chat.postMessage")) == posts
    assert rig.radar.snapshot() == before


GRAMMAR = [
    # line, where the answer shows ("channel" | "private"), what its first block says
    # (a change names who made it: "ada", from users.info)
    ("", "channel", "This channel's radar"),
    ("help", "private", "Paper Radar commands"),
    ("help filter", "private", "/radar filter"),
    ("category cs.LG", "channel", "ada added category chip cs.LG."),
    ("author Jörg Frochte", "channel", "ada added author chip Jörg Frochte."),
    ('keyword "neural network"', "channel", 'ada added keyword chip "neural network".'),
    ("keyword -survey", "channel", "ada added exclusion -survey."),
    ("source arxiv", "channel", "ada added source chip arxiv."),
    ("source arxiv", "private", "already on this radar"),
    ("remove 5", "channel", "ada removed source chip arxiv."),
    ("filter since:7d cat:cs.LG", "channel", "Filter (last 7 days, category cs.LG)"),
    ("shuffle 3", "channel", "Shuffle: 3 of"),
    ("cap 3", "channel", "ada set digests to show up to 3 cards."),
    ("digest", "channel", "Paper Radar digest, 2026-04-30: 3 new"),
    ("schedule 09:00 Europe/Berlin", "channel", "ada set the daily digest to 09:00 Europe/Berlin."),
    ("schedule off", "channel", "ada turned the daily digest off for this channel."),
    ("clear", "channel", "ada removed 4 chips"),
]


def test_the_whole_grammar_through_slash_commands(rig: Rig) -> None:
    for line, where, says in GRAMMAR:
        posts, private = len(rig.posted()), len(rig.private())
        rig.command(line)
        if where == "channel":
            new = rig.posted()[posts:]
            assert new and len(rig.private()) == private, (line, rig.private()[private:])
            assert says in header_text(new[0]), (line, header_text(new[0]))
            valid_messages(new)
        else:
            new_private = rig.private()[private:]
            assert len(new_private) == 1 and len(rig.posted()) == posts, line
            assert says in json.dumps(new_private[0]["blocks"], ensure_ascii=False), line
    # `brief` is answered (its content is the language-model work's), never a crash.
    posts, private = len(rig.posted()), len(rig.private())
    rig.command("brief")
    assert len(rig.posted()) + len(rig.private()) > posts + private
    assert not any("went wrong" in json.dumps(p) for p in rig.private())


def test_a_digest_goes_through_the_outbox_exactly_once(rig: Rig) -> None:
    rig.command("category cs.LG")
    first = len(rig.posted())
    rig.command("digest")
    digest = rig.posted()[first:]
    run = rig.radar.app.store.last_run(rig.channel_id())
    assert run is not None and run.finished_at is not None
    expected = [f"r{run.id}:header"] + [f"r{run.id}:card:{k}" for k in run.planned]
    expected.append(f"r{run.id}:footer")  # 12 new papers, cap 10: "+2 more"
    assert markers(digest) == expected
    assert header_text(digest[0]).startswith("Paper Radar digest, 2026-04-30: 10 new")
    valid_messages(digest)
    channel_id = rig.channel_id()
    for message in digest[1:-1]:
        paper = rig.radar.app.store.paper_for_message(channel_id, message.ts)
        assert paper is not None and paper.key == card_key(message)
    # The next digest has the two that did not fit; then nothing is new.
    rig.command("digest")
    second = rig.radar.app.store.last_run(rig.channel_id())
    assert second is not None and second.id != run.id and len(second.planned) == 2
    assert not set(second.planned) & set(run.planned)
    rig.command("digest")
    again = rig.posted()[first + len(digest) :]
    assert markers(again[:3]) == [f"r{second.id}:header"] + [
        f"r{second.id}:card:{k}" for k in second.planned
    ]
    assert [header_text(m) for m in again[3:]] == ["Nothing new"]


def test_typed_ampersands_and_brackets_arrive_as_typed(rig: Rig) -> None:
    """Slack sends ``R&D`` as ``R&amp;D``: the chip is ``R&D``, shown escaped once."""
    rig.command("keyword R&D")
    assert rig.chips() == [("keyword", "R&D")]
    header = rig.posted()[0]
    assert header_text(header) == "ada added keyword chip R&amp;D."
    assert buttons(header)[0]["value"] == "keyword R&D"
    rig.command("filter x<y")  # refused: query syntax, echoed escaped
    text = rig.private()[-1]["blocks"][0]["text"]["text"]
    assert "&lt;" in text and "&amp;lt;" not in text


def replies_in_order(posted: Sequence[Message]) -> dict[str, list[tuple[str, Message]]]:
    """The channel's messages grouped by the reply they belong to (their
    marker's prefix), as (part, message), checking that each reply's messages
    are contiguous: no reply goes on after another one posted in between."""
    replies: dict[str, list[tuple[str, Message]]] = {}
    last = None
    for message, marker in zip(posted, markers(posted), strict=True):
        assert marker is not None
        prefix, part = marker.split(":", 1)
        if prefix != last:
            assert prefix not in replies, f"reply {prefix} was interrupted: {markers(posted)}"
            last = prefix
        replies.setdefault(prefix, []).append((part, message))
    return replies


def test_a_burst_of_commands_in_one_channel_keeps_each_reply_together(rig: Rig) -> None:
    """Five commands at once in one channel, on a Slack slow enough for their
    posts to overlap: each reply's header, cards and footer arrive together
    and in order (a per-channel lock in the one delivery path), and the two
    simultaneous shuffles draw different papers."""
    rig.command("category cs.LG")
    rig.fake.delay["chat.postMessage"] = 0.02
    before = len(rig.posted())
    lines = ["shuffle 3", "filter since:30d", "shuffle 3", "category cs.CL", "filter cat:cs.LG"]
    sides = [SlackSide(rig.slack.endpoint, rig.fake) for _ in lines]
    with ThreadPoolExecutor(len(lines)) as pool:
        answers = list(pool.map(lambda side, line: side.command(line), sides, lines))
    assert [a.status_code for a in answers] == [200] * len(lines)
    rig.settle()
    assert rig.private() == []
    replies = replies_in_order(rig.posted()[before:])
    assert len(replies) == len(lines)
    shuffled: list[list[str | None]] = []
    for reply in replies.values():
        parts = [part for part, _ in reply]
        cards = [message for part, message in reply if part.startswith("card:")]
        assert parts[0] == "header" and cards
        assert parts[1 : 1 + len(cards)] == [p for p in parts if p.startswith("card:")]
        assert parts[1 + len(cards) :] in ([], ["footer"])
        numbers = [re.match(r"\*(\d\d)\.", m.blocks[0]["text"]["text"]) for m in cards]
        assert [n.group(1) if n else None for n in numbers] == [
            f"{i:02d}" for i in range(1, len(cards) + 1)
        ]
        if header_text(reply[0][1]).startswith("Shuffle:"):
            shuffled.append([card_key(m) for m in cards])
    assert [len(keys) for keys in shuffled] == [3, 3]
    every = [key for keys in shuffled for key in keys]
    assert len(every) == len(set(every))  # simultaneous shuffles never draw a paper twice


def test_not_in_channel_tells_the_person_how_to_invite_the_bot(rig: Rig) -> None:
    rig.fake.refuse[C] = "not_in_channel"
    rig.command("category cs.LG")
    [answer] = rig.private()
    assert "/invite" in answer["blocks"][0]["text"]["text"]
    assert rig.posted() == []


# -- buttons -----------------------------------------------------------------------------------


def test_shuffle_button_posts_a_fresh_draw(rig: Rig) -> None:
    rig.command("category cs.LG")
    header = rig.posted()[0]
    shown = {card_key(m) for m in rig.posted()[1:]}
    before = len(rig.posted())
    response = rig.slack.action("shuffle", "shuffle", message_ts=header.ts)
    assert response.status_code == 200
    rig.settle()
    new = rig.posted()[before:]
    assert header_text(new[0]).startswith("Shuffle: 5 of 17 recent papers")
    drawn = [card_key(m) for m in new[1:]]
    assert len(drawn) == 5 and set(drawn) != shown
    valid_messages(new)


def test_chip_x_removes_exactly_that_chip(rig: Rig) -> None:
    rig.command("category cs.LG")
    rig.command("author Jörg Frochte")
    rig.command("keyword -survey")
    header = [m for m in rig.posted() if "exclusion" in header_text(m)][-1]
    remove = {b["text"]["text"]: b for b in buttons(header) if b["action_id"] != "shuffle"}
    assert set(remove) == {"× cs.LG", "× Jörg Frochte", "× -survey"}

    author = remove["× Jörg Frochte"]
    rig.slack.action(author["action_id"], author["value"], message_ts=header.ts)
    rig.settle()
    assert rig.chips() == [("category", "cs.LG"), ("exclude", "survey")]
    assert header_text(rig.posted()[-1]) == "ada removed author chip Jörg Frochte."

    # The same × again (an old message): a private "no such chip", nothing changed.
    rig.slack.action(author["action_id"], author["value"], message_ts=header.ts)
    rig.settle()
    assert "No chip matches" in rig.private()[-1]["blocks"][0]["text"]["text"]
    assert rig.chips() == [("category", "cs.LG"), ("exclude", "survey")]

    exclusion = remove["× -survey"]
    rig.slack.action(exclusion["action_id"], exclusion["value"], message_ts=header.ts)
    rig.settle()
    assert rig.chips() == [("category", "cs.LG")]


def test_ask_button_opens_the_thread_under_its_card(rig: Rig) -> None:
    rig.command("category cs.LG")
    header, card = rig.posted()[0], rig.posted()[2]
    for _ in range(2):  # pressed twice: one prompt
        rig.slack.action("ask", card_key(card) or "", message_ts=card.ts, block_id="x")
        rig.settle()
    [prompt] = rig.fake.thread(C, card.ts)
    assert prompt.text.startswith("Ask your question about this paper here")
    # Not a card (the header): a private note, no thread.
    rig.slack.action("ask", "x", message_ts=header.ts)
    rig.settle()
    assert rig.fake.thread(C, header.ts) == []
    assert "not one I can answer about" in rig.private()[-1]["blocks"][0]["text"]["text"]


def test_brief_button_briefs_its_cards_paper_in_the_cards_thread(rig: Rig) -> None:
    """Issue 12: a card's Brief is that paper's brief in its thread, no longer
    a whole-radar briefing in the channel (tests/test_paper_brief.py has more)."""
    rig.command("category cs.LG")
    card = rig.posted()[1]
    posts = len(rig.posted())
    rig.slack.action("brief", card_key(card) or "", message_ts=card.ts)
    rig.settle()
    [brief] = rig.fake.thread(C, card.ts)
    assert brief.text.startswith("Brief: ") and len(rig.posted()) == posts
    assert not any("went wrong" in json.dumps(p) for p in rig.private())


# -- feedback: buttons and reactions (issue 12) -----------------------------------------------

#: "Turning the TIDE: Cross-Architecture Distillation for Diffusion LLMs", and
#: the cs.LG paper nearest to it, which newest-first puts low (tests/test_likes.py).
TIDE = "arxiv:2604.26951"
EDGE_KD = "arxiv:2604.26857"


def radar_order(rig: Rig) -> list[str]:
    """The whole radar in this channel's order, as `/radar filter` posts it."""
    rig.command("cap 20")
    before = len(rig.posted())
    rig.command("filter since:7d")
    return [k for m in rig.posted()[before:] if (k := card_key(m)) is not None]


def learned(rig: Rig) -> str:
    """What `/radar likes` says, as posted."""
    rig.command("likes")
    return json.dumps(rig.posted()[-1].blocks, ensure_ascii=False)


def react(
    rig: Rig, ts: str, name: str = "+1", *, user: str = "UHUMAN01", removed: bool = False
) -> None:
    event = {
        "type": "reaction_removed" if removed else "reaction_added",
        "user": user,
        "reaction": name,
        "item_user": BOT_USER,
        "item": {"type": "message", "channel": C, "ts": ts},
        "event_ts": f"{time.time():.6f}",
    }
    assert rig.slack.event(event).status_code == 200
    rig.settle()


def card_message(rig: Rig, key: str) -> Message:
    return next(m for m in rig.posted() if card_key(m) == key)


def test_more_like_this_reorders_the_radar_and_counts_once_per_person(rig: Rig) -> None:
    rig.command("category cs.LG")
    before = radar_order(rig)
    assert before.index(EDGE_KD) > 3  # newest first puts it low
    card = card_message(rig, TIDE)
    more = next(b for b in buttons(card) if b["action_id"] == "more")
    assert more["text"]["text"] == "More like this"
    for _ in range(2):  # the same person clicking twice counts once
        assert rig.slack.action("more", more["value"], message_ts=card.ts).status_code == 200
        rig.settle()
    assert "More like this: noted." in json.dumps(rig.private()[-2])
    assert "already marked" in json.dumps(rig.private()[-1])
    assert "Feedback: 1 liked or saved, 0 disliked" in learned(rig)
    after = radar_order(rig)
    assert sorted(after) == sorted(before) and after != before
    assert after.index(EDGE_KD) < before.index(EDGE_KD)

    # Save is a like too, and puts the paper on the reading list.
    rig.slack.action("save", TIDE, message_ts=card.ts)
    rig.settle()
    assert "(1 on the reading list)" in learned(rig)


def test_a_forged_feedback_value_runs_nothing(rig: Rig) -> None:
    rig.command("category cs.LG")
    card = card_message(rig, TIDE)
    rig.slack.action("more", "clear", message_ts=card.ts)
    rig.slack.action("less", "arxiv:9999.99999", message_ts=card.ts)  # no such paper
    rig.settle()
    assert rig.chips() == [("category", "cs.LG")]
    assert "no longer stored" in json.dumps(rig.private()[-1])
    assert "Nothing learned yet" in learned(rig)


def test_a_thumbs_up_reaction_on_a_card_counts_and_removing_it_takes_it_back(rig: Rig) -> None:
    rig.command("category cs.LG")
    header = rig.posted()[0]
    before = radar_order(rig)
    card = card_message(rig, TIDE)
    private = len(rig.private())
    # Ignored: the bot's own reaction, a reaction on the header (not a card),
    # on an unknown message, and an emoji that is no verdict.
    react(rig, card.ts, user=BOT_USER)
    react(rig, header.ts)
    react(rig, "1700000000.000100")
    react(rig, card.ts, "tada")
    assert len(rig.private()) == private  # a reaction is its own acknowledgement
    assert "Nothing learned yet" in learned(rig)
    assert radar_order(rig) == before

    private = len(rig.private())
    react(rig, card.ts, "thumbsup")
    react(rig, card.ts, "+1::skin-tone-2")  # the same person's 👍 again: once
    assert len(rig.private()) == private
    assert "Feedback: 1 liked or saved, 0 disliked" in learned(rig)
    after = radar_order(rig)
    assert after != before and after.index(EDGE_KD) < before.index(EDGE_KD)

    react(rig, card.ts, "thumbsup", removed=True)
    assert "Feedback: 0 liked or saved, 0 disliked" in learned(rig) or "Nothing learned" in (
        learned(rig)
    )
    assert radar_order(rig) == before


# -- threads -----------------------------------------------------------------------------------


def ask_in_thread(rig: Rig, card: Message, text: str, **kwargs: Any) -> str:
    """A person replies in the card's thread; Slack stores it and sends the event."""
    ts = rig.fake.user_says(C, text, thread_ts=card.ts)
    response = rig.slack.event(thread_message(C, card.ts, text, ts=ts, **kwargs))
    assert response.status_code == 200
    rig.settle()
    return ts


def answers(rig: Rig, card: Message) -> list[Message]:
    return [m for m in rig.fake.thread(C, card.ts) if m.bot_id == BOT_ID]


def test_a_reply_in_a_card_thread_is_answered_in_that_thread(rig: Rig) -> None:
    rig.command("category cs.LG")
    card = rig.posted()[1]  # Turning the TIDE: cross-architecture distillation
    rig.fake.user_says(C, "Interesting, I work on diffusion language models.", thread_ts=card.ts)
    ask_in_thread(rig, card, "Which teacher models do they distill from?")
    [answer] = answers(rig, card)
    assert answer.thread_ts == card.ts
    text = answer.blocks[0]["text"]["text"]
    assert text.startswith("*About: Turning the TIDE")
    valid_messages([answer])
    [replies] = rig.fake.calls_to("conversations.replies")
    assert replies.args["ts"] == card.ts and replies.args["channel"] == C


def test_radar_ask_about_a_card_is_answered_in_the_cards_thread(rig: Rig) -> None:
    rig.command("category cs.LG")
    card = rig.posted()[2]  # card 02
    posts = len(rig.posted())
    rig.command("ask 2 Which teacher models do they distill from?")
    [answer] = answers(rig, card)
    text = answer.blocks[0]["text"]["text"]
    assert "ada asked: Which teacher models do they distill from?" in text
    assert len(rig.posted()) == posts and rig.private() == []  # nothing elsewhere
    valid_messages([answer])


def test_a_mention_in_a_card_thread_is_answered_once(rig: Rig) -> None:
    rig.command("category cs.LG")
    card = rig.posted()[1]
    text = f"<@{BOT_USER}> what is distilled?"
    ts = rig.fake.user_says(C, text, thread_ts=card.ts)
    # Slack sends a mention in a channel thread twice: app_mention and message.
    rig.slack.event(thread_message(C, card.ts, text, ts=ts, mention=True))
    rig.slack.event(thread_message(C, card.ts, text, ts=ts))
    rig.settle()
    assert len(answers(rig, card)) == 1


def test_a_mention_in_the_channel_runs_the_line_after_it_as_a_command(rig: Rig) -> None:
    def mention(text: str, **extra: Any) -> None:
        ts = rig.fake.user_says(C, f"<@{BOT_USER}> {text}")
        event = {
            "type": "app_mention",
            "channel": C,
            "user": "UHUMAN01",
            "text": f"<@{BOT_USER}> {text}",
            "ts": ts,
            "event_ts": ts,
        }
        # Slack sends the channel message too: it is not a thread reply, so not a question.
        rig.slack.event({**event, **extra})
        rig.slack.event({**event, "type": "message"})
        rig.settle()

    def said() -> list[str]:
        return [m.text for m in rig.posted() if m.user != "UHUMAN01"]

    mention("category cs.LG")
    assert rig.chips() == [("category", "cs.LG")]
    assert "added category chip cs.LG" in said()[0]
    posts = len(said())
    mention("frobnicate")  # what is not a command is told to that person alone
    assert len(said()) == posts
    assert "Unknown command `frobnicate`" in json.dumps(rig.private()[-1])
    private = len(rig.private())
    mention("category cs.CL", bot_id="BX")  # another bot's mention runs nothing
    assert rig.chips() == [("category", "cs.LG")] and len(rig.private()) == private


def test_messages_outside_card_threads_and_from_bots_are_ignored(rig: Rig) -> None:
    rig.command("category cs.LG")
    header, card = rig.posted()[0], rig.posted()[1]
    top = rig.fake.user_says(C, "a top-level message")
    events = [
        {"type": "message", "channel": C, "user": "UHUMAN01", "text": "hi", "ts": top},
        thread_message(C, header.ts, "a reply under the header", ts=f"{time.time():.6f}"),
        {**thread_message(C, card.ts, "another bot", ts=f"{time.time():.6f}"), "bot_id": "BX"},
        thread_message(C, card.ts, "myself", ts=f"{time.time():.6f}", user=BOT_USER),
        {
            **thread_message(C, card.ts, "edited", ts=f"{time.time():.6f}"),
            "subtype": "message_changed",
        },
        thread_message(C, "1700000000.000100", "an unknown thread", ts=f"{time.time():.6f}"),
    ]
    for event in events:
        assert rig.slack.event(event).status_code == 200
    rig.settle()
    assert answers(rig, card) == []
    assert rig.fake.thread(C, header.ts) == []
    assert rig.fake.calls_to("conversations.replies") == []


def test_event_retries_are_not_handled_twice(rig: Rig) -> None:
    rig.command("category cs.LG")
    card = rig.posted()[1]
    ts = rig.fake.user_says(C, "what is distilled?", thread_ts=card.ts)
    event = thread_message(C, card.ts, "what is distilled?", ts=ts)
    rig.slack.event(event, event_id="Ev000001")
    rig.settle()
    assert len(answers(rig, card)) == 1
    # Slack retries after a slow ack, and redelivers: acknowledged, skipped.
    now = int(time.time())
    for n, reason in ((1, "http_timeout"), (2, "http_error"), (3, "connection_failed")):
        response = rig.slack.event(
            event, event_id="Ev000001", retry_num=n, retry_reason=reason, timestamp=now - n
        )
        assert response.status_code == 200
    # A retry for a slow ack of a delivery this process did not see: the first
    # delivery is being handled (by another worker); skipped too.
    ts2 = rig.fake.user_says(C, "and the students?", thread_ts=card.ts)
    event2 = thread_message(C, card.ts, "and the students?", ts=ts2)
    rig.slack.event(event2, event_id="Ev000002", retry_num=1, retry_reason="http_timeout")
    # Then a question under another card, which is answered: the skipped retry
    # reached the app first, so had it been handled, it would be answered by now.
    other = rig.posted()[2]
    ts3 = rig.fake.user_says(C, "what is distilled?", thread_ts=other.ts)
    rig.slack.event(thread_message(C, other.ts, "what is distilled?", ts=ts3))
    rig.fake.wait_for(lambda: answers(rig, other))
    rig.settle()
    assert len(answers(rig, card)) == 1
    # A retry because the first delivery never arrived is the first handling.
    rig.slack.event(event2, event_id="Ev000003", retry_num=1, retry_reason="connection_failed")
    rig.settle()
    assert len(answers(rig, card)) == 2


# -- escaping ----------------------------------------------------------------------------------

HOSTILE_ABSTRACT = "<!channel> @everyone <@U123> & <b>"


def hostile_feed(tmp_path: Path) -> Path:
    """The real capture with its newest paper's title and abstract made hostile
    (XML-escaped in the feed, so the parsed text holds the raw tokens)."""
    data = CAPTURE.read_text("utf-8")
    entry = data.index("<entry>")
    summary = re.compile(r"<summary>.*?</summary>", re.S)
    title = re.compile(r"<title>.*?</title>", re.S)
    xml = HOSTILE_ABSTRACT.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    body = summary.sub(
        f"<summary>{xml} Distillation works. We @here distill &lt;!here&gt; models.</summary>",
        data[entry:],
        count=1,
    )
    body = title.sub(f"<title>{xml} Distillation</title>", body, count=1)
    path = tmp_path / "hostile.xml"
    path.write_text(data[:entry] + body, "utf-8")
    return path


def test_a_hostile_abstract_cannot_ping_anyone(tmp_path: Path) -> None:
    with slack_rig(tmp_path, feed=hostile_feed(tmp_path)) as rig:
        rig.command("category cs.LG")
        card = rig.posted()[1]
        assert "&lt;b&gt;" in card.blocks[0]["text"]["text"]
        assert "&amp;" in card.blocks[0]["text"]["text"]
        ask_in_thread(rig, card, "does distillation work on models?")
        assert answers(rig, card), "the question was answered"
        rig.command("keyword <!channel>")  # refused by the grammar, echoed privately
        rig.command(f"frobnicate <@U123> {HOSTILE_ABSTRACT}")
        assert len(rig.private()) == 2
        sent = everything_posted(rig)
        assert sent
        for text in sent:
            for token in SLACK_TOKENS:
                assert token not in text, (token, text[:120])


# -- request verification ----------------------------------------------------------------------


def test_forged_stale_and_replayed_requests_get_401_and_change_nothing(rig: Rig) -> None:
    before = rig.radar.snapshot()
    body = rig.slack.command_body("category cs.LG")
    form = "application/x-www-form-urlencoded"
    now = int(time.time())
    refused = [
        rig.slack.send(body, form, signature="v0=" + "0" * 64),
        rig.slack.send(body, form, signature=sign("not-the-secret", str(now), body)),
        rig.slack.send(body, form, timestamp=now - 301),  # correctly signed, too old
        # Well past the window: ``now`` is whole seconds, and at +301 a request
        # checked after the next second began was 300.x s ahead, inside it.
        rig.slack.send(body, form, timestamp=now + 310),
        rig.slack.send(body + "&text=clear", form, signature=sign(SIGNING_SECRET, str(now), body)),
        rig.slack.session.post(rig.slack.endpoint, data=body, timeout=5),  # unsigned
        rig.slack.send(body, form, headers={"X-Slack-Request-Timestamp": "soon"}),
    ]
    assert [r.status_code for r in refused] == [401] * len(refused)
    rig.settle()
    assert rig.radar.snapshot() == before
    assert rig.fake.calls_to("chat.postMessage") == [] and rig.private() == []

    signature = sign(SIGNING_SECRET, str(now), body)
    first = rig.slack.send(body, form, timestamp=now, signature=signature)
    replay = rig.slack.send(body, form, timestamp=now, signature=signature)
    assert (first.status_code, replay.status_code) == (200, 401)
    rig.settle()
    assert rig.chips() == [("category", "cs.LG")]
    assert [header_text(m) for m in rig.posted()[:1]] == ["ada added category chip cs.LG."]
    assert len(rig.posted()) == 6


def test_health_check_and_wrong_methods(rig: Rig) -> None:
    base = rig.slack.endpoint.rsplit("/slack/events", 1)[0]
    health = requests.get(f"{base}/healthz", timeout=5)
    assert (health.status_code, health.text) == (200, "ok")
    assert requests.get(rig.slack.endpoint, timeout=5).status_code == 405


def test_url_verification_challenge_is_answered(rig: Rig) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "t"})
    response = rig.slack.send(body, "application/json")
    assert response.status_code == 200 and "c-123" in response.text


# -- channel isolation -------------------------------------------------------------------------


def test_one_team_cannot_read_or_change_another_teams_radar(rig: Rig) -> None:
    rig.command("category cs.LG")
    card = rig.posted()[1]
    header = rig.posted()[0]
    x = buttons(header)[0]
    # Same channel id, another team: a different radar.
    rig.command("", team=TEAM2)
    assert "No chips yet" in json.dumps(rig.posted()[-1].blocks)
    rig.slack.action(x["action_id"], x["value"], message_ts=header.ts, team=TEAM2)
    rig.settle()
    assert "no chips to remove" in rig.private()[-1]["blocks"][0]["text"]["text"]
    rig.command("author Janis Mohr", team=TEAM2)
    assert rig.chips() == [("category", "cs.LG")]
    assert rig.chips(TEAM2) == [("author", "Janis Mohr")]
    # A question from the other team on this team's card: not its card.
    ts = rig.fake.user_says(C, "what is distilled?", thread_ts=card.ts)
    rig.slack.event(thread_message(C, card.ts, "what is distilled?", ts=ts), team=TEAM2)
    rig.settle()
    assert answers(rig, card) == []


# -- delivery under failure --------------------------------------------------------------------


def claim_digest(rig: Rig) -> tuple[int, int, Any]:
    """Claim a digest run in the core (as the scheduler would); nothing posted yet."""
    rig.command("category cs.LG")
    post = rig.radar.app.service.respond(rig.ref(), "digest")
    assert post.run_id is not None
    return post.channel_id, post.run_id, post.reply


def deliver(rig: Rig, poster: SlackPoster, channel_id: int, run_id: int, reply: Any) -> int:
    """What is left of the run, through the one delivery path; the poster's own
    error when it fails."""
    store, clock = rig.radar.app.store, rig.radar.app.clock
    post = for_run(rig.ref(), channel_id, run_id, reply)
    try:
        return rig.loop.run(deliver_post(store, poster, clock, post)).posted
    except DeliveryFailed as err:
        assert err.__cause__ is not None
        raise err.__cause__ from None


def test_a_rate_limited_post_waits_retry_after_and_posts_once(rig: Rig) -> None:
    rig.command("category cs.LG")
    rig.fake.fail("chat.postMessage", 429, times=1, retry_after=1)
    before = len(rig.posted())
    rig.command("digest")
    digest = rig.posted()[before:]
    assert len(digest) == 12 and len(set(markers(digest))) == 12
    calls = rig.fake.calls_to("chat.postMessage")[-13:]
    assert calls[0].args["metadata"] == calls[1].args["metadata"]  # the same post, retried
    assert calls[1].at - calls[0].at >= 1.0  # after Retry-After
    assert rig.private() == []


@pytest.mark.parametrize("html", [False, True], ids=["json-500", "html-500"])
def test_server_errors_are_retried_a_bounded_number_of_times_then_resumed_once(
    rig: Rig, html: bool
) -> None:
    channel_id, run_id, reply = claim_digest(rig)
    poster = SlackPoster(rig.adapter.client, attempts=3, backoff=0.01)
    before = len(rig.posted())
    calls_before = len(rig.fake.calls_to("chat.postMessage"))
    rig.fake.fail("chat.postMessage", 500, times=3, after=3, html=html)
    with pytest.raises(SlackPostError) as failed:
        deliver(rig, poster, channel_id, run_id, reply)
    assert not failed.value.permanent
    assert len(rig.fake.calls_to("chat.postMessage")) - calls_before == 3 + 3  # bounded
    assert len(rig.posted()) - before == 3  # header and two cards
    run = rig.radar.app.store.run(run_id)
    assert run.finished_at is None and run_id in [
        r.id for r in rig.radar.app.store.unfinished_runs()
    ]

    assert deliver(rig, poster, channel_id, run_id, reply) == 9  # the rest, once
    digest = rig.posted()[before:]
    assert markers(digest) == [out.marker for out in run_messages(run_id, reply)]
    assert rig.radar.app.store.run(run_id).finished_at is not None
    assert deliver(rig, poster, channel_id, run_id, reply) == 0


@pytest.mark.parametrize(
    ("status", "error"), [(500, None), (200, "fatal_error")], ids=["500", "200-fatal_error"]
)
def test_a_post_that_landed_despite_an_error_is_found_not_reposted(
    rig: Rig, status: int, error: str | None
) -> None:
    channel_id, run_id, reply = claim_digest(rig)
    poster = SlackPoster(rig.adapter.client, attempts=3, backoff=0.01)
    rig.fake.fail("chat.postMessage", status, times=1, deliver=True, after=4, error=error)
    before = len(rig.posted())
    assert deliver(rig, poster, channel_id, run_id, reply) == 12
    digest = rig.posted()[before:]
    assert markers(digest) == [out.marker for out in run_messages(run_id, reply)]
    assert len(rig.fake.calls_to("conversations.history")) == 1


def test_a_crash_between_posting_and_recording_is_reconciled(rig: Rig) -> None:
    channel_id, run_id, reply = claim_digest(rig)
    store, clock = rig.radar.app.store, rig.radar.app.clock
    poster = SlackPoster(rig.adapter.client)
    first = run_messages(run_id, reply)[0]
    # The process recorded its intent, posted, and died before recording the ts.
    store.outbox_intend(channel_id, first.marker, clock.now(), run_id)
    ts = rig.loop.run(poster.send(rig.ref(), first))
    before = len(rig.posted())
    for n in range(5):  # the channel moved on meanwhile
        rig.fake.user_says(C, f"chatter {n}")
    rig.fake.page_size = 2  # so ``find`` pages through conversations.history
    assert deliver(rig, poster, channel_id, run_id, reply) == 11
    assert len(rig.fake.calls_to("conversations.history")) == 3
    assert store.outbox(channel_id, first.marker).message_ref == ts  # type: ignore[union-attr]
    ours = [m for m in rig.posted()[before - 1 :] if m.bot_id]
    assert markers(ours) == [o.marker for o in run_messages(run_id, reply)]


def test_a_refused_post_fails_at_once_as_permanent(rig: Rig) -> None:
    channel_id, run_id, reply = claim_digest(rig)
    rig.fake.refuse[C] = "is_archived"
    calls = len(rig.fake.calls_to("chat.postMessage"))
    with pytest.raises(SlackPostError) as failed:
        deliver(rig, SlackPoster(rig.adapter.client, backoff=0.01), channel_id, run_id, reply)
    assert failed.value.permanent and failed.value.error == "is_archived"
    assert len(rig.fake.calls_to("chat.postMessage")) == calls + 1


# -- Socket Mode -------------------------------------------------------------------------------


def test_socket_mode_acks_envelopes_and_skips_redeliveries(tmp_path: Path) -> None:
    with slack_rig(tmp_path, mode="socket") as rig:
        assert rig.adapter.port is None  # no HTTP server in Socket Mode
        rig.fake.wait_for(rig.fake.socket_connected)
        [opened] = rig.fake.calls_to("apps.connections.open")
        assert opened.headers["Authorization"] == f"Bearer {APP_TOKEN}"
        payload = dict(parse_qsl(rig.slack.command_body("category cs.LG")))
        rig.fake.socket_send(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": payload,
            }
        )
        rig.fake.wait_for(
            lambda: any(a.get("envelope_id") == "env-1" for a in rig.fake.socket_acks)
        )
        rig.fake.wait_for(lambda: len(rig.posted()) == 6)
        rig.settle()
        card = rig.posted()[1]
        ts = rig.fake.user_says(C, "what is distilled?", thread_ts=card.ts)
        event = {
            "type": "event_callback",
            "team_id": TEAM,
            "api_app_id": "A1",
            "event_id": "EvSOCK01",
            "event": thread_message(C, card.ts, "what is distilled?", ts=ts),
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        }
        for n in range(2):  # delivered, then redelivered
            envelope = {"envelope_id": f"env-ev-{n}", "type": "events_api", "payload": event}
            if n:
                envelope.update(retry_attempt=1, retry_reason="timeout")
            rig.fake.socket_send(envelope)
            rig.fake.wait_for(
                lambda n=n: any(a.get("envelope_id") == f"env-ev-{n}" for a in rig.fake.socket_acks)
            )
        rig.settle()
        assert len(answers(rig, card)) == 1


# -- configuration and secrets -----------------------------------------------------------------


def test_credentials_come_from_the_named_environment_variables() -> None:
    socket, http = SlackSettings(), SlackSettings(mode="http", bot_token_env="MY_BOT")
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "MY_BOT": "xoxb-2"}
    assert SlackCredentials.from_env(socket, env).missing(socket) == []
    assert SlackCredentials.from_env(http, env).missing(http) == ["SLACK_SIGNING_SECRET"]
    assert SlackCredentials.from_env(socket, {}).missing(socket) == [
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
    ]
    creds = SlackCredentials.from_env(socket, env)
    assert "xoxb" not in repr(creds) and "xapp" not in repr(creds)
    assert SlackAdapter.from_env(None, http, env) is None  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        SlackAdapter(None, http, SlackCredentials.from_env(http, env))  # type: ignore[arg-type]


def test_secrets_never_reach_the_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with slack_rig(tmp_path) as rig:
        rig.command("category cs.LG")
        rig.command("bogus")
        card = rig.posted()[1]
        ask_in_thread(rig, card, "what is distilled?")
    assert "added category chip" in caplog.text or "chat.postMessage" in caplog.text
    for secret in (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET):
        assert secret not in caplog.text


def test_run_keeps_start_ups_objects_out_of_the_collectors_sight(tmp_path: Path) -> None:
    """`paper-radar run` with Slack: once everything has started, what start-up
    built (the app, its store and indexes, every module) is frozen out of the
    garbage collector's sight, so a full collection walks only what requests
    make and no longer stalls a burst of acks (by about 100 ms on
    bench/bench_slack_ack.py); after a stop it is collectable again."""
    import gc

    from bot.run import serve

    with radar(tmp_path) as r, FakeSlack() as fake:
        loop = LoopThread("run")
        adapter = SlackAdapter(
            r.app.service,
            SlackSettings(mode="http", port=0, api_url=fake.url),
            SlackCredentials(BOT_TOKEN, APP_TOKEN, SIGNING_SECRET),
            host="127.0.0.1",
        )
        stop = asyncio.Event()
        serving = asyncio.run_coroutine_threadsafe(serve(r.app, [adapter], stop), loop.loop)
        try:
            fake.wait_for(lambda: gc.get_freeze_count() > 0 or serving.done())
            assert not serving.done() and adapter.port
            slack = SlackSide(f"http://127.0.0.1:{adapter.port}/slack/events", fake)
            assert slack.command("help").status_code == 200
            fake.wait_for(lambda: fake.ephemerals)
        finally:
            loop.loop.call_soon_threadsafe(stop.set)
            serving.result(30)
            loop.close()
        assert gc.get_freeze_count() == 0


def test_poster_can_be_built_from_settings_alone() -> None:
    """What the scheduler does: a poster from config + the bot token."""
    from bot.handlers.slack import make_client

    settings = SlackSettings(api_url="http://127.0.0.1:9/api")
    client = make_client(settings, "xoxb-x")
    assert client.base_url == "http://127.0.0.1:9/api/"
    handlers = {type(h).__name__ for h in client.retry_handlers}
    assert "AsyncRateLimitErrorRetryHandler" in handlers
    poster = SlackPoster(client)
    assert poster.client is client and poster.attempts >= 2


# -- manifest ----------------------------------------------------------------------------------


_KEY = re.compile(r"^([A-Za-z_][\w.-]*):(?: (.*)|)$")


def read_manifest() -> dict[str, Any]:
    """A reader for the YAML subset manifest.yml uses (maps, lists, scalars):
    PyYAML is not a dependency, and this keeps the test honest about the file."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, Any]] = [(-1, root)]
    path = Path(__file__).resolve().parent.parent / "manifest.yml"
    lines = [x for x in path.read_text("utf-8").splitlines() if x.strip() and x.strip()[0] != "#"]
    for i, raw in enumerate(lines):
        indent = len(raw) - len(raw.lstrip())
        line = raw.strip()
        while len(stack) > 1 and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if line.startswith("- "):
            item = line[2:]
            match = _KEY.match(item)
            if match:  # a list of maps: "- command: /radar"
                entry: dict[str, Any] = {match[1]: _scalar(match[2] or "")}
                parent.append(entry)
                stack.append((indent + 1, entry))
            else:
                parent.append(_scalar(item))
            continue
        match = _KEY.match(line)
        assert match, f"not in the manifest subset: {raw!r}"
        if match[2]:
            parent[match[1]] = _scalar(match[2])
        else:
            following = lines[i + 1].strip() if i + 1 < len(lines) else ""
            parent[match[1]] = [] if following.startswith("- ") else {}
            stack.append((indent, parent[match[1]]))
    return root


def _scalar(text: str) -> Any:
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def test_manifest_declares_the_command_minimal_scopes_and_events() -> None:
    manifest = read_manifest()
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/radar"
    assert command["description"] and command["usage_hint"]
    assert len(command["description"]) <= 100
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert scopes == {
        "commands",
        "chat:write",
        "app_mentions:read",
        "channels:history",
        "groups:history",
        "im:history",
        "mpim:history",
        "users:read",  # admins and owners, for [permissions]; names in announcements
        "reactions:read",  # 👍/👎 on a card is feedback
    }
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert events == {
        "app_mention",
        "message.channels",
        "message.groups",
        "message.im",
        "reaction_added",
        "reaction_removed",
    }
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["features"]["bot_user"]["display_name"]


# -- the ack path stays in the event loop ------------------------------------------------------


def test_many_concurrent_commands_are_all_acked_quickly(rig: Rig) -> None:
    """A small version of bench/bench_slack_ack.py: 30 commands at once."""

    async def burst() -> list[float]:
        import aiohttp

        async with aiohttp.ClientSession() as session:

            async def one(i: int) -> float:
                body = rig.slack.command_body("", channel=f"CBURST{i:03d}")
                ts = str(int(time.time()))
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Slack-Request-Timestamp": ts,
                    "X-Slack-Signature": sign(SIGNING_SECRET, ts, body),
                }
                started = time.perf_counter()
                async with session.post(rig.slack.endpoint, data=body, headers=headers) as r:
                    assert r.status == 200
                return time.perf_counter() - started

            return await asyncio.gather(*(one(i) for i in range(30)))

    latencies = sorted(asyncio.run(burst()))
    rig.settle()
    assert latencies[-1] < 1.0, latencies[-5:]
    assert len(rig.fake.calls_to("chat.postMessage")) == 30


def test_a_rejected_bot_token_stops_start_with_the_variable_name(tmp_path: Path) -> None:
    with radar(tmp_path) as r, FakeSlack() as fake:
        loop = LoopThread("slack-bad-token")
        settings = SlackSettings(mode="http", port=0, api_url=fake.url)
        bad = SlackCredentials("xoxb-revoked-0000", signing_secret=SIGNING_SECRET)

        async def start() -> None:
            adapter = SlackAdapter(r.app.service, settings, bad, host="127.0.0.1")
            await adapter.start()

        try:
            with pytest.raises(ConfigError) as refused:
                loop.run(start())
        finally:
            loop.close()
        assert "SLACK_BOT_TOKEN" in str(refused.value) and "invalid_auth" in str(refused.value)
        assert "xoxb-revoked" not in str(refused.value)


def test_slack_wire_text_becomes_what_the_person_typed() -> None:
    from bot.handlers.slack.text import from_slack as _from_slack
    from bot.handlers.slack.text import strip_mentions as _strip_mentions

    wire = (
        f"<@{BOT_USER}> is <https://arxiv.org/abs/2604.26951|TIDE> better than "
        "<https://example.org> for R&amp;D &lt;3 in <#C123|lab>? <!here>"
    )
    assert _strip_mentions(wire) == ("is TIDE better than https://example.org for R&D <3 in #lab?")
    assert _from_slack("author Ada &amp; Bob") == "author Ada & Bob"


# -- HTTP mode under hostile clients -----------------------------------------------------------


def test_a_body_that_never_arrives_gets_408_and_others_are_served_meanwhile(
    tmp_path: Path,
) -> None:
    """Slow-loris: headers and one byte of a 100-byte body, then nothing."""
    with slack_rig(tmp_path, settings={"body_timeout_seconds": 1.0}) as rig:
        port = rig.adapter.port
        assert port is not None
        with socket.create_connection(("127.0.0.1", port), timeout=5) as slow:
            slow.sendall(
                b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 100\r\n\r\na"
            )
            started = time.monotonic()
            # While it waits, the endpoint serves everyone else.
            health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            assert health.status_code == 200
            rig.command("help")
            assert "Paper Radar commands" in json.dumps(rig.private()[-1]["blocks"])
            answer = b""
            while chunk := slow.recv(4096):  # until the server closes the connection
                answer += chunk
            elapsed = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
        assert elapsed < 3.0, elapsed


FORM = "application/x-www-form-urlencoded"
MALFORMED = [
    ("payload=notjson", FORM),
    (urlencode({"payload": "[]"}), FORM),
    (urlencode({"payload": "null"}), FORM),
    (  # interactive, without a type
        urlencode(
            {
                "payload": json.dumps(
                    {
                        "team": {"id": TEAM},
                        "user": {"id": MEMBER},
                        "channel": {"id": C},
                        "actions": [{"action_id": "shuffle", "value": "shuffle"}],
                    }
                )
            }
        ),
        FORM,
    ),
    (  # a button press whose channel is not an object
        urlencode(
            {
                "payload": json.dumps(
                    {"type": "block_actions", "channel": C, "actions": [{"action_id": "shuffle"}]}
                )
            }
        ),
        FORM,
    ),
    (urlencode({"payload": json.dumps({"type": "block_actions", "actions": [7]})}), FORM),
    ("[]", "application/json"),
    ("null", "application/json"),
    ("{not json", "application/json"),
    (json.dumps({"type": "event_callback", "team_id": TEAM, "event": []}), "application/json"),
    (json.dumps({"type": "event_callback", "team_id": TEAM, "event": None}), "application/json"),
    (
        json.dumps({"type": "event_callback", "team_id": TEAM, "event": {"type": "x", "user": 5}}),
        "application/json",
    ),
    (urlencode({"command": "/radar", "text": "clear"}), FORM),  # no team, channel or user
    ("", FORM),
]


@pytest.mark.parametrize(("body", "content_type"), MALFORMED)
def test_malformed_but_signed_requests_get_400_and_change_nothing(
    rig: Rig, caplog: pytest.LogCaptureFixture, body: str, content_type: str
) -> None:
    rig.command("category cs.LG")
    before, posts = rig.radar.snapshot(), len(rig.fake.calls_to("chat.postMessage"))
    caplog.clear()
    response = rig.slack.send(body, content_type)
    rig.settle()
    assert response.status_code == 400, (response.status_code, response.text)
    assert "Traceback" not in response.text and "Error" not in response.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert rig.radar.snapshot() == before
    assert len(rig.fake.calls_to("chat.postMessage")) == posts


def test_a_command_with_the_word_payload_in_it_is_a_command(rig: Rig) -> None:
    """Bolt's own body parser takes any form body containing "payload" for an
    interactive payload and finds none; the adapter parses requests itself."""
    rig.command("keyword payload")
    assert rig.chips() == [("keyword", "payload")]
    assert header_text(rig.posted()[0]) == "ada added keyword chip payload."


# -- Socket Mode: start-up and reconnection ---------------------------------------------------


@pytest.mark.parametrize("fault", ["refused", "bad-url", "no-answer"])
def test_socket_mode_start_fails_fast_naming_the_app_token_variable(
    tmp_path: Path, fault: str
) -> None:
    with radar(tmp_path) as r, FakeSlack() as fake:
        loop = LoopThread("slack-bad-app-token")
        settings = SlackSettings(api_url=fake.url, app_token_env="LAB_SLACK_APP_TOKEN")
        app_token = APP_TOKEN
        if fault == "refused":  # apps.connections.open: {"ok": false, "error": "invalid_auth"}
            app_token = "xapp-revoked-0000000000"
        elif fault == "bad-url":  # the socket URL it hands out does not connect
            fake.socket_url = f"ws://127.0.0.1:{fake.port}/no-such-socket"
        else:
            fake.hang.add("apps.connections.open")
        credentials = SlackCredentials(BOT_TOKEN, app_token)

        options = {"connect_timeout": 1.0} if fault == "no-answer" else {}

        async def start() -> SlackAdapter:
            adapter = SlackAdapter(r.app.service, settings, credentials, **options)
            await adapter.start()
            return adapter

        started = time.monotonic()
        try:
            with pytest.raises(ConfigError) as refused:
                loop.run(start(), timeout=15)
        finally:
            loop.close()
        assert time.monotonic() - started < 5.0
        message = str(refused.value)
        assert "LAB_SLACK_APP_TOKEN" in message
        assert {"refused": "invalid_auth", "bad-url": "HTTP 404", "no-answer": "no answer"}[
            fault
        ] in message
        assert app_token not in message and "/no-such-socket" not in message
        assert len(fake.calls_to("apps.connections.open")) == 1  # one try, not a retry loop
        assert not fake.socket_connected()


def test_a_lost_socket_is_reopened_with_backoff_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.handlers.slack")
    with slack_rig(tmp_path, mode="socket", reconnect_backoff=0.05) as rig:
        rig.fake.wait_for(rig.fake.socket_connected)
        # Slack drops the connection and, for two tries, will not hand out a new one.
        rig.fake.fail("apps.connections.open", 200, times=2, error="fatal_error")
        rig.fake.drop_sockets()
        rig.fake.wait_for(lambda: len(rig.fake.calls_to("apps.connections.open")) == 4)
        rig.fake.wait_for(rig.fake.socket_connected)
        assert "event=slack.socket.reconnect attempt=1 " in caplog.text
        assert "event=slack.socket.reconnect attempt=2 " in caplog.text
        rig.fake.wait_for(lambda: "event=slack.socket.reconnected attempts=2" in caplog.text)
        # Each try asked for a fresh socket URL, and the new connection works.
        payload = dict(parse_qsl(rig.slack.command_body("category cs.LG")))
        envelope = {"envelope_id": "env-2", "type": "slash_commands", "payload": payload}
        rig.fake.socket_send(envelope)
        rig.fake.wait_for(lambda: len(rig.posted()) == 6)
        rig.settle()


# -- slow work never starves commands -----------------------------------------------------------


@pytest.mark.parametrize("stuck", ["brief", "ask"])
def test_help_is_answered_at_once_while_briefs_or_questions_are_stuck(
    tmp_path: Path, stuck: str
) -> None:
    """The model never answers: five briefings (or thread questions) wait on it,
    and `/radar help` in another channel is answered within a second."""
    release = threading.Event()

    def hung(_request: dict[str, Any]) -> Smart:
        release.wait(30)
        return Smart()

    with FakeLLM(default=hung) as llm, slack_rig(tmp_path, llm=llm) as rig:
        try:
            rig.command("category cs.LG")
            cards = rig.posted()[1:6]
            for n in range(5):
                if stuck == "brief":  # the whole radar's (a card's Brief is one paper's)
                    rig.slack.command("brief", user=f"UB{n}")
                else:
                    text = f"what does paper {n} distill?"
                    ts = rig.fake.user_says(C, text, thread_ts=cards[n].ts, user=f"UQ{n}")
                    event = thread_message(C, cards[n].ts, text, ts=ts, user=f"UQ{n}")
                    assert rig.slack.event(event).status_code == 200
            rig.fake.wait_for(lambda: llm.calls >= 1)

            asked = time.monotonic()
            rig.slack.command("help", channel="CHELP001")
            rig.fake.wait_for(
                lambda: any("Paper Radar commands" in json.dumps(e) for e in rig.private()),
                timeout=1.0,
            )
            assert time.monotonic() - asked < 1.0
            # All the while their own pool was full (a briefing asked five times
            # is one model call, the others wait on it), the rest queued behind.
            pool = rig.adapter.pools[stuck]
            rig.fake.wait_for(lambda: (pool.running, pool.waiting) == (pool.size, 5 - pool.size))
        finally:
            release.set()
        rig.settle()


# -- who asked: Slack's admins and owners, for the core's policy ---------------------------------


def test_changes_are_checked_against_slack_admin_status_looked_up_once(rig: Rig) -> None:
    from bot.settings import PermissionsSettings

    service = rig.radar.app.service
    service.config = replace(service.config, permissions=PermissionsSettings(change="admins"))
    rig.command("category cs.LG", user=ADMIN)
    assert header_text(rig.posted()[0]) == "Grace added category chip cs.LG."
    posted = len(rig.posted())
    for line in ("clear", "keyword diffusion", "schedule 09:00 UTC", "cap 3"):
        rig.command(line, user=MEMBER)
        refusal = rig.private()[-1]["blocks"][0]["text"]["text"]
        assert "workspace admins and owners" in refusal and "Nothing was changed" in refusal
    header = rig.posted()[0]
    remove = buttons(header)[0]
    rig.slack.action(remove["action_id"], remove["value"], message_ts=header.ts, user=MEMBER)
    rig.settle()
    assert "workspace admins and owners" in rig.private()[-1]["blocks"][0]["text"]["text"]
    assert rig.chips() == [("category", "cs.LG")] and len(rig.posted()) == posted
    # Reading, views and briefings stay open, and ask Slack nothing.
    lookups = len(rig.fake.calls_to("users.info"))
    rig.command("", user=MEMBER)
    rig.command("shuffle 2", user=MEMBER)
    assert len(rig.posted()) > posted
    assert len(rig.fake.calls_to("users.info")) == lookups
    rig.command("remove 1", user=OWNER)  # an owner without a display name: their name
    assert header_text(rig.posted()[-1]) == "alan removed category chip cs.LG."
    # One users.info per person, however many changes they tried.
    assert [c.args["user"] for c in rig.fake.calls_to("users.info")] == [ADMIN, MEMBER, OWNER]
