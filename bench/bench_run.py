"""Time and peak memory to plan and post 10,000 channels' scheduled digests.

The whole scheduled path, as `paper-radar run` takes it when 10,000 jobs fire
in the same minute: the jobs' wake-ups are batched, one harvest (against a
local replay of a captured real arXiv feed) serves them all, every channel is
planned in one indexed pass, then the digests are claimed (a few per
transaction) and posted, many channels at once, through the outbox by the
real ``SlackPoster`` (slack_sdk over one kept-alive HTTP session, as the Slack
adapter runs it) to the local fake Slack of the tests, which runs in a child
process so the memory printed is the bot's own.

    .venv/bin/python bench/bench_run.py [--channels 10000] [--concurrency N]
        [--db sqlite|postgresql|URL] [--workers 1,2]

``--db postgresql`` starts a throwaway PostgreSQL server (as the tests do,
tests/pg.py). ``--workers 1,2`` runs the scheduler in that many separate
processes on one database (two `paper-radar run` processes sharing a daily
run through their claims), once per count, each on a fresh database, and
prints the runs side by side; without it, the scheduler runs in this process.

It prints the machine and its load first, the expected duration, then a
progress line every ``--progress-every`` channels (done/total, elapsed, rate,
ETA), counted by a read-only poll of the finished runs from another thread.
At the end, whether every message reached Slack exactly once (the fake's
messages against the runs' markers and the outbox), and the CPU seconds the
bot and the fake Slack spent: on a shared machine, a steadier figure than
the wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import Engine, func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import print_machine  # noqa: E402
from bench.progress import Progress  # noqa: E402
from bench.seeding import seed_channels  # noqa: E402
from bot.app import App, build  # noqa: E402
from bot.clock import FixedClock  # noqa: E402
from bot.config import Config  # noqa: E402
from bot.demo import capture_bytes  # noqa: E402
from bot.digest.daily import plan_all  # noqa: E402
from bot.digest.runner import CONCURRENCY  # noqa: E402
from bot.handlers.slack.poster import SlackPoster, make_client  # noqa: E402
from bot.scheduler import DigestScheduler  # noqa: E402
from bot.sources.replay import AtomPager, ReplayServer  # noqa: E402
from bot.store import models as m  # noqa: E402

NOW = datetime(2026, 4, 30, 18, 0, tzinfo=UTC)  # the capture's papers are new
DUE = "17:59"  # every channel's digest time (UTC): all due together
#: Channels per second (fire -> post) on the 2-core development machine, the
#: scheduler in this process on SQLite: 10,000 in 65.3 s at load 0.7 to 1.1
#: (the slower of the last two runs, 2026-12-02, the Intel Xeon VM; its
#: session in docs/benchmarks.md; 74.2 s on the AMD EPYC VM, 2026-12-03).
#: Only the start-up estimate uses it; progress lines use this run's own rate.
REFERENCE_RATE = 153.0


# -- the fake Slack, in its own process -------------------------------------------------


def cpu_seconds() -> float:
    """CPU time (user + system) this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fake_slack(conn: Connection) -> None:
    """Child process: serve the tests' fake Slack until told to stop; answer
    ``stats`` (what it received) and ``reset`` (forget it, for the next run)."""
    from bot.handlers.slack.poster import message_marker
    from tests.fakeslack import FakeSlack

    with FakeSlack() as slack:
        conn.send(slack.url)
        while (msg := conn.recv()) != "stop":
            if msg == "reset":
                slack.reset()
                conn.send("reset")
                continue
            assert msg == "stats"
            posted = slack.all_posted()
            marks = {(p.channel, message_marker({"metadata": p.metadata})) for p in posted}
            conn.send(
                {
                    "posts": len(slack.calls_to("chat.postMessage")),
                    "messages": len(posted),
                    "distinct": len(marks),
                    "cpu": cpu_seconds(),
                }
            )
        conn.send("stopped")


