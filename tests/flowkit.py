"""Build the real bot against a local arXiv replay server, for flow tests.

``Radar`` is the whole app as a person meets it: ``bot.app.build`` with a
SQLite file, a pinned clock and ``arxiv.api_url`` pointing at a
``ReplayServer`` that serves the real 20-paper capture (all published
2026-04-29) through ``AtomPager``. Tests type lines into the console adapter
and read what comes back, then look at the database and at what the replay
server received.

OpenAlex is off unless a test passes ``openalex=`` rules: then a second local
replay server answers the production ``OpenAlexSource`` (real HTTP, captured
responses from ``tests/fixtures/openalex``), and ``Radar.openalex`` is that
server, so tests can see what OpenAlex was asked.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, inspect, select, table

from bot.app import App, build
from bot.clock import FixedClock
from bot.config import Config
from bot.core.cards import Reply
from bot.core.channel import ChannelRef
from bot.handlers.console import ConsoleAdapter, channel_ref
from bot.settings import OpenAlexSettings
from bot.sources.arxiv import ArxivSource
from bot.sources.http import Throttle
from bot.sources.openalex import OpenAlexSource
from bot.sources.replay import AtomPager, ReplayServer, Rule

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "arxiv"
CAPTURE = FIXTURES / "arxiv_api_query_cat-cs.LG-OR-cs.AI_max20.xml"
EMPTY = FIXTURES / "arxiv_api_empty_result.xml"
#: Just after the capture's feed was generated: every paper in it is "new".
NOW = datetime(2026, 4, 30, 18, 0, tzinfo=UTC)

_HEADING = re.compile(r"^(\d{2})\.  (\S+) \(([^)]+)\)  (\d{4}-\d{2}-\d{2})$", re.M)
_ABS_URL = re.compile(r"^\s+https://arxiv\.org/abs/(\S+)$", re.M)


def search_query(params: object) -> str:
    return str(getattr(params, "get", lambda *_: "")("search_query", "") or "")


def is_harvest(params: object) -> bool:
    return "submittedDate" in search_query(params)


def is_backfill(params: object) -> bool:
    q = search_query(params)
    return bool(q) and "submittedDate" not in q


@dataclass
class Radar:
    app: App
    server: ReplayServer
    clock: FixedClock
    ref: ChannelRef
    #: The local OpenAlex, when the test asked for one.
    openalex: ReplayServer | None = None

    # -- talking ----------------------------------------------------------------

    @property
    def console(self) -> ConsoleAdapter:
        return ConsoleAdapter(self.app.service, self.ref)

    def say(self, line: str, ref: ChannelRef | None = None) -> str:
        """What a person reads after typing ``line`` (the console's rendering)."""
        return ConsoleAdapter(self.app.service, ref or self.ref).answer(line)[1]

    def reply(self, line: str, ref: ChannelRef | None = None) -> Reply:
        """The core's reply to ``line``, delivered as the console delivers it."""
        return ConsoleAdapter(self.app.service, ref or self.ref).answer(line)[0]

    # -- what upstream saw -------------------------------------------------------

    def queries(self) -> list[str]:
        return [search_query(p) for p in self.server.params]

    def harvests(self) -> int:
        return sum(1 for p in self.server.params if is_harvest(p))

    def backfills(self) -> list[str]:
        return [search_query(p) for p in self.server.params if is_backfill(p)]

    # -- the database --------------------------------------------------------------

    def snapshot(self) -> dict[str, object]:
        """Row counts of every table, plus every channel's chips and settings,
        once the vectors earlier commands asked for in the background are stored."""
        vectorizer = self.app.harvester.vectorizer
        assert vectorizer is None or vectorizer.wait(timeout=60)
        engine = self.app.store.engine
        out: dict[str, object] = {}
        with engine.connect() as conn:
            for name in sorted(inspect(engine).get_table_names()):
                out[name] = conn.execute(select(func.count()).select_from(table(name))).scalar()
        out["chips"] = [
            (s.ref.workspace, s.ref.channel, [(c.kind.value, c.value) for c in s.chip_list])
            for s in sorted(self.app.store.channels(), key=lambda s: s.id)
        ]
        out["settings"] = [
            (s.id, s.digest_cap, s.schedule_time, s.schedule_tz, s.brief_cadence, s.last_shuffle)
            for s in sorted(self.app.store.channels(), key=lambda s: s.id)
        ]
        return out

    def chips(self, ref: ChannelRef | None = None) -> list[tuple[str, str]]:
        state = self.app.store.find_channel(ref or self.ref)
        return [] if state is None else [(c.kind.value, c.value) for c in state.chip_list]


# -- reading rendered text ------------------------------------------------------------


def headings(text: str) -> list[tuple[str, str, str, str]]:
    """Card headings in order: (number, source, category, date)."""
    return _HEADING.findall(text)


def card_ids(text: str) -> list[str]:
    """arXiv ids of the cards in ``text``, in order."""
    return _ABS_URL.findall(text)


def flat(text: str) -> str:
    """``text`` with all whitespace folded, so wrapped titles read whole."""
    return " ".join(text.split())


# -- building ---------------------------------------------------------------------------


def make_config(tmp_path: Path, api_url: str) -> Config:
    base = Config()
    return replace(
        base.with_db(f"sqlite:///{tmp_path / 'radar.db'}"),
        arxiv=replace(base.arxiv, api_url=api_url, delay_seconds=0.0, backoff_seconds=0.0),
        # Off unless a test serves it (``radar(openalex=...)``): never the internet.
        openalex=replace(base.openalex, enabled=False, api_url=api_url.rsplit("/api/", 1)[0]),
        # Full texts come from the same local server (which has none: the
        # answers use the abstract); tests/test_qa.py serves real ones.
        fulltext=replace(
            base.fulltext,
            html_url=api_url.rsplit("/api/", 1)[0] + "/html/{id}",
            pdf_url=api_url.rsplit("/api/", 1)[0] + "/pdf/{id}",
            delay_seconds=0.0,
        ),
    )


@contextmanager
def radar(
    tmp_path: Path,
    rules: Sequence[Rule] = (),
    *,
    channel: str = "lab",
    seed: int = 7,
    feed: Path = CAPTURE,
    openalex: Sequence[Rule] | None = None,
    harvest_sources: Sequence[str] = (),
    now: datetime = NOW,
    pool_days: int | None = None,
) -> Iterator[Radar]:
    """The real app on a fresh SQLite file, arXiv replayed locally, clock at ``now``.

    ``rules`` come first (faults, empty answers); anything else gets the
    capture, paged as the API would page it. ``openalex`` rules turn OpenAlex
    on, served by its own local replay server (404 for anything unmatched).
    """
    # The bot refuses a database whose folder is missing; tests name fresh subfolders.
    tmp_path.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        server = stack.enter_context(ReplayServer(rules, default=AtomPager(feed)))
        clock = FixedClock(now)
        config = make_config(tmp_path, f"{server.url}/api/query")
        if pool_days is not None:
            config = replace(config, radar=replace(config.radar, pool_days=pool_days))
        # The production source on its own throttle: the process-wide one is
        # keyed by host:port, and a reused port could inherit another test's
        # 3-second interval.
        source = ArxivSource(config.arxiv, throttle=Throttle(0.0))
        oa_server = oa_source = None
        if openalex is not None:
            oa_server = stack.enter_context(ReplayServer(openalex))
            settings = OpenAlexSettings(
                api_url=oa_server.url,
                api_key_env="PAPER_RADAR_TEST_NO_OPENALEX_KEY",
                delay_seconds=0.0,
                backoff_seconds=0.0,
                max_retries=1,
                timeout_seconds=5.0,
                harvest_sources=tuple(harvest_sources),
            )
            oa_source = OpenAlexSource(settings, sleep=lambda _s: None, throttle=Throttle(0.0))
            config = replace(config, openalex=settings)
        app = build(config, clock=clock, source=source, rng=random.Random(seed), openalex=oa_source)
        try:
            yield Radar(app, server, clock, channel_ref(channel), oa_server)
        finally:
            app.close()
