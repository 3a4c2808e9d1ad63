"""One grammar, one core: the same commands give the same core replies on every platform.

The same script runs on three fresh bots (same capture, clock and seed): typed
into the console, sent as `/radar` slash commands with typed options through
the Discord adapter (real discord.py against tests/fakediscord.py), and as
Slack slash commands through Bolt (against tests/fakeslack.py). Every platform
must hand the core the same line and get the same ``Reply`` back: what differs
between platforms is only how a reply is drawn.

Both adapters are imported at the top: an adapter that cannot be imported is
an error here, never a platform silently left out of the comparison.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.core.actor import Actor
from bot.core.cards import Reply
from bot.core.channel import ChannelRef
from bot.core.outgoing import Outbound
from bot.handlers.discord import command_line
from tests.fakediscord import connected
from tests.flowkit import Radar, radar
from tests.test_slack import slack_rig

#: (console line, Discord subcommand, its options), in order.
SCRIPT: list[tuple[str, str, dict[str, Any]]] = [
    ("show", "show", {}),
    ("category cs.LG", "category", {"name": "cs.LG"}),
    ("keyword -survey", "keyword", {"words": "-survey"}),
    ('keyword "language model"', "keyword", {"words": '"language model"'}),
    ("author Yehui Tang", "author", {"name": "Yehui Tang"}),
    ("source arxiv", "source", {"name": "arxiv"}),
    ("show", "show", {}),
    ("shuffle 3", "shuffle", {"n": 3}),
    ("shuffle", "shuffle", {}),
    (
        'filter since:7d cat:cs.LG -survey "neural"',
        "filter",
        {"terms": 'since:7d cat:cs.LG -survey "neural"'},
    ),
    ("remove 4", "remove", {"chip": "4"}),
    ("remove language model", "remove", {"chip": "language model"}),
    ("schedule 09:00 Europe/Berlin", "schedule", {"time": "09:00", "zone": "Europe/Berlin"}),
    ("schedule 7:30", "schedule", {"time": "7:30"}),
    ("cap 4", "cap", {"n": 4}),
    ("digest", "digest", {}),
    ("digest", "digest", {}),
    ("brief", "brief", {}),
    ("brief neural networks", "brief", {"topic": "neural networks"}),
    ("brief every week", "brief", {"topic": "every week"}),
    ("help", "help", {}),
    ("help filter", "help", {"command": "filter"}),
    # Refused the same way everywhere.
    ("schedule 25:00", "schedule", {"time": "25:00"}),
    ("schedule 09:00 Mars/Olympus", "schedule", {"time": "09:00", "zone": "Mars/Olympus"}),
    ("category cs.XX", "category", {"name": "cs.XX"}),
    ("keyword au:x OR cat:*", "keyword", {"words": "au:x OR cat:*"}),
    ("remove 99", "remove", {"chip": "99"}),
    ("schedule off", "schedule", {"time": "off"}),
    ("clear", "clear", {}),
    ("digest", "digest", {}),
]


#: Who sends every line, on every platform. Each platform names its own
#: person (the console's "You", a Slack or Discord user), and changes are
#: announced with that name; parity is of the grammar and its execution, so
#: the same person is put behind every line. (Who may change what is
#: tests/test_permissions.py's.)
WHO = Actor("U0PARITY", "Ada", is_admin=True)


def recording(r: Radar) -> list[tuple[str, Reply]]:
    """Every (line, reply) the core is asked for, in order: each platform hands
    a typed line to ``RadarService.respond`` (``handle`` is its reply alone)."""
    seen: list[tuple[str, Reply]] = []
    real = r.app.service.respond

    def respond(ref: ChannelRef, line: str, actor: Actor | None = None) -> Outbound:
        out = real(ref, line, WHO)
        seen.append((line, out.reply))
        return out

    r.app.service.respond = respond  # type: ignore[method-assign]
    return seen


def quiet(r: Radar) -> Radar:
    r.app.service.fulltext = None  # no reaching for arxiv.org
    return r


def console(tmp_path: Path) -> list[tuple[str, Reply]]:
    with radar(tmp_path / "console") as r:
        seen = recording(quiet(r))
        for line, _, _ in SCRIPT:
            r.reply(line)
        return seen


def discord(tmp_path: Path) -> list[tuple[str, Reply]]:
    with radar(tmp_path / "discord") as r:
        seen = recording(quiet(r))

        async def main() -> None:
            async with connected(r.app) as bot:
                for _, sub, options in SCRIPT:
                    await bot.command(sub, options)

        asyncio.run(main())
        return seen


def slack(tmp_path: Path) -> list[tuple[str, Reply]]:
    """The Slack path, through that adapter's own test rig."""
    with slack_rig(tmp_path / "slack") as rig:
        seen = recording(rig.radar)
        for line, _, _ in SCRIPT:
            rig.command(line)
        return seen


def test_discord_options_build_the_consoles_lines() -> None:
    for line, sub, options in SCRIPT:
        assert command_line(sub, *options.values()) == line


def test_console_discord_and_slack_get_the_same_core_replies(tmp_path: Path) -> None:
    want = console(tmp_path)
    assert [line for line, _ in want] == [line for line, _, _ in SCRIPT]
    kinds = {reply.kind for _, reply in want}
    assert {"radar", "shuffle", "filter", "digest", "help", "error", "info"} <= kinds
    assert any(reply.cards for _, reply in want if reply.kind == "digest")

    got = discord(tmp_path)
    assert [line for line, _ in got] == [line for line, _ in want]
    for (line, mine), (_, theirs) in zip(got, want, strict=True):
        assert mine == theirs, line

    via_slack = slack(tmp_path)
    assert [line for line, _ in via_slack] == [line for line, _ in want]
    for (line, mine), (_, theirs) in zip(via_slack, want, strict=True):
        assert mine == theirs, line
