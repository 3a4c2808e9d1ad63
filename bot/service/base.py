"""What every part of the service shares: its collaborators and small helpers.

``ServiceBase`` holds the store, the paper source, the clock, the config and
the optional model, full-text and OpenAlex clients; each concern of the
service (``authors``, ``edits``, ``views``, ``briefings``, ``questions``) is
a mixin over it, and ``bot.service.RadarService`` puts them together. The
functions below build the replies several concerns share.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta

from bot.clock import Clock
from bot.config import Config
from bot.core.actor import Actor
from bot.core.cards import Card, Reply, ReplyKind
from bot.core.channel import ChannelRef, ChannelState
from bot.core.matching.radar import Match
from bot.core.paper import Paper
from bot.digest.fulltext import FullTextFetcher
from bot.digest.harvest import Harvester, PaperSource
from bot.digest.plan import Reorder, cards_for
from bot.errors import NotFoundError, UpstreamError
from bot.llm import Gateway, workspace_of
from bot.service.relevance import Ranker
from bot.sources.openalex import OpenAlexSource
from bot.store.repo import Store

log = logging.getLogger("bot.service")

#: Channels share this many locks (``ServiceBase.channel_lock``): enough that
#: two busy channels rarely wait on each other, and a fixed memory cost.
LOCK_STRIPES = 64


@dataclass
class ServiceBase:
    store: Store
    source: PaperSource
    harvester: Harvester
    clock: Clock
    config: Config
    rng: random.Random
    #: Called with a channel id after its schedule changes (from the thread the
    #: command ran in), so a running scheduler resyncs that job at once.
    schedule_listeners: list[Callable[[int], None]] = field(default_factory=list)
    #: The language model behind briefings and answers (None: extractive only).
    gateway: Gateway | None = None
    #: Full texts for thread answers (None: answers use the abstract only).
    fulltext: FullTextFetcher | None = None
    #: Author identities and works beyond arXiv (None: author chips are names).
    openalex: OpenAlexSource | None = None
    #: Orders each channel's radar by what it likes (None: relevance disabled,
    #: chips' order only; likes and feedback commands say so).
    ranker: Ranker | None = None
    _locks: tuple[threading.Lock, ...] = field(
        default_factory=lambda: tuple(threading.Lock() for _ in range(LOCK_STRIPES)),
        init=False,
        repr=False,
        compare=False,
    )

    @contextmanager
    def channel_lock(self, ref: ChannelRef) -> Iterator[None]:
        """Hold while reading and then writing a channel's state that a
        concurrent command could change in between (a shuffle's draw and its
        memory of it). Commands run in worker threads, hence a thread lock."""
        key = hash((ref.platform, ref.workspace, ref.channel))
        with self._locks[key % LOCK_STRIPES]:
            yield

    def arxiv_paper(self, arxiv_id: str) -> Paper:
        """The paper with this arXiv id, for a like, a question or a brief that
        names it: stored already, or fetched with one ``id_list`` request
        (through the source's interactive client, within arXiv's rules) and
        stored. Raises with a message for the channel when arXiv has no such
        paper or does not answer."""
        key = f"arxiv:{arxiv_id}"
        found = self.store.papers_by_key([key]).get(key)
        if found is not None:
            return found
        fetch = getattr(self.source.interactive(), "fetch_ids", None)
        if fetch is None:  # a source without lookup by id (tests' fakes, other sources)
            raise NotFoundError(
                f"arXiv {arxiv_id} is not among the papers I have; papers arrive with the "
                "daily harvest and with new chips."
            )
        try:
            papers = fetch([arxiv_id])
        except UpstreamError as err:
            raise UpstreamError(
                f"arXiv did not answer when I looked up {arxiv_id}; try again in a minute."
            ) from err
        # arXiv answers an id with that paper; any other paper in the answer
        # (a faulty upstream, a replay) is not the one asked for.
        papers = [p for p in papers if p.key == key]
        if not papers:
            raise NotFoundError(f"arXiv has no paper {arxiv_id}; check the id.")
        self.harvester.keep(papers)
        # Found by its key even when the store merged it into a published
        # version (the arXiv key stays an alias of that paper).
        stored = self.store.papers_by_key([key]).get(key)
        if stored is None:
            raise NotFoundError(f"arXiv {arxiv_id} could not be stored; try again later.")
        return stored

    def _unsaved(self, ref: ChannelRef) -> ChannelState:
        """A channel the bot has not stored yet, as it would be stored."""
        return ChannelState(id=0, ref=ref, digest_cap=self.config.radar.digest_cap)

    def _created(self, state: ChannelState) -> ChannelState:
        """The stored channel, created on its first write."""
        return state if state.id else self.store.channel(state.ref, self.config.radar.digest_cap)

    def channel_id(self, ref: ChannelRef) -> int:
        """The stored channel's id, created if needed (delivery records what it posts)."""
        state = self.store.find_channel(ref)
        return state.id if state is not None else self._created(self._unsaved(ref)).id

    def _pool(self) -> list[Paper]:
        """The radar's recent papers: the last ``pool_days``."""
        now = self.clock.now()
        return self.store.papers_since(now - timedelta(days=self.config.radar.pool_days), until=now)

    def _reorder(self, state: ChannelState) -> Reorder | None:
        """The channel's relevance order for ``plan_digest`` (None: relevance off)."""
        if self.ranker is None:
            return None
        return self.ranker.reorder(state.id, state.chip_list)

    def _ranked(
        self, state: ChannelState, matches: Sequence[Match], pool: Sequence[Paper]
    ) -> list[Match]:
        """``matches`` (and the like chips' watch over ``pool``) by relevance;
        unchanged without a ranker or without any signal in the channel."""
        reorder = self._reorder(state)
        return list(matches) if reorder is None else reorder(matches, pool)

    def _cards(self, state: ChannelState, matches: Sequence[Match]) -> tuple[Card, ...]:
        """Numbered cards for ``matches``, each with its reason line, if any."""
        reasons = (
            self.ranker.reasons(state.id, state.chip_list, [m.paper for m in matches])
            if self.ranker is not None
            else None
        )
        return cards_for(matches, self.config.radar.abstract_chars, reasons)

    def _harvest(self) -> str | None:
        """Today's papers before a typed digest; a note when arXiv did not answer."""
        try:
            self.harvester.run(interactive=True)  # a person asked: the short deadline
        except UpstreamError as err:
            log.warning("harvest failed: %s", err)
            return (
                "arXiv did not answer, so this digest uses the papers already stored; "
                "the next digest will catch up."
            )
        return None

    def _admit(self, state: ChannelState, user: str | None) -> None:
        """Count one briefing or question against today's caps of the person and
        the channel (``Gateway.admit``: every one counts, cached or not, while a
        model is configured); raises ``LimitError`` when one is used up."""
        if self.gateway is not None:
            self.gateway.admit(
                workspace=workspace(state.ref),
                channel=state.ref.channel,
                user=user,
                now=self.clock.now(),
            )


def workspace(ref: ChannelRef) -> str:
    """The unit of the daily model budget: one Slack team, Discord guild or console."""
    return workspace_of(ref.platform, ref.workspace)


def user_id(actor: Actor | None) -> str | None:
    """Whose daily cap a briefing or question counts against (None: nobody's)."""
    return actor.user_id if actor is not None else None


def error_reply(message: str) -> Reply:
    return Reply(message, ephemeral=True, kind=ReplyKind.ERROR)


def said(who: str | None, by: str, plain: str) -> str:
    """A change's title: ``Alice set …`` naming who made it, or ``plain``
    when nobody is to be named (a caller without a person)."""
    return plain if who is None else f"{who} {by}"


def credited(reply: Reply, who: str | None) -> Reply:
    """A chip change's reply with who made it: ``Added keyword chip x.`` becomes
    ``Alice added keyword chip x.``. Replies that changed nothing (ephemeral
    ones, an errand such as "which of these people?") stay as they are."""
    if who is None or reply.ephemeral or reply.kind is not ReplyKind.RADAR:
        return reply
    for verb in ("Added ", "Removed "):
        if reply.title.startswith(verb):
            return replace(reply, title=f"{who} {verb.lower()}{reply.title[len(verb) :]}")
    return reply
