"""All-channel planning (one indexed pass) agrees with per-channel digests,
and a daily run's upstream requests do not depend on the number of channels."""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_matching import _chip, _paper

from bot.app import App, build
from bot.clock import FixedClock
from bot.config import Config
from bot.core.channel import ChannelRef
from bot.core.chips import Chip, ChipKind
from bot.core.matching import topk
from bot.core.matching.radar import match_paper
from bot.core.matching.topk import FIELD_BITS
from bot.core.paper import Paper
from bot.core.ranking import rank
from bot.digest.daily import DEFAULT_CAP, plan_all, plan_radars
from bot.digest.plan import DigestPlan, fresh_plan, plan_digest
from bot.sources.replay import AtomPager, ReplayServer

FIXTURES = Path(__file__).parent / "fixtures" / "arxiv"
NOW = datetime(2026, 4, 30, 18, 0, tzinfo=UTC)
CHIPS = [
    Chip(ChipKind.CATEGORY, "cs.CL"),
    Chip(ChipKind.CATEGORY, "math.OC"),
    Chip(ChipKind.AUTHOR, "Jörg Frochte"),
    Chip(ChipKind.AUTHOR, "Wayne Xin Zhao"),
    Chip(ChipKind.KEYWORD, "distillation"),
    Chip(ChipKind.KEYWORD, '"language models"'),
    Chip(ChipKind.EXCLUDE, "diffusion"),
    Chip(ChipKind.SOURCE, "arxiv"),
]


@pytest.fixture
def server():
    capture = (FIXTURES / "arxiv_api_query_cat-cs.LG-OR-cs.AI_max20.xml").read_bytes()
    with ReplayServer(default=AtomPager(capture)) as srv:
        yield srv


def make_app(server: ReplayServer, tmp_path: Path) -> App:
    config = Config().with_db(f"sqlite:///{tmp_path / 'radar.db'}")
    config = replace(
        config,
        arxiv=replace(
            config.arxiv, api_url=server.url + "/api/query", delay_seconds=0.0, page_size=7
        ),
    )
    return build(config, clock=FixedClock(NOW))


def seed(app: App, n: int, rng: random.Random) -> list[int]:
    ids = []
    for i in range(n):
        state = app.store.channel(ChannelRef("slack", f"T{i % 3}", f"C{i}"))
        for chip in rng.sample(CHIPS, 3):
            app.store.add_chip(state.id, chip)
        ids.append(state.id)
    return ids


def test_plan_all_equals_each_channels_own_digest_plan(server, tmp_path) -> None:
    app = make_app(server, tmp_path)
    try:
        ids = seed(app, 25, random.Random(7))
        app.harvester.run(force=True)
        # One channel has already been shown two papers: both plans must skip them.
        first = plan_digest(app.store, app.store.channel_by_id(ids[0]), NOW, 7)
        shown = [m.paper.key for m in first.matches[:2]]
        app.store.mark_seen(ids[0], shown, NOW, via="digest")
        app.store.set_digest_cap(ids[1], 2)

        plans = plan_all(app.store, NOW, 7)
        assert set(plans) == set(ids)
        for cid in ids:
            own = plan_digest(app.store, app.store.channel_by_id(cid), NOW, 7)
            # What delivery reads, straight from the planner's arrays...
            assert plans[cid].keys == own.keys
            assert plans[cid].papers == own.papers
            # ... and the Matches behind them, built when asked.
            assert [m.paper.key for m in plans[cid].matches] == [m.paper.key for m in own.matches]
            assert plans[cid].more == own.more
        assert not set(shown) & {m.paper.key for m in plans[ids[0]].matches}
        assert len(plans[ids[1]].matches) <= 2
        assert any(plans[cid].matches for cid in ids)
    finally:
        app.close()


@pytest.mark.parametrize("channels", [1, 40])
def test_a_daily_run_asks_arxiv_the_same_whatever_the_number_of_channels(
    server, tmp_path, channels
) -> None:
    app = make_app(server, tmp_path)
    try:
        seed(app, channels, random.Random(1))
        app.harvester.run()
        plan_all(app.store, NOW, 7)
        app.harvester.run()  # a second digest time within the hour reuses the pass
        harvests = [p for p in server.params if "submittedDate" in p.get("search_query", "")]
        # 20 captured papers in pages of 7: three requests, for 1 channel or 40.
        assert len(harvests) == 3
        assert len(server.requests) == 3
    finally:
        app.close()


# -- the planner against planning each channel by brute force ------------------------------


