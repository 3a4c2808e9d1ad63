"""OpenAlex wired into the product, end to end: people, not strings; one card per work.

The real app (``tests/flowkit``: SQLite, pinned clock, arXiv replayed from its
capture) with OpenAlex turned on and answered by a second local replay server
holding real OpenAlex responses (``tests/fixtures/openalex``; origins in its
README): ``/radar author Mearman`` finds several people of that name and asks
which one, in the console, in Slack and in Discord; the chosen chip follows
that person's OpenAlex id; a preprint and its journal version become one card
labelled with the journal and linking both; the daily harvest asks OpenAlex
per followed person, never per channel.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.channel import ChannelRef
from bot.core.chips import NAME_ONLY, Chip, ChipKind
from bot.core.paper import author_ids
from bot.settings import PermissionsSettings
from bot.sources.replay import Reply, Rule
from tests.fakediscord import ALICE, BOB, CHANNEL, GUILD, connected, custom_ids, labels
from tests.flowkit import Radar, flat, radar
from tests.test_openalex import (
    AUTHOR_JOSEPH,
    AUTHORS_MEARMAN,
    WORKS_CHEMCROW,
    WORKS_JOSEPH,
    CursorPager,
)
from tests.test_slack import buttons, header_text, slack_rig

JSON = "application/json"
JOSEPH, ANDREW = "A5017898742", "A5019952124"
#: Joseph Mearman's latest work in the capture went online 2021-08-16 (arXiv
#: 2108.04680); its CGVC version is dated 2021-09-01. A month later, with a
#: 60-day pool, both are "recent".
THEN = datetime(2021, 9, 30, 12, 0, tzinfo=UTC)
#: Just after ChemCrow's journal version (Nature Machine Intelligence, 2024-05-08).
CHEMCROW_DAY = datetime(2024, 5, 20, 12, 0, tzinfo=UTC)
NATURE_MI = "S2912241403"
LAB = ChannelRef("discord", GUILD, CHANNEL, "lab")


def mearman_rules(**faults: Reply) -> list[Rule]:
    """OpenAlex answering as it did: the author search, Joseph's record, his works."""
    return [
        Rule("/authors/", faults.get("author", Reply(200, AUTHOR_JOSEPH, content_type=JSON))),
        Rule("/authors", faults.get("search", Reply(200, AUTHORS_MEARMAN, content_type=JSON))),
        Rule("/works", CursorPager(WORKS_JOSEPH)),
    ]


@pytest.fixture
def r(tmp_path: Path) -> Iterator[Radar]:
    with radar(tmp_path, openalex=mearman_rules(), now=THEN, pool_days=60) as r:
        yield r


def chips(r: Radar) -> list[Chip]:
    state = r.app.store.find_channel(r.ref)
    return [] if state is None else state.chip_list


def asked(r: Radar, path: str) -> list[dict[str, str]]:
    """Parameters of every request OpenAlex got on ``path`` (exact path or prefix/)."""
    assert r.openalex is not None
    return [
        dict(q.params)
        for q in r.openalex.received
        if q.path == path or (path.endswith("/") and q.path.startswith(path))
    ]


# -- the console: ask, pick, follow -----------------------------------------------------


