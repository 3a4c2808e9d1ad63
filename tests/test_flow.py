"""The whole command flow, as a person meets it, through the console adapter.

The real app (``bot.app.build``: SQLite file, migrations, ``ArxivSource`` on
``requests``, harvester, service) runs against a local ``ReplayServer`` that
serves the real 20-paper arXiv capture (all published 2026-04-29), with the
clock pinned at 2026-04-30 18:00 UTC. Tests type `/radar` lines, read the
rendered reply, and check the database and what "arXiv" was asked.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.core.channel import ChannelRef
from bot.core.chips import Chip, ChipKind
from bot.sources.replay import Reply, Rule
from tests.flowkit import (
    CAPTURE,
    EMPTY,
    NOW,
    Radar,
    card_ids,
    flat,
    headings,
    is_harvest,
    radar,
    search_query,
)

FROCHTE = "2604.26888"  # Janis Mohr, Jörg Frochte; cs.LG only
CS_CL = ["2604.26951", "2604.26904", "2604.26880", "2604.26866", "2604.26841", "2604.26835"]
DISTILLATION = ["2604.26951", "2604.26857"]  # "distillation" in title or abstract


def au_query(params: object) -> bool:
    return search_query(params).startswith("au:")


@pytest.fixture
def r(tmp_path: Path) -> Iterator[Radar]:
    with radar(tmp_path) as bot:
        yield bot


def seen_ids(bot: Radar, channel: ChannelRef | None = None) -> set[str]:
    ref = channel or bot.ref
    with bot.app.store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.key FROM seen s JOIN papers p ON p.id = s.paper_id "
                "JOIN channels c ON c.id = s.channel_id "
                "WHERE c.platform = :p AND c.workspace = :w AND c.channel = :c"
            ),
            {"p": ref.platform, "w": ref.workspace, "c": ref.channel},
        )
        return {key.removeprefix("arxiv:") for (key,) in rows}


# -- adding chips ------------------------------------------------------------------------


def test_category_chip_one_backfill_and_real_cards(r: Radar) -> None:
    out = r.say("/radar category cs.cl")
    assert r.queries() == ["cat:cs.CL"]
    assert out.splitlines()[0] == "You added category chip cs.CL."
    assert "Chips: [1] category: cs.CL ×" in out
    assert "6 recent papers" in out
    assert card_ids(out) == CS_CL[:5]
    assert [h[0] for h in headings(out)] == ["01", "02", "03", "04", "05"]
    assert headings(out)[0] == ("01", "arXiv", "CS.CL", "2026-04-29")
    assert "Turning the TIDE: Cross-Architecture Distillation for Diffusion Large" in flat(out)
    assert "Gongbo Zhang, Wen Wang, Ye Tian, Li Yuan" in out
    assert r.chips() == [("category", "cs.CL")]
    assert r.app.store.paper_count() == 20


def test_author_chip_is_accent_insensitive(r: Radar) -> None:
    out = r.say("/radar author Jorg Frochte")
    assert r.queries() == ['au:"Jorg Frochte"']
    assert out.splitlines()[0] == "You added author chip Jorg Frochte."
    assert "Chips: [1] author: Jorg Frochte ×" in out
    assert card_ids(out) == [FROCHTE]
    assert "Janis Mohr, Jörg Frochte" in out
    assert "Multiple Additive Neural Networks for Structured and Unstructured Data" in flat(out)
    assert "matched: author Jorg Frochte" in out


def test_keyword_chip_backfills_once_and_matches_title_or_abstract(r: Radar) -> None:
    out = r.say("/radar keyword Distillation")
    assert r.queries() == ['all:"distillation"']
    assert card_ids(out) == DISTILLATION
    out = r.say('/radar keyword "language models" diffusion')
    assert r.queries()[1] == 'all:"language models" AND all:"diffusion"'
    assert len(r.queries()) == 2
    # Both phrases, the phrase's words consecutive: "Diffusion large language models"
    # matches; "Language Diffusion Models are Associative Memories" does not.
    assert card_ids(out) == ["2604.26951"]
    assert r.chips() == [
        ("keyword", "Distillation"),
        ("keyword", '"language models" diffusion'),
    ]


def test_each_chip_costs_exactly_one_backfill_and_chips_accumulate(r: Radar) -> None:
    lines = [
        ("/radar category cs.CL", "cat:cs.CL"),
        ("/radar author Jorg Frochte", 'au:"Jorg Frochte"'),
        ("/radar keyword distillation", 'all:"distillation"'),
    ]
    for i, (line, query) in enumerate(lines, start=1):
        out = r.say(line)
        assert r.queries()[-1] == query
        assert len(r.queries()) == i
        assert f"[{i}] " in out.splitlines()[1]
    assert r.chips() == [
        ("category", "cs.CL"),
        ("author", "Jorg Frochte"),
        ("keyword", "distillation"),
    ]
    # Exclusions and sources narrow; they ask arXiv nothing.
    r.say("/radar keyword -survey")
    r.say("/radar source arxiv")
    assert len(r.queries()) == 3
    # A duplicate changes nothing and asks nothing.
    before = r.snapshot()
    out = r.say("/radar author Frochte, Jorg")  # the same person, written the other way
    assert out.startswith("The author chip Jorg Frochte is already on this radar; nothing changed.")
    assert r.snapshot() == before
    assert len(r.queries()) == 3


def test_a_chip_that_differs_only_in_case_is_the_same_chip(r: Radar) -> None:
    r.say("/radar keyword Distillation")
    before = r.snapshot()
    out = r.say("/radar keyword distillation")
    assert "already on this radar" in out
    assert r.snapshot() == before
    assert len(r.queries()) == 1


# -- digests -----------------------------------------------------------------------------


@pytest.fixture
def late_author(tmp_path: Path) -> Iterator[Radar]:
    """arXiv's author search has nothing yet (an empty real feed): the author's
    paper first arrives with the daily harvest."""
    with radar(tmp_path, [Rule("/api/query", Reply(200, EMPTY), when=au_query)]) as bot:
        yield bot


def test_digest_ranks_numbers_caps_and_never_repeats(late_author: Radar) -> None:
    r = late_author
    out = r.say("/radar author Jorg Frochte")
    assert card_ids(out) == []
    assert "No paper in the last 30 days matches it yet" in out
    chip_cards = card_ids(r.say("/radar category cs.CL"))
    assert chip_cards == CS_CL[:5]
    assert r.say("/radar cap 1").startswith("You set digests to show up to 1 card")

    first = r.say("/radar digest")
    assert first.splitlines()[0].startswith("Paper Radar digest, 2026-04-30")
    # The author-chip paper ranks before category-only matches.
    assert card_ids(first) == [FROCHTE]
    assert headings(first) == [("01", "arXiv", "CS.LG", "2026-04-29")]
    assert "matched: author Jorg Frochte" in first
    assert first.splitlines()[-1].startswith("+1 more")

    second = r.say("/radar digest")
    assert card_ids(second) == ["2604.26835"]
    assert headings(second) == [("01", "arXiv", "CS.CL", "2026-04-29")]
    assert "more matching" not in second

    third = r.say("/radar digest")
    assert card_ids(third) == []
    assert third.splitlines()[0] == "Nothing new"
    assert "7 matching papers were shown before" in third

    # Chip-reply papers never came back; no paper was shown twice.
    assert not set(chip_cards) & (set(card_ids(first)) | set(card_ids(second)))
    assert r.harvests() == 1  # three digests in one hour share one harvest
    assert r.snapshot()["digest_runs"] == 2
    # Two runs: a header and a card each, and one "+N more" footer. The chip
    # reply went through the same outbox (its header and five cards), its
    # cards recorded with their papers so `/radar ask` can name them.
    with r.app.store.engine.connect() as conn:
        runs = conn.execute(text("SELECT count(*) FROM posts WHERE run_id IS NOT NULL")).scalar()
        sql = "SELECT count(*) FROM posts WHERE run_id IS NULL AND paper_id IS NOT NULL"
        cards = conn.execute(text(sql)).scalar()
    assert runs == 5
    assert cards == len(chip_cards)
    assert r.snapshot()["posts"] == 5 + 1 + len(chip_cards)


def test_digest_numbers_from_01_and_orders_author_keyword_category(late_author: Radar) -> None:
    r = late_author
    r.say("/radar author Jorg Frochte")
    r.say("/radar category cs.LG")  # 17 papers; the chip reply shows 5 of them
    shown_by_chip = seen_ids(r)
    out = r.say("/radar digest")
    ids = card_ids(out)
    assert len(ids) == 10  # the default cap
    assert ids[0] == FROCHTE
    assert [h[0] for h in headings(out)] == [f"{i:02d}" for i in range(1, 11)]
    assert all(h[3] == "2026-04-29" for h in headings(out))
    assert not shown_by_chip & set(ids)
    assert out.splitlines()[-1].startswith("+2 more matching papers")
    again = card_ids(r.say("/radar digest"))
    assert len(again) == 2 and not set(again) & set(ids)


def test_exclusion_chip_drops_papers_from_digests(tmp_path: Path) -> None:
    with radar(tmp_path) as r:
        plain = ChannelRef("console", "local", "plain")
        excl = ChannelRef("console", "local", "excl")
        r.say("/radar keyword -diffusion", excl)
        for ref in (plain, excl):
            r.say("/radar category cs.LG", ref)
            r.say("/radar cap 50", ref)
        plain_digest = card_ids(r.say("/radar digest", plain))
        excl_digest = card_ids(r.say("/radar digest", excl))
        papers = r.app.store.papers_by_key([f"arxiv:{i}" for i in plain_digest])
        with_word = {
            k.removeprefix("arxiv:")
            for k, p in papers.items()
            if "diffusion" in (p.title + " " + p.abstract).lower()
        }
        assert with_word, "the capture has cs.LG papers about diffusion"
        assert not with_word & set(excl_digest)
        assert not with_word & seen_ids(r, excl)  # not in the chip reply either
        assert "[1] not: diffusion ×" in r.say("/radar", excl)


# -- shuffle -----------------------------------------------------------------------------


def test_shuffle_draws_fresh_cards_from_the_pool(r: Radar) -> None:
    r.say("/radar category cs.LG")  # 17 matching papers > 2 * 5
    first = r.say("/radar shuffle 5")
    assert first.splitlines()[0] == "Shuffle: 5 of 17 recent papers"
    a = card_ids(first)
    b = card_ids(r.say("/radar shuffle 5"))
    assert len(a) == len(set(a)) == 5 and len(b) == len(set(b)) == 5
    assert not set(a) & set(b)
    assert [h[0] for h in headings(first)] == ["01", "02", "03", "04", "05"]
    # The default size comes from the config (5).
    assert len(card_ids(r.say("/radar shuffle"))) == 5
    assert len(r.queries()) == 1  # shuffles never ask arXiv


def test_simultaneous_shuffles_in_one_channel_draw_different_papers(r: Radar) -> None:
    """Two `/radar shuffle 5` at the same moment (two people, two worker
    threads): each draw avoids the other's, as one after the other would. Both
    commands are held at the pool read until both have read the channel, the
    moment where two unserialised draws would both see no previous draw."""
    r.say("/radar category cs.LG")  # 17 matching papers > 2 * 5
    store = r.app.store
    both = threading.Barrier(2, timeout=10)
    real = store.papers_since

    def papers_since(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            both.wait()  # both shuffles have read the channel's last draw by now
        return real(*args, **kwargs)

    store.papers_since = papers_since  # type: ignore[method-assign]
    draws: list[list[str]] = []
    with ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(lambda _: r.app.service.handle(r.ref, "shuffle 5"), range(2)))
    store.papers_since = real  # type: ignore[method-assign]
    for reply in replies:
        assert reply.title == "Shuffle: 5 of 17 recent papers"
        draws.append([card.key for card in reply.cards])
    assert not set(draws[0]) & set(draws[1])


def test_shuffle_with_a_small_pool_tops_up(r: Radar) -> None:
    r.say("/radar keyword distillation")  # 2 papers
    a = card_ids(r.say("/radar shuffle 3"))
    assert sorted(a) == sorted(DISTILLATION)


def test_shuffle_without_chips_says_so(r: Radar) -> None:
    reply = r.reply("/radar shuffle")
    assert reply.kind == "error" and reply.ephemeral
    assert "Add a chip first" in reply.title
    r.say("/radar keyword -survey")  # an exclusion alone watches nothing
    assert r.reply("/radar shuffle 2").kind == "error"


def test_a_digest_of_a_radar_with_only_an_exclusion_says_what_is_missing(r: Radar) -> None:
    assert r.reply("/radar digest").title.startswith("This radar has no chips yet")
    r.say("/radar keyword -survey")
    before = r.snapshot()
    reply = r.reply("/radar digest")
    assert reply.kind == "error" and reply.ephemeral
    assert reply.title.startswith("This radar has no author, keyword or category chip")
    assert r.snapshot() == before


# -- filter ------------------------------------------------------------------------------


def test_filter_narrows_with_and_and_changes_no_chips(r: Radar) -> None:
    r.say("/radar category cs.LG")
    r.say("/radar cap 50")
    before = r.chips()
    everything = card_ids(r.say("/radar filter since:7d"))
    assert len(everything) == 17
    diffusion = card_ids(r.say("/radar filter diffusion"))
    both = card_ids(r.say('/radar filter diffusion "language models"'))
    assert diffusion and both
    assert set(both) <= set(diffusion) < set(everything)
    assert len(both) < len(diffusion)
    out = r.say('/radar filter author:"Jorg Frochte"')
    assert card_ids(out) == [FROCHTE]
    assert out.splitlines()[0] == "Filter (author Jorg Frochte): 1 paper"
    assert card_ids(r.say("/radar filter -diffusion")) == [
        i for i in everything if i not in diffusion
    ]
    # cs.CL papers cross-listed in cs.LG (2604.26835 is not).
    assert card_ids(r.say("/radar filter category:cs.CL")) == CS_CL[:5]
    # A whole archive narrows too (a chip would be refused): every one is cs.*.
    out = r.say("/radar filter cat:CS")
    assert out.splitlines()[0] == "Filter (category cs): 17 papers"
    assert card_ids(out) == everything
    assert card_ids(r.say("/radar filter cat:astro-ph")) == []
    assert r.chips() == before
    assert len(r.queries()) == 1  # filters never ask arXiv


def test_filter_since_follows_the_pinned_clock(r: Radar) -> None:
    r.say("/radar category cs.CL")
    r.say("/radar cap 50")
    # Every paper was published 2026-04-29 16:01-17:59 UTC; now is 04-30 18:00.
    assert card_ids(r.say("/radar filter since:1d")) == []
    assert "Nothing in the pool matches every term." in r.say("/radar filter since:1d")
    assert card_ids(r.say("/radar filter since:2d")) == CS_CL
    assert card_ids(r.say("/radar filter since:2026-04-29")) == CS_CL
    assert card_ids(r.say("/radar filter since:2026-04-30")) == []
    r.clock.set(NOW + timedelta(days=10))
    assert card_ids(r.say("/radar filter since:7d")) == []
    assert card_ids(r.say("/radar filter since:2w")) == CS_CL


def test_filter_since_a_day_after_today_says_so(r: Radar) -> None:
    r.say("/radar category cs.CL")
    reply = r.reply("/radar filter since:2026-05-01")  # the pinned clock: 2026-04-30
    assert reply.kind == "error" and reply.ephemeral
    assert reply.title.startswith("`since:2026-05-01` is after today (2026-04-30)")
    assert r.reply("/radar filter since:2026-04-29").kind == "filter"


def test_filter_with_an_unknown_key_is_an_error(r: Radar) -> None:
    r.say("/radar category cs.CL")
    before = r.snapshot()
    reply = r.reply("/radar filter year:2026")
    assert reply.kind == "error" and reply.ephemeral
    assert "`year:` is not a filter term" in reply.title
    assert r.snapshot() == before


# -- remove, clear -----------------------------------------------------------------------


def test_remove_by_number_and_by_text_and_clear(r: Radar) -> None:
    r.say("/radar category cs.CL")
    r.say("/radar author Jorg Frochte")
    r.say('/radar keyword "knowledge distillation"')
    r.say("/radar keyword -survey")
    out = r.say("/radar remove 2")
    assert out.splitlines()[0] == "You removed author chip Jorg Frochte."
    assert r.chips() == [
        ("category", "cs.CL"),
        ("keyword", '"knowledge distillation"'),
        ("exclude", "survey"),
    ]
    assert r.say('/radar remove "knowledge distillation"').startswith(
        'You removed keyword chip "knowledge distillation".'
    )
    assert r.say("/radar remove -survey").startswith("You removed exclusion -survey.")
    assert r.say("/radar remove CS.cl").startswith("You removed category chip cs.CL.")
    assert r.chips() == []
    r.say("/radar category cs.CL")
    r.say("/radar keyword distillation")
    out = r.say("/radar clear")
    assert out.splitlines()[0] == "You removed 2 chips; this radar is empty."
    assert r.chips() == []
    assert r.snapshot()["chips"] == [("local", "lab", [])]


def test_several_chip_numbers_are_removed_as_the_list_showed_them(r: Radar) -> None:
    for line in (
        "category cs.CL",
        "author Jorg Frochte",
        "keyword distillation",
        "keyword -survey",
    ):
        r.say(f"/radar {line}")
    # One by one, 4 would have become 3 after the first removal: all are read
    # against the list as shown, and removed together.
    out = r.say("/radar remove 1, 2 and 4")
    assert out.splitlines()[0] == (
        "You removed category chip cs.CL, author chip Jorg Frochte and exclusion -survey."
    )
    assert r.chips() == [("keyword", "distillation")]
    before = r.snapshot()
    reply = r.reply("/radar remove 1 5")  # one number too many: nothing is removed
    assert reply.kind == "error" and "There is no chip 5" in reply.title
    assert r.snapshot() == before


def test_a_chip_is_removed_by_the_text_a_reply_shows_for_it(r: Radar) -> None:
    """Copied from the chips line (``[2] not: survey ×``), a chip's text removes
    that chip, quotes, colon, × and all."""
    r.say("/radar category cs.CL")
    r.say('/radar keyword "knowledge distillation"')
    r.say("/radar keyword -survey")
    r.say("/radar author Jorg Frochte")
    line = next(x for x in r.say("/radar").splitlines() if x.startswith("Chips: "))
    shown = re.findall(r"\[\d+\] (.+?) ×", line)
    assert shown == [
        "category: cs.CL",
        'keyword: "knowledge distillation"',
        "not: survey",
        "author: Jorg Frochte",
    ]
    for copied in reversed(shown):  # the last first
        assert r.say(f"/radar remove {copied} ×").startswith("You removed "), copied
    assert r.chips() == []


def test_a_chip_whose_name_ends_a_sentence_gets_no_second_full_stop(r: Radar) -> None:
    out = r.say("/radar author Martin Luther King Jr.")
    assert out.splitlines()[0] == "You added author chip Martin Luther King Jr."
    out = r.say("/radar remove Martin Luther King Jr.")
    assert out.splitlines()[0] == "You removed author chip Martin Luther King Jr."


def test_remove_a_missing_chip_lists_the_chips(r: Radar) -> None:
    r.say("/radar category cs.CL")
    r.say("/radar author Jorg Frochte")
    before = r.snapshot()
    reply = r.reply("/radar remove diffusion")
    assert reply.kind == "error" and reply.ephemeral
    assert reply.title.startswith("No chip matches `diffusion`.")
    assert "1. cs.CL" in reply.title and "2. Jorg Frochte" in reply.title
    reply = r.reply("/radar remove 3")
    assert reply.kind == "error"
    assert "There is no chip 3; this radar has 2" in reply.title
    assert r.snapshot() == before
    r.say("/radar clear")
    assert r.reply("/radar remove 1").title == "This radar has no chips to remove."
    # Clearing an empty radar changes nothing, so the channel hears nothing.
    again = r.reply("/radar clear")
    assert again.kind == "error" and again.ephemeral
    assert again.title == "This radar has no chips to clear; nothing changed."


# -- schedule ----------------------------------------------------------------------------


def test_an_author_chip_that_may_be_two_people_says_how_to_add_each(r: Radar) -> None:
    out = flat(r.say("/radar author Yehui Tang, Jorg Frochte"))
    assert (
        "If that is two people, add each on its own: `/radar author Yehui Tang` and "
        "`/radar author Jorg Frochte`." in out
    )
    # One person written "Surname, Given" gets no such hint.
    assert "two people" not in r.say("/radar author García Márquez, Gabriel")


def test_a_surname_alone_is_added_with_a_hint_that_it_follows_everyone_of_that_name(
    r: Radar,
) -> None:
    out = flat(r.say("/radar author Frochte"))
    assert out.startswith("You added author chip Frochte.")
    assert (
        "`Frochte` alone follows every author with that surname; for one person, add a "
        "given name or an initial, e.g. `/radar author Y. Frochte`." in out
    )
    assert r.chips() == [("author", "Frochte")]
    # A given name, or "Surname, Given", is one person: no hint.
    assert "alone follows" not in r.say("/radar author Jorg Frochte")
    assert "alone follows" not in r.say("/radar author Zhao, Wayne Xin")


def test_a_keyword_in_single_quotes_is_a_phrase_and_is_removed_as_typed(r: Radar) -> None:
    out = r.say("/radar keyword 'language models' diffusion")
    # As with double quotes: the phrase's words consecutive.
    assert card_ids(out) == ["2604.26951"]
    assert r.chips() == [("keyword", '"language models" diffusion')]
    r.say("/radar keyword 'diffusion models'")
    assert "You removed" in r.say("/radar remove 'diffusion models'")
    assert r.chips() == [("keyword", '"language models" diffusion')]


def test_schedule_is_stored_and_names_the_next_run_in_the_zone(r: Radar) -> None:
    # 18:00 UTC is 02:00 the next day in Shanghai: the next 09:00 is that morning.
    out = r.say("/radar schedule 09:00 asia/shanghai")
    assert out.splitlines()[0] == "You set the daily digest to 09:00 Asia/Shanghai."
    assert "Fri 2026-05-01 09:00 CST" in out
    state = r.app.store.find_channel(r.ref)
    assert state is not None
    assert (state.schedule_time, state.schedule_tz) == ("09:00", "Asia/Shanghai")
    # 18:00 UTC is 20:00 in Berlin: 21:30 is still today.
    out = r.say("/radar schedule 21:30 Europe/Berlin")
    assert "Thu 2026-04-30 21:30 CEST" in out
    # A time alone keeps the channel's zone.
    out = r.say("/radar schedule 7.15")
    assert out.splitlines()[0] == "You set the daily digest to 07:15 Europe/Berlin."
    assert "Fri 2026-05-01 07:15 CEST" in out
    assert "Schedule: daily at 07:15 Europe/Berlin" in r.say("/radar")
    assert r.say("/radar schedule off") == "You turned the daily digest off for this channel."
    state = r.app.store.find_channel(r.ref)
    assert state is not None and state.schedule_time is None


def test_a_schedule_in_12_hour_time_is_stored_in_24(r: Radar) -> None:
    out = r.say("/radar schedule 9:30pm Europe/Berlin")
    assert out.splitlines()[0] == "You set the daily digest to 21:30 Europe/Berlin."
    assert "Thu 2026-04-30 21:30 CEST" in out
    state = r.app.store.find_channel(r.ref)
    assert state is not None and (state.schedule_time, state.schedule_tz) == (
        "21:30",
        "Europe/Berlin",
    )


def test_cap_or_schedule_alone_says_the_setting_and_changes_nothing(r: Radar) -> None:
    r.say("/radar category cs.CL")
    reply = r.reply("/radar schedule")
    assert reply.ephemeral and reply.kind == "info"
    assert reply.title == "Schedule: off (set one with `/radar schedule 09:00 Europe/Berlin`)."
    r.say("/radar schedule 07:15 Asia/Shanghai")
    r.say("/radar cap 4")
    before = r.snapshot()
    assert r.say("/radar schedule").splitlines()[0] == "Schedule: daily at 07:15 Asia/Shanghai."
    reply = r.reply("/radar cap")
    assert reply.ephemeral and reply.title == "Digests show up to 4 cards."
    assert "`/radar cap <n>` (1 to 50)" in reply.lines[0]
    assert r.snapshot() == before


def test_a_setting_that_is_already_so_tells_only_the_asker(r: Radar) -> None:
    # A change is announced to the channel; repeating one is not a change.
    r.say("/radar category cs.CL")
    for line in ("/radar schedule 09:00 Asia/Shanghai", "/radar cap 4", "/radar brief every week"):
        assert not r.reply(line).ephemeral
    before = r.snapshot()
    for line, says in [
        ("/radar schedule 09:00", "The daily digest is already at 09:00 Asia/Shanghai"),
        ("/radar cap 4", "Digests already show up to 4 cards"),
        ("/radar brief every week", "Automatic briefings are already every week"),
    ]:
        reply = r.reply(line)
        assert reply.ephemeral and reply.title == f"{says}; nothing changed.", line
    assert r.snapshot() == before
    r.say("/radar schedule off")
    r.say("/radar brief off")
    assert (
        r.reply("/radar schedule off").title == "The daily digest is already off; nothing changed."
    )
    assert r.reply("/radar brief off").title == (
        "Automatic briefings are already off; nothing changed."
    )


def test_a_servers_default_schedule_is_what_show_reports(r: Radar) -> None:
    # The operator's `schedule.default_time` posts digests to channels that set
    # none: `/radar` must not call that "off".
    config = r.app.service.config
    r.app.service.config = replace(config, schedule=replace(config.schedule, default_time="08:00"))
    r.say("/radar category cs.CL")
    assert "Schedule: daily at 08:00 UTC, this server's default" in r.say("/radar")
    # Briefings follow that default digest: no "no daily digest yet".
    assert "no daily digest yet" not in r.say("/radar brief every day")
    r.say("/radar schedule off")  # a change here: it stops the default
    assert "Schedule: off" in r.say("/radar")
    assert r.say("/radar schedule").startswith("Schedule: off")
    assert "no daily digest yet" in r.say("/radar brief every week")


@pytest.mark.parametrize(
    "line",
    [
        "/radar schedule 09:00 Mars/Olympus",
        "/radar schedule 09:00 Berlin",
        "/radar schedule 25:00 UTC",
        "/radar schedule 13 pm",
        "/radar schedule 9",
    ],
)
def test_schedule_with_a_bad_zone_or_time_stores_nothing(r: Radar, line: str) -> None:
    r.say("/radar schedule 08:00 Europe/Paris")
    before = r.snapshot()
    reply = r.reply(line)
    assert reply.kind == "error" and reply.ephemeral
    assert r.snapshot() == before
    state = r.app.store.find_channel(r.ref)
    assert state is not None and state.schedule_tz == "Europe/Paris"


def test_schedule_bad_zone_suggests_a_real_one(r: Radar) -> None:
    reply = r.reply("/radar schedule 09:00 Europe/Berln")
    assert "`Europe/Berln` is not a time zone" in reply.title
    assert "Europe/Berlin" in reply.title


# -- bad input changes nothing -----------------------------------------------------------

BAD_LINES = [
    # empty arguments
    "/radar author",
    "/radar keyword   ",
    "/radar category",
    "/radar source",
    "/radar remove",
    "/radar filter",
    # (`/radar schedule` and `/radar cap` alone read the setting: see above)
    # 10,000-character arguments (and one within the line limit but over the argument limit)
    "/radar author " + "a" * 10_000,
    "/radar keyword " + "word " * 2_000,
    "/radar filter " + "x" * 10_000,
    "/radar author " + "Ab" * 400,
    # control characters
    "/radar author Jorg\x00Frochte",
    "/radar keyword \x1b[31mred",
    "/radar category cs.CL\x07",
    "/radar keyword evil\u202etxt",
    "/radar author Zero\u2060Width",
    # unbalanced quotes
    '/radar keyword "large language',
    '/radar filter author:"Jorg Frochte',
    '/radar keyword -"survey',
    # unknown commands
    "/radar frobnicate",
    "/radar DROP TABLE chips;",
    "/radar subscribe cs.CL",
    # bad zones and times
    "/radar schedule 09:00 Mars/Olympus",
    "/radar schedule 09:00 ../../etc/passwd",
    "/radar schedule 24:61 UTC",
    # query injection
    "/radar author au:x OR cat:*",
    "/radar keyword au:x OR cat:*",
    "/radar keyword diffusion OR survey",
    "/radar category cat:*",
    "/radar filter au:x OR cat:*",
    # other refusals
    "/radar category cs.XYZ",
    "/radar source pubmed",
    "/radar shuffle 0",
    "/radar shuffle 999",
    "/radar cap 0",
    "/radar cap lots",
    "/radar schedule 13pm",
    "/radar digest later",
    "/radar clear 2",
    "/radar remove 9",
    "/radar remove nonexistent chip",
    "/radar filter since:forever",
    "/radar filter since:0d",
    "/radar filter foo:bar",
    '/radar filter ""',
    "/radar keyword distillation -survey",
    "/radar help nonsense",
    "/radar brief " + "t" * 300,
]


def test_bad_input_changes_nothing_and_gets_a_short_ephemeral_error(r: Radar) -> None:
    r.say("/radar category cs.CL")
    r.say("/radar author Jorg Frochte")
    r.say("/radar schedule 09:00 Europe/Berlin")
    r.say("/radar digest")
    requests_before = len(r.server.received)
    before = r.snapshot()
    assert before["chips"] and before["papers"] == 20 and before["digest_runs"] == 1
    for line in BAD_LINES:
        reply = r.reply(line)
        shown = r.say(line)
        assert reply.kind == "error", (line[:60], reply)
        assert reply.ephemeral, line[:60]
        assert shown.startswith("! "), line[:60]
        assert len(shown) <= 400, (line[:60], len(shown))
        assert len(shown.splitlines()) <= 3, line[:60]
        assert "Traceback" not in shown and 'File "' not in shown, line[:60]
        assert "\x00" not in shown and "\x1b" not in shown
        assert r.snapshot() == before, line[:60]
    assert len(r.server.received) == requests_before  # nothing reached arXiv


def test_bad_input_on_a_new_channel_creates_nothing(r: Radar) -> None:
    before = r.snapshot()
    for line in BAD_LINES[:30]:
        assert r.reply(line).kind == "error", line[:60]
    assert r.snapshot() == before
    assert before["channels"] == 0


# -- isolation ---------------------------------------------------------------------------


def test_same_channel_id_in_two_workspaces_has_two_radars(r: Radar) -> None:
    t1 = ChannelRef("slack", "T1", "C1")
    t2 = ChannelRef("slack", "T2", "C1")
    r.say("/radar category cs.CL", t1)
    assert r.chips(t1) == [("category", "cs.CL")]
    show = r.say("/radar", t2)
    assert "No chips yet" in show and "Chips:" not in show
    r.say("/radar author Jorg Frochte", t2)
    assert r.chips(t1) == [("category", "cs.CL")]
    assert r.chips(t2) == [("author", "Jorg Frochte")]
    d1 = card_ids(r.say("/radar digest", t1))
    d2 = card_ids(r.say("/radar digest", t2))
    assert d1 == ["2604.26835"]  # the one cs.CL paper its chip reply did not show
    assert d2 == []  # Frochte's paper was shown by T2's chip reply
    assert seen_ids(r, t1) == set(CS_CL)
    assert seen_ids(r, t2) == {FROCHTE}
    r.say("/radar clear", t2)
    assert r.chips(t1) == [("category", "cs.CL")]
    r.say("/radar schedule 09:00 Asia/Tokyo", t1)
    state = r.app.store.find_channel(t2)
    assert state is not None and state.schedule_time is None
    assert r.snapshot()["channels"] == 2


# -- upstream faults ---------------------------------------------------------------------


def test_backfill_503_still_adds_the_chip(tmp_path: Path) -> None:
    with radar(tmp_path, [Rule("/api/query", Reply(503, b"busy"), when=au_query)]) as r:
        reply = r.reply("/radar author Jorg Frochte")
        out = r.say("/radar")
        assert reply.kind == "radar" and not reply.ephemeral
        assert reply.title == "You added author chip Jorg Frochte."
        assert any("arXiv did not answer" in line for line in reply.lines)
        assert reply.cards == ()
        assert r.chips() == [("author", "Jorg Frochte")]
        assert r.app.store.paper_count() == 0
        assert all(q == 'au:"Jorg Frochte"' for q in r.queries())
        assert 1 < len(r.queries()) <= 1 + r.app.config.arxiv.max_retries  # retried, bounded
        assert "Chips: [1] author: Jorg Frochte ×" in out
        # Nothing else broke: other chips backfill, the digest finds the author.
        assert card_ids(r.say("/radar category cs.CL")) == CS_CL[:5]
        digest = r.say("/radar digest")
        assert card_ids(digest)[0] == FROCHTE
        assert "arXiv did not answer" not in digest


@pytest.mark.parametrize(
    "fault",
    [
        Reply(503, b"Service Unavailable", content_type="text/plain"),
        Reply(200, CAPTURE.read_bytes()[: len(CAPTURE.read_bytes()) // 2]),  # truncated feed
        Reply(200, b"<html><body>Rate exceeded.</body></html>", content_type="text/html"),
    ],
    ids=["http-503", "truncated-feed", "html-not-a-feed"],
)
def test_digest_posts_from_stored_papers_when_the_harvest_fails(
    tmp_path: Path, fault: Reply
) -> None:
    with radar(tmp_path, [Rule("/api/query", fault, when=is_harvest)]) as r:
        r.say("/radar category cs.CL")  # the backfill works: 20 papers stored
        reply = r.reply("/radar digest")
        out = r.say("/radar")
        assert reply.kind == "digest"
        assert any("arXiv did not answer" in line for line in reply.lines)
        assert [c.key for c in reply.cards] == ["arxiv:2604.26835"]
        assert r.snapshot()["harvests"] == 0
        assert r.snapshot()["digest_runs"] == 1
        assert "Last digest: 2026-04-30 18:00 UTC, 1 card" in out
        harvest_tries = r.harvests()
        assert 1 <= harvest_tries <= 1 + r.app.config.arxiv.max_retries
        # arXiv is back: the next digest harvests (nothing was recorded as done).
        r.server.rules.clear()
        r.clock.set(NOW + timedelta(minutes=5))
        again = r.reply("/radar digest")
        assert not any("arXiv did not answer" in line for line in again.lines)
        assert r.harvests() == harvest_tries + 1
        assert r.snapshot()["harvests"] == 1


def test_harvest_failure_on_an_empty_store_says_nothing_new(tmp_path: Path) -> None:
    with radar(tmp_path, [Rule("/api/query", Reply(503), when=is_harvest)]) as r:
        r.app.store.add_chip(r.app.store.channel(r.ref).id, Chip(ChipKind.CATEGORY, "cs.CL"))
        reply = r.reply("/radar digest")
        assert reply.kind == "digest" and reply.title == "Nothing new"
        assert "arXiv did not answer" in reply.lines[0]
        assert r.snapshot()["digest_runs"] == 0


# -- upstream cost does not grow with channels -------------------------------------------


CHIP_MIX = [
    Chip(ChipKind.CATEGORY, "cs.CL"),
    Chip(ChipKind.CATEGORY, "cs.LG"),
    Chip(ChipKind.AUTHOR, "Jörg Frochte"),
    Chip(ChipKind.KEYWORD, "diffusion"),
    Chip(ChipKind.CATEGORY, "stat.ML"),
]


def harvest_requests_for(tmp_path: Path, channels: int) -> tuple[int, int]:
    with radar(tmp_path) as r:
        store = r.app.store
        refs = [ChannelRef("slack", f"T{i % 7}", f"C{i}") for i in range(channels)]
        for i, ref in enumerate(refs):
            state = store.channel(ref)
            store.add_chip(state.id, CHIP_MIX[i % len(CHIP_MIX)])
        posted = 0
        for i, ref in enumerate(refs):
            # Every digest falls inside the same hour, at its own moment.
            r.clock.set(NOW + timedelta(seconds=15 * i))
            reply = r.reply("/radar digest", ref)
            assert reply.kind == "digest", reply
            posted += len(reply.cards)
        assert posted >= channels  # each channel really got cards
        assert not [q for q in r.queries() if not is_harvest_query(q)]  # no backfills here
        return r.harvests(), len(r.server.received)


def is_harvest_query(query: str) -> bool:
    return "submittedDate" in query


def test_upstream_requests_do_not_grow_with_channels(tmp_path: Path) -> None:
    few = harvest_requests_for(tmp_path / "ten", 10)
    many = harvest_requests_for(tmp_path / "two-hundred", 200)
    assert few == many == (1, 1)


# -- brief: see tests/test_brief.py -------------------------------------------------------


# -- show and help -----------------------------------------------------------------------


def test_show_reads_the_whole_radar(r: Radar) -> None:
    out = r.say("/radar")
    assert "No chips yet" in out and "Last digest: none yet" in out
    r.say("/radar category cs.CL")
    r.say("/radar keyword -survey")
    r.say("/radar digest")
    out = r.say("radar")
    assert "Chips: [1] category: cs.CL ×   [2] not: survey ×" in out
    assert "Digest size: up to 10 cards" in out
    assert "Last digest: 2026-04-30 18:00 UTC, 1 card" in out
    assert "Matching now: 6 papers in the last 30 days" in out


def test_help_lists_every_command(r: Radar) -> None:
    reply = r.reply("/radar help")
    assert reply.ephemeral and reply.kind == "help"
    out = r.say("/radar help")
    for word in (
        "author",
        "keyword",
        "category",
        "remove",
        "digest",
        "shuffle",
        "filter",
        "brief",
        "schedule",
    ):
        assert f"/radar {word}" in out
    assert r.say("/radar help shuffle").startswith("/radar shuffle")
    # `/radar` alone is a command too: what most people type first.
    assert "/radar  (show this channel's radar)" in out


def test_show_says_when_briefings_follow_the_digest(r: Radar) -> None:
    r.say("/radar category cs.CL")
    assert "Briefings:" not in r.say("/radar")
    r.say("/radar brief every week")
    assert "Briefings: every week, after its first digest" in r.say("/radar").splitlines()
    r.say("/radar brief off")
    assert "Briefings:" not in r.say("/radar")
