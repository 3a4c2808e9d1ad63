"""Ack latency of `/radar` slash commands in Slack HTTP mode, under load.

Slack gives an app 3 seconds to acknowledge a slash command; Paper Radar's
target is a p99 under 100 ms with 100 commands arriving at once on a 2-core
machine. This runs the real app (``bot.app.build`` on SQLite, arXiv replayed
from the bundled real capture, ``SlackAdapter`` in HTTP mode) in its own
process, against a local fake Slack Web API (``tests/fakeslack.py``) in this
process, and fires rounds of concurrent, correctly signed `/radar` requests
from an aiohttp load generator, each on a fresh connection, as Slack's would be.

The commands are a realistic mix on 100 channels that already have a chip:
`/radar` (show), `/radar shuffle 3`, `/radar filter since:7d`, `/radar help`.
Their work (queries, up to 12 posts each to the fake Slack) runs after each
ack, so later acks are measured while earlier commands' work is in flight.
It prints p50/p90/p99/max ack latency per round and overall, and how long the
whole round's replies took to reach Slack.

    .venv/bin/python bench/bench_slack_ack.py [--requests 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench.machine import print_machine  # noqa: E402
from tests.fakeslack import (  # noqa: E402
    APP_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    TEAM,
    FakeSlack,
    command_body,
    sign,
)

COMMANDS = ["", "shuffle 3", "filter since:7d", "help"]
#: chat.postMessage calls (or ephemerals) each command's reply makes, for the wait.
REPLIES = {"": 1, "shuffle 3": 4, "filter since:7d": 12, "help": 1}


# -- the app, in its own process ------------------------------------------------------------


def serve(api_url: str, channels: int) -> None:
    """Build the real app, seed ``channels`` radars, listen; print the port."""
    from bot.app import build
    from bot.clock import FixedClock
    from bot.config import Config, SlackSettings
    from bot.core.channel import ChannelRef
    from bot.core.chips import Chip, ChipKind
    from bot.demo import DEMO_NOW, capture_bytes
    from bot.handlers.slack import SlackAdapter
    from bot.sources.arxiv import ArxivSource
    from bot.sources.http import Throttle
    from bot.sources.replay import AtomPager, ReplayServer

    async def main() -> None:
        with (
            tempfile.TemporaryDirectory() as tmp,
            ReplayServer(default=AtomPager(capture_bytes())) as arxiv,
        ):
            base = Config()
            config = replace(
                base.with_db(f"sqlite:///{Path(tmp) / 'radar.db'}"),
                arxiv=replace(base.arxiv, api_url=f"{arxiv.url}/api/query", delay_seconds=0.0),
                slack=SlackSettings(mode="http", port=0, api_url=api_url),
            )
            if hasattr(config, "fulltext"):  # thread answers are not benchmarked here
                config = replace(config, fulltext=replace(config.fulltext, enabled=False))
            source = ArxivSource(config.arxiv, throttle=Throttle(0.0))
            app = build(config, clock=FixedClock(DEMO_NOW), source=source, rng=random.Random(1))
            app.harvester.run()
            for i in range(channels):
                state = app.store.channel(ChannelRef("slack", TEAM, f"CBENCH{i:03d}", "bench"))
                app.store.add_chip(state.id, Chip(ChipKind.CATEGORY, "cs.LG"))
            adapter = SlackAdapter.from_env(app.service, config.slack, host="127.0.0.1")
            assert adapter is not None
            await adapter.start()
            print(f"PORT {adapter.port}", flush=True)
            # Serve until the load generator closes our stdin.
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
            await adapter.stop()
            app.close()

    asyncio.run(main())


# -- the fake Slack, in its own process -------------------------------------------------------


def fake_slack() -> None:
    """Slack's side, apart from both the app and the load generator, so neither
    shares an interpreter (and its GIL) with it."""
    with FakeSlack() as fake:
        print(f"URL {fake.url}", flush=True)
        sys.stdin.read()


# -- the load generator ---------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def signed(slack_url: str, n: int, round_no: int) -> list[tuple[str, dict[str, str]]]:
    """``n`` `/radar` requests, signed now (signing is Slack's work, not timed)."""
    out = []
    respond = slack_url.replace("/api/", "/respond/")
    for i in range(n):
        text = COMMANDS[(i + round_no) % len(COMMANDS)]
        body = command_body(text, channel=f"CBENCH{i % 100:03d}", response_url=f"{respond}{i}")
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(SIGNING_SECRET, ts, body),
        }
        out.append((body, headers))
    return out


