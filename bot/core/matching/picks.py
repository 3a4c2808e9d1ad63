"""The cards a daily plan picked, kept as arrays; their Matches built when asked.

A day's run picks about 100,000 cards for 10,000 digests, and delivery needs
only their papers: it labels each card from the channel's chips when it
posts (``Views.run_reply``). Building a :class:`Match` for every pick at plan
time (which of the radar's chips matched, its keyword hits) made 40,000
Matches and their chip tuples that outlived the plan, and the cyclic
collector walked them on each of its full passes during planning: building
them and walking them were a fifth of a plan's time (2026-12-03). So the
planner keeps each pick as (radar row, paper rank, packed value) in arrays
shared by all the digests of one call (:class:`PickedCards`), each digest
is a slice of them (:class:`Picks`), and :class:`MatchBuilder` makes the
Matches of the whole call at once the first time one digest's are asked
for (a test comparing with the brute-force matcher, a bench checking its
plans).
"""

from __future__ import annotations

from itertools import repeat
from operator import is_

import numpy as np
import scipy.sparse as sp

from bot.core.chips import Chip
from bot.core.matching.arrays import ranges
from bot.core.matching.radar import Match, make_matches
from bot.core.paper import Paper

__all__ = ["MatchBuilder", "PickedCards", "Picks"]


class MatchBuilder:
    """Makes a :class:`Match` per (radar row, paper rank, packed value): built
    once per (matched chips, paper) and shared by every radar that has it.

    What it holds is what that needs and no more (the chips' hits, each
    radar's chip ids, the packed fields' positions), so picks that outlive the
    planner keep about a megabyte alive on a day of 10,000 radars (90,000
    hits), not the planner's million entries and their tables."""

    def __init__(
        self,
        chips: list[Chip],
        watch_ptr: np.ndarray,
        watch_flat: np.ndarray,
        hits: sp.csr_matrix,
        ranked_papers: np.ndarray,
        title_at: int,
        abs_at: int,
        hits_mask: int,
    ) -> None:
        self._chips = chips
        self._watch_ptr = watch_ptr
        self._watch_flat = watch_flat
        self._hits = hits  # chips x paper ranks, > 0 where the chip matched
        self.ranked_papers = ranked_papers  # rank -> paper (object array)
        self._n = len(ranked_papers)
        self._title_at, self._abs_at, self._hits_mask = title_at, abs_at, hits_mask
        self._chip_sets: dict[tuple[int, ...], tuple[Chip, ...]] = {}  # three chips or more
        self._pair_sets: dict[int, tuple[Chip, ...]] = {}  # one or two, by pair code
        self._built: dict[int, Match] = {}  # by (first chip, second chip, paper rank)
        self._built_sets: dict[tuple[tuple[int, ...], int], Match] = {}

    def build(self, rows: np.ndarray, ranks: np.ndarray, values: np.ndarray) -> list[Match]:
        """A Match per (radar row, paper rank, packed value), in that order."""
        n, n_chips = self._n, len(self._chips)
        if not len(rows):
            return []
        lengths = self._watch_ptr[rows + 1] - self._watch_ptr[rows]
        pair_chip = self._watch_flat[ranges(self._watch_ptr[rows], lengths)]
        pair_entry = np.repeat(np.arange(len(rows), dtype=np.int64), lengths)
        hit = np.asarray(self._hits[pair_chip, ranks[pair_entry]]).ravel() != 0  # values > 0
        matched, owner = pair_chip[hit], pair_entry[hit]
        per_entry = np.bincount(owner, minlength=len(rows))
        starts = np.cumsum(per_entry) - per_entry
        # A Match is named by one integer: its (first, second) matched chips in
        # radar order and the paper's rank. Three chips or more (rare): by tuple.
        first = matched[starts[per_entry > 0]]
        second = np.full(len(rows), -1, dtype=np.int64)
        two = np.flatnonzero(per_entry >= 2)
        second[two] = matched[starts[two] + 1]
        named = per_entry <= 2
        if (n_chips + 1) ** 2 * max(n, 1) >= 1 << 62:  # a pool and chip set this large: by tuple
            named[:] = False
        name = np.full(len(rows), -1, dtype=np.int64)
        head = np.full(len(rows), -1, dtype=np.int64)
        head[per_entry > 0] = first
        name[named] = ((head[named] + 1) * (n_chips + 1) + second[named] + 1) * n + ranks[named]
        names, where, inverse = np.unique(name, return_index=True, return_inverse=True)
        # Every entry's keyword hits, decoded from its packed value at once.
        titles = (values >> self._title_at) & self._hits_mask
        abstracts = (values >> self._abs_at) & self._hits_mask
        # Named Matches not built before (by an earlier call: ``matches`` after
        # ``picks``) are built from arrays in one call: tens of thousands of
        # them (``make_matches``).
        named_at = np.flatnonzero(names >= 0)  # -1 (not named) sorts first: at most one
        codes = names[named_at].tolist()
        unique = np.empty(len(names), dtype=object)
        unique[named_at] = found = list(map(self._built.get, codes))
        absent = np.fromiter(map(is_, found, repeat(None)), dtype=bool, count=len(found))
        if absent.any():  # by identity: ``==`` would call Match.__eq__ on every one
            new = named_at[absent]
            pairs, new_ranks = np.divmod(names[new], n)
            distinct, chip_set = np.unique(pairs, return_inverse=True)
            one, other = np.divmod(distinct, n_chips + 1)
            # One tuple per distinct chip pair, kept across calls (Matches of
            # equal chips share it), with no method call each.
            chips, pair_sets = self._chips, self._pair_sets
            chip_sets = np.fromiter(
                (
                    pair_sets.get(code)
                    or pair_sets.setdefault(
                        code, (chips[a - 1],) if b == 0 else (chips[a - 1], chips[b - 1])
                    )
                    for code, a, b in zip(
                        distinct.tolist(), one.tolist(), other.tolist(), strict=True
                    )
                ),
                dtype=object,
                count=len(distinct),
            )
            built = make_matches(
                self.ranked_papers[new_ranks].tolist(),
                chip_sets[chip_set.ravel()].tolist(),
                titles[where[new]].tolist(),
                abstracts[where[new]].tolist(),
            )
            unique[new] = built
            self._built.update(zip(names[new].tolist(), built, strict=True))
        out: list[Match] = unique[inverse.ravel()].tolist()
        if not named.all():
            # Only these entries' chips as lists: a day has a thousand of them
            # among a hundred thousand, and the whole of ``matched`` as a list
            # cost more than all they need.
            unnamed = np.flatnonzero(~named)
            sizes = per_entry[unnamed]
            chips = matched[ranges(starts[unnamed], sizes)].tolist()
            bounds = np.concatenate(([0], np.cumsum(sizes))).tolist()
            for k, e in enumerate(unnamed.tolist()):
                cids = tuple(chips[bounds[k] : bounds[k + 1]])
                key = (cids, int(ranks[e]))
                match = self._built_sets.get(key)
                if match is None:  # once per (chips, rank): three matched chips or more
                    match = self._built_sets[key] = Match(
                        self.ranked_papers[key[1]],
                        self._chips_of(cids),
                        int(titles[e]),
                        int(abstracts[e]),
                    )
                out[e] = match
        return out

    def _chips_of(self, cids: tuple[int, ...]) -> tuple[Chip, ...]:
        """The chips ``cids``, one tuple per distinct ``cids`` (Matches of equal
        chips share it: fewer objects for the collector to walk)."""
        chips = self._chip_sets.get(cids)
        if chips is None:
            chips = self._chip_sets[cids] = tuple(map(self._chips.__getitem__, cids))
        return chips


