"""Concurrent commands and processes on one database: nothing fails, nothing is half-done.

Six channels adding a chip at the same moment all backfill the same recent
papers; two `paper-radar harvest` processes store the same window. Real
threads and real processes, a real SQLite file (WAL) and the test run's real
PostgreSQL, arXiv replayed locally (tests/flowkit.py).
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from arxiv import _feed

from bot.app import App, build
from bot.clock import FixedClock
from bot.core.cards import Reply
from bot.handlers.console import channel_ref
from bot.sources.arxiv import ArxivSource
from bot.sources.http import Throttle
from bot.sources.replay import AtomPager, ReplayServer
from bot.store.db import make_engine
from bot.store.repo import Store
from tests import pg
from tests.flowkit import CAPTURE, NOW, make_config

ROOT = Path(__file__).resolve().parent.parent
CHANNELS = 6
#: Rounds on fresh databases: one round lost the race on the old code about
#: two times in three, so three rounds make a regression all but certain to show.
ROUNDS = 3


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty databases on one backend."""
    made: list[str] = []

    def make() -> str:
        if request.param == "sqlite":
            made.append(f"sqlite:///{tmp_path / f'radar{len(made)}.db'}")
        else:
            server: pg.PgServer = request.getfixturevalue("pg_server")
            made.append(server.create_database())
        return made[-1]

    yield make
    if request.param == "postgresql":
        server = request.getfixturevalue("pg_server")
        for url in made:
            server.drop_database(url.rsplit("/", 1)[1])


def app_on(tmp_path: Path, server: ReplayServer, url: str) -> App:
    config = make_config(tmp_path, f"{server.url}/api/query").with_db(url)
    source = ArxivSource(config.arxiv, throttle=Throttle(0.0))
    return build(config, clock=FixedClock(NOW), source=source, rng=random.Random(7))


def all_at_once(work: Callable[[int], Reply], n: int) -> list[Reply | BaseException]:
    """``work(i)`` for i in range(n), in n threads released together."""
    start = threading.Barrier(n)
    out: list[Reply | BaseException] = [RuntimeError("did not run")] * n

    def run(i: int) -> None:
        start.wait()
        try:
            out[i] = work(i)
        except BaseException as exc:  # the very failure under test: keep it
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_six_channels_adding_a_chip_at_once_all_get_their_cards(
    tmp_path: Path, fresh_db: Callable[[], str]
) -> None:
    """Each of six channels types `/radar keyword learning` at the same moment
    on a fresh database: every reply is the chip added with its five cards,
    and every channel has the chip and its cards' seen marks (nothing half-done)."""
    with ReplayServer(default=AtomPager(CAPTURE)) as server:
        for _ in range(ROUNDS):
            app = app_on(tmp_path, server, fresh_db())
            try:
                refs = [channel_ref(f"lab{i}") for i in range(CHANNELS)]
                replies = all_at_once(
                    lambda i, app=app, refs=refs: app.service.handle(refs[i], "keyword learning"),
                    CHANNELS,
                )
                for reply in replies:
                    assert isinstance(reply, Reply), repr(reply)
                    assert reply.kind == "radar", reply.title
                    assert reply.title == "Added keyword chip learning."
                    assert len(reply.cards) == 5
                store = app.store
                for ref, reply in zip(refs, replies, strict=True):
                    assert isinstance(reply, Reply)
                    state = store.find_channel(ref)
                    assert state is not None
                    assert [(c.kind.value, c.value) for c in state.chip_list] == [
                        ("keyword", "learning")
                    ]
                    keys = [card.key for card in reply.cards]
                    assert store.seen_keys(state.id, keys) == set(keys)
                assert store.paper_count() == 20
            finally:
                app.close()


def test_the_same_chip_twice_at_once_is_added_once(
    tmp_path: Path, fresh_db: Callable[[], str]
) -> None:
    with ReplayServer(default=AtomPager(CAPTURE)) as server:
        app = app_on(tmp_path, server, fresh_db())
        try:
            ref = channel_ref("lab")
            replies = all_at_once(lambda _i: app.service.handle(ref, "keyword learning"), 4)
            titles = sorted(r.title if isinstance(r, Reply) else repr(r) for r in replies)
            added = [t for t in titles if t.startswith("Added")]
            assert len(added) == 1, titles
            assert all("already on this radar" in t for t in titles if not t.startswith("Added")), (
                titles
            )
            state = app.store.find_channel(ref)
            assert state is not None and len(state.chips) == 1
        finally:
            app.close()


