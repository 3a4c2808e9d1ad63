"""The Discord adapter, end to end, against a local Discord (tests/fakediscord.py).

The real app (SQLite, arXiv replayed from the real capture, pinned clock) and
the real discord.py client; only the network edge is fake. Each test runs
its own event loop with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.config import DiscordSettings
from bot.core.channel import ChannelRef
from bot.core.outgoing import for_run, run_messages
from bot.digest.deliver import DeliveryFailed, deliver
from bot.handlers import render_discord as rd
from bot.handlers.discord import DiscordAdapter, DiscordPoster
from bot.handlers.discord.adapter import intents
from bot.handlers.discord.poster import send_kwargs
from bot.settings import PermissionsSettings
from tests.fakediscord import (
    ALICE,
    BOB,
    CHANNEL,
    EPHEMERAL,
    GUILD,
    OTHER_CHANNEL,
    OTHER_GUILD,
    TOKEN,
    Bot,
    FakeDiscord,
    connected,
    custom_ids,
    labels,
)
from tests.fakellm import FakeLLM, Smart, llm_radar
from tests.flowkit import NOW, Radar, card_ids, radar

LAB = ChannelRef("discord", GUILD, CHANNEL, "lab")
MARKER = re.compile(r"^Paper Radar · (r\d+:\S+)$")


@pytest.fixture
def r(tmp_path: Path) -> Iterator[Radar]:
    with radar(tmp_path) as r:
        # Answers from the abstract: full texts are the Q&A tests' concern, and
        # fetching them would reach for arxiv.org.
        r.app.service.fulltext = None
        yield r


def chips(r: Radar, ref: ChannelRef = LAB) -> list[tuple[str, str]]:
    return r.chips(ref)


def markers(messages: list[dict[str, Any]]) -> list[str]:
    out = []
    for m in messages:
        for e in m["embeds"]:
            found = MARKER.match(e.get("footer", {}).get("text", ""))
            if found:
                out.append(found.group(1))
    return out


def text_of(messages: list[dict[str, Any]]) -> str:
    parts = []
    for m in messages:
        parts.append(m["content"])
        for e in m["embeds"]:
            parts += [e.get("title", ""), e.get("description", "")]
    return "\n".join(parts)


def is_ephemeral(message: dict[str, Any]) -> bool:
    return bool(message["flags"] & EPHEMERAL)


def title(message: dict[str, Any]) -> str:
    """The first line a person reads: a channel post's header embed title."""
    return str(message["embeds"][0].get("title", "")) if message["embeds"] else message["content"]


