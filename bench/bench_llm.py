"""Language-model calls and tokens: a daily run of 1,000 channels, one briefing in 100.

The model is a local OpenAI-compatible server (``tests/fakellm.py``) reached
through the real ``openai`` SDK, so what is counted is what a real server
would receive. Three measurements:

1. one daily run for 1,000 channels (harvest, plan, claim and build every
   digest, then ``auto_brief`` as the scheduler calls it), cadence off as
   by default: target 0 calls;
2. the same run with every channel on ``/radar brief every day``: calls are
   one per distinct digest (identical digests share a cached briefing);
3. ``/radar brief`` asked in 100 channels whose last digests hold the same
   papers: target 1 call.

    .venv/bin/python bench/bench_llm.py
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import print_machine  # noqa: E402
from bench.seeding import CATEGORIES, KEYWORDS, seed_channels  # noqa: E402
from bot.app import App, build  # noqa: E402
from bot.clock import FixedClock  # noqa: E402
from bot.config import Config, LlmSettings  # noqa: E402
from bot.core.channel import ChannelRef  # noqa: E402
from bot.demo import capture_bytes  # noqa: E402
from bot.digest.daily import plan_all  # noqa: E402
from bot.digest.fulltext import FullTextSettings  # noqa: E402
from bot.sources.replay import AtomPager, ReplayServer  # noqa: E402
from bot.store import models as m  # noqa: E402
from tests.fakellm import FakeLLM  # noqa: E402

NOW = datetime(2026, 4, 30, 18, 0, tzinfo=UTC)


@contextmanager
def bench_app(llm: FakeLLM) -> Iterator[App]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        ReplayServer(default=AtomPager(capture_bytes())) as server,
    ):
        config = Config().with_db(f"sqlite:///{Path(tmp) / 'bench.db'}")
        config = replace(
            config,
            arxiv=replace(config.arxiv, api_url=server.url + "/api/query", delay_seconds=0.0),
            llm=LlmSettings(
                base_url=llm.url,
                model="fake-model",
                api_key_env="PAPER_RADAR_BENCH_UNSET_KEY",
                max_retries=0,
                daily_token_budget=0,
            ),
            fulltext=FullTextSettings(enabled=False),
        )
        app = build(config, clock=FixedClock(NOW))
        try:
            yield app
        finally:
            app.close()


def daily_run(n: int, cadence: str | None) -> dict[str, float]:
    """Harvest, plan, claim and build every digest, then ask for the automatic briefings."""
    with FakeLLM() as llm, bench_app(llm) as app:
        seed_channels(
            app.store.engine,
            n,
            NOW,
            rng=random.Random(42),
            chips=[("category", CATEGORIES), ("keyword", KEYWORDS[:5])],
            brief_cadence=cadence,
        )
        t0 = time.perf_counter()
        app.harvester.run(force=True)
        plans = plan_all(app.store, NOW, app.config.radar.digest_window_days)
        states = {s.id: s for s in app.store.channels()}
        digests = briefs = 0
        distinct: set[frozenset[str]] = set()
        for cid, plan in plans.items():
            keys = plan.keys
            if not keys:
                continue
            distinct.add(frozenset(keys))
            run = app.store.claim_run(
                cid, f"schedule-{NOW:%Y%m%d}", "schedule", keys, plan.more, NOW
            )
            assert run is not None
            app.service.run_reply(run, states[cid])  # the digest as posted
            digests += 1
            if app.service.auto_brief(states[cid], NOW + timedelta(seconds=1)) is not None:
                briefs += 1
        elapsed = time.perf_counter() - t0
        tokens = app.service.gateway.tokens if app.service.gateway else 0
        return {
            "digests": digests,
            "distinct": len(distinct),
            "briefs": briefs,
            "calls": llm.calls,
            "tokens": tokens,
            "s": elapsed,
        }


def same_briefing(n: int) -> dict[str, float | str]:
    """``/radar brief`` in ``n`` channels whose last digest holds the same papers."""
    with FakeLLM() as llm, bench_app(llm) as app:
        service, store = app.service, app.store
        refs = [ChannelRef("slack", f"T{i % 10}", f"C{i}") for i in range(n)]
        for ref in refs:
            service.handle(ref, "/radar category cs.LG")
        with store.engine.begin() as conn:  # chip replies marked papers seen; digest them anyway
            conn.execute(delete(m.Seen))
        t0 = time.perf_counter()
        kinds = set()
        for ref in refs:
            service.handle(ref, "/radar digest")
            kinds.add(service.handle(ref, "/radar brief").lines[0].split(" on ")[0])
        elapsed = time.perf_counter() - t0
        gateway = service.gateway
        assert gateway is not None
        return {
            "channels": n,
            "calls": llm.calls,
            "tokens": gateway.tokens,
            "s": elapsed,
            "kinds": ", ".join(sorted(kinds)),
        }


def main() -> None:
    print_machine()
    print("Language-model cost, against a local OpenAI-compatible server (real HTTP, openai SDK)")
    off = daily_run(1000, None)
    print(
        f"daily run, 1,000 channels, briefings off (default): {off['digests']:,} digests, "
        f"{off['calls']} LLM calls, {off['tokens']} tokens, {off['s']:.1f} s   [target: 0 calls]"
    )
    day = daily_run(1000, "day")
    print(
        f"daily run, 1,000 channels, `brief every day`: {day['digests']:,} digests, "
        f"{day['briefs']:,} briefings, {day['calls']} LLM calls, {day['tokens']:,} tokens, "
        f"{day['s']:.1f} s   [{day['distinct']} distinct digests: one call each]"
    )
    same = same_briefing(100)
    print(
        f"same briefing in {same['channels']} channels: {same['calls']} LLM call, "
        f"{same['tokens']:,} tokens, {same['s']:.1f} s ({same['kinds']})   [target: 1 call]"
    )


if __name__ == "__main__":
    main()
