"""Plan every channel's digest in one pass: one pool read, one indexed match.

Per-channel work is a dictionary lookup, not a scan of the pool, so 10,000
radars cost about what one costs plus the size of their results; and nothing
here talks upstream (the harvest ran once before).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from bot.core.matching.index import RadarIndex
from bot.core.ranking import rank
from bot.digest.plan import ChannelRanking, DigestPlan, fresh_plan
from bot.store.repo import Store


def plan_all(
    store: Store,
    now: datetime,
    window_days: int,
    channel_ids: Collection[int] | None = None,
    ranking: ChannelRanking | None = None,
) -> dict[int, DigestPlan]:
    """Digest plans for every channel with a radar (or only ``channel_ids``).

    ``ranking``: each channel's relevance order, the same one ``plan_digest``
    applies to a typed digest, so a scheduled digest posts what `/radar digest`
    would. It makes no model call; a channel without any signal keeps the
    chips' order at the cost of one feedback read.
    """
    radars = store.radars()
    if channel_ids is not None:
        wanted = set(channel_ids)
        radars = {cid: chips for cid, chips in radars.items() if cid in wanted}
    if not radars:
        return {}
    pool = store.papers_since(now - timedelta(days=window_days), until=now)
    matches = RadarIndex.build(radars).match(pool)
    caps = store.digest_caps(list(radars))
    seen = store.seen_among(list(radars), [p.key for p in pool])
    plans: dict[int, DigestPlan] = {}
    for cid, found in matches.items():
        if ranking is None:
            plans[cid] = fresh_plan(found, seen.get(cid, set()), caps.get(cid, 10))
            continue
        # rank() first: the order ``radar_matches`` gives a typed digest before
        # the reorder, so ties break the same way in both.
        ordered = ranking.reorder(cid, radars[cid])(rank(found), pool)
        plans[cid] = fresh_plan(ordered, seen.get(cid, set()), caps.get(cid, 10), ranked=True)
    return plans
