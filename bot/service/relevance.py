"""Ranking a channel's radar by what the channel likes (``bot.relevance``, wired in).

Chips decide which papers are on a radar; this decides their order once the
channel has said anything (a like chip, a like, a save, a dislike). Without
any signal nothing changes: the caller's order (``bot.core.ranking``) stays.

- :meth:`Ranker.order`: a list of matches re-ordered by the channel's model
  score. Papers of a followed person (author chips) stay first, because
  following someone means wanting all their papers; inside each group the
  score decides, ties keep the incoming order (so the result is deterministic).
- :meth:`Ranker.watch`: the papers a like chip adds to the radar (similar
  enough to a liked paper, ``like_threshold``), as matches of that chip.
- :meth:`Ranker.reasons`: each card's one short "why" line.

Vectors are computed at harvest; papers stored another way (a chip's
backfill, a paper fetched by id) are represented here on first use, once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.core.chips import Chip, ChipKind
from bot.core.matching.filters import keyword_in_paper
from bot.core.matching.radar import Match, Radar, make_match
from bot.core.paper import Paper
from bot.digest.plan import Reorder
from bot.digest.vectorize import Vectorizer
from bot.errors import UpstreamError
from bot.relevance import PaperVectors, card_reasons, fit, like_watch
from bot.relevance.model import ChannelModel
from bot.settings import RelevanceSettings
from bot.store.relevance import ChannelFeedback, RelevanceStore
from bot.store.repo import Store

log = logging.getLogger(__name__)


def like_keys(chips: Sequence[Chip]) -> tuple[str, ...]:
    """The paper keys of a radar's like chips, in chip order."""
    return tuple(dict.fromkeys(c.value for c in chips if c.kind is ChipKind.LIKE))


@dataclass(frozen=True)
class Signal:
    """Everything a channel told the radar: like chips plus people's verdicts."""

    chip_likes: tuple[str, ...]
    feedback: ChannelFeedback

    @property
    def liked(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.chip_likes + self.feedback.liked))

    @property
    def any(self) -> bool:
        return bool(self.chip_likes) or self.feedback.has_signal


class Ranker:
    """One channel's relevance, from the store's vectors and feedback."""

    def __init__(
        self,
        store: Store,
        relevance: RelevanceStore,
        vectorizer: Vectorizer,
        settings: RelevanceSettings,
    ) -> None:
        self.store, self.relevance, self.vectorizer = store, relevance, vectorizer
        self.settings = settings

    @property
    def _space(self) -> tuple[str, str]:
        r = self.vectorizer.representer
        return r.tfidf_id, r.model_id

    def signal(self, channel_id: int, chips: Sequence[Chip]) -> Signal:
        feedback = self.relevance.feedback(channel_id) if channel_id else ChannelFeedback()
        return Signal(like_keys(chips), feedback)

    def vectors(self, papers: Sequence[Paper], extra_keys: Sequence[str] = ()) -> PaperVectors:
        """Stored vectors of ``papers`` and ``extra_keys`` (liked papers), computing
        any that are missing. An embeddings server that is down leaves those
        papers unscored rather than failing the reply."""
        extra = self.store.papers_by_key([k for k in extra_keys if k])
        try:
            self.vectorizer.papers([*papers, *extra.values()])
        except UpstreamError as err:
            log.warning("vectors not computed: %s", err)
        keys = list(dict.fromkeys([p.key for p in papers] + list(extra_keys)))
        return self.relevance.vectors_for(keys, *self._space)

    def model(
        self, signal: Signal, vectors: PaperVectors, pool: Sequence[str]
    ) -> ChannelModel | None:
        fb = signal.feedback.as_feedback(pool=pool)
        fb = type(fb)(signal.liked, fb.disliked, fb.ignored, fb.pool).cleaned()
        return fit(vectors, fb, self.settings)

    def order(
        self, channel_id: int, chips: Sequence[Chip], matches: Sequence[Match]
    ) -> list[Match]:
        """``matches`` by relevance to the channel (see the module docstring)."""
        signal = self.signal(channel_id, chips)
        if not signal.any or not matches:
            return list(matches)
        vectors = self.vectors([m.paper for m in matches], signal.liked + signal.feedback.disliked)
        model = self.model(signal, vectors, [m.paper.key for m in matches])
        if model is None:
            return list(matches)
        scored = vectors.take([m.paper.key for m in matches])
        score = (
            dict(zip(scored.keys, model.score(scored).tolist(), strict=True)) if len(scored) else {}
        )
        low = -np.inf

        def key(item: tuple[int, Match]) -> tuple[int, float, int]:
            i, m = item
            followed = any(c.kind is ChipKind.AUTHOR for c in m.chips)
            return (0 if followed else 1, -score.get(m.paper.key, low), i)

        return [m for _, m in sorted(enumerate(matches), key=key)]

    def reorder(self, channel_id: int, chips: Sequence[Chip]) -> Reorder:
        """The channel's digest order (``plan_digest``'s and ``plan_all``'s
        ``reorder``): its matches plus its like chips' watch, by relevance."""
        chips = tuple(chips)

        def reorder(matches: Sequence[Match], pool: Sequence[Paper]) -> list[Match]:
            return self.order(channel_id, chips, with_watch(matches, self.watch(chips, pool)))

        return reorder

    def watch(self, chips: Sequence[Chip], papers: Sequence[Paper]) -> list[Match]:
        """Papers of ``papers`` a like chip puts on the radar (within ``like_threshold``
        of the liked paper), as matches naming that chip. The radar's source chips
        and ``-exclusions`` narrow them as they narrow every other chip's papers."""
        likes = [c for c in chips if c.kind is ChipKind.LIKE]
        if not likes or not papers:
            return []
        radar = Radar.from_chips(chips)
        papers = [
            p
            for p in papers
            if radar.admits_source(p) and not any(keyword_in_paper(q, p) for q in radar.exclusions)
        ]
        if not papers:
            return []
        vectors = self.vectors(papers, [c.value for c in likes])
        liked = vectors.take([c.value for c in likes])
        day = vectors.take([p.key for p in papers])
        by_key = {p.key: p for p in papers}
        chip_of = {c.value: c for c in likes}
        found: dict[str, list[Chip]] = {}
        for hit in like_watch(
            day, liked, self.settings.like_threshold, self.settings.embedding_weight
        ):
            found.setdefault(day.keys[hit.paper], []).append(chip_of[liked.keys[hit.liked]])
        return [make_match(by_key[k], tuple(cs), 0, 0) for k, cs in found.items()]

    def reasons(
        self, channel_id: int, chips: Sequence[Chip], papers: Sequence[Paper]
    ) -> dict[str, str | None]:
        """Each paper's reason line (by key); empty without signal."""
        signal = self.signal(channel_id, chips)
        if not signal.liked or not papers:
            return {}
        vectors = self.vectors(papers, signal.liked)
        liked = vectors.take(signal.liked)
        titles = {k: p.title for k, p in self.store.papers_by_key(list(liked.keys)).items()}
        cards = vectors.take([p.key for p in papers])
        return card_reasons(cards, liked, titles, signal.feedback.liked_by, self.settings)


def with_watch(matches: Sequence[Match], extra: Sequence[Match]) -> list[Match]:
    """``matches`` plus the like-watch matches of papers not already on the radar."""
    have = {m.paper.key for m in matches}
    return [*matches, *(m for m in extra if m.paper.key not in have)]
