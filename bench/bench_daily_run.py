"""Upstream requests and planning time of one daily run, for 10 and 10,000 channels.

The harvest is shared: arXiv requests depend on the window, never on the
number of channels. This prints the request count of a full daily run (harvest
plus planning every channel's digest) at both sizes, against a local replay of
a real captured arXiv feed, so the claim is measured rather than asserted.

    .venv/bin/python bench/bench_daily_run.py
"""

from __future__ import annotations

import random
import resource
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import print_machine  # noqa: E402
from bench.seeding import seed_channels  # noqa: E402
from bot.app import build  # noqa: E402
from bot.clock import FixedClock  # noqa: E402
from bot.config import Config  # noqa: E402
from bot.demo import capture_bytes  # noqa: E402
from bot.digest.daily import plan_all  # noqa: E402
from bot.sources.replay import AtomPager, ReplayServer  # noqa: E402

NOW = datetime(2026, 4, 30, 18, 0, tzinfo=UTC)


def daily_run(n_channels: int) -> dict[str, float]:
    rng = random.Random(42)
    with (
        tempfile.TemporaryDirectory() as tmp,
        ReplayServer(default=AtomPager(capture_bytes())) as server,
    ):
        config = Config().with_db(f"sqlite:///{Path(tmp) / 'bench.db'}")
        config = replace(
            config,
            arxiv=replace(
                config.arxiv, api_url=server.url + "/api/query", delay_seconds=0.0, page_size=5
            ),
        )
        app = build(config, clock=FixedClock(NOW))
        try:
            seed_channels(app.store.engine, n_channels, NOW, rng=rng)
            t0 = time.perf_counter()
            app.harvester.run(force=True)
            t1 = time.perf_counter()
            plans = plan_all(app.store, NOW, config.radar.digest_window_days)
            t2 = time.perf_counter()
            cards = sum(len(p.keys) for p in plans.values())
            return {
                "channels": n_channels,
                "requests": len(server.requests),
                "harvest_s": t1 - t0,
                "plan_s": t2 - t1,
                "cards": cards,
                "with_cards": sum(1 for p in plans.values() if p.keys),
            }
        finally:
            app.close()


def main() -> None:
    print_machine()
    print("One daily run (harvest + plan every digest), local replay of a real arXiv feed")
    print(
        f"{'channels':>9} {'arXiv requests':>15} {'harvest s':>10} {'plan s':>8} "
        f"{'cards planned':>14} {'channels w/ cards':>18}"
    )
    for n in (10, 10_000):
        r = daily_run(n)
        print(
            f"{r['channels']:>9,} {r['requests']:>15} {r['harvest_s']:>10.2f} "
            f"{r['plan_s']:>8.2f} {r['cards']:>14,} {r['with_cards']:>18,}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