class PickedCards:
    """The cards one planner call picked for all its digests, in card order,
    digest after digest: each as (radar row, paper rank, packed value)."""

    __slots__ = ("_builder", "_matches", "_ranks", "_rows", "_values")

    def __init__(
        self, builder: MatchBuilder, rows: np.ndarray, ranks: np.ndarray, values: np.ndarray
    ) -> None:
        self._builder = builder
        self._rows, self._ranks, self._values = rows, ranks, values
        self._matches: list[Match] | None = None

    def papers(self, start: int, stop: int) -> tuple[Paper, ...]:
        return tuple(self._builder.ranked_papers[self._ranks[start:stop]].tolist())

    def matches(self, start: int, stop: int) -> tuple[Match, ...]:
        if self._matches is None:  # all at once: one array pass, Matches shared across digests
            self._matches = self._builder.build(self._rows, self._ranks, self._values)
        return tuple(self._matches[start:stop])


class Picks:
    """One digest's cards: a slice of a :class:`PickedCards`."""

    __slots__ = ("_cards", "_start", "_stop")

    def __init__(self, cards: PickedCards, start: int, stop: int) -> None:
        self._cards, self._start, self._stop = cards, start, stop

    def __len__(self) -> int:
        return self._stop - self._start

    @property
    def papers(self) -> tuple[Paper, ...]:
        """The cards' papers, in card order (no Match is built)."""
        return self._cards.papers(self._start, self._stop)

    @property
    def matches(self) -> tuple[Match, ...]:
        """The cards' Matches, in card order, built on first asking."""
        return self._cards.matches(self._start, self._stop)
