"""One paper briefed in its card's thread: a card's Brief button, or
`/radar brief <card number | arXiv id>`.

The brief itself (the four parts from the paper, the model's prompt and its
checks, the extractive fallback) is ``bot.digest.paper_brief``'s; this module
finds the paper and the card's thread, works out how the paper relates to
what this channel likes (:meth:`PaperBriefs.relation`), and counts the brief
against the daily caps, like a question about the paper.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bot.core.channel import ChannelState
from bot.core.outgoing import Notice, Outbound, outbound
from bot.core.paper import Paper
from bot.digest.fulltext import Outcome
from bot.digest.paper_brief import Liked, Relation, paper_brief
from bot.errors import NotFoundError
from bot.relevance.similar import similarity
from bot.service.base import workspace
from bot.service.questions import Questions

#: Liked papers compared with the briefed one (the nearest few are named).
NEAREST = 3


class PaperBriefs(Questions):
    """A mixin over ``Questions``: a paper is found as `/radar ask` finds it."""

    def brief_paper(
        self,
        state: ChannelState,
        key: str | None = None,
        card: int | None = None,
        arxiv_id: str | None = None,
        user: str | None = None,
    ) -> Outbound:
        """Brief one paper in the thread of its card in this channel.

        ``key`` is a card's Brief button (the card's paper key): it briefs only
        a paper this channel was shown, in that card's thread (the newest card
        of it); any other key changes nothing and says so privately. ``card``
        is a card number as this channel last saw it; ``arxiv_id`` a stored
        paper, answered in its card's thread when it has one here, else in the
        channel. Counts against ``user``'s and the channel's daily caps.
        """
        paper, thread = self._paper_to_brief(state, key, card, arxiv_id)
        self._admit(state, user)
        outcome = self.fulltext.get(paper) if self.fulltext is not None else Outcome(None)
        reply = paper_brief(
            paper,
            self.relation(state, paper),
            full=outcome.text,
            gateway=self.gateway,
            workspace=workspace(state.ref),
            now=self.clock.now(),
            fetch_note=outcome.note,
        )
        post = outbound(state.ref, reply, channel_id=state.id, thread=thread)
        if post.thread is not None:
            post = replace(post, notice=Notice("Briefed in {thread}.", post.thread))
        return post

    def _paper_to_brief(
        self, state: ChannelState, key: str | None, card: int | None, arxiv_id: str | None
    ) -> tuple[Paper, str | None]:
        """The paper, and the card message whose thread the brief goes in (None:
        the channel). A button's ``key`` must be a card this channel was shown;
        a typed card or arXiv id is found as `/radar ask` finds it. Raises
        ``NotFoundError`` with what would help."""
        if key is None:
            return self.named_paper(state, card, arxiv_id)
        posted = self.store.posted_card(state.id, paper_key=key) if state.id else None
        if posted is None:
            raise NotFoundError("That card is not one I can brief here.")
        return posted[1], posted[0]

    def relation(self, state: ChannelState, paper: Paper) -> Relation:
        """How ``paper`` relates to what this channel likes: the liked papers
        nearest to it (the similarity the ranking's reason lines use), and how
        many people here liked it. An embedder that is down leaves the liked
        papers unnamed rather than failing the brief."""
        ranker = self.ranker
        if ranker is None:
            return Relation(enabled=False)
        signal = ranker.signal(state.id, state.chip_list)
        base = Relation(
            likes=len(signal.liked),
            liked=paper.key in signal.liked,
            liked_by=signal.feedback.liked_by.get(paper.key, 0),
        )
        others = [k for k in signal.liked if k != paper.key]
        if not others:
            return base
        vectors = ranker.vectors([paper], others)
        mine, liked = vectors.take([paper.key]), vectors.take(others)
        if not len(mine) or not len(liked):
            return base
        weight = ranker.settings.embedding_weight
        scores = similarity(mine, liked, weight)[0]
        order = np.argsort(-scores, kind="stable")[:NEAREST]
        papers = self.store.papers_by_key([liked.keys[i] for i in order])
        nearest = tuple(
            Liked(p.key, p.title, p.abstract, float(scores[i]))
            for i in order
            if (p := papers.get(liked.keys[i])) is not None
        )
        close = bool(nearest) and nearest[0].similarity >= ranker.settings.reason_floor
        return replace(base, nearest=nearest, close=close)
