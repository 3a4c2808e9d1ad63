"""Plan every channel's digest in one pass: one pool read, one indexed match.

Per-channel work is a dictionary lookup, not a scan of the pool, so 10,000
radars cost about what one costs plus the size of their results; and nothing
here talks upstream (the harvest ran once before).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from bot.core.matching.index import RadarIndex
from bot.digest.plan import DigestPlan, fresh_plan
from bot.store.repo import Store


def plan_all(
    store: Store, now: datetime, window_days: int, channel_ids: Collection[int] | None = None
) -> dict[int, DigestPlan]:
    """Digest plans for every channel with a radar (or only ``channel_ids``)."""
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
    return {
        cid: fresh_plan(found, seen.get(cid, set()), caps.get(cid, 10))
        for cid, found in matches.items()
    }