def test_two_people_of_one_name_are_asked_about_then_the_pick_is_followed(r: Radar) -> None:
    reply = r.reply("author Mearman")
    assert reply.kind == "choice" and reply.title.startswith("Which Mearman?")
    assert chips(r) == []  # nothing added before the channel says who
    text = r.say("/radar")
    assert "No chips yet" in text
    assert asked(r, "/authors")[0]["search"] == "Mearman"
    people = [line for line in reply.lines if line[:2] in {f"{i}." for i in range(1, 10)}]
    assert people[0].startswith("1. Andrew Mearman — University of Leeds — 106 works")
    assert people[1].startswith("2. Joseph Mearman — Bangor University — 9 works")
    assert not any("Downward and Mearman" in line for line in people)  # debris, not a person
    assert [c.line for c in reply.choices][:2] == [
        f"pick 1 openalex:{ANDREW}",
        f"pick 2 openalex:{JOSEPH}",
    ]
    assert reply.choices[-1].line == "pick name"
    assert r.app.store.pending(r.app.store.channel(r.ref).id) is not None

    text = r.say("pick 2")
    (chip,) = chips(r)
    assert replace(chip, evidence=()) == Chip(
        ChipKind.AUTHOR,
        "Joseph Mearman",
        f"openalex:{JOSEPH}",
        ("Joseph W. Mearman", "J. W. Mearman"),
    )
    # His works' co-authors confirm his arXiv bylines; his own surname never does.
    assert {e.split("/")[0] for e in chip.evidence} >= {"co:roberts", "co:ritsos"}
    assert not any(e.startswith("co:mearman/j") for e in chip.evidence)
    assert "Following Joseph Mearman — Bangor University" in text
    # The backfill asked OpenAlex for this person's works since the pool began.
    (works,) = asked(r, "/works")
    assert f"authorships.author.id:{JOSEPH}" in works["filter"]
    assert "from_publication_date:2021-08-01" in works["filter"]
    # His preprint and its CGVC version are one card, linking the other versions.
    assert "3D Visualisations Should Not be Displayed Alone" in text
    assert text.count("3D Visualisations Should Not be Displayed Alone") == 1
    assert "https://doi.org/10.2312/cgvc.20211309" in text
    assert "also: " in text and "https://arxiv.org/abs/2108.04680" in text
    assert (
        "Joseph Mearman is one person: OpenAlex author A5017898742 "
        "(on arXiv also as Joseph W. Mearman, J. W. Mearman)"
    ) in flat(r.say("/radar"))
    # The question is answered: it is gone.
    assert r.app.store.pending(r.app.store.channel(r.ref).id) is None
    assert "no open question" in r.say("pick 1")


def test_pick_name_keeps_a_name_only_chip(r: Radar) -> None:
    r.say("author Mearman")
    text = r.say("pick name")
    assert chips(r) == [Chip(ChipKind.AUTHOR, "Mearman", NAME_ONLY)]
    assert "follows the name Mearman as typed" in text
    assert asked(r, "/works") == []  # a name has no OpenAlex works to fetch


def test_a_new_question_replaces_the_old_and_questions_expire(r: Radar) -> None:
    r.say("author Mearman")
    first = r.app.store.pending(r.app.store.channel(r.ref).id)
    r.clock.set(THEN + timedelta(hours=2))
    r.say("author Mearman")
    second = r.app.store.pending(r.app.store.channel(r.ref).id)
    assert first is not None and second is not None and first != second
    # A button of an older list cannot pick from a newer one.
    assert "earlier question" in r.say(f"pick 1 openalex:{JOSEPH}")
    r.clock.set(THEN + timedelta(hours=2, days=1, minutes=1))
    assert "expired" in r.say("pick 2")
    assert chips(r) == []
    assert "no open question" in r.say("pick 2")


def test_one_plausible_person_is_followed_at_once(r: Radar) -> None:
    text = r.say("author Joseph Mearman")
    assert [replace(c, evidence=()) for c in chips(r)] == [
        Chip(
            ChipKind.AUTHOR,
            "Joseph Mearman",
            f"openalex:{JOSEPH}",
            ("Joseph W. Mearman", "J. W. Mearman"),
        )
    ]
    assert "Following Joseph Mearman — Bangor University — 9 works" in text


def test_nobody_plausible_keeps_the_name(r: Radar) -> None:
    text = r.say("author Zebulon Mearman")
    assert chips(r) == [Chip(ChipKind.AUTHOR, "Zebulon Mearman", NAME_ONLY)]
    assert "OpenAlex knows nobody called Zebulon Mearman" in text


