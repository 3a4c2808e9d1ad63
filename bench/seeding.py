"""Seed thousands of channels with chips in one transaction, for the benchmarks.

Going through ``Store.add_chip`` would spend minutes on 30,000 separate
transactions that measure nothing the benchmarks are about.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from bot.store import models as m

#: Real people, words and categories from the bundled capture.
AUTHORS = [
    "Wayne Xin Zhao",
    "Jörg Frochte",
    "Li Yuan",
    "Shay B. Cohen",
    "Steve Hanneke",
    "Yehui Tang",
    "Francesco Orabona",
    "Dmitry Krotov",
]
KEYWORDS = [
    "distillation",
    '"language models"',
    "diffusion",
    "agents",
    "optimal transport",
    "serverless",
    "memory",
]
CATEGORIES = ["cs.CL", "cs.LG", "cs.AI", "stat.ML", "math.OC", "cs.CV", "eess.SP"]

#: One author, keyword and category chip per channel.
THREE_CHIPS: Sequence[tuple[str, Sequence[str]]] = (
    ("author", AUTHORS),
    ("keyword", KEYWORDS),
    ("category", CATEGORIES),
)


def seed_channels(
    engine: Engine,
    n: int,
    now: datetime,
    *,
    rng: random.Random,
    chips: Sequence[tuple[str, Sequence[str]]] = THREE_CHIPS,
    workspace: Callable[[int], str] = lambda i: f"T{i // 100}",
    **channel: Any,
) -> list[int]:
    """Insert ``n`` Slack channels (extra column values in ``channel``), each
    with one chip per ``(kind, choices)`` drawn by ``rng``; returns their ids."""
    with engine.begin() as conn:
        conn.execute(
            insert(m.Channel),
            [
                {
                    "platform": "slack",
                    "workspace": workspace(i),
                    "channel": f"C{i:05d}",
                    "name": f"c{i}",
                    "digest_cap": 10,
                    "last_shuffle": [],
                    "created_at": now,
                    **channel,
                }
                for i in range(n)
            ],
        )
        ids = [row[0] for row in conn.execute(select(m.Channel.id).order_by(m.Channel.id))]
        conn.execute(
            insert(m.Chip),
            [
                {"channel_id": cid, "kind": kind, "value": rng.choice(values), "created_at": now}
                for cid in ids
                for kind, values in chips
            ],
        )
    return ids
