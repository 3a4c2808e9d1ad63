"""A person waiting on a command gets a short retry budget; the harvest keeps the patient one.

The whole app (``bot.app.build``, the console adapter, the production
``ArxivSource`` and ``OpenAlexSource``) against local servers that refuse
connections, answer 500, or accept and say nothing. Backoff waits go to a
fake clock whose ``sleep`` advances the ``monotonic`` the deadlines are read
from, so "how long the person waited" is the real time spent plus the waits
the bot chose, and the patient harvest's 35 s of backoff cost nothing here.

Before this change `/radar keyword` waited 5 + 10 + 20 s of backoff (plus a
30 s timeout per try on a silent server) and `/radar author` about a minute.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import App, build
from bot.clock import FixedClock
from bot.config import Config
from bot.core.chips import ChipKind
from bot.errors import UpstreamError
from bot.handlers.console import ConsoleAdapter, channel_ref
from bot.settings import OpenAlexSettings
from bot.sources.arxiv import ArxivSource
from bot.sources.http import Throttle
from bot.sources.openalex import OpenAlexSource
from bot.sources.replay import ReplayServer, Reply

NOW = datetime(2026, 4, 30, 18, 0, tzinfo=UTC)
DEADLINE = 1.0  # interactive_deadline_seconds in these tests (5 s in production)
#: Slack for a busy 2-core machine on top of the deadline itself.
MARGIN = 1.0
REF = channel_ref("lab")


class FakeTime:
    """Backoff waits are recorded and added to ``monotonic`` instead of slept."""

    def __init__(self) -> None:
        self.waited = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.waited += seconds

    def monotonic(self) -> float:
        return time.monotonic() + self.waited


@dataclass
class Bot:
    app: App
    time: FakeTime
    arxiv: ReplayServer | None  # None: nothing listens (connections are refused)

    def say(self, line: str) -> tuple[str, float]:
        """What the person reads (whitespace folded), and how long they waited for it."""
        began, waited = time.monotonic(), self.time.waited
        text = ConsoleAdapter(self.app.service, REF).answer(line)[1]
        return " ".join(text.split()), time.monotonic() - began + (self.time.waited - waited)

    def chips(self) -> list[tuple[ChipKind, str]]:
        state = self.app.store.find_channel(REF)
        return [] if state is None else [(c.kind, c.value) for c in state.chip_list]


@contextmanager
def bot(tmp_path: Path, fault: str, openalex_fault: bool = False) -> Iterator[Bot]:
    """The app with arXiv (and optionally OpenAlex) failing as ``fault`` says."""
    with ExitStack() as stack:
        if fault == "refused":
            with ReplayServer() as gone:
                url = gone.url  # closed again: nothing listens there now
            server = None
        else:
            reply = Reply(500, b"oops") if fault == "500" else Reply(200, b"", delay=30.0)
            server = stack.enter_context(ReplayServer(default=reply))
            url = server.url
        clock = FakeTime()
        base = Config().with_db(f"sqlite:///{tmp_path / 'radar.db'}")
        arxiv = replace(
            base.arxiv,
            api_url=f"{url}/api/query",
            delay_seconds=0.0,
            timeout_seconds=3.0,  # per try; the patient harvest keeps it
            max_retries=3,
            backoff_seconds=5.0,  # production's: 5 + 10 + 20 s of waits
            interactive_deadline_seconds=DEADLINE,
            interactive_backoff_seconds=0.2,
        )
        config = replace(base, arxiv=arxiv, openalex=replace(base.openalex, enabled=False))
        source = ArxivSource(
            arxiv, sleep=clock.sleep, monotonic=clock.monotonic, throttle=Throttle(0.0)
        )
        openalex = None
        if openalex_fault:
            oa_server = stack.enter_context(ReplayServer(default=Reply(500, b"{}")))
            oa_settings = OpenAlexSettings(
                api_url=oa_server.url,
                api_key_env="PAPER_RADAR_TEST_NO_OPENALEX_KEY",
                delay_seconds=0.0,
                timeout_seconds=3.0,
                interactive_deadline_seconds=DEADLINE,
                interactive_backoff_seconds=0.2,
            )
            openalex = OpenAlexSource(
                oa_settings, sleep=clock.sleep, monotonic=clock.monotonic, throttle=Throttle(0.0)
            )
            config = replace(config, openalex=oa_settings)
        app = build(
            config, clock=FixedClock(NOW), source=source, rng=random.Random(1), openalex=openalex
        )
        try:
            yield Bot(app, clock, server)
        finally:
            app.close()


@pytest.mark.parametrize("fault", ["refused", "500", "silent"])
def test_a_chip_answers_within_the_short_budget_and_is_saved(tmp_path: Path, fault: str) -> None:
    with bot(tmp_path, fault) as b:
        text, waited = b.say("/radar keyword diffusion")
        assert waited < DEADLINE + MARGIN, f"{fault}: the person waited {waited:.1f} s"
        assert "added keyword chip diffusion." in text.lower()
        assert "arXiv did not answer just now" in text
        assert "the chip is saved and the next harvest will fill it" in text
        assert b.chips() == [(ChipKind.KEYWORD, "diffusion")]


@pytest.mark.parametrize("fault", ["refused", "500"])
def test_the_harvest_still_retries_its_full_count(tmp_path: Path, fault: str) -> None:
    with bot(tmp_path, fault) as b:
        with pytest.raises(UpstreamError, match="after 4 tries"):
            b.app.harvester.run(force=True)
        assert b.time.sleeps == [5.0, 10.0, 20.0]  # four tries, production's backoff
        if b.arxiv is not None:
            assert len(b.arxiv.requests) == 4


def test_a_manual_digest_gives_up_quickly_and_says_so(tmp_path: Path) -> None:
    with bot(tmp_path, "500") as b:
        b.say("/radar category cs.LG")
        before = len(b.arxiv.requests) if b.arxiv else 0
        text, waited = b.say("/radar digest")
        assert waited < DEADLINE + MARGIN
        assert "arXiv did not answer, so this digest uses the papers already stored" in text
        assert b.arxiv is not None and len(b.arxiv.requests) - before < 4


def test_author_with_both_upstreams_down_answers_in_seconds(tmp_path: Path) -> None:
    """OpenAlex's look-up, then arXiv's backfill: each within the short budget."""
    with bot(tmp_path, "500", openalex_fault=True) as b:
        text, waited = b.say("/radar author Yehui Tang")
        assert waited < 2 * DEADLINE + MARGIN, f"the person waited {waited:.1f} s"
        assert "OpenAlex did not answer just now, so this chip follows the name only" in text
        assert "arXiv did not answer just now" in text
        assert b.chips() == [(ChipKind.AUTHOR, "Yehui Tang")]
