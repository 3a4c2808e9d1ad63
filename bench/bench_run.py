"""Time and peak memory to plan and post 10,000 channels' scheduled digests.

The whole scheduled path, as `paper-radar run` takes it when 10,000 jobs fire
in the same minute: the jobs' wake-ups are batched, one harvest (against a
local replay of a captured real arXiv feed) serves them all, every channel is
planned in one indexed pass, then each digest is claimed and posted through
the outbox by the real ``SlackPoster`` (slack_sdk over HTTP) to the local fake
Slack of the tests, which runs in a child process so the memory printed is
the bot's own.

    .venv/bin/python bench/bench_run.py [--channels 10000] [--concurrency 16] [--db URL]

It prints the machine and its load first, the expected duration, then a
progress line every ``--progress-every`` channels (done/total, elapsed, rate,
ETA), counted by a read-only poll of the finished runs from another thread.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine, func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import print_machine  # noqa: E402
from bench.progress import Progress  # noqa: E402
from bench.seeding import seed_channels  # noqa: E402
from bot.app import build  # noqa: E402
from bot.clock import FixedClock  # noqa: E402
from bot.config import Config  # noqa: E402
from bot.demo import capture_bytes  # noqa: E402
from bot.digest.daily import plan_all  # noqa: E402
from bot.handlers.slack.poster import SlackPoster, retry_handlers  # noqa: E402
from bot.scheduler import DigestScheduler  # noqa: E402
from bot.sources.replay import AtomPager, ReplayServer  # noqa: E402
from bot.store import models as m  # noqa: E402

NOW = datetime(2026, 4, 30, 18, 0, tzinfo=UTC)  # the capture's papers are new
DUE = "17:59"  # every channel's digest time (UTC): all due together
#: Channels per second (fire -> post) on the 2-core development machine:
#: 1,000 channels in 106 s (README, Benchmarks; update both together). Only
#: the start-up estimate uses it; progress lines use this run's own rate.
REFERENCE_RATE = 9.4


def fake_slack(conn: Connection) -> None:
    """Child process: serve the tests' fake Slack until told to stop."""
    from tests.fakeslack import FakeSlack

    with FakeSlack() as slack:
        conn.send(slack.url)
        while (msg := conn.recv()) != "stop":
            assert msg == "stats"
            posts = slack.calls_to("chat.postMessage")
            conn.send({"posts": len(posts), "messages": len(slack.all_posted())})
        conn.send("stopped")


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def fire_all(app: Any, token: str, concurrency: int, keep_alive: bool) -> float:
    """Every channel's job fires at once, as APScheduler would at 17:59."""
    # slack_sdk's AsyncWebClient opens a new connection per call unless it is
    # given a session; ``--keep-alive`` measures the difference.
    session = aiohttp.ClientSession() if keep_alive else None
    client = AsyncWebClient(
        token=token,
        base_url=app.config.slack.api_url,
        session=session,
        retry_handlers=retry_handlers(),
    )
    sched = DigestScheduler(
        app, {"slack": SlackPoster(client)}, concurrency=concurrency, batch_seconds=0.0
    )
    t0 = time.perf_counter()
    await sched.open()
    try:
        for row in await asyncio.to_thread(app.store.schedules):
            await sched._on_due(row.channel_id, f"{DUE} UTC")
        assert sched._flush is not None
        await sched._flush
    finally:
        await sched.stop()
        if session is not None:
            await session.close()
    return time.perf_counter() - t0


def finished_runs(engine: Engine) -> Callable[[], int]:
    """Digests posted so far (runs with ``finished_at``), for the progress lines."""
    query = (
        select(func.count()).select_from(m.DigestRun).where(m.DigestRun.finished_at.is_not(None))
    )

    def count() -> int:
        with engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    ap.add_argument(
        "--keep-alive",
        action="store_true",
        help="give the Slack client one aiohttp session (connection reuse)",
    )
    ap.add_argument(
        "--progress-every", type=int, default=500, help="channels between progress lines"
    )
    args = ap.parse_args()
    print_machine()
    print(
        f"expected  about {args.channels / REFERENCE_RATE:,.0f} s for {args.channels:,} channels "
        f"at {REFERENCE_RATE} channels/s (the reference machine's last figure; the progress "
        "lines give this run's own rate and ETA)",
        flush=True,
    )

    from tests.fakeslack import BOT_TOKEN, TEAM

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=fake_slack, args=(child,), daemon=True)
    proc.start()
    slack_url = parent.recv()
    with (
        tempfile.TemporaryDirectory() as tmp,
        ReplayServer(default=AtomPager(capture_bytes())) as arxiv,
    ):
        config = Config().with_db(args.db or f"sqlite:///{Path(tmp) / 'bench.db'}")
        config = replace(
            config,
            arxiv=replace(
                config.arxiv, api_url=arxiv.url + "/api/query", delay_seconds=0.0, page_size=5
            ),
            slack=replace(config.slack, api_url=slack_url),
        )
        app = build(config, clock=FixedClock(NOW))
        try:
            seed_channels(
                app.store.engine,
                args.channels,
                NOW,
                rng=random.Random(42),
                workspace=lambda _i: TEAM,
                schedule_time=DUE,
                schedule_tz="UTC",
            )
            base_rss = rss_mib()
            with Progress(
                finished_runs(app.store.engine),
                args.channels,
                every=args.progress_every,
                unit="channels",
            ):
                total_s = asyncio.run(fire_all(app, BOT_TOKEN, args.concurrency, args.keep_alive))
            peak = rss_mib()
            t0 = time.perf_counter()
            plan_all(app.store, NOW, config.radar.digest_window_days)
            plan_s = time.perf_counter() - t0
            with app.store.engine.connect() as conn:
                runs = dict(
                    conn.execute(
                        select(m.DigestRun.status, func.count()).group_by(m.DigestRun.status)
                    ).all()
                )
                sent = conn.execute(
                    select(func.count()).select_from(m.Post).where(m.Post.status == "sent")
                ).scalar()
        finally:
            app.close()
        parent.send("stats")
        stats = parent.recv()
        parent.send("stop")
        parent.recv()
        proc.join(10)
        harvest_requests = sum(1 for r in arxiv.requests if "submittedDate" in r)
        print(f"Scheduled digests for {args.channels:,} Slack channels due at once")
        print(f"  database              {'SQLite file' if not args.db else 'given URL'}")
        print(f"  concurrency           {args.concurrency} deliveries")
        reuse = "one session, kept alive" if args.keep_alive else "a new one per call"
        print(f"  Slack HTTP connection {reuse}")
        print(f"  runs claimed          {sum(runs.values()):,} ({runs})")
        print(f"  messages posted       {stats['messages']:,} (outbox sent: {sent:,})")
        print(f"  wall time, all        {total_s:.1f} s (fire -> harvest -> plan -> claim -> post)")
        print(f"  plan_all alone        {plan_s:.2f} s (the one indexed pass, re-run after)")
        print(f"  throughput            {stats['messages'] / total_s:,.0f} messages/s")
        print(f"  peak RSS              {peak:.0f} MiB (after seeding: {base_rss:.0f} MiB)")
        print(f"  arXiv requests        {len(arxiv.requests)} ({harvest_requests} harvest pages)")


if __name__ == "__main__":
    main()
