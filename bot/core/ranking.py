"""Deterministic ranking of a radar's matches.

The order a channel sees is a promise too: the same pool must give the same
cards in the same order on every run and every worker (digests are claimed
once, and a re-run after a crash must not reshuffle). So the order is a total
order on explicit fields, never a float sum, and never input order:

1. Tier: papers matched by an author chip first (the people a channel follows
   are why it exists), then papers matched by a keyword chip, then papers
   matched only by a category chip (the broad "whole category" firehose).
2. Within a tier, more matched author chips, then more matched keyword chips,
   then more keyword phrases found in the title, then more found in the
   abstract (a keyword in the title means the paper is *about* it), then more
   matched category chips.
3. Ties: newest ``published`` first, then ``paper.key`` ascending.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from operator import attrgetter

from bot.core.matching.radar import Match

#: The sort key implementing the documented order (smaller sorts first):
#: ``Match.order``, computed when a match is first ranked.
_ORDER = attrgetter("order")


def rank(matches: Sequence[Match]) -> list[Match]:
    """``matches`` in the documented order (a new list; the input is untouched)."""
    return sorted(matches, key=_ORDER)


def top(matches: Sequence[Match], n: int) -> list[Match]:
    """The first ``n`` of ``rank(matches)``, without sorting all of them: a digest
    needs ten cards out of what can be hundreds of category matches."""
    return heapq.nsmallest(n, matches, key=_ORDER)
