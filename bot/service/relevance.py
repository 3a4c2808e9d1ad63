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

A daily run ranks thousands of channels at once (:meth:`Ranker.orders`): one
feedback read, one vectors read for the pool, every channel's model fitted in
a few products (:func:`bot.relevance.scoring.fit_many`, each radar handed over
as rows of those vectors, not keys), one like-chip watch for all like chips.
A typed ``/radar digest`` goes through the very same functions for its one
channel (``order``, ``watch``), so it posts what the scheduled digest posts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bot.core.chips import Chip, ChipKind
from bot.core.matching.filters import keyword_in_paper
from bot.core.matching.radar import Match, Radar, make_match, radar_of
from bot.core.matching.topk import Ranked
from bot.core.paper import Paper
from bot.digest.plan import Ordering, Reorder
from bot.digest.vectorize import Vectorizer
from bot.errors import UpstreamError
from bot.relevance import PaperVectors, card_reasons, fit, like_watch
from bot.relevance.model import ChannelModel, Feedback
from bot.relevance.scoring import Scorer, fit_many
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
        known = {p.key for p in papers}  # no need to read these again
        extra = self.store.papers_by_key([k for k in extra_keys if k and k not in known])
        try:
            self.vectorizer.papers([*papers, *extra.values()])
        except UpstreamError as err:
            log.warning("vectors not computed: %s", err)
        keys = list(dict.fromkeys([p.key for p in papers] + list(extra_keys)))
        return self.relevance.vectors_for(keys, *self._space)

    def signals(self, radars: Mapping[int, Sequence[Chip]]) -> dict[int, Signal]:
        """The channels of ``radars`` that have any signal, with it: one read
        of every channel's feedback, not one per channel."""
        feedback = self.relevance.feedback_many([cid for cid in radars if cid])
        out: dict[int, Signal] = {}
        for cid, chips in radars.items():
            signal = Signal(like_keys(chips), feedback.get(cid, ChannelFeedback()))
            if signal.any:
                out[cid] = signal
        return out

    def model(
        self, signal: Signal, vectors: PaperVectors, pool: Sequence[str]
    ) -> ChannelModel | None:
        return fit(vectors, self._feedback(signal, pool), self.settings)

    @staticmethod
    def _feedback(signal: Signal, pool: Sequence[str]) -> Feedback:
        """What the channel's model learns from: its likes (like chips too),
        dislikes, and ``pool`` (the radar's papers) as the background (``fit``
        cleans it: each paper in one role)."""
        return Feedback(signal.liked, signal.feedback.disliked, (), tuple(pool))

    def order(
        self, channel_id: int, chips: Sequence[Chip], matches: Sequence[Match]
    ) -> list[Match]:
        """``matches`` by relevance to the channel (see the module docstring)."""
        signal = self.signal(channel_id, chips)
        if not signal.any or not matches:
            return list(matches)
        vectors = self.vectors([m.paper for m in matches], signal.liked + signal.feedback.disliked)
        where = vectors.index
        rows = np.fromiter((where.get(m.paper.key, -1) for m in matches), np.int64, len(matches))
        followed = np.fromiter(
            (any(c.kind is ChipKind.AUTHOR for c in m.chips) for m in matches), bool, len(matches)
        )
        [order] = self._orders([(signal, rows, followed)], vectors)
        return list(matches) if order is None else [matches[i] for i in order]

    def _orders(
        self,
        lists: Sequence[tuple[Signal, np.ndarray, np.ndarray]],
        vectors: PaperVectors,
    ) -> list[np.ndarray | None]:
        """Each channel's list (its signal, its papers' rows in ``vectors`` (-1:
        none), whether each is a followed person's) re-ordered: followed
        people's papers first, then by the channel's score, ties in list order;
        None where the channel has no model (keep the list as it is). One
        batched fit for all of them, so a channel ranked alone and in a daily
        run of thousands get the same model. The list is the model's background
        (``_feedback``), given as rows: no key is looked up again."""
        models = fit_many(
            vectors,
            [Feedback(s.liked, s.feedback.disliked) for s, _, _ in lists],
            self.settings,
            [rows for _, rows, _ in lists],
        )
        # Every model's scores in one batch (a channel's papers without
        # vectors score -inf: last).
        fitted = [
            (i, model, at[at >= 0])
            for i, ((_, at, _), model) in enumerate(zip(lists, models, strict=True))
            if model is not None
        ]
        scores: dict[int, np.ndarray] = {}
        if fitted:
            scored = Scorer(vectors).many([m for _, m, _ in fitted], [r for _, _, r in fitted])
            scores = dict(zip((i for i, _, _ in fitted), scored, strict=True))
        out: list[np.ndarray | None] = []
        for i, (_, at, followed) in enumerate(lists):
            if i not in scores:
                out.append(None)
                continue
            have = at >= 0
            if have.all():
                score = scores[i]
            else:
                score = np.full(len(at), -np.inf, dtype=np.float32)
                score[have] = scores[i]
            # Stable sorts: equal keys keep the list's order.
            if followed.any():  # followed people's papers first
                order = np.lexsort((-score, ~followed))
            else:
                order = np.argsort(-score, kind="stable")
            out.append(order)
        return out

    def reorder(self, channel_id: int, chips: Sequence[Chip]) -> Reorder:
        """The channel's digest order (``plan_digest``'s ``reorder``): its
        matches plus its like chips' watch, by relevance. ``orders`` gives the
        same for many channels at once (the daily run)."""
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
        [found] = self._watches([chips], papers, vectors)
        return [make_match(papers[i], cs, 0, 0) for i, cs in found]

    def _watches(
        self,
        radars: Sequence[Sequence[Chip]],
        papers: Sequence[Paper],
        vectors: PaperVectors,
    ) -> list[list[tuple[int, tuple[Chip, ...]]]]:
        """For each radar: the papers (positions in ``papers``) its like chips
        watch, each with the like chips that admit it, in ``papers`` order.

        One :func:`like_watch` for every radar's liked papers against every
        paper (each similarity is computed pair by pair, so it is the same
        number whatever else is compared alongside); then each radar keeps its
        own chips' hits among the papers its source and exclusion chips let
        through."""
        values = list(
            dict.fromkeys(c.value for cs in radars for c in cs if c.kind is ChipKind.LIKE)
        )
        liked = vectors.take(values)
        day_rows = [i for i, p in enumerate(papers) if p.key in vectors.index]
        day = vectors.rows([vectors.index[papers[i].key] for i in day_rows])
        hits: dict[str, list[int]] = {}
        for hit in like_watch(
            day, liked, self.settings.like_threshold, self.settings.embedding_weight
        ):
            hits.setdefault(liked.keys[hit.liked], []).append(day_rows[hit.paper])
        out: list[list[tuple[int, tuple[Chip, ...]]]] = []
        for chips in radars:
            likes = [c for c in chips if c.kind is ChipKind.LIKE]
            chip_of = {c.value: c for c in likes}
            # The chips' liked papers that have vectors, in chip order (as
            # ``take`` lists them): a paper's chips follow this order.
            rows = [c.value for c in likes if c.value in liked.index]
            pairs = sorted((p, r) for r, value in enumerate(rows) for p in hits.get(value, ()))
            radar = radar_of(tuple(chips))
            admitted: dict[int, bool] = {}
            found: dict[int, list[Chip]] = {}
            for p, r in pairs:
                ok = admitted.get(p)
                if ok is None:
                    paper = papers[p]
                    ok = admitted[p] = radar.admits_source(paper) and not any(
                        keyword_in_paper(q, paper) for q in radar.exclusions
                    )
                if ok:
                    found.setdefault(p, []).append(chip_of[rows[r]])
            out.append([(p, tuple(cs)) for p, cs in found.items()])
        return out

    def orders(
        self,
        radars: Mapping[int, Sequence[Chip]],
        pool: Sequence[Paper],
        ranked: Callable[[Collection[int]], Mapping[int, Ranked]],
    ) -> dict[int, Ordering]:
        """The digest order of every channel of ``radars`` that has any signal,
        as ``reorder`` would give it (its radar's matches, which ``ranked``
        gives in the chips' order, plus its like chips' watch over ``pool``, by
        relevance), for all of them at once. A channel without any signal is
        not a key: its chips' order stands."""
        signals = self.signals(radars)
        if not signals:
            return {}
        lists = ranked(list(signals))
        extra = [k for s in signals.values() for k in (*s.liked, *s.feedback.disliked)]
        vectors = self.vectors(pool, list(dict.fromkeys(extra)))
        watching = [cid for cid in signals if signals[cid].chip_likes]
        watches = dict(
            zip(watching, self._watches([radars[c] for c in watching], pool, vectors), strict=True)
        )
        keys = [p.key for p in pool]
        pool_rows = np.fromiter((vectors.index.get(k, -1) for k in keys), np.int64, len(keys))
        # Each pool position's paper, as the first position with its key (a
        # watched paper already on the radar under another position is on it).
        first: dict[str, int] = {}
        paper_of = np.fromiter((first.setdefault(k, i) for i, k in enumerate(keys)), np.int64)
        on_radar = np.zeros(len(keys), dtype=bool)
        entries: list[tuple[int, np.ndarray, dict[int, tuple[Chip, ...]]]] = []
        inputs: list[tuple[Signal, np.ndarray, np.ndarray]] = []
        for cid, signal in signals.items():
            on = lists[cid]
            papers = on.papers
            watched: dict[int, tuple[Chip, ...]] = {}
            if cid in watches:
                on_radar[paper_of[papers]] = True
                watched = {p: cs for p, cs in watches[cid] if not on_radar[paper_of[p]]}
                on_radar[paper_of[papers]] = False
                if watched:
                    papers = np.concatenate((papers, np.fromiter(watched, np.int64)))
            entries.append((cid, papers, watched))
            if len(papers):
                follows = on.followed
                if watched:  # like chips follow nobody
                    follows = np.concatenate((follows, np.zeros(len(watched), dtype=bool)))
                inputs.append((signal, pool_rows[papers], follows))
        orders = iter(self._orders(inputs, vectors))
        out: dict[int, Ordering] = {}
        for cid, papers, watched in entries:
            order = next(orders) if len(papers) else None
            out[cid] = Ordering((papers if order is None else papers[order]).tolist(), watched)
        return out

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