def brute_plan(chips: list[Chip], papers: list[Paper], seen: set[str], cap: int) -> DigestPlan:
    """A channel's digest the reference way: every paper through ``match_paper``,
    ranked, the seen ones dropped, the first ``cap`` kept (``fresh_plan``)."""
    found = rank([m for p in papers if (m := match_paper(chips, p)) is not None])
    return fresh_plan(found, seen, cap)


@pytest.mark.parametrize("field_bits", [FIELD_BITS, 1])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    radars=st.dictionaries(st.integers(1, 40), st.lists(_chip, max_size=6), max_size=8),
    papers=st.lists(_paper, max_size=8),
    data=st.data(),
)
def test_planning_all_radars_equals_planning_each_by_brute_force(
    field_bits: int, radars: dict[int, list[Chip]], papers: list[Paper], data: st.DataObject
) -> None:
    """Exclusions, source chips, identity chips, papers matched by several chips,
    seen papers (by key: the pool may hold two records of one key), caps (0 too);
    ``field_bits`` 1 sends every radar with two chips of a kind down the slow path."""
    keys = sorted({p.key for p in papers}) or ["arxiv:none"]
    seen = {c: set(data.draw(st.lists(st.sampled_from(keys), max_size=4))) for c in radars}
    caps = {c: data.draw(st.integers(0, 4)) for c in radars if data.draw(st.booleans())}
    with patch.object(topk, "FIELD_BITS", field_bits):
        plans = plan_radars(radars, papers, seen, caps)
    assert list(plans) == list(radars)
    for cid, chips in radars.items():
        want = brute_plan(chips, papers, seen[cid], caps.get(cid, DEFAULT_CAP))
        assert plans[cid] == want
        assert [m.order for m in plans[cid].matches] == [m.order for m in want.matches]


#: One real day of arXiv (tests/fixtures/relevance: 292 papers listed on 2026-06-01).
SLICE = Path(__file__).parent / "fixtures" / "relevance" / "arxiv_cs_2026-06_slice.jsonl.gz"
DAY = datetime(2026, 6, 1, tzinfo=UTC)


