"""Library code leaves the process alone: no logger filters, no garbage-collector switch.

Logging is the application's to configure (``bot.run.setup_logging``); a
module that adds a filter to its own or a library's logger changes what every
other part of the process logs, and Bolt copies its base logger's filters
onto its own loggers. The cyclic garbage collector's switch is the whole
process's too: a digest's matching, in a worker thread, must not turn it off
for the Slack and Discord event loops running beside it.

The import and construction checks run in a fresh interpreter, so what an
earlier test in this process did cannot hide (or fake) a change.
"""

from __future__ import annotations

import gc
import io
import logging
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from slack_bolt.logger.messages import warning_token_skipped

from bot.config import Config
from bot.core.chips import Chip, ChipKind
from bot.core.paper import Paper
from bot.digest.daily import plan_radars
from bot.run import setup_logging

ROOT = Path(__file__).resolve().parent.parent

#: Prints the name of every logger whose filters differ from before ``work``. The
#: third-party packages are imported first: what they do to their own loggers
#: (openai filters its client's headers) is theirs.
FILTERS_AFTER = """
import logging
import arxiv, discord, openai, requests, slack_bolt, slack_sdk, sqlalchemy, urllib3
def filters():
    named = dict(logging.root.manager.loggerDict)
    named[""] = logging.root
    return {n: list(l.filters) for n, l in named.items() if isinstance(l, logging.Logger)}
before = filters()
{work}
after = filters()
print(sorted(n for n in after if after[n] != before.get(n, [])))
"""


def changed_filters(work: str) -> list[str]:
    code = FILTERS_AFTER.replace("{work}", work)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "SLACK_BOT_TOKEN": "xoxb-from-the-environment"},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return eval(out.stdout.strip().splitlines()[-1])  # a list of logger names


def test_importing_the_sources_installs_no_log_filter() -> None:
    assert changed_filters("import bot.sources.openalex, bot.sources.arxiv, bot.app") == []


def test_building_the_slack_adapter_installs_no_log_filter() -> None:
    work = """
import asyncio
from bot.handlers.slack import SlackAdapter, SlackCredentials
from bot.settings import SlackSettings
async def build():
    adapter = SlackAdapter(
        None,
        SlackSettings(mode="http", api_url="http://127.0.0.1:9/api/"),
        SlackCredentials("xoxb-test-token", "", "signing-secret"),
    )
    adapter.pools.close()
asyncio.run(build())
"""
    assert changed_filters(work) == []


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The root logger with one handler writing to a string, as ``paper-radar`` sets it up."""
    root = logging.getLogger()
    stream = io.StringIO()
    monkeypatch.setattr(root, "handlers", [logging.StreamHandler(stream)])
    for name in ("apscheduler", "slack_bolt", "slack_sdk", "discord"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.getLogger(name).level)
    yield stream


def test_bolts_token_notice_is_dropped_where_the_app_sets_up_logging(
    captured: io.StringIO,
) -> None:
    """Bolt reads $SLACK_BOT_TOKEN itself and warns it "will be ignored"; the bot's
    token is used through ``authorize``, so the notice would only mislead."""
    setup_logging(Config(), {})
    logging.getLogger("bot.handlers.slack.bolt").warning(warning_token_skipped())
    logging.getLogger("bot.handlers.slack.bolt").warning("a listener failed")
    lines = captured.getvalue()
    assert "a listener failed" in lines and "will be ignored" not in lines


# -- memory: optional libraries are imported when used, not before -------------------------

#: Each step of a bot's life, and which of the heavy optional libraries are loaded
#: after it. scikit-learn (about 85 MiB) is only the optional SVM learner's,
#: ``openai`` (about 45 MiB) only a configured model's first call's, WordLlama's
#: package (about 23 MiB, plus its weights) is never imported (its files are read).
LOADED_AFTER = """
import sys
HEAVY = ("sklearn", "openai", "wordllama")
def loaded(step):
    print(step, sorted(m for m in HEAVY if m in sys.modules))
import bot.app
loaded("import")
import tempfile
from dataclasses import replace
from pathlib import Path
from bot.clock import FixedClock
from bot.config import Config
from bot.demo import capture_bytes
from bot.sources.replay import AtomPager, ReplayServer
from flowkit import NOW
feed = AtomPager(capture_bytes())
with tempfile.TemporaryDirectory() as tmp, ReplayServer(default=feed) as arxiv:
    config = Config().with_db(f"sqlite:///{Path(tmp) / 'radar.db'}")
    config = replace(
        config,
        arxiv=replace(config.arxiv, api_url=arxiv.url + "/api/query", delay_seconds=0.0),
        llm=replace(config.llm, base_url="http://127.0.0.1:9/v1"),  # configured, never called
    )
    app = bot.app.build(config, clock=FixedClock(NOW))
    loaded("build")
    app.harvester.run(force=True)  # stores and represents the day's papers
    loaded("harvest")
    from sqlalchemy import func, select
    from bot.store import models as m
    with app.store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(m.PaperVector)) == 20
    app.close()
"""


def test_the_daily_path_imports_no_optional_heavy_library() -> None:
    """Importing the bot, building it (relevance on, a model configured) and a
    harvest that embeds its papers load none of scikit-learn, openai or the
    wordllama package: memory a bot serving 10,000 channels does not spend."""
    out = subprocess.run(
        [sys.executable, "-c", LOADED_AFTER],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["import []", "build []", "harvest []"]


# -- the garbage collector ------------------------------------------------------------------


class WatchedPapers(Sequence[Paper]):
    """Papers that record, as the matcher reads each, whether the collector is on."""

    def __init__(self, papers: list[Paper]) -> None:
        self.papers = papers
        self.collector: list[bool] = []

    def __len__(self) -> int:
        return len(self.papers)

    def __getitem__(self, i):  # type: ignore[no-untyped-def, override]
        return self.papers[i]

    def __iter__(self) -> Iterator[Paper]:
        for paper in self.papers:
            self.collector.append(gc.isenabled())
            yield paper


def paper(n: int) -> Paper:
    when = datetime(2026, 4, 29, tzinfo=UTC)
    return Paper(
        key=f"arxiv:2604.{26900 + n}",
        source="arxiv",
        title=f"Agents that plan, part {n}",
        abstract="We study language agents.",
        authors=("Ada Lovelace",),
        categories=("cs.CL",),
        primary_category="cs.CL",
        published=when,
        updated=when,
        url=f"https://arxiv.org/abs/2604.{26900 + n}",
    )


def test_planning_digests_leaves_the_garbage_collector_on() -> None:
    assert gc.isenabled()
    radars = {
        1: [Chip(ChipKind.CATEGORY, "cs.CL")],
        2: [Chip(ChipKind.KEYWORD, "agents"), Chip(ChipKind.CATEGORY, "cs.CL")],
    }
    papers = WatchedPapers([paper(n) for n in range(3)])
    plans = plan_radars(radars, papers, {}, {})
    assert papers.collector == [True, True, True]
    assert gc.isenabled()
    assert [len(plans[1].matches), len(plans[2].matches)] == [3, 3]
    # Matches of one chip set share its chips (what keeps the collector's work small).
    assert plans[1].matches[0].chips is plans[1].matches[1].chips
