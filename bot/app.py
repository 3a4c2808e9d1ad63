"""Wire one running bot from a ``Config``: store, source, harvester, service.

Every entry point (console, demo, preview, later Slack and Discord) builds the
bot here, so the demo and production share one assembly and one code path;
only the config differs (e.g. the demo's arXiv URL points at a local replay
server holding bundled real captures).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sqlalchemy.engine import make_url

from bot.clock import Clock, FixedClock, SystemClock
from bot.config import Config
from bot.digest.fulltext import FullTextFetcher
from bot.digest.harvest import Harvester, PaperSource
from bot.errors import StoreError
from bot.llm import Gateway, client_from_settings
from bot.service import RadarService
from bot.sources.arxiv import ArxivSource
from bot.sources.openalex import OpenAlexSource
from bot.store import migrate
from bot.store.repo import Store
from bot.workpools import WorkPools


@dataclass
class App:
    config: Config
    store: Store
    source: PaperSource
    harvester: Harvester
    service: RadarService
    clock: Clock
    #: Journals, preprint servers and author identities (None: disabled).
    openalex: OpenAlexSource | None = None
    #: The bounded pools every adapter of this process runs its work in
    #: (``bot.workpools``), so slow briefings or questions never hold up commands.
    pools: WorkPools = field(default_factory=WorkPools)

    def close(self) -> None:
        self.pools.close()
        close = getattr(self.source, "close", None)
        if close is not None:
            close()
        if self.openalex is not None:
            self.openalex.close()
        if self.service.gateway is not None:
            self.service.gateway.close()
        if self.service.fulltext is not None:
            self.service.fulltext.close()
        self.store.close()


def build(
    config: Config,
    *,
    clock: Clock | None = None,
    source: PaperSource | None = None,
    rng: random.Random | None = None,
    openalex: OpenAlexSource | None = None,
) -> App:
    url = config.database.url
    if config.database.auto_upgrade:
        migrate.upgrade(url)
    elif migrate.needs_upgrade(url):
        raise StoreError(
            "The database schema is behind this version: run `paper-radar db upgrade`."
        )
    if clock is None:
        pinned = config.pinned_now()
        clock = FixedClock(pinned) if pinned is not None else SystemClock()
    store = Store.from_url(url)
    if source is None:
        source = ArxivSource(config.arxiv)
    if openalex is None and config.openalex.enabled:
        openalex = OpenAlexSource(config.openalex)
    harvester = Harvester(store, source, clock, config.harvest, openalex=openalex)
    # The model: configured by [llm] plus the key in the environment variable it
    # names; with neither a key nor a base URL there is no client and briefings
    # and answers are extractive.
    gateway = Gateway(store, client_from_settings(config.llm), config.llm)
    service = RadarService(
        store,
        source,
        harvester,
        clock,
        config,
        rng or random.Random(),
        gateway=gateway,
        fulltext=FullTextFetcher(store, config.fulltext, clock),
        openalex=openalex,
    )
    return App(config, store, source, harvester, service, clock, openalex)


def describe_db(url: str) -> str:
    """The URL without its password, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)