class SlackChild:
    """The fake Slack's process and the pipe to it."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=fake_slack, args=(child,), daemon=True)
        self.proc.start()
        self.url: str = self.conn.recv()

    def ask(self, what: str) -> Any:
        self.conn.send(what)
        return self.conn.recv()

    def stop(self) -> None:
        self.ask("stop")
        self.proc.join(10)


# -- one worker: the scheduler's path, as `paper-radar run` takes it ----------------------


def bench_config(db_url: str, slack_url: str, arxiv_url: str) -> Config:
    config = Config().with_db(db_url)
    return replace(
        config,
        arxiv=replace(config.arxiv, api_url=arxiv_url, delay_seconds=0.0, page_size=5),
        slack=replace(config.slack, api_url=slack_url),
    )


class CountingPoster(SlackPoster):
    """The real ``SlackPoster``, counting the messages this worker posts."""

    posted = 0

    async def send(self, ref: Any, out: Any, thread: str | None = None) -> str:
        message = await super().send(ref, out, thread)
        self.posted += 1
        return message


async def fire_all(app: App, token: str, concurrency: int, keep_alive: bool) -> tuple[float, int]:
    """Every channel's job fires at once, as APScheduler would at 17:59;
    returns the seconds it took and the messages this process posted."""
    # The Slack client as production builds it: ``make_client``, and one
    # aiohttp session for the process, as ``SlackAdapter.start`` gives it
    # (``--new-connections`` measures a new connection per call instead).
    client = make_client(app.config.slack, token)
    session = aiohttp.ClientSession() if keep_alive else None
    client.session = session
    poster = CountingPoster(client)
    sched = DigestScheduler(app, {"slack": poster}, concurrency=concurrency, batch_seconds=0.0)
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
    return time.perf_counter() - t0, poster.posted


def worker(conn: Connection, config: Config, concurrency: int, keep_alive: bool) -> None:
    """A separate worker process: build the app, say ready, fire on ``go``,
    answer with its figures."""
    from tests.fakeslack import BOT_TOKEN

    app = build(config, clock=FixedClock(NOW))
    try:
        conn.send("ready")
        assert conn.recv() == "go"
        cpu = cpu_seconds()
        seconds, posted = asyncio.run(fire_all(app, BOT_TOKEN, concurrency, keep_alive))
        conn.send(
            {"seconds": seconds, "posted": posted, "cpu": cpu_seconds() - cpu, "rss": rss_mib()}
        )
    finally:
        app.close()


def finished_runs(engine: Engine) -> Callable[[], int]:
    """Digests posted so far (runs with ``finished_at``), for the progress lines."""
    query = (
        select(func.count()).select_from(m.DigestRun).where(m.DigestRun.finished_at.is_not(None))
    )

    def count() -> int:
        with engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    return count


# -- one measured run ---------------------------------------------------------------------


@dataclass
class Result:
    label: str
    seconds: float = 0.0
    runs: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    posts: int = 0
    messages: int = 0
    distinct: int = 0
    expected: int = 0
    bot_cpu: float = 0.0
    slack_cpu: float = 0.0
    rss: list[float] = field(default_factory=list)
    shares: list[int] = field(default_factory=list)  # messages each worker posted
    base_rss: float = 0.0
    plan_s: float = 0.0

    @property
    def exactly_once(self) -> bool:
        return self.messages == self.distinct == self.sent == self.expected and set(self.runs) <= {
            "done",
            "quiet",
        }


def run_once(
    label: str,
    db_url: str,
    workers: int,
    args: argparse.Namespace,
    slack: SlackChild,
    arxiv_url: str,
) -> Result:
    """Seed ``args.channels`` channels in a fresh database, fire them all, and
    count what happened. ``workers`` 0: the scheduler in this process."""
    from tests.fakeslack import BOT_TOKEN, TEAM

    result = Result(label)
    config = bench_config(db_url, slack.url, arxiv_url)
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
        result.base_rss = rss_mib()
        slack.ask("reset")
        slack_cpu = slack.ask("stats")["cpu"]
        progress = Progress(
            finished_runs(app.store.engine),
            args.channels,
            every=args.progress_every,
            unit="channels",
        )
        if workers == 0:
            with progress:
                cpu = cpu_seconds()
                result.seconds, posted = asyncio.run(
                    fire_all(app, BOT_TOKEN, args.concurrency, not args.new_connections)
                )
                result.bot_cpu = cpu_seconds() - cpu
            result.rss, result.shares = [rss_mib()], [posted]
        else:
            with workers_started(config, workers, args) as pipes, progress:
                t0 = time.perf_counter()
                for pipe in pipes:
                    pipe.send("go")
                answers = [pipe.recv() for pipe in pipes]
                result.seconds = time.perf_counter() - t0
            result.bot_cpu = sum(a["cpu"] for a in answers)
            result.rss = [a["rss"] for a in answers]
            result.shares = [a["posted"] for a in answers]
        stats = slack.ask("stats")
        result.slack_cpu = stats["cpu"] - slack_cpu
        result.posts, result.messages = stats["posts"], stats["messages"]
        result.distinct = stats["distinct"]
        t0 = time.perf_counter()
        plan_all(app.store, NOW, config.radar.digest_window_days)
        result.plan_s = time.perf_counter() - t0
        with app.store.engine.connect() as conn:
            result.runs = dict(
                conn.execute(
                    select(m.DigestRun.status, func.count()).group_by(m.DigestRun.status)
                ).all()
            )
            result.sent = conn.execute(
                select(func.count()).select_from(m.Post).where(m.Post.status == "sent")
            ).scalar_one()
            # Every run posts a header, its cards, and a footer when it has more.
            planned = conn.execute(select(m.DigestRun.planned, m.DigestRun.more)).all()
            result.expected = sum(1 + len(p or ()) + (1 if more else 0) for p, more in planned)
    finally:
        app.close()
    return result


@contextmanager
def workers_started(config: Config, n: int, args: argparse.Namespace) -> Iterator[list[Connection]]:
    """``n`` worker processes, each with its app built and waiting for ``go``."""
    ctx = mp.get_context("spawn")
    pipes, procs = [], []
    for _ in range(n):
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(
            target=worker,
            args=(theirs, config, args.concurrency, not args.new_connections),
            daemon=True,
        )
        proc.start()
        pipes.append(mine)
        procs.append(proc)
    try:
        for pipe in pipes:
            assert pipe.recv() == "ready"
        yield pipes
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()


# -- databases ------------------------------------------------------------------------


@contextmanager
def databases(choice: str, tmp: Path) -> Iterator[tuple[str, Callable[[], str]]]:
    """(what to print, a factory of fresh database URLs) for ``--db``."""
    if choice == "sqlite":
        made = iter(range(1_000))
        yield "SQLite file", lambda: f"sqlite:///{tmp / f'bench{next(made)}.db'}"
    elif choice == "postgresql":
        from tests import pg

        bindir = pg.find_bindir()
        if bindir is None:
            sys.exit(
                "bench_run: --db postgresql needs PostgreSQL's server binaries (initdb, pg_ctl)"
            )
        server = pg.start_server(bindir)
        try:
            print(f"database  a throwaway PostgreSQL server from {bindir}", flush=True)
            yield "PostgreSQL", server.create_database
        finally:
            server.stop()
    else:
        used = False

        def once() -> str:
            nonlocal used
            if used:
                sys.exit("bench_run: a --db URL serves one run: give one --workers count")
            used = True
            return choice

        yield "given URL", once


# -- output -----------------------------------------------------------------------------


def report(r: Result, channels: int, concurrency: int, reuse: bool) -> None:
    print(f"Scheduled digests for {channels:,} Slack channels due at once: {r.label}")
    print(f"  concurrency           {concurrency} deliveries per worker")
    connection = "one session per worker, kept alive" if reuse else "a new one per call"
    print(f"  Slack HTTP connection {connection}")
    print(f"  runs claimed          {sum(r.runs.values()):,} ({r.runs})")
    print(
        f"  messages posted       {r.messages:,} (chat.postMessage calls {r.posts:,}, "
        f"outbox sent {r.sent:,}, expected {r.expected:,})"
    )
    verdict = "yes" if r.exactly_once else "NO"
    print(
        f"  exactly once          {verdict}: {r.distinct:,} distinct markers in Slack "
        f"for {r.messages:,} messages"
    )
    if len(r.shares) > 1:
        print(f"  posted by each worker {' + '.join(f'{n:,}' for n in r.shares)} messages")
    print(f"  wall time, all        {r.seconds:.1f} s (fire -> harvest -> plan -> claim -> post)")
    print(f"  plan_all alone        {r.plan_s:.2f} s (the one indexed pass, re-run after)")
    print(
        f"  throughput            {r.messages / r.seconds:,.0f} messages/s, "
        f"{channels / r.seconds:,.1f} channels/s"
    )
    print(
        f"  CPU                   bot {r.bot_cpu:.1f} s "
        f"({r.bot_cpu / max(1, channels) * 1000:.1f} ms a channel), fake Slack {r.slack_cpu:.1f} s"
    )
    peaks = ", ".join(f"{x:.0f}" for x in r.rss)
    print(f"  peak RSS              {peaks} MiB (after seeding: {r.base_rss:.0f} MiB)")
    print(f"  load after            {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=10_000)
    ap.add_argument(
        "--concurrency", type=int, default=CONCURRENCY, help="deliveries in flight per worker"
    )
    ap.add_argument(
        "--db",
        default="sqlite",
        help="sqlite (a fresh file), postgresql (a throwaway server), or a database URL",
    )
    ap.add_argument(
        "--workers",
        help="worker processes, one run per count (e.g. 1,2); default: in this process",
    )
    ap.add_argument(
        "--new-connections",
        action="store_true",
        help="no kept-alive session: a new HTTP connection per Slack call",
    )
    ap.add_argument(
        "--progress-every", type=int, default=500, help="channels between progress lines"
    )
    args = ap.parse_args()
    counts = [int(n) for n in args.workers.split(",")] if args.workers else [0]
    if any(n < 0 for n in counts):
        sys.exit("bench_run: --workers takes counts of 1 or more, e.g. 1,2")
    print_machine()
    print(
        f"expected  about {args.channels / REFERENCE_RATE:,.0f} s a run for {args.channels:,} "
        f"channels at {REFERENCE_RATE} channels/s (the reference machine's last figure; the "
        "progress lines give this run's own rate and ETA)",
        flush=True,
    )
    slack = SlackChild()
    results: list[Result] = []
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            ReplayServer(default=AtomPager(capture_bytes())) as arxiv,
            databases(args.db, Path(tmp)) as (database, fresh),
        ):
            for n in counts:
                label = f"{database}, " + (
                    "the scheduler in this process"
                    if n == 0
                    else f"{n} worker process{'es' if n > 1 else ''}"
                )
                print(f"\nrun       {label}", flush=True)
                result = run_once(label, fresh(), n, args, slack, arxiv.url + "/api/query")
                report(result, args.channels, args.concurrency, not args.new_connections)
                results.append(result)
            harvest_requests = sum(1 for r in arxiv.requests if "submittedDate" in r)
            print(
                f"\narXiv requests        {len(arxiv.requests)} over {len(results)} run(s) "
                f"({harvest_requests} harvest pages)"
            )
    finally:
        slack.stop()
    if len(results) > 1:
        base = results[0]
        for r in results[1:]:
            print(
                f"compared  {r.label}: {r.seconds:.1f} s vs {base.seconds:.1f} s "
                f"({base.seconds / r.seconds:.2f}x the throughput of {base.label})"
            )
    if not all(r.exactly_once for r in results):
        sys.exit("bench_run: a message was lost or posted twice")


if __name__ == "__main__":
    main()