async def until(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def digest_of(bot: Bot, r: Radar) -> list[dict[str, Any]]:
    """Chips, then `/radar digest`; the channel's messages of that run."""
    await bot.command("category", {"name": "cs.LG"})
    r.clock.set(NOW + timedelta(minutes=1))
    before = len(bot.fake.channel_messages())
    await bot.command("digest")
    return [m for m in bot.fake.channel_messages()[before:] if markers([m])]


# -- connecting ---------------------------------------------------------------------------


def test_start_returns_once_ready_with_minimal_intents_and_syncs_each_guild(r: Radar) -> None:
    async def main() -> None:
        async with connected(r.app) as bot:
            assert bot.adapter.client.is_ready()
            identify = bot.fake.identifies[0]
            assert identify["token"] == "fake-bot-token"
            wanted = discord.Intents.none()
            wanted.guilds = wanted.guild_messages = wanted.message_content = True
            assert identify["intents"] == wanted.value == intents().value
            # Synced per guild (effective at once), never globally by default: the
            # one `/radar` group (its shape is tests/test_discord_payload.py's).
            assert set(bot.fake.synced) == {GUILD, OTHER_GUILD}
            assert [cmd["name"] for cmd in bot.fake.synced[GUILD]] == ["radar"]

    asyncio.run(main())


def test_configured_guilds_or_global_sync(r: Radar) -> None:
    async def main() -> None:
        async with connected(r.app, DiscordSettings(guilds=(OTHER_GUILD,))) as bot:
            assert set(bot.fake.synced) == {OTHER_GUILD}
        async with connected(r.app, DiscordSettings(global_sync=True)) as bot:
            assert set(bot.fake.synced) == {None}

    asyncio.run(main())


def test_without_the_message_content_intent_it_reconnects_without_it(r: Radar) -> None:
    async def main() -> None:
        async with connected(r.app, refuse_message_content=True) as bot:
            first, second = bot.fake.identifies
            assert first["intents"] & discord.Intents(message_content=True).value
            assert not second["intents"] & discord.Intents(message_content=True).value
            assert not bot.adapter.message_content and bot.adapter.client.is_ready()
            rec = await bot.command("show")
            assert title(rec.posted[0]) == "This channel's radar"

    asyncio.run(main())


def test_a_bad_token_fails_start_and_bad_settings_fail_early(r: Radar) -> None:
    async def main() -> None:
        fake = FakeDiscord(now=r.clock.now)
        await fake.start()
        adapter = DiscordAdapter(r.app, DiscordSettings(api_url=fake.api_url), "wrong")
        try:
            with pytest.raises(discord.LoginFailure):
                await adapter.start()
        finally:
            await adapter.stop()
            await fake.stop()

    asyncio.run(main())
    with pytest.raises(Exception, match="manage_permission"):
        DiscordAdapter(r.app, DiscordSettings(manage_permission="manage_everything"), "t")
    with pytest.raises(Exception, match="guild ids"):
        DiscordAdapter(r.app, DiscordSettings(guilds=("lab",)), "t")


def test_a_stop_while_the_gateway_never_says_hello_ends_the_start_at_once(r: Radar) -> None:
    """What SIGTERM does to `paper-radar run` (``serve``'s stop event) while
    Discord's gateway hangs: the start is abandoned and everything closes."""
    from bot.run import serve

    async def main() -> None:
        fake = FakeDiscord(now=r.clock.now, hello=False)
        await fake.start()
        try:
            adapter = DiscordAdapter(r.app, DiscordSettings(api_url=fake.api_url), TOKEN)
            stop = asyncio.Event()
            serving = asyncio.create_task(serve(r.app, [adapter], stop))
            deadline = time.monotonic() + 10
            while not fake.gateway_connections:
                assert time.monotonic() < deadline and not serving.done()
                await asyncio.sleep(0.01)
            stop.set()
            stopped = time.monotonic()
            await asyncio.wait_for(serving, 10)
            assert time.monotonic() - stopped < 3.0
            assert adapter.client.is_closed()
        finally:
            await fake.stop()

    asyncio.run(main())


# -- answering interactions -----------------------------------------------------------------


def test_every_interaction_is_acknowledged_before_the_work_is_done(r: Radar) -> None:
    gate = threading.Event()
    real = r.app.service.respond

    def slow(ref: ChannelRef, line: str, actor: Any = None) -> Any:
        gate.wait(10)  # arXiv or the database taking its time
        return real(ref, line, actor)

    r.app.service.respond = slow  # type: ignore[method-assign]

    async def main() -> None:
        async with connected(r.app) as bot:
            before = bot.adapter.completed
            rec = await bot.fake.interact("category", {"name": "cs.LG"})
            while not rec.callbacks:
                await asyncio.sleep(0.01)
            assert rec.callbacks[0] == {"type": 5}  # deferred, "thinking", public
            assert rec.acked_at is not None and rec.acked_at - rec.sent_at < 3.0
            assert rec.messages == []
            gate.set()
            await bot._done(before)
            # The reply is in the channel; the "thinking" message is tidied away.
            header = bot.fake.channel_messages()[0]
            assert title(header) == "alice added category chip cs.LG."
            assert rec.messages == [] and not is_ephemeral(header)

    try:
        asyncio.run(main())
    finally:
        gate.set()


def test_usage_errors_are_ephemeral_and_change_nothing(r: Radar) -> None:
    async def main() -> None:
        async with connected(r.app) as bot:
            for sub, options in [
                ("schedule", {"time": "25:99", "zone": "Europe/Berlin"}),
                ("schedule", {"time": "09:00", "zone": "Mars/Olympus"}),
                ("category", {"name": "cs.XX"}),
                ("keyword", {"words": "au:x OR cat:*"}),
            ]:
                rec = await bot.command(sub, options)
                assert rec.callbacks[0]["type"] == 5
                assert rec.callbacks[0]["data"]["flags"] == EPHEMERAL
                (message,) = rec.messages
                assert is_ephemeral(message)
                assert "Usage: /radar" in message["content"]
            rec = await bot.command("help")
            assert is_ephemeral(rec.messages[0])
            # An error only the service can see (no such chip): the public
            # "thinking" message is replaced by an ephemeral one.
            rec = await bot.command("remove", {"chip": "7"})
            assert rec.deleted and all(is_ephemeral(m) for m in rec.messages)
            assert "no chips to remove" in rec.messages[0]["content"]
            assert bot.fake.channel_messages() == []
        assert r.app.store.find_channel(LAB) is None

    asyncio.run(main())


def test_under_an_admins_policy_changes_need_manage_channels_reading_does_not(r: Radar) -> None:
    """The core decides (``[permissions] change = "admins"``); the adapter says
    who asked and whether they hold Manage Channels there."""
    service = r.app.service
    service.config = replace(service.config, permissions=PermissionsSettings(change="admins"))

    async def main() -> None:
        async with connected(r.app) as bot:
            rec = await bot.command("category", {"name": "cs.LG"}, who=ALICE)
            assert title(rec.posted[0]) == "alice added category chip cs.LG."
            for sub, options in [
                ("author", {"name": "Yehui Tang"}),
                ("remove", {"chip": "1"}),
                ("clear", {}),
                ("schedule", {"time": "09:00"}),
                ("cap", {"n": 3}),
                ("brief", {"topic": "every week"}),
            ]:
                rec = await bot.command(sub, options, who=BOB)
                (message,) = rec.messages
                assert is_ephemeral(message), sub
                assert "Manage Channels" in message["content"], sub
                assert "Nothing was changed" in message["content"], sub
            header = next(m for m in bot.fake.channel_messages() if custom_ids(m))
            remove = next(i for i in custom_ids(header) if i.startswith("radar:chip:"))
            rec = await bot.click(header, remove, who=BOB)
            assert "Manage Channels" in text_of(rec.messages)
            assert chips(r) == [("category", "cs.LG")]
            state = r.app.store.find_channel(LAB)
            assert state is not None and state.schedule_time is None and state.digest_cap == 10
            for sub, options in [
                ("show", {}),
                ("shuffle", {"n": 2}),
                ("filter", {"terms": "since:7d"}),
            ]:
                rec = await bot.command(sub, options, who=BOB)
                assert rec.posted and rec.messages == [], sub
            # With no option, cap and schedule say the setting: a read, to the asker.
            for sub, says in [
                ("cap", "Digests show up to 10 cards."),
                ("schedule", "Schedule: off (set one with `/radar schedule 09:00"),
            ]:
                rec = await bot.command(sub, {}, who=BOB)
                (message,) = rec.messages
                assert is_ephemeral(message) and says in message["content"], sub
                assert not rec.posted, sub
            # A direct message is the person's own radar.
            rec = await bot.command(
                "category", {"name": "cs.AI"}, who=BOB, channel="1600000000000000009", guild=None
            )
            assert title(rec.posted[0]) == "bob added category chip cs.AI."
            assert rec.posted[0]["channel_id"] == "1600000000000000009"
        assert chips(r, ChannelRef("discord", "dm", "1600000000000000009")) == [
            ("category", "cs.AI")
        ]

    asyncio.run(main())


def test_by_default_any_member_may_change_the_radar_and_is_named(r: Radar) -> None:
    async def main() -> None:
        async with connected(r.app) as bot:
            rec = await bot.command("category", {"name": "cs.LG"}, who=BOB)
            assert title(rec.posted[0]) == "bob added category chip cs.LG."
            assert rec.messages == []
        assert chips(r) == [("category", "cs.LG")]

    asyncio.run(main())


def test_channels_are_isolated_by_guild_and_channel_and_threads_use_their_parent(r: Radar) -> None:
    async def main() -> None:
        async with connected(r.app) as bot:
            await bot.command("category", {"name": "cs.LG"})
            await bot.command("category", {"name": "cs.CL"}, channel=OTHER_CHANNEL)
            # The same channel id under another guild id is another radar.
            await bot.command("category", {"name": "cs.AI"}, guild=OTHER_GUILD)
            messages = await digest_of(bot, r)
            card = next(m for m in messages if custom_ids(m)[:1] == ["radar:ask:1:" + key_of(m)])
            await bot.click(card, custom_ids(card)[0])
            thread = card["id"]
            await bot.command("keyword", {"words": "agents"}, channel=thread)

    asyncio.run(main())
    assert chips(r) == [("category", "cs.LG"), ("keyword", "agents")]
    assert chips(r, ChannelRef("discord", GUILD, OTHER_CHANNEL)) == [("category", "cs.CL")]
    assert chips(r, ChannelRef("discord", OTHER_GUILD, CHANNEL)) == [("category", "cs.AI")]


def test_a_burst_of_commands_in_one_channel_keeps_each_reply_together(r: Radar) -> None:
    """Five `/radar` commands at once in one channel, on a Discord slow enough
    for their posts to overlap: each reply's header, cards and footer arrive
    together and in order, and the two simultaneous shuffles draw different
    papers."""

    async def main() -> None:
        async with connected(r.app) as bot:
            await bot.command("category", {"name": "cs.LG"})
            bot.fake.delays[("POST", rf"^/channels/{CHANNEL}/messages$")] = 0.02
            before_posts = len(bot.fake.channel_messages())
            before = bot.adapter.completed
            burst = [
                ("shuffle", {"n": 3}),
                ("filter", {"terms": "since:30d"}),
                ("shuffle", {"n": 3}),
                ("category", {"name": "cs.CL"}),
                ("filter", {"terms": "cat:cs.LG"}),
            ]
            for sub, options in burst:
                await bot.fake.interact(sub, options)
            await until(lambda: bot.adapter.completed >= before + len(burst))
            posted = bot.fake.channel_messages()[before_posts:]
            replies: dict[str, list[tuple[str, dict[str, Any]]]] = {}
            last = None
            for message in posted:
                (embed,) = message["embeds"]
                prefix, part = embed["footer"]["text"].removeprefix(rd.MARKER_PREFIX).split(":", 1)
                if prefix != last:
                    assert prefix not in replies, f"reply {prefix} was interrupted"
                    last = prefix
                replies.setdefault(prefix, []).append((part, embed))
            assert len(replies) == len(burst)
            shuffled = []
            for reply in replies.values():
                parts = [part for part, _ in reply]
                cards = [embed for part, embed in reply if part.startswith("card:")]
                assert parts[0] == "header" and cards
                assert parts[1 + len(cards) :] in ([], ["footer"])
                numbers = [embed["author"]["name"][:3] for embed in cards]
                assert numbers == [f"{n:02d}." for n in range(1, len(cards) + 1)]
                if reply[0][1]["title"].startswith("Shuffle:"):
                    shuffled.append([embed["url"] for embed in cards])
            assert [len(urls) for urls in shuffled] == [3, 3]
            assert not set(shuffled[0]) & set(shuffled[1])

    asyncio.run(main())


# -- digests: one message per card, exactly once ----------------------------------------------


def test_digest_posts_header_cards_and_footer_once_each_with_markers(r: Radar) -> None:
    async def main() -> None:
        async with connected(r.app) as bot:
            await bot.command("cap", {"n": 5})
            messages = await digest_of(bot, r)
            header, *cards, footer = messages
            run = r.app.store.last_run(r.app.store.find_channel(LAB).id)  # type: ignore[union-attr]
            assert run is not None and run.finished_at is not None
            assert markers(messages) == [
                o.marker
                for o in run_messages(
                    run.id, r.app.service.run_reply(run, r.app.store.channel(LAB))
                )
            ]
            assert header["embeds"][0]["title"].startswith("Paper Radar digest, 2026-04-30: 5 new")
            assert custom_ids(header)[-2:] == ["radar:shuffle", "radar:brief"]
            assert labels(header)[0] == "× category: cs.LG"
            assert len(cards) == 5
            for n, card in enumerate(cards, start=1):
                (embed,) = card["embeds"]
                assert embed["author"]["name"].startswith(f"{n:02d}.  arXiv (")
                assert embed["url"].startswith("https://arxiv.org/abs/")
                cid, brief, *feedback = custom_ids(card)
                assert re.fullmatch(rf"radar:ask:{n}:arxiv:\S+", cid)
                key = cid.split(":", 3)[3]
                assert brief == f"radar:brief:{n}:{key}"  # that paper, in its thread
                assert feedback == [f"radar:{p}:{key}" for p in ("more", "less", "save")]
                assert labels(card) == [
                    "Ask about this paper",
                    "Brief",
                    "More like this",
                    "Less like this",
                    "Save",
                ]
            assert "more matching paper" in footer["embeds"][0]["description"]

    asyncio.run(main())


def test_a_failed_post_leaves_the_run_for_a_retry_that_posts_the_rest_once(r: Radar) -> None:
    async def main() -> None:
        async with connected(r.app) as bot:
            await bot.command("cap", {"n": 4})
            await bot.command("category", {"name": "cs.LG"})
            r.clock.set(NOW + timedelta(minutes=1))
            bot.fake.fail("POST", rf"^/channels/{CHANNEL}/messages$", 503, after=2)
            rec = await bot.command("digest")
            assert "Discord refused part of this digest" in rec.messages[0]["content"]
            (run,) = r.app.store.unfinished_runs()
            assert len(markers(bot.fake.channel_messages())) == 2  # header and card 01
            # Later (the scheduler's retry), the same run resumes where it stopped.
            state = r.app.store.channel(LAB)
            reply = r.app.service.run_reply(run, state)
            post = for_run(LAB, state.id, run.id, reply)
            done = await deliver(r.app.store, bot.adapter.poster, r.app.clock, post)
            assert done.posted == len(run_messages(run.id, reply)) - 2
            all_markers = markers(bot.fake.channel_messages())
            assert all_markers == [o.marker for o in run_messages(run.id, reply)]
            assert r.app.store.unfinished_runs() == []

    asyncio.run(main())


class CrashAfterPosting(DiscordPoster):
    """Posts, then dies before delivery can record it (a crash or a lost response)."""

    def __init__(self, inner: DiscordPoster, crash_on: int) -> None:
        self.inner, self.crash_on, self.sent = inner, crash_on, 0

    async def send(self, ref: ChannelRef, out: Any, thread: str | None = None) -> str:
        message = await self.inner.send(ref, out, thread)
        self.sent += 1
        if self.sent == self.crash_on:
            raise ConnectionResetError("lost the response")
        return message

    async def find(self, ref: ChannelRef, marker: str, since: Any) -> str | None:
        return await self.inner.find(ref, marker, since)


def test_a_post_whose_record_was_lost_is_found_by_its_marker_not_posted_twice(r: Radar) -> None:
    async def main() -> None:
        async with connected(r.app) as bot:
            await bot.command("cap", {"n": 3})
            await bot.command("category", {"name": "cs.LG"})
            r.clock.set(NOW + timedelta(minutes=1))
            post = await asyncio.to_thread(r.app.service.respond, LAB, "digest")
            assert post.run_id is not None
            run_id, channel_id, reply = post.run_id, post.channel_id, post.reply
            crashing = CrashAfterPosting(bot.adapter.poster, crash_on=2)
            with pytest.raises(DeliveryFailed) as failed:
                await deliver(r.app.store, crashing, r.app.clock, post)
            assert isinstance(failed.value.__cause__, ConnectionResetError)
            assert (
                r.app.store.outbox(channel_id, f"r{run_id}:card:{reply.cards[0].key}").status
                == "sending"
            )  # type: ignore[union-attr]
            reads = sum(
                1 for m, p, _ in bot.fake.requests if m == "GET" and p.endswith("/messages")
            )
            await deliver(r.app.store, bot.adapter.poster, r.app.clock, post)
            got = markers(bot.fake.channel_messages())
            assert got == [o.marker for o in run_messages(run_id, reply)]  # each exactly once
            assert (
                sum(1 for m, p, _ in bot.fake.requests if m == "GET" and p.endswith("/messages"))
                == reads + 1
            )
            marker = f"r{run_id}:card:{reply.cards[0].key}"
            state = r.app.store.outbox(channel_id, marker)
            assert state is not None and state.status == "sent"
            (posted,) = [m for m in bot.fake.channel_messages() if markers([m]) == [marker]]
            assert state.message_ref == posted["id"]

    asyncio.run(main())


def test_a_429_is_waited_out_by_discord_py_and_nothing_is_doubled(r: Radar) -> None:
    async def main() -> None:
        async with connected(r.app) as bot:
            await bot.command("cap", {"n": 2})
            await bot.command("category", {"name": "cs.LG"})

            def posts() -> int:
                path = f"/channels/{CHANNEL}/messages"
                return sum(1 for m, p, _ in bot.fake.requests if m == "POST" and p == path)

            before = posts()
            bot.fake.rate_limit("POST", rf"^/channels/{CHANNEL}/messages$", retry_after=0.05)
            r.clock.set(NOW + timedelta(minutes=1))
            rec = await bot.command("digest")
            messages = rec.posted
            assert len(messages) == 4 and len(set(markers(messages))) == 4
            assert posts() - before == 5  # one was refused with 429 and retried

    asyncio.run(main())


def test_help_is_answered_at_once_while_briefings_are_stuck(tmp_path: Path) -> None:
    """The model never answers: more briefings than the loop's default thread
    pool has threads wait on it, and `/radar help` is answered within a second."""
    release = threading.Event()

    def hung(_request: dict[str, Any]) -> Smart:
        release.wait(30)
        return Smart()

    stuck = min(32, (os.cpu_count() or 1) + 4) + 1  # asyncio.to_thread's threads, plus one

    async def main(app: Any) -> None:
        async with connected(app) as bot:
            await bot.command("category", {"name": "cs.LG"})
            before = bot.adapter.completed
            briefs = [
                await bot.fake.interact("brief", who=(ALICE, BOB)[n % 2]) for n in range(stuck)
            ]
            deadline = time.monotonic() + 10
            while llm.calls < 1 or not all(rec.callbacks for rec in briefs):
                assert time.monotonic() < deadline, "the briefings did not start"
                await asyncio.sleep(0.01)

            asked = time.monotonic()
            rec = await bot.fake.interact("help", who=BOB, channel=OTHER_CHANNEL)
            while not rec.messages:
                assert time.monotonic() - asked < 1.0, "help waited for the briefings"
                await asyncio.sleep(0.01)
            assert "Paper Radar commands" in text_of(rec.messages)
            # All the while the briefing pool was full, the rest queued behind it.
            pool = bot.adapter.pools["brief"]
            assert (pool.running, pool.waiting) == (pool.size, stuck - pool.size)
            release.set()
            await bot._done(before + stuck)

    with FakeLLM(default=hung) as llm, llm_radar(tmp_path, llm, timeout_seconds=30.0) as r:
        try:
            asyncio.run(main(r.app))
        finally:
            release.set()


# -- buttons ------------------------------------------------------------------------------------


def test_buttons_shuffle_remove_and_survive_a_restart(r: Radar) -> None:
    async def main() -> None:
        fake = FakeDiscord(now=r.clock.now)
        await fake.start()
        try:
            async with connected(r.app, fake=fake) as bot:
                await bot.command("keyword", {"words": "agents"})
                header, *_ = await digest_of(bot, r)
            # A new process: the buttons on last run's messages still work.
            async with connected(r.app, fake=fake) as bot:
                ids = custom_ids(header)
                assert ids == [f"radar:chip:{cid}" for cid, _ in r.app.store.channel(LAB).chips] + [
                    "radar:shuffle",
                    "radar:brief",
                ]
                rec = await bot.click(header, "radar:shuffle", who=BOB)
                shuffle, *cards = rec.posted
                assert title(shuffle).startswith("Shuffle: 5 of")
                assert [len(m["embeds"]) for m in cards] == [1] * 5  # a message per card
                rec = await bot.click(header, ids[1], who=ALICE)  # × cs.LG
                assert title(rec.posted[0]) == "alice removed category chip cs.LG."
                assert chips(r) == [("keyword", "agents")]
                rec = await bot.click(header, ids[1], who=ALICE)  # pressed again
                assert is_ephemeral(rec.messages[0])
                assert "no longer on this radar" in rec.messages[0]["content"]
                rec = await bot.click(header, "radar:brief")
                assert rec.posted, "Brief answers"
        finally:
            await fake.stop()

    asyncio.run(main())


# -- feedback on cards (issue 12) ----------------------------------------------------------------

#: "Turning the TIDE" and the cs.LG paper nearest to it (tests/test_likes.py).
TIDE = "arxiv:2604.26951"
EDGE_KD = "arxiv:2604.26857"


def key_of(message: dict[str, Any]) -> str:
    """The paper key a card message's Ask button carries ("" for other messages)."""
    ids = custom_ids(message)
    return ids[0].split(":", 3)[3] if ids and ids[0].startswith("radar:ask:") else ""


def test_more_like_this_records_the_feedback_once_and_reorders_the_radar(r: Radar) -> None:
    async def main() -> None:
        async with connected(r.app) as bot:
            rec = await bot.command("filter", {"terms": "since:7d"})
            assert [key_of(m) for m in rec.posted if key_of(m)] == before  # one order
            card = next(m for m in rec.posted if key_of(m) == TIDE)
            rec = await bot.click(card, f"radar:more:{TIDE}", who=BOB)
            assert is_ephemeral(rec.messages[-1]) and not rec.posted
            assert "More like this: noted." in text_of(rec.messages)
            rec = await bot.click(card, f"radar:more:{TIDE}", who=BOB)  # again: once
            assert "already marked" in text_of(rec.messages)

    r.say("/radar category cs.LG", LAB)
    r.say("/radar cap 20", LAB)
    before = ["arxiv:" + i for i in card_ids(r.say("/radar filter since:7d", LAB))]
    assert before.index(EDGE_KD) > 3  # newest first puts it low
    asyncio.run(main())
    assert "Feedback: 1 liked or saved, 0 disliked" in r.say("/radar likes", LAB)
    after = ["arxiv:" + i for i in card_ids(r.say("/radar filter since:7d", LAB))]
    assert sorted(after) == sorted(before) and after != before
    assert after.index(EDGE_KD) < before.index(EDGE_KD)


# -- threads ------------------------------------------------------------------------------------


def test_ask_opens_a_thread_on_the_card_and_answers_questions_with_context(r: Radar) -> None:
    asked: list[tuple[str, str, tuple[str, ...]]] = []
    real = r.app.service.ask

    def spy(
        ref: ChannelRef, message_ref: str, question: str, history: Any = (), user: Any = None
    ) -> Any:
        asked.append((message_ref, question, tuple(history)))
        return real(ref, message_ref, question, history, user)

    r.app.service.ask = spy  # type: ignore[method-assign]

    async def main() -> None:
        async with connected(r.app) as bot:
            await bot.command("cap", {"n": 2})
            _, card, *_ = await digest_of(bot, r)
            rec = await bot.click(card, custom_ids(card)[0], who=BOB)
            thread = card["id"]  # a thread started from a message has its id
            assert thread in bot.fake.threads
            assert bot.fake.threads[thread]["name"].startswith("01. ")
            assert rec.messages[0]["content"] == f"Ask away in <#{thread}>."
            assert is_ephemeral(rec.messages[0])
            intro = bot.fake.channel_messages(thread)
            assert len(intro) == 1 and "every message here is a question" in intro[0]["content"]
            # Pressed again: the same thread, no second intro.
            await bot.click(card, custom_ids(card)[0])
            assert len(bot.fake.channel_messages(thread)) == 1

            await bot.say(thread, "What problem does this paper address?", who=BOB)
            answer = bot.fake.channel_messages(thread)[-1]
            assert answer["author"]["bot"] and answer["content"].startswith("**About: ")
            await bot.say(thread, "How is it evaluated?")
            assert len(asked) == 2
            assert asked[0][:2] == (thread, "What problem does this paper address?")
            assert "What problem does this paper address?" in asked[1][2]  # earlier turns

            # Other bots, and threads that are not about a card, get no answer.
            await bot.say(thread, "What problem does this paper address?", bot=True)
            assert bot.fake.channel_messages(thread)[-1]["author"]["username"] == "other-bot"
            other = bot.fake.channel_messages()[0]["id"]  # the chip reply: not a card
            bot.fake.threads[other] = bot.fake._thread_payload(other, CHANNEL, "chat")
            await bot.say(other, "anyone here?")
            assert bot.fake.channel_messages(other)[-1]["content"] == "anyone here?"
            assert len(asked) == 2

    asyncio.run(main())


def test_radar_ask_answers_in_the_cards_thread_when_it_has_one(r: Radar) -> None:
    async def main() -> None:
        async with connected(r.app) as bot:
            await bot.command("cap", {"n": 2})
            _, first, second, *_ = await digest_of(bot, r)
            await bot.click(first, custom_ids(first)[0], who=BOB)  # Ask: opens its thread
            thread = first["id"]
            rec = await bot.command("ask", {"paper": "1", "question": "What is evaluated?"})
            assert rec.messages[0]["content"] == f"Answered in <#{thread}>."
            answer = bot.fake.channel_messages(thread)[-1]
            assert answer["author"]["bot"]
            assert "alice asked: What is evaluated?" in answer["content"]
            # Card 02 has no thread yet: the answer comes in the channel.
            rec = await bot.command("ask", {"paper": "2", "question": "What is evaluated?"})
            assert "alice asked: What is evaluated?" in text_of(rec.posted)
            assert second["id"] not in bot.fake.threads

    asyncio.run(main())


def test_ask_on_a_message_of_several_cards_opens_a_thread_per_paper(r: Radar) -> None:
    async def main() -> None:
        async with connected(r.app) as bot:
            chip = await asyncio.to_thread(r.app.service.handle, LAB, "category cs.LG")
            # A message of several cards, as earlier versions posted a chip reply:
            # its buttons still work.
            sent = await bot.adapter.poster.channel(LAB).send(**send_kwargs(rd.plan(chip)[0]))
            (reply,) = [m for m in bot.fake.channel_messages() if m["id"] == str(sent.id)]
            assert len(reply["embeds"]) == 5
            ids = custom_ids(reply)
            assert labels(reply)[-5:] == [f"Ask about {n:02d}" for n in range(1, 6)]
            await bot.click(reply, ids[-2])  # card 04
            (tid,) = [t for t in bot.fake.threads if t != reply["id"]]
            assert bot.fake.threads[tid]["name"].startswith("04. ")
            await bot.say(tid, "What is the main result?")
            answer = bot.fake.channel_messages(tid)[-1]
            title = reply["embeds"][3]["title"]
            assert answer["content"].startswith(f"**About: {title[:20]}")

    asyncio.run(main())


# -- autocomplete ---------------------------------------------------------------------------------


def test_autocomplete_categories_zones_and_this_channels_chips(r: Radar) -> None:
    async def main() -> None:
        async with connected(r.app) as bot:
            choices = await bot.complete("category", {"name": "cs.c"}, "name")
            assert "cs.CL" in [c["value"] for c in choices] and len(choices) <= 25
            choices = await bot.complete("category", {"name": "computation and lang"}, "name")
            assert choices[0]["value"] == "cs.CL"
            choices = await bot.complete("schedule", {"time": "09:00", "zone": "berl"}, "zone")
            assert [c["value"] for c in choices] == ["Europe/Berlin"]
            assert await bot.complete("schedule", {"time": "09:00", "zone": ""}, "zone")
            await bot.command("category", {"name": "cs.LG"})
            await bot.command("author", {"name": "Yehui Tang"})
            await bot.command("keyword", {"words": "secret other channel"}, channel=OTHER_CHANNEL)
            choices = await bot.complete("remove", {"chip": ""}, "chip")
            assert choices == [
                {"name": "1. category: cs.LG", "value": "1"},
                {"name": "2. author: Yehui Tang", "value": "2"},
            ]
            assert await bot.complete("remove", {"chip": "tang"}, "chip") == choices[1:]
            rec = await bot.command("remove", {"chip": "2"})
            assert title(rec.posted[0]) == "alice removed author chip Yehui Tang."

    asyncio.run(main())


# -- nobody gets pinged ----------------------------------------------------------------------

HOSTILE = (
    "pingtest @everyone and @here, <@123> <@!123> <@&456> <#789> [click](https://evil.example)"
)
PINGS = ("@everyone", "@here", "<@123>", "<@!123>", "<@&456>", "<#789>", "[click](")


def test_paper_text_can_never_ping_anyone(r: Radar) -> None:
    async def main() -> None:
        async with connected(r.app) as bot:
            await bot.command("category", {"name": "cs.LG"})
            base = r.app.store.papers_since(NOW - timedelta(days=30))[0]
            for i in (1, 2):
                hostile = replace(
                    base,
                    key=f"arxiv:9999.0000{i}",
                    url=f"https://arxiv.org/abs/9999.0000{i}",
                    title=f"@everyone <@&456> {base.title}",
                    authors=("@here", "<@123>", *base.authors[:1]),
                    abstract=f"{HOSTILE}. {base.abstract}",
                )
                r.app.store.upsert_papers([hostile], NOW)
                if i == 1:
                    rec = await bot.command("keyword", {"words": "pingtest"})
                    assert "everyone" in text_of(rec.posted)
            r.clock.set(NOW + timedelta(minutes=1))
            await bot.command("digest")
            card = next(m for m in bot.fake.channel_messages() if "9999.00002" in str(m["embeds"]))
            await bot.click(card, custom_ids(card)[0])
            await bot.say(card["id"], "Does it mention everyone and here?")
            bodies = bot.fake.message_bodies()
            assert len(bodies) > 10
            for body in bodies:
                data = body.get("data", body) if body.get("type") in (4, 5) else body
                if body.get("type") == 5:
                    continue
                assert data.get("allowed_mentions") == {"parse": []}, body
            seen = "\n".join(text_of(bot.fake.channel_messages(c)) for c in (CHANNEL, card["id"]))
            assert "9999.00002" in str(bot.fake.channel_messages())
            for token in PINGS:
                assert token not in seen, token

    asyncio.run(main())


def test_poster_parses_only_its_own_markers() -> None:
    assert rd.marker_of({"footer": {"text": "Paper Radar · r3:card:arxiv:1"}}) == "r3:card:arxiv:1"
    assert rd.marker_of({"footer": {"text": "someone else · r3"}}) is None
    assert rd.marker_of({}) is None
    assert is_ephemeral({"flags": EPHEMERAL})
