"""The offline demo: a real radar on bundled real arXiv captures, no network.

The bundled feed is served by a local replay server and read by the very same
``ArxivSource`` that talks to arXiv in production (only ``arxiv.api_url``
differs), and the clock is pinned to the capture's announcement day, so "new"
and "recent" mean what they would have meant that day.

``paper-radar demo --interactive`` runs the same script, then hands the same
channel, data and clock to a console prompt (or to the lines of a pipe), so a
newcomer can try every command offline: ask about a card, shuffle, filter,
change the schedule.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TextIO

from bot.app import build
from bot.config import Config
from bot.handlers.console import ConsoleAdapter, channel_ref
from bot.sources.replay import AtomPager, ReplayServer

CAPTURE = "arxiv_api_query_cat-cs.LG-OR-cs.AI_max20.xml"
#: The capture's feed was generated 2026-04-30 17:33 UTC; just after it, every
#: paper in it is "announced" and within the digest window.
DEMO_NOW = datetime(2026, 4, 30, 18, 0, tzinfo=UTC)

SCRIPT: tuple[str, ...] = (
    "/radar category cs.CL",
    "/radar like 1",
    "/radar author Jorg Frochte",
    "/radar keyword distillation",
    "/radar keyword -survey",
    "/radar",
    "/radar brief",
    "/radar digest",
    "/radar digest",
    "/radar shuffle 3",
    '/radar filter since:7d "language models"',
    "/radar author au:x OR cat:*",
)


def capture_bytes() -> bytes:
    return resources.files("bot.demo").joinpath("captures", CAPTURE).read_bytes()


@contextmanager
def replay_arxiv() -> Iterator[ReplayServer]:
    """A local arXiv API answering every query with the bundled capture, paged."""
    with ReplayServer(default=AtomPager(capture_bytes())) as server:
        yield server


#: What the prompt after the script suggests first.
TRY = (
    "/radar ask 1 what is the main contribution?",
    "/radar shuffle 2",
    "/radar schedule 09:00 Europe/Berlin",
    "/radar help",
)


def demo_config(config: Config, api_url: str, db_url: str) -> Config:
    return replace(
        config.with_db(db_url),
        # The replay server is on this machine: arXiv's 3-second rule is for
        # arXiv. The throttle and retries still run, on the same code path.
        arxiv=replace(config.arxiv, api_url=api_url, delay_seconds=0.0, backoff_seconds=0.1),
        # The demo is offline: its author chips follow names, as arXiv spells them.
        openalex=replace(config.openalex, enabled=False),
        # Offline too: answers and briefings come from the captured abstracts,
        # extractively (and say so), whatever key or model server the
        # environment names; no full text is fetched from arxiv.org.
        fulltext=replace(config.fulltext, enabled=False),
        llm=replace(config.llm, base_url="", api_key_env=""),
    )


def run(
    out: TextIO,
    config: Config | None = None,
    db_url: str | None = None,
    script: Sequence[str] = SCRIPT,
    then: TextIO | None = None,
) -> int:
    """Run the scripted session, then, with ``then`` (``--interactive``), a
    console on the same channel reading it: a prompt on a terminal, else its
    lines, echoed like the script's. Returns how many of the lines read from
    ``then`` were refused (0 without it): the script's own refusal is part of
    the show, a refused line of a piped session is the caller's to report."""
    config = config or Config()
    with tempfile.TemporaryDirectory(prefix="paper-radar-demo-") as tmp:
        url = db_url or f"sqlite:///{Path(tmp) / 'demo.db'}"
        with replay_arxiv() as server:
            app = build(demo_config(config, f"{server.url}/api/query", url), clock=_demo_clock())
            try:
                out.write(
                    "Paper Radar offline demo: channel #lab, real arXiv papers captured "
                    f"{DEMO_NOW:%Y-%m-%d}, clock pinned to {DEMO_NOW:%Y-%m-%d %H:%M} UTC.\n\n"
                )
                adapter = ConsoleAdapter(app.service, channel_ref("lab"), out)
                adapter.run(script, echo=True)
                out.write(
                    f"\n(arXiv requests served locally: {len(server.requests)}; "
                    f"papers stored: {app.store.paper_count()})\n"
                )
                if then is None:
                    return 0
                out.write(
                    "\nYour turn: #lab keeps this radar, the same papers and the pinned "
                    "clock. Try " + ", ".join(f"`{line}`" for line in TRY) + "; `quit` ends.\n"
                )
                out.flush()
                return adapter.repl(then, echo=not then.isatty())
            finally:
                app.close()


def _demo_clock():  # type: ignore[no-untyped-def]
    from bot.clock import FixedClock

    return FixedClock(DEMO_NOW)
