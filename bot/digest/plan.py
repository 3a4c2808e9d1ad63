"""Match a channel's radar against the stored pool and turn matches into cards.

This is the one path every card takes (digest, chip reply, shuffle, filter,
preview), so what a channel sees is decided in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.core.cards import Card, make_card
from bot.core.channel import ChannelState
from bot.core.chips import WATCH_KINDS, Chip, ChipKind
from bot.core.commands import FilterQuery
from bot.core.matching.filters import author_in_paper, category_in_paper, keyword_in_paper
from bot.core.matching.keywords import KeywordQuery
from bot.core.matching.picks import Picks
from bot.core.matching.radar import Match, Radar, make_match, match_paper
from bot.core.matching.topk import Ranked
from bot.core.names import parse_name
from bot.core.paper import Paper, sources_of
from bot.core.ranking import rank, top
from bot.store.repo import Store


@dataclass(frozen=True, eq=False, slots=True)
class DigestPlan:
    """The cards a digest would post now, and how many more matched.

    ``picks``: the cards' matches in card order. The daily planner hands over
    :class:`Picks` (arrays: a Match is built only when ``matches`` is asked
    for, see :mod:`bot.core.matching.picks`); delivery reads ``papers`` and
    ``keys``, which need none.

    ``no_signal``: the daily planner found no relevance signal (likes,
    feedback) for the channel, so the digest has no reason lines to show and
    its delivery asks the store for none. False where nobody looked (a typed
    digest's plan): reasons are then looked up. Not part of equality."""

    picks: tuple[Match, ...] | Picks
    more: int
    considered: int  # matching papers in the window, shown before or not
    no_signal: bool = False

    @property
    def matches(self) -> tuple[Match, ...]:
        picks = self.picks
        return picks.matches if isinstance(picks, Picks) else picks

    @property
    def papers(self) -> tuple[Paper, ...]:
        picks = self.picks
        return picks.papers if isinstance(picks, Picks) else tuple(m.paper for m in picks)

    @property
    def keys(self) -> list[str]:
        """The cards' paper keys, in card order (what a run records)."""
        return [p.key for p in self.papers]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DigestPlan):
            return NotImplemented
        return (self.matches, self.more, self.considered) == (
            other.matches,
            other.more,
            other.considered,
        )

    __hash__ = None  # type: ignore[assignment]  # equal by content, and content is lazy


def radar_matches(chips: Sequence[Chip], papers: Sequence[Paper]) -> list[Match]:
    """Ranked matches of ``papers`` on the radar made of ``chips``."""
    found = [m for m in (match_paper(chips, p) for p in papers) if m is not None]
    return rank(found)


#: Re-orders (and may extend) a channel's matches: the relevance ranking
#: (``bot.service.relevance``), given the pool the matches came from.
Reorder = Callable[[Sequence[Match], Sequence[Paper]], list[Match]]


@dataclass(frozen=True)
class Ordering:
    """A channel's relevance order: pool positions, best first. ``watched``:
    the papers only like chips put on the radar, with those chips (the others
    are on it by its chips: ``RadarPlanner.matches`` says which)."""

    papers: list[int]
    watched: Mapping[int, tuple[Chip, ...]]


class ChannelRanking(Protocol):
    """Where a channel's relevance order comes from (``bot.service.relevance.Ranker``),
    so manual and scheduled digests share one ordering: :data:`Reorder` for one
    channel, ``orders`` for every channel of a daily run at once."""

    def reorder(self, channel_id: int, chips: Sequence[Chip]) -> Reorder: ...

    def orders(
        self,
        radars: Mapping[int, Sequence[Chip]],
        pool: Sequence[Paper],
        ranked: Callable[[Collection[int]], Mapping[int, Ranked]],
    ) -> dict[int, Ordering]: ...


def plan_digest(
    store: Store,
    state: ChannelState,
    now: datetime,
    window_days: int,
    cap: int | None = None,
    reorder: Reorder | None = None,
) -> DigestPlan:
    """What a digest posted at ``now`` would contain: new matches the channel has not seen.

    ``reorder``: the channel's relevance order (None: the chips' order).
    """
    pool = store.papers_since(now - timedelta(days=window_days), until=now)
    matches = radar_matches(state.chip_list, pool)
    if reorder is not None:
        matches = reorder(matches, pool)
    seen = store.seen_keys(state.id, [m.paper.key for m in matches])
    return fresh_plan(
        matches, seen, cap if cap is not None else state.digest_cap, ranked=reorder is not None
    )


def fresh_plan(
    matches: Sequence[Match], seen: set[str], cap: int, *, ranked: bool = False
) -> DigestPlan:
    """The first ``cap`` matches that the channel has not been shown: in ranking
    order, or, when ``ranked``, in the order given (already by relevance)."""
    fresh = [m for m in matches if m.paper.key not in seen]
    chosen = fresh[:cap] if ranked else top(fresh, cap)
    return DigestPlan(tuple(chosen), max(0, len(fresh) - cap), len(matches))


def filter_view(
    chips: Sequence[Chip], papers: Sequence[Paper], query: FilterQuery, now: datetime
) -> list[Match]:
    """One `/radar filter` view: the radar's pool (or every paper, for an empty
    radar) narrowed by every term of ``query``."""
    if any(c.kind in WATCH_KINDS for c in chips):
        base = radar_matches(chips, papers)
    else:
        # No watch chips: the view is over every stored paper, still honouring
        # the radar's source and exclusion chips.
        radar = Radar.from_chips(chips)
        base = rank(
            [
                make_match(p, (), 0, 0)
                for p in papers
                if radar.admits_source(p)
                and not any(keyword_in_paper(q, p) for q in radar.exclusions)
            ]
        )
    authors = [parse_name(a) for a in query.authors]
    keywords = [KeywordQuery.parse(k) for k in query.keywords]
    excludes = [KeywordQuery.parse(e) for e in query.excludes]
    since = None
    if query.since_days is not None:
        since = now - timedelta(days=query.since_days)
    elif query.since_date is not None:
        since = datetime.combine(query.since_date, datetime.min.time(), tzinfo=now.tzinfo)
    out = []
    for match in base:
        p = match.paper
        if since is not None and p.published < since:
            continue
        if query.sources and sources_of(p).isdisjoint(query.sources):
            continue
        if query.categories and not all(category_in_paper(c, p) for c in query.categories):
            continue
        if not all(author_in_paper(a, p) for a in authors):
            continue
        if not all(keyword_in_paper(k, p) for k in keywords):
            continue
        if any(keyword_in_paper(e, p) for e in excludes):
            continue
        out.append(match)
    return out


def matched_labels(match: Match) -> tuple[str, ...]:
    return tuple(
        f"{c.kind.value} {c.label() if c.kind is ChipKind.LIKE else c.value}" for c in match.chips
    )


def cards_for(
    matches: Sequence[Match],
    abstract_chars: int,
    reasons: Mapping[str, str | None] | None = None,
) -> tuple[Card, ...]:
    """Numbered cards, each with its reason line when ``reasons`` has one."""
    why = reasons or {}
    return tuple(
        make_card(i, m.paper, abstract_chars, matched_labels(m), why.get(m.paper.key))
        for i, m in enumerate(matches, start=1)
    )