def test_openalex_failure_adds_the_name_chip_with_a_short_note(tmp_path: Path) -> None:
    rules = mearman_rules(search=Reply(503, b"{}", content_type=JSON))
    with radar(tmp_path, openalex=rules, now=THEN, pool_days=60) as r:
        text = r.say("author Mearman")
        assert chips(r) == [Chip(ChipKind.AUTHOR, "Mearman")]
        assert "OpenAlex did not answer just now" in text
        assert len(asked(r, "/authors")) == 2  # the first try and one retry


def test_the_explicit_form_is_checked_against_the_record(r: Radar) -> None:
    text = r.say(f"author Joseph Mearman openalex:{JOSEPH.lower()}")
    assert [c.ref for c in chips(r)] == [f"openalex:{JOSEPH}"]
    assert "Following Joseph Mearman" in text
    assert len(asked(r, "/authors/")) == 1

    # The id must be the person named.
    assert "is Joseph Mearman, not Andrew Mearman" in r.say(
        f"author Andrew Mearman openalex:{JOSEPH}"
    )
    assert len(chips(r)) == 1


@pytest.mark.parametrize(
    "line",
    [
        "author Mearman openalex:A1|A2",
        "author Mearman openalex:A1,from_publication_date:2000-01-01",
        "author Mearman openalex:W2741809807",
        "author Mearman openalex:A12345678901234567",
        "author Mearman openalex:",
        "author Mearman openalex:!A1",
        "author openalex:A5017898742",
        "pick 2 openalex:A1|A2",
        "pick 0",
        "pick 10",
        "pick everyone",
    ],
)
def test_hostile_identity_input_is_refused_before_anything_is_asked(r: Radar, line: str) -> None:
    reply = r.reply(line)
    assert reply.kind == "error"
    assert chips(r) == []
    assert r.openalex is not None and r.openalex.received == []


def test_an_unknown_id_is_refused(tmp_path: Path) -> None:
    rules = mearman_rules(author=Reply(404, b'{"error": "not found"}', content_type=JSON))
    with radar(tmp_path, openalex=rules, now=THEN, pool_days=60) as r:
        reply = r.reply("author Joseph Mearman openalex:A999")
        assert reply.kind == "error" and "A999" in reply.title
        assert chips(r) == []


def test_without_openalex_author_chips_are_names_as_before(tmp_path: Path) -> None:
    with radar(tmp_path) as r:
        r.say("author Yehui Tang")
        assert chips(r) == [Chip(ChipKind.AUTHOR, "Yehui Tang")]
        assert r.reply("author Yehui Tang openalex:A1").kind == "error"
        assert r.reply("pick 1").kind == "error"


# -- one work, one card; sources ----------------------------------------------------------


@pytest.fixture
def chem(tmp_path: Path) -> Iterator[Radar]:
    rules = [Rule("/works", CursorPager(WORKS_CHEMCROW))]
    with radar(
        tmp_path,
        openalex=rules,
        harvest_sources=[NATURE_MI],
        now=CHEMCROW_DAY,
        pool_days=800,
    ) as r:
        yield r


def test_a_preprint_and_its_journal_version_are_one_card_naming_the_journal(
    chem: Radar,
) -> None:
    result = chem.app.harvester.run(force=True)
    assert result.fetched == 20 + 2 and result.new == 20 + 1  # the pair is one paper
    (works,) = asked(chem, "/works")
    assert f"primary_location.source.id:{NATURE_MI}" in works["filter"]
    assert "from_publication_date:2024-05-16" in works["filter"]

    text = chem.say("keyword chemistry tools")
    assert "1 recent paper matches this chip" in text
    assert "01.  Nature Machine Intelligence  2023-04-15" in text
    assert "https://doi.org/10.1038/s42256-024-00832-8" in text
    assert "also: https://arxiv.org/abs/2304.05376" in text
    (paper,) = chem.app.store.papers_since(CHEMCROW_DAY - timedelta(days=800), until=CHEMCROW_DAY)
    assert paper.key == "arxiv:2304.05376"  # arXiv keys stay the identity
    assert paper.extra["aliases"] == "openalex:W4396723768"
    # Both versions' author records: OpenAlex split the first author in two.
    assert {"A5031480183", "A5055903035"} <= author_ids(paper)


