"""The category part of every radar: one ordered list per category set, shared.

A category chip brings a whole category's new papers: on a day of 2,000
papers, several hundred per chip, two thirds of all (radar, paper) pairs of
a day's run. Yet those papers rank last (``bot.core.ranking``: tier 3, only
categories matched), and a digest posts ten cards. So the planner
(:mod:`bot.core.matching.topk`) never pairs a radar with its category papers
one by one. Radars with the same category chips and the same source and
exclusion limits share one :class:`CategoryTails` list: every paper those
chips put on such a radar, in the order a category-only match ranks
(more matched category chips first, then the tie-break rank), without the
papers the limits refuse. A radar's own category-only matches are that list
minus the papers its author and keyword chips already matched; the planner
reads from it only as far as a digest needs.

:meth:`CategoryTails.counts` gives any (radar, paper)'s matched category
chips: what the planner adds to an author or keyword match's packed value.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from bot.core.matching.arrays import ranges

__all__ = ["CategoryTails"]


class CategoryTails:
    """Radars' category chips, and the ordered tail of each distinct set of them.

    ``chips_hit`` / ``papers_hit``: the category chips' hits as (local chip id,
    paper rank) pairs (local ids ``0 .. n_chips - 1``); ``radar_ptr`` /
    ``radar_chips``: each radar's category chips' local ids, radar after radar
    (none for a radar the planner does not plan this way); ``limits``: per
    radar its limit combination (-1: none), and ``admit``, per combination,
    which paper ranks it admits.
    """

    def __init__(
        self,
        n_papers: int,
        n_chips: int,
        chips_hit: np.ndarray,
        papers_hit: np.ndarray,
        radar_ptr: np.ndarray,
        radar_chips: np.ndarray,
        limits: np.ndarray,
        admit: np.ndarray,
    ) -> None:
        self._n = n_papers
        # Paper rank x chip, with one more column that no paper is in: the
        # chip of a radar's k-th slot when it has fewer than k + 1 chips.
        self._in = np.zeros((n_papers, n_chips + 1), dtype=bool)
        self._in[papers_hit, chips_hit] = True
        self._ptr = radar_ptr.astype(np.int64)
        self._flat = radar_chips.astype(np.int64)
        self._sizes = sizes = np.diff(self._ptr)
        with_chips = np.flatnonzero(sizes)
        # Each radar's first chip (the extra column when it has none).
        self._first = np.full(len(sizes), n_chips, dtype=np.int64)
        self._first[with_chips] = self._flat[self._ptr[with_chips]]
        self._limits = limits
        self._admit = admit
        # Profiles: distinct (chip set, limits), found as the distinct rows of
        # a table with a radar's chips sorted (padded with ``n_chips``) and its
        # limits in the last column. Each radar's profile: -1 for none.
        width = int(sizes.max()) if len(sizes) else 0
        table = np.full((len(with_chips), width + 1), n_chips, dtype=np.int64)
        slot = np.arange(len(self._flat)) - np.repeat(self._ptr[:-1], sizes)
        table[np.repeat(np.arange(len(with_chips)), sizes[with_chips]), slot] = self._flat
        table[:, :width].sort(axis=1)
        table[:, width] = limits[with_chips]
        profiles, inverse = np.unique(table, axis=0, return_inverse=True)
        self._profile_of = np.full(len(sizes), -1, dtype=np.int64)
        self._profile_of[with_chips] = inverse.ravel()
        self._build(profiles, n_chips, chips_hit, papers_hit)

    def _build(
        self, profiles: np.ndarray, n_chips: int, chips_hit: np.ndarray, papers_hit: np.ndarray
    ) -> None:
        """Each profile's papers (admitted, with their count of its chips) in
        tail order: one sparse product, then one sort of packed integers.
        ``profiles``: a row each, its chips (padded with ``n_chips``), then its
        limits."""
        n = self._n
        chips, limited = profiles[:, :-1], profiles[:, -1]
        held = chips < n_chips
        sizes = held.sum(axis=1)
        holders = sp.csr_matrix(
            (
                np.ones(int(sizes.sum()), dtype=np.int32),
                chips[held].astype(np.int32),
                np.concatenate(([0], np.cumsum(sizes))),
            ),
            shape=(len(profiles), max(n_chips, 1)),
        )
        hits = sp.csr_matrix(
            (np.ones(len(chips_hit), dtype=np.int32), (chips_hit, papers_hit)),
            shape=(max(n_chips, 1), n),
        )
        tails = (holders @ hits).tocsr()
        rows = np.repeat(np.arange(len(profiles), dtype=np.int64), np.diff(tails.indptr))
        ranks = tails.indices.astype(np.int64)
        counts = tails.data.astype(np.int64)
        if (limited >= 0).any():
            ok = self.admitted_by(limited[rows], ranks)
            rows, ranks, counts = rows[ok], ranks[ok], counts[ok]
        # Tail order: profile, more chips first, then rank (one int64 each).
        rank_bits = max(1, n.bit_length())
        top = int(sizes.max()) if len(sizes) else 0
        count_bits = max(1, top.bit_length())
        assert len(profiles).bit_length() + count_bits + rank_bits <= 63, "too many radars"
        packed = (rows << (count_bits + rank_bits)) | ((top - counts) << rank_bits) | ranks
        packed.sort()
        # Kept narrow (6 bytes an entry): with a long window and many distinct
        # category sets, the tails hold as many entries as the radars' own
        # category matches would have. Ranks fit 31 bits, counts 8 (the planner
        # plans a radar of 256 chips of one kind the slow way).
        self.ranks = (packed & ((1 << rank_bits) - 1)).astype(np.int32)
        self.counts = (top - ((packed >> rank_bits) & ((1 << count_bits) - 1))).astype(np.int16)
        self.ptr = np.searchsorted(
            packed >> (count_bits + rank_bits), np.arange(len(profiles) + 1)
        ).astype(np.int64)

    # -- reading ---------------------------------------------------------------------

    def tail_of(self, radars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each radar's tail starts in :attr:`ranks` / :attr:`counts`, and
        its length (0 for a radar without category chips)."""
        if len(self.ptr) < 2:  # no radar has category chips
            return np.zeros(len(radars), dtype=np.int64), np.zeros(len(radars), dtype=np.int64)
        profile = self._profile_of[radars]
        has = profile >= 0
        at = np.where(has, profile, 0)
        starts = self.ptr[at]
        return starts, np.where(has, self.ptr[at + 1] - starts, 0)

    def counts_of(
        self, radars: np.ndarray, ranks: np.ndarray, grouped: np.ndarray | None = None
    ) -> np.ndarray:
        """How many of its radar's category chips match each paper rank (int32;
        admission not checked: a refused paper still has its count). The pairs
        are ``radars`` and ``ranks``; or, with ``grouped``, entries radar after
        radar, ``grouped[i]`` of them for ``radars[i]`` (a day's 1.2M entries:
        a radar's chip then reaches its entries by ``np.repeat``, a sequential
        pass). One lookup per chip slot: the first for every entry, the k-th
        only for the entries of radars with more than k chips (few)."""
        if grouped is None:
            grouped = np.ones(len(radars), dtype=np.int64)  # a group per pair
        flat = self._in.ravel()
        rows = ranks.astype(np.int64) * self._in.shape[1]
        out = flat.take(rows + np.repeat(self._first[radars], grouped)).astype(np.int32)
        sizes = self._sizes[radars]
        starts = np.cumsum(grouped) - grouped
        for k in range(1, int(sizes.max()) if len(sizes) else 0):
            some = np.flatnonzero(sizes > k)
            where = ranges(starts[some], grouped[some])
            chip = np.repeat(self._flat[self._ptr[radars[some]] + k], grouped[some])
            out[where] += flat.take(rows[where] + chip)
        return out

    def admitted(self, radars: np.ndarray, ranks: np.ndarray) -> np.ndarray:
        """Whether each radar's limits admit the paper at that rank (pairs)."""
        return self.admitted_by(self._limits[radars], ranks)

    def admitted_by(self, limits: np.ndarray, ranks: np.ndarray) -> np.ndarray:
        """Whether each limit combination (-1: none) admits the paper at that rank."""
        ok = limits < 0
        ok[~ok] = self._admit[limits[~ok], ranks[~ok]]
        return ok