def test_a_store_failure_after_the_backfill_leaves_no_chip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chip is stored with its cards' marks, last: a failure on the way
    leaves no chip, so the retry adds it and shows the cards (not "already on
    this radar")."""
    with ReplayServer(default=AtomPager(CAPTURE)) as server:
        app = app_on(tmp_path, server, f"sqlite:///{tmp_path / 'radar.db'}")
        try:
            ref = channel_ref("lab")
            real = app.store.papers_since
            calls = iter([True])

            def fails_once(*args: object, **kwargs: object) -> object:
                if next(calls, False):
                    raise sa.exc.OperationalError("SELECT", {}, Exception("disk I/O error"))
                return real(*args, **kwargs)  # type: ignore[arg-type]

            monkeypatch.setattr(app.store, "papers_since", fails_once)
            with pytest.raises(sa.exc.OperationalError):
                app.service.handle(ref, "keyword learning")
            state = app.store.find_channel(ref)
            assert state is None or state.chips == ()
            reply = app.service.handle(ref, "keyword learning")
            assert reply.title == "Added keyword chip learning." and len(reply.cards) == 5
        finally:
            app.close()


# -- two harvest processes -----------------------------------------------------------


def test_two_harvest_processes_on_one_fresh_sqlite_file_both_finish(tmp_path: Path) -> None:
    """Two `paper-radar harvest` at once on a fresh file: both exit 0 with no
    traceback (the schema is created once; one harvest may reuse the other's),
    and the file holds each paper once and no lock file is left beside it."""
    db = tmp_path / "radar.db"
    with ReplayServer(default=AtomPager(CAPTURE)) as server:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[database]\nurl = "sqlite:///{db}"\n'
            f'[arxiv]\napi_url = "{server.url}/api/query"\ndelay_seconds = 0\nmax_retries = 0\n'
            '[openalex]\nenabled = false\n[clock]\nnow = "2026-04-30T18:00:00Z"\n',
            "utf-8",
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("PAPER_RADAR_CONFIG", None)
        argv = [sys.executable, "-m", "bot.cli", "--config", str(config), "harvest"]
        procs = [
            subprocess.Popen(
                argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for _ in range(2)
        ]
        results = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()
        assert b"Traceback" not in err, err.decode()
        assert out.startswith((b"Harvested 20 papers", b"Another process harvested")), out
    store = Store.from_url(f"sqlite:///{db}")
    try:
        assert store.paper_count() == 20
        assert 1 <= store.harvest_count() <= 2
    finally:
        store.close()
    assert sorted(p.name for p in tmp_path.iterdir() if "locks" in p.name) == []


def test_a_fresh_file_another_writer_holds_is_waited_for_not_refused(tmp_path: Path) -> None:
    """What made the test above fail now and then: while one process holds a
    new database file's write lock (creating the schema), SQLite refuses the
    other's switch to WAL at once, without the busy timeout's wait. Opening
    the database waits for the writer instead, and then uses WAL."""
    path = tmp_path / "radar.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE being_made (x)")
    done = threading.Timer(0.3, other.execute, ("COMMIT",))
    engine = make_engine(f"sqlite:///{path}")
    try:
        started = time.monotonic()
        done.start()
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert time.monotonic() - started >= 0.25  # it waited for the other writer
    finally:
        done.join()
        other.close()
        engine.dispose()


# -- the store's own answer to a writer that got there first -----------------------------


def test_a_paper_stored_by_another_writer_meanwhile_is_merged_not_refused(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministically, the race the six channels run into: between this
    transaction looking for a paper and inserting it, another writer stores
    it. The insert does nothing, the record is merged into the other row, and
    the count of new papers says so (on SQLite and PostgreSQL)."""
    from bot.sources.arxiv import paper_from_result
    from bot.store import migrate
    from bot.store import papers as papers_mod

    migrate.upgrade(db_url)
    mine, theirs = Store.from_url(db_url), Store.from_url(db_url)
    feed = [paper_from_result(e) for e in _feed.parse(CAPTURE.read_bytes()).results]
    first, newer = feed[0], replace(feed[0], version=2, title=feed[0].title + " (v2)")
    real = papers_mod._Batch.__init__
    raced: list[int] = []

    def looked_then_other_writer(self: papers_mod._Batch, *args: object) -> None:
        real(self, *args)  # type: ignore[arg-type]
        if not raced:  # (the other writer's own batch passes through here too)
            raced.append(0)
            raced[0] = theirs.upsert_papers([first], NOW)  # commits on its own connection

    monkeypatch.setattr(papers_mod._Batch, "__init__", looked_then_other_writer)
    try:
        assert mine.upsert_papers([newer, *feed[1:5]], NOW) == 4  # the fifth was theirs
        assert raced == [1]
        assert mine.paper_count() == 5
        stored = mine.papers_by_key([first.key])[first.key]
        assert stored.version == 2 and stored.title.endswith("(v2)")  # merged into theirs
    finally:
        mine.close()
        theirs.close()
