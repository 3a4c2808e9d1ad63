"""All-channel planning (one indexed pass) agrees with per-channel digests,
and a daily run's upstream requests do not depend on the number of channels."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import App, build
from bot.clock import FixedClock
from bot.config import Config
from bot.core.channel import ChannelRef
from bot.core.chips import Chip, ChipKind
from bot.digest.daily import plan_all
from bot.digest.plan import plan_digest
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
