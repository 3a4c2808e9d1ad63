"""Who may change a channel's radar: one policy in the core, for every platform.

The real service (``tests.flowkit``: SQLite file, the arXiv capture replayed
locally) is asked through ``RadarService.handle(ref, line, actor)`` exactly as
the Slack and Discord adapters ask it, with the ``Actor`` they build from what
the platform says about the person. The checks are what a person notices: a
refused change says what it takes and leaves the database as it was; an
allowed one is announced in the channel, naming who made it, without a ping.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot import config as config_mod
from bot.core import permissions
from bot.core.actor import LOCAL, Actor
from bot.core.cards import Reply
from bot.core.channel import ChannelRef
from bot.errors import ConfigError
from bot.handlers import render_discord, render_slack, render_text
from bot.settings import PermissionsSettings
from tests.flowkit import Radar, radar

SLACK = ChannelRef("slack", "T1", "C1", "lab")
DISCORD = ChannelRef("discord", "9001", "42", "lab")
ALICE = Actor("U1ALICE", "Alice")
BOB = Actor("U2BOB", "Bob")
ADMIN = Actor("U3OWNER", "Olga", is_admin=True)

#: Every kind of change, each valid on a radar holding cs.CL and distillation.
CHANGES = [
    "keyword -survey",
    "category cs.LG",
    "source arxiv",
    "author Jorg Frochte",
    "pick 1",
    "remove 1",
    "clear",
    "schedule 09:00 Europe/Berlin",
    "schedule off",
    "cap 3",
    "brief every week",
    "brief off",
]
#: Reading, views, briefings and questions: open to everyone under every policy.
OPEN = ["", "help", "help ask", "digest", "shuffle 2", "filter since:7d", "brief", "ask 1 why?"]


@pytest.fixture
def r(tmp_path: Path) -> Iterator[Radar]:
    with radar(tmp_path) as bot:
        bot.app.service.fulltext = None  # answers from the abstract: no arxiv.org
        yield bot


def policy(r: Radar, change: str, users: tuple[str, ...] = ()) -> None:
    service = r.app.service
    service.config = replace(service.config, permissions=PermissionsSettings(change, users))


def seed(r: Radar, ref: ChannelRef = SLACK) -> None:
    """cs.CL and distillation, and the cards of their replies, by an admin."""
    for line in ("category cs.CL", "keyword distillation"):
        reply = r.app.service.handle(ref, line, ADMIN)
        assert reply.kind == "radar", reply
    state = r.app.store.channel(ref)
    for card in reply.cards:  # as the adapter records the card messages it posted
        r.app.store.record_card(state.id, card.key, card.number, f"ts-{card.number}", r.clock.now())


def shown(reply: Reply) -> str:
    """Everything a channel could be shown of ``reply``, on every platform."""
    slack = json.dumps(render_slack.render(reply), ensure_ascii=False)
    discord = json.dumps(
        [(m.content, m.embeds) for m in render_discord.plan(reply)], ensure_ascii=False
    )
    return "\n".join((render_text.render(reply), slack, discord))


# -- the default: members may change, and the channel is told who did ------------------


def test_members_change_by_default_and_every_change_names_who_made_it(r: Radar) -> None:
    handle = r.app.service.handle
    titles = [handle(SLACK, line, ALICE).title for line in ("keyword distillation", "cap 3")]
    titles += [handle(SLACK, line, ALICE).title for line in ("schedule 09:00 Asia/Shanghai",)]
    titles += [handle(SLACK, line, BOB).title for line in ("brief every week", "remove 1")]
    titles += [handle(SLACK, line, BOB).title for line in ("schedule off", "brief off")]
    titles += [handle(SLACK, "keyword agents", ALICE).title, handle(SLACK, "clear", BOB).title]
    assert titles == [
        "Alice added keyword chip distillation.",
        "Alice set digests to show up to 3 cards.",
        "Alice set the daily digest to 09:00 Asia/Shanghai.",
        "Bob turned on automatic briefings every week.",
        "Bob removed keyword chip distillation.",
        "Bob turned the daily digest off for this channel.",
        "Bob turned automatic briefings off for this channel.",
        "Alice added keyword chip agents.",
        "Bob removed 1 chip; this radar is empty.",
    ]
    # Clearing it again changes nothing: Bob alone is told, nobody is announced.
    again = handle(SLACK, "clear", BOB)
    assert again.kind == "error" and again.ephemeral and "Bob" not in again.title
    state = r.app.store.channel(SLACK)
    assert (state.digest_cap, state.schedule_time, state.brief_cadence) == (3, None, None)


def test_a_change_is_posted_in_the_channel_and_pings_nobody(r: Radar) -> None:
    reply = r.app.service.handle(SLACK, "keyword distillation", ALICE)
    assert not reply.ephemeral and reply.kind == "radar"
    text = shown(reply)
    assert "Alice added keyword chip distillation." in text
    assert "U1ALICE" not in text and "<@" not in text


def test_a_hostile_display_name_cannot_ping_or_reorder_the_announcement(r: Radar) -> None:
    mallory = Actor("U6", "\u202eMal\x1b[31mlory\x07 <!channel> <@U1ALICE> @everyone " + "x" * 200)
    reply = r.app.service.handle(SLACK, "keyword distillation", mallory)
    name = reply.title.removesuffix(" added keyword chip distillation.")
    assert name.startswith("Mallory")
    assert len(name) <= permissions.NAME_CHARS
    assert not any(ch in name for ch in "\u202e\x1b\x07")
    slack = json.dumps(render_slack.render(reply))
    assert "<!channel>" not in slack and "<@U1ALICE>" not in slack
    discord = " ".join(m.content or "" for m in render_discord.plan(reply))
    assert "@everyone" not in discord.replace("@\u200beveryone", "")
    nameless = r.app.service.handle(SLACK, "cap 4", Actor("U7NONAME", " \u200f "))
    assert nameless.title == "U7NONAME set digests to show up to 4 cards."


def test_without_a_person_nothing_is_checked_or_named(r: Radar) -> None:
    """The scheduler and other callers with no person keep the old behaviour."""
    policy(r, "admins")
    reply = r.app.service.handle(SLACK, "keyword distillation")
    assert reply.title == "Added keyword chip distillation."
    assert r.app.service.handle(SLACK, "cap 3").title == "Digests now show up to 3 cards."


# -- admins only ---------------------------------------------------------------------


def test_admins_policy_refuses_every_change_by_a_member_and_changes_nothing(r: Radar) -> None:
    policy(r, "admins")
    seed(r)
    before, asked = r.snapshot(), len(r.queries())
    for line in CHANGES:
        reply = r.app.service.handle(SLACK, line, BOB)
        assert reply.kind == "error" and reply.ephemeral, line
        assert reply.title == (
            "Only workspace admins and owners can change this channel's radar here; reading, "
            "digests, shuffles, filters, briefings and questions are open to everyone. "
            "Nothing was changed."
        ), line
        assert r.snapshot() == before, line
        assert len(r.queries()) == asked, line  # not even a backfill was asked for


def test_a_refused_change_on_a_new_channel_creates_nothing(r: Radar) -> None:
    policy(r, "admins")
    before = r.snapshot()
    assert r.app.service.handle(SLACK, "schedule off", BOB).kind == "error"
    assert r.app.service.handle(DISCORD, "clear", BOB).kind == "error"
    assert r.snapshot() == before


def test_reading_views_briefs_and_questions_stay_open_to_everyone(r: Radar) -> None:
    policy(r, "listed", ("U9SOMEONE",))
    seed(r)
    for line in OPEN:
        reply = r.app.service.handle(SLACK, line, BOB)
        assert reply.kind != "error", (line, reply.title)


def test_admins_change_and_are_named(r: Radar) -> None:
    policy(r, "admins")
    reply = r.app.service.handle(SLACK, "keyword distillation", ADMIN)
    assert reply.title == "Olga added keyword chip distillation."


def test_discord_refusal_names_the_configured_permission(r: Radar) -> None:
    policy(r, "admins")
    service = r.app.service
    service.config = replace(
        service.config, discord=replace(service.config.discord, manage_permission="manage_guild")
    )
    reply = service.handle(DISCORD, "cap 3", BOB)
    assert reply.kind == "error"
    assert reply.title.startswith("Only members with the Manage Guild permission can change")
    # The adapter says who holds that permission; the core decides.
    assert service.handle(DISCORD, "cap 3", replace(BOB, is_admin=True)).kind == "info"


# -- a named list --------------------------------------------------------------------


def test_listed_policy_lets_listed_people_and_admins_change(r: Radar) -> None:
    policy(r, "listed", ("U1ALICE",))
    handle = r.app.service.handle
    assert handle(SLACK, "cap 3", ALICE).title == "Alice set digests to show up to 3 cards."
    refused = handle(SLACK, "cap 4", BOB)
    assert refused.kind == "error"
    assert "workspace admins and owners and the people listed in the bot's configuration" in (
        refused.title
    )
    assert handle(SLACK, "cap 5", ADMIN).title == "Olga set digests to show up to 5 cards."
    assert r.app.store.channel(SLACK).digest_cap == 5


def test_the_console_is_its_persons_own_radar_under_any_policy(r: Radar) -> None:
    policy(r, "listed", ("U1ALICE",))
    assert r.say("/radar cap 3") == "You set digests to show up to 3 cards."
    assert r.app.service.handle(r.ref, "cap 4", LOCAL).title.startswith("You set")


# -- the decision itself, and its configuration -------------------------------------------


@pytest.mark.parametrize(
    ("change", "users", "actor", "allowed"),
    [
        ("members", (), BOB, True),
        ("admins", (), BOB, False),
        ("admins", (), ADMIN, True),
        ("listed", ("U2BOB",), BOB, True),
        ("listed", ("U2BOB",), ALICE, False),
        ("listed", ("U2BOB",), ADMIN, True),
        ("listed", ("Bob",), BOB, False),  # ids, never display names: anyone can take a name
        ("admins", (), LOCAL, True),
    ],
)
def test_may_change(change: str, users: tuple[str, ...], actor: Actor, allowed: bool) -> None:
    assert permissions.may_change(PermissionsSettings(change, users), actor) is allowed


def test_the_permissions_section_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[permissions]\nchange = "listed"\nusers = ["U1ALICE", "80351110224678912"]\n')
    assert config_mod.load(path).permissions == PermissionsSettings(
        "listed", ("U1ALICE", "80351110224678912")
    )
    assert config_mod.load(None).permissions == PermissionsSettings("members", ())
    for body, says in [
        ('change = "everyone"', 'permissions.change must be "members", "admins" or "listed"'),
        ('change = "listed"', 'permissions.change = "listed" needs permissions.users'),
        ('users = [" U1"]', "permissions.users holds platform user ids"),
        ("users = [1]", "permissions.users must be a list of strings"),
        ('who = "me"', "Unknown setting permissions.who"),
    ]:
        path.write_text(f"[permissions]\n{body}\n")
        with pytest.raises(ConfigError) as info:
            config_mod.load(path)
        assert says in str(info.value)