def test_source_chips_arxiv_and_openalex(chem: Radar) -> None:
    chem.app.harvester.run(force=True)
    chem.say("keyword chemistry tools")
    chem.say("source arxiv")
    assert "No paper in the last 800 days matches" in chem.say("shuffle")
    chem.say("remove source arxiv")
    assert chem.say("source openalex").startswith("You added source chip openalex.")
    assert "Nature Machine Intelligence" in chem.say("shuffle")
    assert "source:openalex" not in chem.say("filter source:openalex chemistry")
    assert "Nature Machine Intelligence" in chem.say("filter source:openalex chemistry")
    assert "Nature Machine Intelligence" not in chem.say("filter source:arxiv chemistry")


# -- the harvest: per person, not per channel ----------------------------------------------


def test_the_harvest_asks_once_per_fifty_people_whatever_the_channels(tmp_path: Path) -> None:
    rules = [Rule("/works", CursorPager(WORKS_JOSEPH))]
    with radar(tmp_path, openalex=rules, now=THEN, pool_days=60) as r:
        store = r.app.store
        people = [f"A{5000000000 + i}" for i in range(120)]
        for channel in ("one", "two", "three"):
            cid = store.channel(ChannelRef("console", "local", channel)).id
            for n, aid in enumerate(people):
                store.add_chip(cid, Chip(ChipKind.AUTHOR, f"Person{n} Example", f"openalex:{aid}"))
        assert store.followed_authors() == sorted(people)
        r.app.harvester.run(force=True)
        filters = [q["filter"] for q in asked(r, "/works")]
        assert len(filters) == 3  # 120 people in batches of 50: 50 + 50 + 20, not 3 x 120
        sent = [f.split("authorships.author.id:")[1].split(",")[0].split("|") for f in filters]
        assert [len(ids) for ids in sent] == [50, 50, 20]
        assert sorted(i for ids in sent for i in ids) == sorted(people)
        # Joseph's works came in once per batch and are stored once per work.
        titles = [p.title for p in store.papers_since(THEN - timedelta(days=60))]
        assert len(titles) == len(set(titles))


def test_an_openalex_failure_leaves_the_arxiv_harvest_standing(tmp_path: Path) -> None:
    rules = [Rule("/works", Reply(503, b"{}", content_type=JSON))]
    with radar(tmp_path, openalex=rules, harvest_sources=[NATURE_MI]) as r:
        result = r.app.harvester.run(force=True)
        assert result.fetched == 20 and not result.skipped
        assert r.app.store.paper_count() == 20
        assert r.app.store.last_harvest_at("arxiv", "") is not None
        assert r.app.store.last_harvest_at("openalex", "") is None  # tried again next pass
        assert len(asked(r, "/works")) == 2


def test_an_arxiv_failure_still_lets_the_openalex_pass_store_its_works(tmp_path: Path) -> None:
    from bot.errors import UpstreamError

    arxiv_down = [Rule("/api/query", Reply(503, b"down", content_type="text/plain"))]
    openalex = [Rule("/works", CursorPager(WORKS_CHEMCROW))]
    with radar(
        tmp_path,
        arxiv_down,
        openalex=openalex,
        harvest_sources=[NATURE_MI],
        now=CHEMCROW_DAY,
        pool_days=800,
    ) as r:
        with pytest.raises(UpstreamError):
            r.app.harvester.run(force=True)
        assert r.app.store.paper_count() == 1  # the ChemCrow pair, as one paper
        assert r.app.store.last_harvest_at("arxiv", "") is None
        assert r.app.store.last_harvest_at("openalex", "") is not None


# -- Slack and Discord: a button per person ------------------------------------------------