def real_day() -> list[Paper]:
    """The papers listed on ``DAY``, one minute apart (in file order)."""
    with gzip.open(SLICE, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    day = [r for r in rows if r["listing_date"] == "2026-06-01"]
    return [
        Paper(
            key=f"arxiv:{r['id']}",
            source="arxiv",
            title=r["title"],
            abstract=r["summary"],
            authors=tuple(r["authors"]),
            categories=tuple(r["categories"]),
            primary_category=r["categories"][0],
            published=DAY + timedelta(minutes=i),
            updated=DAY + timedelta(minutes=i),
            url=r["abs"],
        )
        for i, r in enumerate(day)
    ]


#: ``CHIPS`` and a few that the real day's papers match often.
REAL_CHIPS = [
    *CHIPS,
    *(Chip(ChipKind.CATEGORY, c) for c in ("cs.CV", "cs.LG", "cs")),
    Chip(ChipKind.KEYWORD, "agents"),
    Chip(ChipKind.EXCLUDE, "survey"),
]


def test_category_tails_on_a_real_day_equal_brute_force() -> None:
    """Category chips bring hundreds of a real day's papers to a radar, and the
    planner reads them from tails shared by radars with the same categories and
    limits (``bot.core.matching.tails``). Overlapping and prefix categories
    (a paper in two of a radar's categories ranks first among its
    category-only matches), author and keyword chips whose papers are also in
    the tail, exclusions and source chips, shown papers deep in the tail, and
    caps from none to the whole radar: each plan, and each radar's whole
    ranked list, equal the brute-force ones."""
    papers = real_day()
    cats = ["cs.CV", "cs.LG", "cs.CL", "cs.AI", "cs", "stat.ML", "cs.RO", "math", "eess.IV"]
    people = sorted({a for p in papers[:60] for a in p.authors[:2]})
    rng = random.Random(5)
    radars: dict[int, list[Chip]] = {}
    for c in range(1, 81):
        chips = [Chip(ChipKind.CATEGORY, cat) for cat in rng.sample(cats, rng.choice([1, 1, 2, 3]))]
        chips += rng.sample(REAL_CHIPS, rng.randint(0, 2))
        chips += [Chip(ChipKind.AUTHOR, a) for a in rng.sample(people, rng.randint(0, 2))]
        if c % 6 == 0:
            chips.append(Chip(ChipKind.EXCLUDE, rng.choice(["survey", "robot", "vision"])))
        if c % 9 == 0:
            chips.append(Chip(ChipKind.SOURCE, rng.choice(["arxiv", "openalex"])))
        radars[c] = rng.sample(chips, len(chips))  # chip order is the radar's own
    keys = [p.key for p in papers]
    seen = {c: set(rng.sample(keys, rng.choice([0, 5, 60, 200]))) for c in radars}
    caps = {c: rng.choice([0, 1, 3, 10, 50, 400]) for c in radars if c % 2}
    plans = plan_radars(radars, papers, seen, caps)
    for cid, chips in radars.items():
        want = brute_plan(chips, papers, seen[cid], caps.get(cid, DEFAULT_CAP))
        assert plans[cid] == want, cid
        assert [m.order for m in plans[cid].matches] == [m.order for m in want.matches]
    # Deep tails were read: digests that needed hundreds of category-only cards.
    assert max(len(p.matches) for p in plans.values()) > 150
    planner = topk.RadarPlanner(radars, papers)
    ranked = planner.ranked(list(radars))
    found = planner.matches({c: r.papers for c, r in ranked.items()})
    for cid, chips in radars.items():
        want_all = rank([m for p in papers if (m := match_paper(chips, p)) is not None])
        assert found[cid] == want_all, cid
        assert ranked[cid].followed.tolist() == [m.author_count > 0 for m in want_all]


@pytest.mark.parametrize("field_bits", [FIELD_BITS, 1])
def test_ranked_plans_equal_each_channels_typed_digest(server, tmp_path, field_bits: int) -> None:
    """With relevance, ``plan_all`` ranks every channel with a signal at once; each
    plan equals the channel's own typed digest (``plan_digest`` with its
    ``reorder``): like chips and the papers they watch, likes, saves, dislikes,
    followed authors first, exclusions, source chips, seen papers, caps, and
    channels with no signal (their chips' order). ``field_bits`` 1 sends the
    radars with two author chips down the planner's slow path."""
    app = make_app(server, tmp_path)
    try:
        papers = real_day()
        app.store.upsert_papers(papers, DAY)
        ranker = app.service.ranker
        assert ranker is not None
        ranker.vectorizer.papers(papers)
        ranker.settings = replace(ranker.settings, like_threshold=0.04)  # watch a few each
        now = DAY + timedelta(days=1)
        people = [a for p in papers[:40] for a in p.authors[:1]]
        rng = random.Random(11)
        ids: list[int] = []
        for i in range(40):
            state = app.store.channel(ChannelRef("slack", "T1", f"C{i}"))
            ids.append(state.id)
            chips = rng.sample(REAL_CHIPS, rng.randint(1, 3))
            chips += [Chip(ChipKind.AUTHOR, a) for a in rng.sample(people, 1 + i % 2)]
            for chip in chips:
                app.store.add_chip(state.id, chip)
            if i % 3 == 0:  # like chips: they also watch
                for p in rng.sample(papers, rng.randint(1, 2)):
                    app.store.add_chip(state.id, Chip(ChipKind.LIKE, p.key, names=(p.title,)))
            if i % 4 == 1:  # people's verdicts
                for kind in rng.sample(["like", "dislike", "save"], 2):
                    paper = rng.choice(papers)
                    ranker.relevance.add_feedback(state.id, paper.key, f"U{i}", kind, "button")
            if i % 5 == 2:
                shown = [p.key for p in rng.sample(papers, 60)]
                app.store.mark_seen(state.id, shown, now, via="digest")
            if i % 7 == 3:
                app.store.set_digest_cap(state.id, rng.randint(1, 3))

        with patch.object(topk, "FIELD_BITS", field_bits):
            plans = plan_all(app.store, now, 7, ranking=ranker)
            chips_only = plan_all(app.store, now, 7)
        assert set(plans) == set(ids)
        for cid in ids:
            state = app.store.channel_by_id(cid)
            own = plan_digest(
                app.store, state, now, 7, reorder=ranker.reorder(cid, state.chip_list)
            )
            assert plans[cid] == own, cid
            assert [m.order for m in plans[cid].matches] == [m.order for m in own.matches]
        liked = [cid for i, cid in enumerate(ids) if i % 3 == 0 or i % 4 == 1]
        quiet = [cid for cid in ids if cid not in liked]
        assert sum(plans[c].matches != chips_only[c].matches for c in liked) > len(liked) // 2
        assert all(plans[c] == chips_only[c] for c in quiet)
        # Like chips put papers on radars that no other chip brings.
        watched = [m for c in liked for m in plans[c].matches if m.chips[0].kind is ChipKind.LIKE]
        assert watched
        # A followed person's papers lead a ranked digest, whatever their scores.
        follows = [[m.author_count > 0 for m in plans[c].matches] for c in liked]
        assert all(f == sorted(f, reverse=True) for f in follows)
        assert sum(True in f and False in f for f in follows) > len(liked) // 3
    finally:
        app.close()
