"""Plan every channel's digest in one pass: one pool read, one planner.

Per-channel work is a few array operations, not a scan of the pool, and a
digest in the chips' order gets no :class:`Match` for its cards until
someone asks (:mod:`bot.core.matching.picks`; a relevance-ordered one gets
its few, 2% of ranking's time); so 10,000 radars cost about what their
distinct chips cost, and nothing here talks upstream (the harvest ran once
before). Channels that taught the radar what they like are ordered by
relevance, all at once (``ChannelRanking.orders``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta

from bot.core.chips import Chip
from bot.core.matching.picks import Picks
from bot.core.matching.radar import Match, make_match
from bot.core.matching.topk import RadarPlanner
from bot.core.paper import Paper
from bot.digest.plan import ChannelRanking, DigestPlan
from bot.store.repo import Store

#: A channel's digest cap when the store has none for it.
DEFAULT_CAP = 10


def plan_all(
    store: Store,
    now: datetime,
    window_days: int,
    channel_ids: Collection[int] | None = None,
    ranking: ChannelRanking | None = None,
) -> dict[int, DigestPlan]:
    """Digest plans for every channel with a radar (or only ``channel_ids``).

    ``ranking``: the channels' relevance order, the same one ``plan_digest``
    applies to a typed digest, so a scheduled digest posts what `/radar digest`
    would. It makes no model call; channels without any signal keep the chips'
    order (and cost nothing more than one feedback read for all channels).
    """
    radars = store.radars()
    if channel_ids is not None:
        wanted = set(channel_ids)
        radars = {cid: chips for cid, chips in radars.items() if cid in wanted}
    if not radars:
        return {}
    pool = store.papers_since(now - timedelta(days=window_days), until=now)
    caps = store.digest_caps(list(radars))
    seen = store.seen_among(list(radars), [p.key for p in pool])
    return plan_radars(radars, pool, seen, caps, ranking)


def plan_radars(
    radars: Mapping[int, Sequence[Chip]],
    pool: Sequence[Paper],
    seen: Mapping[int, Collection[str]],
    caps: Mapping[int, int],
    ranking: ChannelRanking | None = None,
) -> dict[int, DigestPlan]:
    """``plan_all`` once its reads are done: each radar's digest over ``pool``,
    skipping the paper keys in ``seen`` (by channel), ``caps`` cards each (else
    :data:`DEFAULT_CAP`). Equal, channel by channel, to ``plan_digest``."""
    planner = RadarPlanner(radars, pool)
    orders = ranking.orders(radars, pool, planner.ranked) if ranking is not None else {}

    def plan(
        cid: int, matches: Picks | tuple[Match, ...], fresh: int, considered: int
    ) -> DigestPlan:
        more = max(0, fresh - caps.get(cid, DEFAULT_CAP))
        return DigestPlan(matches, more, considered, no_signal=True)  # not in ``orders``

    plans = planner.picks(seen, caps, DEFAULT_CAP, plan, [c for c in radars if c not in orders])
    chosen: dict[int, list[int]] = {}
    fresh: dict[int, int] = {}
    for cid, order in orders.items():
        shown = seen.get(cid, ())
        unseen = [p for p in order.papers if pool[p].key not in shown] if shown else order.papers
        chosen[cid] = unseen[: caps.get(cid, DEFAULT_CAP)]  # ``fresh_plan(ranked=True)``'s cut
        fresh[cid] = len(unseen)
    # A Match for each card only; those of the chips' papers in one pass for all channels.
    on_radar = planner.matches(
        {c: [p for p in chosen[c] if p not in orders[c].watched] for c in orders}
    )
    for cid, order in orders.items():
        found = iter(on_radar[cid])
        matches = tuple(
            make_match(pool[p], order.watched[p], 0, 0) if p in order.watched else next(found)
            for p in chosen[cid]
        )
        cap = caps.get(cid, DEFAULT_CAP)
        plans[cid] = DigestPlan(matches, max(0, fresh[cid] - cap), len(order.papers))
    return {cid: plans[cid] for cid in radars}
