"""Evaluation tasks for relevance ranking, built from real signals only.

Every label here is a fact of the real arXiv data, never a judgement made up
for the benchmark:

- **research group**: two people who publish together often are a group. A
  channel that liked the group's earlier papers should find the group's later
  papers near the top of a later day's real listing (the papers of that day
  in the channel's categories), with author names hidden from the ranker
  (rankers see title and abstract only). Two co-authors rather than one
  name, because one name ("Yang Liu") is many people.
- **cross-listing** (a proxy, labelled so): a channel follows a broad
  category (cs.CL) and liked a few earlier papers its authors also filed under
  a niche one (cs.SD, sound). On a later day, the broad listing's papers
  cross-listed to that niche are the relevant ones. Authors chose those
  categories themselves, so the label is real; it is a proxy because a
  channel's taste is not a category.

A task also carries what the channel was *shown and ignored*: the cards a
chips-only digest (category chips, newest first, ten a day) posted on the ten
listing days before, minus the papers the channel would have liked. That is
the weak negative signal the product has from day one.
"""

from __future__ import annotations

import gzip
import itertools
import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Categories too broad to be a niche (they are the firehoses themselves).
BROAD = frozenset({"cs.CV", "cs.CL", "cs.AI", "cs.LG"})
#: Like counts the tasks cycle through, so results can be read per bucket
#: (a group rarely has 30 earlier papers; a niche category does).
LIKE_COUNTS = (1, 3, 10)
CROSSLIST_LIKE_COUNTS = (1, 3, 10, 30)
#: Shown-but-ignored history: listing days and cards per day.
HISTORY_DAYS, CARDS_PER_DAY = 10, 10


@dataclass(frozen=True)
class Task:
    """One channel on one day: what it liked, what it saw, what it should see."""

    family: str  # "group" or "crosslist"
    name: str  # e.g. "Ann Lee + Bo Chen" or "cs.CL>cs.SD"
    day: str
    chips: frozenset[str]  # the channel's category chips
    likes: tuple[int, ...]  # row indices, oldest first
    ignored: tuple[int, ...]  # shown on earlier days, not liked
    pool: tuple[int, ...]  # the radar's matches on earlier days (unlabelled)
    candidates: tuple[int, ...]  # the day's listing in the channel's chips
    relevant: frozenset[int]


def load_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL(.gz) file of the shared arXiv listings, in file order."""
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Listings:
    """The rows by listing day, and what a chips-only radar did with them."""

    def __init__(self, rows: Sequence[dict[str, Any]]) -> None:
        self.rows = rows
        self.cats = [frozenset(r["categories"]) for r in rows]
        by_day: dict[str, list[int]] = defaultdict(list)
        for i, r in enumerate(rows):
            by_day[r["listing_date"]].append(i)
        self.by_day = dict(by_day)
        self.days = sorted(by_day)
        self.day_pos = {d: k for k, d in enumerate(self.days)}

    def listing(self, day: str, chips: frozenset[str]) -> list[int]:
        """The day's papers that any category chip matches (any listed category)."""
        return [i for i in self.by_day.get(day, ()) if chips & self.cats[i]]

    def chips_order(self, idx: Iterable[int], chips: frozenset[str]) -> list[int]:
        """Today's order for category matches: more matched chips, then newest id."""
        rows = self.rows
        by_id = sorted(idx, key=lambda i: rows[i]["id"], reverse=True)
        return sorted(by_id, key=lambda i: -len(chips & self.cats[i]))

    def newest_order(self, idx: Iterable[int]) -> list[int]:
        """Newest first: arXiv ids grow with submission time."""
        return sorted(idx, key=lambda i: self.rows[i]["id"], reverse=True)

    def history(
        self, day: str, chips: frozenset[str], wanted: set[int]
    ) -> tuple[list[int], list[int]]:
        """(shown and ignored, whole pool) over the listing days before ``day``."""
        k = self.day_pos[day]
        shown: list[int] = []
        pool: list[int] = []
        for d in self.days[max(0, k - HISTORY_DAYS) : k]:
            todays = self.listing(d, chips)
            pool.extend(todays)
            posted = self.chips_order(todays, chips)[:CARDS_PER_DAY]
            shown.extend(i for i in posted if i not in wanted)
        return shown, pool


