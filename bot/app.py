"""Wire one running bot from a ``Config``: store, source, harvester, service.

Every entry point (``run`` for Slack and Discord, console, demo, preview,
harvest, digest) builds the bot here, so the demo and production share one
assembly and one code path; only the config differs (e.g. the demo's arXiv URL
points at a local replay server holding bundled real captures).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

from bot.clock import Clock, FixedClock, SystemClock
from bot.config import Config
from bot.digest.fulltext import FullTextFetcher
from bot.digest.harvest import Harvester, PaperSource
from bot.digest.vectorize import Vectorizer
from bot.errors import StoreError
from bot.llm import Gateway, client_from_settings
from bot.relevance import Representer, make_embedder
from bot.service import RadarService
from bot.service.relevance import Ranker
from bot.sources.arxiv import ArxivSource
from bot.sources.openalex import OpenAlexSource
from bot.store import migrate
from bot.store.relevance import RelevanceStore
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
        if self.harvester.vectorizer is not None:
            self.harvester.vectorizer.close()  # background vectors, before the store goes
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
    ranker = relevance(config, store)
    harvester = Harvester(
        store,
        source,
        clock,
        config.harvest,
        openalex=openalex,
        vectorizer=ranker.vectorizer if ranker is not None else None,
    )
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
        ranker=ranker,
    )
    return App(config, store, source, harvester, service, clock, openalex)


def relevance(config: Config, store: Store) -> Ranker | None:
    """The relevance ranker ``[relevance]`` asks for (None when disabled).

    The embedder loads lazily (the bundled WordLlama on first use, offline),
    so building the bot stays fast; its key, for an OpenAI-compatible server,
    comes from the environment variable the config names, never the file.
    """
    settings = config.relevance
    if not settings.enabled:
        return None
    key = os.environ.get(settings.embedding_api_key_env) or None
    representer = Representer(make_embedder(settings, api_key=key))
    rel = RelevanceStore(store.engine)
    return Ranker(store, rel, Vectorizer(rel, representer), settings)
