"""`paper-radar run` as a real process: Slack (Socket Mode) against a local
fake Slack, arXiv against a local replay of a captured feed, killed with
SIGKILL in the middle of a digest and started again; two processes against
one real PostgreSQL; and `paper-radar digest` / the refusal to run with no
platform, in-process.

Every digest here is a catch-up (the clock is pinned just after the
channels' due time), so a test never waits for a wall-clock minute.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.app import build
from bot.config import load
from bot.core.channel import ChannelRef
from bot.core.chips import Chip, ChipKind
from bot.handlers.slack.poster import message_marker
from bot.run import OneLineFormatter, digest, parse_channel, run
from bot.sources.replay import AtomPager, ReplayServer
from bot.store import models as m
from bot.store.repo import Store
from tests.fakeslack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, TEAM, FakeSlack
from tests.flowkit import CAPTURE, is_harvest

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-04-30T18:00:00Z"
CHIPS = (Chip(ChipKind.CATEGORY, "cs.LG"), Chip(ChipKind.CATEGORY, "cs.CL"))


class StallingSlack(FakeSlack):
    """FakeSlack whose ``chat.postMessage`` stops answering after ``stall_after``
    stored posts: ``"after"`` stores the message, then never replies (the bot
    dies not knowing it landed); ``"before"`` never stores it."""

    def __init__(self, stall_after: int | None, mode: str = "after") -> None:
        super().__init__()
        self.stall_after, self.mode = stall_after, mode
        self.stalled = 0
        self.released = False

    async def _hold(self) -> None:
        self.stalled += 1
        while not self.released:
            await asyncio.sleep(0.02)

    async def _api(self, request: web.Request) -> web.Response:
        limit = self.stall_after
        if request.match_info["method"] != "chat.postMessage" or limit is None:
            return await super()._api(request)
        if self.mode == "before" and len(self.all_posted()) >= limit:
            await self._hold()
            return web.json_response({"ok": False, "error": "fatal_error"}, status=500)
        response = await super()._api(request)
        if self.mode == "after" and len(self.all_posted()) > limit:
            await self._hold()
        return response

    def release(self) -> None:
        self.stall_after = None
        self.released = True

    def markers(self) -> list[tuple[str, str]]:
        return [
            (msg.channel, message_marker({"metadata": msg.metadata}) or "")
            for msg in self.all_posted()
        ]


@dataclass
class Site:
    """One deployment: a config file, a database, the fakes it talks to."""

    tmp: Path
    db_url: str
    slack: StallingSlack
    arxiv: ReplayServer
    config: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))}
        env.update(
            PAPER_RADAR_CONFIG=str(self.config),
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_APP_TOKEN=APP_TOKEN,
            PYTHONPATH=str(ROOT),
        )
        return env

    def start(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        """``paper-radar run`` with this site's environment (``env`` overriding it)."""
        exe = Path(sys.executable).with_name("paper-radar")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "bot.cli"]
        log = (self.tmp / f"{name}.log").open("ab")
        return subprocess.Popen(
            [*cmd, "run"],
            cwd=self.tmp,
            env={**self.env(), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text("utf-8", "replace")

    def runs(self) -> list[tuple[int, str, list[str], int]]:
        store = Store.from_url(self.db_url)
        try:
            with store.engine.connect() as conn:
                rows = conn.execute(
                    select(
                        m.DigestRun.id, m.DigestRun.status, m.DigestRun.planned, m.DigestRun.more
                    )
                ).all()
            return [(rid, status, list(planned), more) for rid, status, planned, more in rows]
        finally:
            store.close()

    def expected(self) -> dict[str, list[str]]:
        """Every channel's messages, from the claimed runs: header, cards, footer."""
        store = Store.from_url(self.db_url)
        try:
            with store.engine.connect() as conn:
                rows = conn.execute(
                    select(
                        m.DigestRun.id, m.Channel.channel, m.DigestRun.planned, m.DigestRun.more
                    ).join(m.Channel, m.Channel.id == m.DigestRun.channel_id)
                ).all()
        finally:
            store.close()
        out = {}
        for rid, ch, planned, more in rows:
            out[ch] = [f"r{rid}:header"] + [f"r{rid}:card:{k}" for k in planned]
            out[ch] += [f"r{rid}:footer"] if more else []
        return out


@contextmanager
def site(
    tmp_path: Path, db_url: str, channels: int, stall_after: int | None = None, mode: str = "after"
) -> Iterator[Site]:
    with (
        StallingSlack(stall_after, mode) as slack,
        ReplayServer(default=AtomPager(CAPTURE)) as arxiv,
    ):
        config = tmp_path / "config.toml"
        config.write_text(
            f"""
[database]
url = "{db_url}"
[arxiv]
api_url = "{arxiv.url}/api/query"
delay_seconds = 0.0
backoff_seconds = 0.0
[slack]
api_url = "{slack.url}"
[clock]
now = "{NOW}"
""",
            "utf-8",
        )
        app = build(load(config))
        try:
            for i in range(channels):
                state = app.store.channel(ChannelRef("slack", TEAM, f"C{i:03d}", f"c{i}"))
                for chip in CHIPS:
                    app.store.add_chip(state.id, chip)
                app.store.set_schedule(state.id, "17:45", "UTC")  # 15 minutes ago
        finally:
            app.close()
        try:
            yield Site(tmp_path, db_url, slack, arxiv, config)
        finally:
            slack.release()


def wait_until(
    check: Any, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None
) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"paper-radar run exited early with {proc.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)
    return value


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(15)
    finally:
        if proc.poll() is None:
            proc.kill()


def assert_each_posted_once(s: Site) -> None:
    posted = s.slack.markers()
    assert len(posted) == len(set(posted)), "a message was posted twice"
    by_channel: dict[str, list[str]] = {}
    for ch, marker in posted:
        by_channel.setdefault(ch, []).append(marker)
    expected = s.expected()
    assert by_channel == expected  # every message, once, in order
    assert all(status == "done" for _, status, _, _ in s.runs())


def assert_clean_log(text: str) -> None:
    for secret in (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET):
        assert secret not in text
    for line in text.splitlines():
        assert line[:4].isdigit(), f"not one event per line: {line!r}"


# -- restart safety -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["after", "before"])
def test_sigkill_mid_digest_then_restart_posts_every_card_exactly_once(
    tmp_path: Path, sqlite_url: str, mode: str
) -> None:
    """Killed while Slack holds a post (stored but unanswered, or never stored),
    the next start resumes: it reconciles the unknown posts through
    conversations.history and posts only what is missing."""
    with site(tmp_path, sqlite_url, channels=3, stall_after=14, mode=mode) as s:
        first = s.start("first")
        try:
            wait_until(lambda: s.slack.stalled >= 1, proc=first)
            time.sleep(0.3)  # let the other channels' deliveries reach the stall too
        finally:
            first.kill()  # SIGKILL: no shutdown code runs
            first.wait(10)
        held = s.slack.stalled
        posted_before = len(s.slack.markers())
        assert posted_before >= 14
        assert any(status == "claimed" for _, status, _, _ in s.runs())
        s.slack.release()

        second = s.start("second")
        try:
            wait_until(lambda: all(st == "done" for _, st, _, _ in s.runs()), proc=second)
        finally:
            assert stop(second) == 0  # SIGTERM: a clean, graceful exit
        assert_each_posted_once(s)
        total = sum(len(v) for v in s.expected().values())
        assert total == len(s.slack.markers()) > posted_before
        log = s.log("second")
        assert "event=digest.resume" in log
        if mode == "after":
            assert "reconciled marker=" in log  # found in the channel, not posted again
            assert held >= 1
        assert_clean_log(s.log("first") + log)
        # One upstream arXiv pass for both starts (the second saw it was complete).
        assert sum(1 for p in s.arxiv.params if is_harvest(p)) == 1


def test_two_processes_on_one_postgresql_post_each_digest_once(
    tmp_path: Path, pg_db_url: str
) -> None:
    with site(tmp_path, pg_db_url, channels=12) as s:
        procs = [s.start("a"), s.start("b")]
        try:
            wait_until(
                lambda: len(s.runs()) == 12 and all(st == "done" for _, st, _, _ in s.runs()),
                timeout=30,
            )
            # One worker can deliver all twelve while the other is still
            # importing; a SIGTERM before the signal handlers exist kills it
            # (-15), which says nothing about exactly-once. Stop both once ready.
            wait_until(lambda: all("event=run.ready" in s.log(n) for n in "ab"), timeout=30)
        finally:
            codes = [stop(p) for p in procs]
        assert codes == [0, 0]
        assert_each_posted_once(s)
        assert len(s.expected()) == 12
        # The harvest lock: one upstream pass between the two processes.
        assert sum(1 for p in s.arxiv.params if is_harvest(p)) == 1
        assert_clean_log(s.log("a") + s.log("b"))


# -- start-up faults ----------------------------------------------------------------------------


@pytest.mark.parametrize("hangs", ["auth.test", "apps.connections.open"])
def test_sigterm_while_slack_is_still_connecting_stops_the_process_at_once(
    tmp_path: Path, sqlite_url: str, hangs: str
) -> None:
    """Slack's API takes the request and never answers; the first SIGTERM ends
    the start-up and the process, cleanly."""
    with site(tmp_path, sqlite_url, channels=1) as s:
        s.slack.hang.add(hangs)
        proc = s.start("hung")
        try:
            wait_until(lambda: s.slack.calls_to(hangs), proc=proc)
            proc.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            code = proc.wait(10)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        log = s.log("hung")
        assert code == 0 and took < 5.0, (code, took, log[-2000:])
        assert "event=shutdown.requested signal=SIGTERM" in log
        assert "event=start.abandoned" in log and "event=run.stopped" in log
        assert s.runs() == []  # nothing was claimed half-way
        assert_clean_log(log)


def test_run_exits_naming_the_app_token_when_slack_refuses_it(
    tmp_path: Path, sqlite_url: str
) -> None:
    """A revoked app token (``apps.connections.open``: invalid_auth): exit 1
    within 30 s, saying which variable, as a refused bot token does. (A socket
    URL that does not connect, or no answer: tests/test_slack.py.)"""
    with site(tmp_path, sqlite_url, channels=1) as s:
        started = time.monotonic()
        proc = s.start("refused", SLACK_APP_TOKEN="xapp-revoked-token-0000000")
        try:
            code = proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        log = s.log("refused")
        assert code == 1, log[-2000:]
        assert time.monotonic() - started < 30
        assert "paper-radar run: slack did not start" in log
        assert "SLACK_APP_TOKEN" in log
        assert "invalid_auth" in log and "xapp-revoked-token" not in log
        assert len(s.slack.calls_to("apps.connections.open")) == 1
        assert s.runs() == []


# -- the command, in-process ------------------------------------------------------------------


def test_run_without_any_platform_says_so_and_fails(tmp_path: Path, sqlite_url: str) -> None:
    from dataclasses import replace

    from bot.config import Config

    app = build(Config().with_db(sqlite_url))
    err = io.StringIO()
    try:
        assert run(app, environ={}, err=err, configure_logging=False) == 2
    finally:
        app.close()
    assert "no platform to serve" in err.getvalue()
    assert "SLACK_BOT_TOKEN" in err.getvalue() and "DISCORD_TOKEN" in err.getvalue()
    # A half-configured Slack is an error that names what is missing, not a skip.
    app = build(replace(Config(), database=replace(Config().database, url=sqlite_url)))
    try:
        with pytest.raises(Exception, match="SLACK_APP_TOKEN"):
            run(app, environ={"SLACK_BOT_TOKEN": "xoxb-1"}, err=err, configure_logging=False)
    finally:
        app.close()


def test_run_exits_with_a_clear_message_when_a_platform_refuses_to_start(
    tmp_path: Path, sqlite_url: str
) -> None:
    with site(tmp_path, sqlite_url, channels=0) as s:
        app = build(load(s.config))
        err = io.StringIO()
        wrong = "xoxb-wrong-token-0000000000"
        try:
            env = {"SLACK_BOT_TOKEN": wrong, "SLACK_APP_TOKEN": APP_TOKEN}
            assert run(app, environ=env, err=err, configure_logging=False) == 1
        finally:
            app.close()
        assert "slack did not start" in err.getvalue() and "invalid_auth" in err.getvalue()
        assert wrong not in err.getvalue()
        assert s.runs() == []


def test_digest_by_hand_posts_once_a_day_and_dry_run_changes_nothing(
    tmp_path: Path, sqlite_url: str
) -> None:
    with site(tmp_path, sqlite_url, channels=1) as s:
        app = build(load(s.config))
        env = {"SLACK_BOT_TOKEN": BOT_TOKEN}
        try:
            out = io.StringIO()
            assert digest(app, f"slack:{TEAM}:C000", dry_run=True, environ=env, out=out) == 0
            # Nothing harvested yet: no card, and it says so (not "Preview: 0 cards").
            assert "no stored paper is new to this radar" in out.getvalue()
            assert "Nothing was changed" in out.getvalue() and "Preview:" not in out.getvalue()
            assert s.runs() == [] and s.slack.markers() == []
            assert sum(1 for p in s.arxiv.params if is_harvest(p)) == 0

            app.harvester.run(force=True)  # what a real run does first
            out = io.StringIO()
            assert digest(app, f"slack:{TEAM}:C000", dry_run=True, environ=env, out=out) == 0
            assert "would post the following" in out.getvalue()
            assert "Preview: " in out.getvalue() and "01.  arXiv" in out.getvalue()
            assert s.runs() == [] and s.slack.markers() == []

            out = io.StringIO()
            assert digest(app, f"slack:{TEAM}:C000", environ=env, out=out) == 0
            assert "Posted digest schedule:2026-04-30" in out.getvalue()
            assert_each_posted_once(s)
            posted = len(s.slack.markers())

            out = io.StringIO()  # a second cron run the same day: nothing
            assert digest(app, f"slack:{TEAM}:C000", environ=env, out=out) == 0
            assert "already claimed" in out.getvalue()
            assert len(s.slack.markers()) == posted
            out = io.StringIO()
            assert digest(app, f"slack:{TEAM}:C000", dry_run=True, environ=env, out=out) == 0
            assert "already claimed" in out.getvalue()
        finally:
            app.close()


def test_channel_ids_parse_and_one_line_logs_mask_secrets() -> None:
    assert parse_channel("slack:T1:C2") == ChannelRef("slack", "T1", "C2")
    assert parse_channel("lab").platform == "console"
    with pytest.raises(Exception, match="platform:workspace:channel"):
        parse_channel("slack:T1")
    import logging

    formatter = OneLineFormatter(["xoxb-secret-token"])
    try:
        raise ValueError("bad\ntoken xoxb-secret-token")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed %s", ("xoxb-secret-token",), sys.exc_info()
        )
    line = formatter.format(record)
    assert "\n" not in line and "xoxb-secret-token" not in line and "***" in line
    assert 'exc="Traceback' in line


HOLDER = """
import sys, time
from bot.store.repo import Locks, Store
locks = Store.from_url(sys.argv[1]).locks()
assert locks.acquire(Locks.RUN, 7)
print("held", flush=True)
time.sleep(60)
"""


def test_run_locks_exclude_other_processes_and_die_with_their_holder(db_url: str) -> None:
    """What keeps a resuming worker from posting alongside a live one: a run's
    lock is exclusive across processes and vanishes when its holder dies."""
    from bot.store import migrate
    from bot.store.repo import Locks

    migrate.upgrade(db_url)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, db_url],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    store = Store.from_url(db_url)
    locks = store.locks()
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        assert not locks.acquire(Locks.RUN, 7)  # held by the other process
        assert locks.acquire(Locks.RUN, 8)
        assert not store.locks().acquire(Locks.RUN, 8)  # and by this one, for others here
        holder.kill()  # SIGKILL: no release runs
        holder.wait(10)
        wait_until(lambda: locks.acquire(Locks.RUN, 7), timeout=10)
        locks.release(Locks.RUN, 7)
        locks.release(Locks.RUN, 8)
        other = store.locks()
        assert other.acquire(Locks.RUN, 8)
        other.close()  # closing releases what it held
        assert locks.acquire(Locks.RUN, 8)
    finally:
        if holder.poll() is None:
            holder.kill()
        locks.close()
        store.close()