def group_tasks(
    ix: Listings,
    *,
    start: str,
    min_joint: int = 5,
    per_pair: int = 2,
    limit: int = 400,
    like_counts: Sequence[int] = LIKE_COUNTS,
) -> list[Task]:
    """Research-group tasks (see the module docstring), at most ``limit``."""
    rows = ix.rows
    by_author: dict[str, list[int]] = defaultdict(list)
    pairs: Counter[tuple[str, str]] = Counter()
    for i, r in enumerate(rows):
        people = sorted(set(r["authors"]))
        for a in people:
            by_author[a].append(i)
        if len(people) <= 30:  # consortium papers say nothing about a group
            pairs.update(itertools.combinations(people, 2))
    tasks: list[Task] = []
    seen: set[tuple[str, frozenset[int]]] = set()
    cycle = itertools.cycle(like_counts)
    for (a, b), n in sorted(pairs.items()):
        if n < min_joint:
            continue
        joint = sorted(
            set(by_author[a]) & set(by_author[b]),
            key=lambda i: (rows[i]["listing_date"], rows[i]["id"]),
        )
        days = sorted({rows[i]["listing_date"] for i in joint if rows[i]["listing_date"] >= start})
        made = 0
        for day in days:
            if made >= per_pair:
                break
            before = [i for i in joint if rows[i]["listing_date"] < day]
            if not before:
                continue
            likes = before[-next(cycle) :]
            liked = set(likes)
            chips = frozenset(rows[i]["categories"][0] for i in likes)
            candidates = ix.listing(day, chips)
            relevant = frozenset(i for i in joint if rows[i]["listing_date"] == day) & set(
                candidates
            )
            key = (day, relevant)
            if not relevant or key in seen or len(candidates) < 20:
                continue
            seen.add(key)
            ignored, pool = ix.history(day, chips, set(joint))
            tasks.append(
                Task(
                    "group",
                    f"{a} + {b}",
                    day,
                    chips,
                    tuple(likes),
                    tuple(ignored),
                    tuple(i for i in pool if i not in liked),
                    tuple(candidates),
                    relevant,
                )
            )
            made += 1
    return _sample(tasks, limit)


def crosslist_tasks(
    ix: Listings,
    *,
    start: str,
    min_pair: int = 60,
    days_per_pair: int = 6,
    max_relevant: int = 10,
    limit: int = 400,
    like_counts: Sequence[int] = CROSSLIST_LIKE_COUNTS,
) -> list[Task]:
    """Cross-listing proxy tasks (see the module docstring), at most ``limit``."""
    rows = ix.rows
    members: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        primary = r["categories"][0]
        if primary in BROAD:
            for c in ix.cats[i] - BROAD:
                members[(primary, c)].append(i)
    tasks: list[Task] = []
    cycle = itertools.cycle(like_counts)
    for (broad, niche), in_niche in sorted(members.items()):
        if len(in_niche) < min_pair:
            continue
        chips = frozenset({broad})
        in_niche.sort(key=lambda i: (rows[i]["listing_date"], rows[i]["id"]))
        eligible = []
        for day in sorted({rows[i]["listing_date"] for i in in_niche}):
            if day < start:
                continue
            candidates = ix.listing(day, chips)
            relevant = frozenset(i for i in candidates if niche in ix.cats[i])
            if 1 <= len(relevant) <= max_relevant and len(candidates) >= 30:
                eligible.append((day, candidates, relevant))
        step = max(1, len(eligible) // days_per_pair)
        for day, candidates, relevant in eligible[::step][:days_per_pair]:
            before = [i for i in in_niche if rows[i]["listing_date"] < day]
            if not before:
                continue
            likes = before[-next(cycle) :]
            liked = set(likes)
            ignored, pool = ix.history(day, chips, set(in_niche))
            tasks.append(
                Task(
                    "crosslist",
                    f"{broad}>{niche}",
                    day,
                    chips,
                    tuple(likes),
                    tuple(ignored),
                    tuple(i for i in pool if i not in liked),
                    tuple(candidates),
                    relevant,
                )
            )
    return _sample(tasks, limit)


def _sample(tasks: list[Task], limit: int) -> list[Task]:
    if len(tasks) <= limit:
        return tasks
    picked = random.Random(12).sample(range(len(tasks)), limit)
    return [tasks[k] for k in sorted(picked)]