def test_slack_shows_a_button_per_person_that_runs_pick(tmp_path: Path) -> None:
    with slack_rig(tmp_path, openalex=mearman_rules()) as rig:
        rig.radar.clock.set(THEN)
        rig.command("author Mearman")
        question = rig.posted()[-1]
        assert header_text(question).startswith("Which Mearman?")
        picks = [b for b in buttons(question) if b["action_id"].startswith("pick:")]
        assert [b["value"] for b in picks][:2] == [
            f"pick 1 openalex:{ANDREW}",
            f"pick 2 openalex:{JOSEPH}",
        ]
        assert picks[-1]["value"] == "pick name" and picks[-1]["text"]["text"] == "Name only"
        assert picks[1]["text"]["text"].startswith("2. Joseph Mearman — Bangor University")
        assert rig.chips() == []

        # A forged value on a pick button runs nothing else.
        rig.slack.action("pick:1", "clear", message_ts=question.ts)
        rig.settle()
        assert rig.radar.app.store.pending(rig.channel_id()) is not None

        rig.slack.action(picks[1]["action_id"], picks[1]["value"], message_ts=question.ts)
        rig.settle()
        assert rig.chips() == [("author", "Joseph Mearman")]
        state = rig.radar.app.store.find_channel(rig.ref())
        assert state is not None and state.chip_list[0].author_id == JOSEPH

        # The same button again: the question is answered, nothing changes.
        rig.slack.action(picks[0]["action_id"], picks[0]["value"], message_ts=question.ts)
        rig.settle()
        assert "no open question" in rig.private()[-1]["blocks"][0]["text"]["text"]
        assert rig.chips() == [("author", "Joseph Mearman")]


def test_discord_shows_persistent_pick_buttons_that_run_pick(r: Radar) -> None:
    # A pick changes the radar: under an admins-only [permissions] policy it
    # takes Manage Channels (the core decides; by default every member may).
    service = r.app.service
    service.config = replace(service.config, permissions=PermissionsSettings(change="admins"))

    async def main() -> None:
        async with connected(r.app) as bot:
            rec = await bot.command("author", {"name": "Mearman"})
            (question,) = rec.posted  # the question, in the channel
            ids = custom_ids(question)
            assert ids[:2] == [f"radar:pick:1:{ANDREW}", f"radar:pick:2:{JOSEPH}"]
            assert ids[-1] == "radar:pick:name"
            assert labels(question)[-1] == "Name only"
            assert question["embeds"][0]["title"].startswith("Which Mearman?")

            rec = await bot.click(question, f"radar:pick:2:{JOSEPH}", who=BOB)
            assert "Manage Channels" in json.dumps(rec.messages)
            assert r.chips(LAB) == []

            rec = await bot.click(question, f"radar:pick:2:{JOSEPH}", who=ALICE)
            added = "alice added author chip Joseph Mearman."
            assert rec.posted[0]["embeds"][0]["title"] == added
            state = r.app.store.find_channel(LAB)
            assert state is not None and state.chip_list[0].author_id == JOSEPH

            await bot.command("author", {"name": "Mearman"})
            rec = await bot.command("pick", {"choice": "name"})
            assert r.chips(LAB) == [("author", "Joseph Mearman"), ("author", "Mearman")]

    asyncio.run(main())


def test_the_app_builds_openalex_from_config_and_the_demo_keeps_it_off(tmp_path: Path) -> None:
    from bot.app import build
    from bot.config import Config
    from bot.demo import demo_config

    config = Config().with_db(f"sqlite:///{tmp_path / 'a.db'}")
    app = build(config)
    try:
        assert app.openalex is not None
        assert app.openalex.settings.api_url == "https://api.openalex.org"
        assert app.harvester.openalex is app.openalex and app.service.openalex is app.openalex
    finally:
        app.close()
    off = demo_config(Config(), "http://127.0.0.1:1/api/query", f"sqlite:///{tmp_path / 'b.db'}")
    app = build(off)
    try:
        assert app.openalex is None and app.service.openalex is None
    finally:
        app.close()