async def fire(
    session: aiohttp.ClientSession, endpoint: str, requests: list[tuple[str, dict[str, str]]]
) -> list[float]:
    """Send ``requests`` all at once; each one's time from send to the ack."""
    gate = asyncio.Event()

    async def one(body: str, headers: dict[str, str]) -> float:
        await gate.wait()
        started = time.perf_counter()
        async with session.post(endpoint, data=body, headers=headers) as response:
            await response.read()
            assert response.status == 200, response.status
        return time.perf_counter() - started

    tasks = [asyncio.create_task(one(b, h)) for b, h in requests]
    await asyncio.sleep(0.05)  # every task waiting at the gate
    gate.set()
    return list(await asyncio.gather(*tasks))


async def load(endpoint: str, slack_url: str, args: argparse.Namespace) -> list[float]:
    """Warm up, then ``args.rounds`` measured rounds; prints each round."""
    connector = aiohttp.TCPConnector(limit=0, force_close=args.cold)
    everything: list[float] = []
    async with aiohttp.ClientSession(connector=connector) as session:
        # Warm-up: the app's first requests, and (unless --cold) the connections a
        # proxy or Slack's side would keep open; not measured.
        before = replies_so_far(slack_url)
        await fire(session, endpoint, signed(slack_url, args.requests, 0))
        await asyncio.to_thread(
            wait_for_replies, slack_url, before + expected_replies(args.requests, 0)
        )
        for round_no in range(1, args.rounds + 1):
            before = replies_so_far(slack_url)
            requests = signed(slack_url, args.requests, round_no)
            started = time.perf_counter()
            latencies = await fire(session, endpoint, requests)
            want = before + expected_replies(args.requests, round_no)
            await asyncio.to_thread(wait_for_replies, slack_url, want)
            done = time.perf_counter() - started
            everything += latencies
            print(
                f"round {round_no}: ack p50 {percentile(latencies, 50) * 1000:6.1f} ms"
                f"  p90 {percentile(latencies, 90) * 1000:6.1f} ms"
                f"  p99 {percentile(latencies, 99) * 1000:6.1f} ms"
                f"  max {max(latencies) * 1000:6.1f} ms"
                f"  | all {want - before} replies in Slack after {done:.2f} s",
                flush=True,
            )
    return everything


def expected_replies(n: int, round_no: int) -> int:
    return sum(REPLIES.get(COMMANDS[(i + round_no) % len(COMMANDS)], 1) for i in range(n))


def replies_so_far(slack_url: str) -> int:
    stats = json.loads(urlopen(slack_url.replace("/api/", "/stats"), timeout=10).read())
    return int(stats["calls"].get("chat.postMessage", 0)) + int(stats["ephemerals"])


def wait_for_replies(slack_url: str, want: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while replies_so_far(slack_url) < want:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {replies_so_far(slack_url)} of {want} replies reached Slack")
        time.sleep(0.02)


def start(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """Start this script in another mode; returns the process and its first line."""
    process = subprocess.Popen(
        [sys.executable, __file__, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def stop(process: subprocess.Popen[str]) -> None:
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--mix",
        default=",".join(COMMANDS),
        help="comma-separated commands to cycle through (default: %(default)s)",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="a new TCP connection per request (default: keep-alive connections)",
    )
    parser.add_argument("--serve", metavar="API_URL", help=argparse.SUPPRESS)
    parser.add_argument("--fake", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    COMMANDS[:] = args.mix.split(",")
    if args.fake:
        fake_slack()
        return
    if args.serve:
        serve(args.serve, 100)
        return

    print_machine()
    fake, line = start(["--fake"])
    slack_url = line.removeprefix("URL ")
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }
    server, line = start(["--serve", slack_url], env)
    try:
        if not line.startswith("PORT "):
            raise SystemExit(f"the app did not start: {line!r}")
        endpoint = f"http://127.0.0.1:{int(line.split()[1])}/slack/events"
        print(
            f"Paper Radar Slack ack latency: {args.requests} concurrent signed /radar "
            f"requests per round, HTTP mode; app, fake Slack and "
            f"load generator in separate processes; "
            f"{'new connection per request' if args.cold else 'keep-alive connections'}"
        )
        everything = asyncio.run(load(endpoint, slack_url, args))
        p99 = percentile(everything, 99) * 1000
        print(
            f"overall ({len(everything)} requests): p50 "
            f"{percentile(everything, 50) * 1000:.1f} ms, p99 {p99:.1f} ms, "
            f"mean {statistics.fmean(everything) * 1000:.1f} ms "
            f"(target p99 < 100 ms; Slack's limit 3000 ms): "
            + ("OK" if p99 < 100 else "OVER TARGET")
        )
    finally:
        stop(server)
        stop(fake)


if __name__ == "__main__":
    main()
