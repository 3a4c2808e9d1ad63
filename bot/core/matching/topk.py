"""Every channel's digest (its first ``cap`` new matches) over one pool, without
building a :class:`Match` for every (channel, paper) pair.

A day's run puts a few hundred papers on each of thousands of radars (a
category chip alone brings hundreds), but each digest posts ten. So:

1. :meth:`RadarIndex.scan` finds, per distinct chip, the papers it matches
   (once per chip, whatever the number of channels holding it);
2. a radar's author and keyword matches are the union of those chips' rows:
   one sparse product ``radars x chips`` @ ``chips x papers`` whose values add
   up, per (radar, paper), the matched author and keyword chips and the
   keyword hits, packed into one integer whose order *is* the documented
   ranking order (:mod:`bot.core.ranking`) before its tie-breaks (the tier
   needs no field of its own: "any author chip" and "any keyword chip" are
   what the author and keyword counts say first); the radar's matched
   category chips are added as the lowest field;
3. category chips stay out of that product: they bring most of a day's
   pairs, and rank last. Radars with the same category chips and limits
   share one ordered tail (:mod:`bot.core.matching.tails`), read only as far
   as a digest with room left needs;
4. papers are numbered by the tie-breaks (newest first, then key), so one
   integer per entry sorts a radar's matches exactly as ``rank`` would;
5. source and exclusion chips remove entries, papers the channel has seen are
   skipped, and each radar keeps its first ``cap``;
6. those stay (radar row, paper rank, packed value) arrays
   (:mod:`bot.core.matching.picks`): a :class:`Match`, with the fields the
   reference matcher's ``make_match`` gives it, is built only when asked for,
   one object shared by every channel with the same chips matching the same
   paper.

A radar whose chips could overflow a packed field (hundreds of chips of one
kind) is planned the slow, exact way: ``Radar.match`` over its chips' papers.
Property tests hold every result equal to ranking each radar's brute-force
matches.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, pairwise, repeat
from typing import Generic, TypeVar

import numpy as np
import scipy.sparse as sp

from bot.core.chips import Chip, ChipKind
from bot.core.matching.arrays import ranges
from bot.core.matching.index import ChipScan, RadarIndex
from bot.core.matching.picks import MatchBuilder, PickedCards, Picks
from bot.core.matching.radar import Match, paper_ties, radar_of
from bot.core.matching.tails import CategoryTails
from bot.core.paper import Paper
from bot.core.ranking import top

__all__ = ["FIELD_BITS", "MakePick", "RadarPlanner", "Ranked"]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

#: Bits per packed field (author, keyword, category chips; title, abstract
#: hits): a radar with 256 or more chips (or phrases) of one kind is planned
#: the slow way.
FIELD_BITS = 8
_KIND = {ChipKind.AUTHOR: 0, ChipKind.KEYWORD: 1, ChipKind.CATEGORY: 2}


#: What :meth:`RadarPlanner.picks` makes of one radar's digest, given the
#: radar's key, its first ``cap`` unseen matches in ranking order (a
#: :class:`Picks`, or a tuple for a radar planned the slow way), how many
#: unseen matches it has, and how many in all. The caller's own object (a
#: digest plan), made once: an intermediate one per radar would be 10,000
#: more objects alive at once for the cyclic collector to count and walk.
MakePick = Callable[[K, Picks | tuple[Match, ...], int, int], T]


@dataclass(frozen=True)
class Ranked:
    """One radar's whole match list in ranking order, as pool positions (int64),
    and per entry whether an author chip matched it (a followed person's paper).
    Arrays, not lists: the daily run hands millions of entries straight to the
    ranker's array code, and a list of them would be walked by every full
    collection while the models are fitted."""

    papers: np.ndarray
    followed: np.ndarray


@dataclass(frozen=True)
class _Shown:
    """The shown papers on the radars being planned: per (local row, paper rank)
    pair, whether it is one of the row's entries (an author or keyword match),
    and the positions of those that are."""

    rows: np.ndarray
    ranks: np.ndarray
    found: np.ndarray
    entries: np.ndarray


class RadarPlanner(Generic[K]):
    """Every radar of ``radars`` over ``papers`` (the pool), planned at once."""

    def __init__(self, radars: Mapping[K, Sequence[Chip]], papers: Sequence[Paper]) -> None:
        self.radars = radars
        self.papers = list(papers)
        index = self.index = RadarIndex.build(radars)
        self._row = {key: r for r, key in enumerate(index.keys)}
        n = self._n = len(self.papers)
        # Papers numbered by the ranking's tie-breaks (``Match.order``'s last two
        # fields: newest first, then key; equal ones keep pool order, as the
        # stable sort in ``rank`` leaves them).
        ties = [paper_ties(p) for p in self.papers]
        by_rank = sorted(range(n), key=ties.__getitem__)
        self._at = np.asarray(by_rank, dtype=np.int64)
        # rank -> paper (an object array: Matches take their papers by fancy index)
        self._ranked_papers = np.empty(n, dtype=object)
        self._ranked_papers[:] = [self.papers[i] for i in by_rank]
        rank_of = np.empty(n, dtype=np.int64)  # pool position -> tie-break rank
        rank_of[self._at] = np.arange(n, dtype=np.int64)
        # Paper key -> rank of its (first) paper, and of any other paper with
        # that key (a pool may repeat a key; a store's never does).
        self._rank_of_key: dict[str, int] = {}
        self._more_ranks: dict[str, list[int]] = {}
        for p, r in zip(self.papers, rank_of.tolist(), strict=True):
            if self._rank_of_key.setdefault(p.key, r) != r:
                self._more_ranks.setdefault(p.key, []).append(r)

        n_radars, n_chips = len(index), len(index.chips)
        self._watch_ptr = np.zeros(n_radars + 1, dtype=np.int64)
        self._watch_ptr[1:] = index.watch_ends
        self._watch_flat = np.asarray(index.watch_ids, dtype=np.int64)
        lengths = np.diff(self._watch_ptr)
        owner = np.repeat(np.arange(n_radars, dtype=np.int64), lengths)
        kind = np.fromiter((_KIND[k] for k in index.chip_kinds), dtype=np.int64, count=n_chips)
        phrases = np.fromiter(
            (index.query_phrases(q) if q >= 0 else 0 for q in index.chip_queries),
            dtype=np.int64,
            count=n_chips,
        )
        # Per radar: author, keyword, category chips; keyword phrases (the most
        # title or abstract hits it can have).
        counts = np.zeros((n_radars, 4), dtype=np.int64)
        np.add.at(counts, (owner, kind[self._watch_flat]), 1)
        np.add.at(counts[:, 3], owner, phrases[self._watch_flat])
        fast = ~(counts >= (1 << FIELD_BITS)).any(axis=1)
        self._slow = frozenset(np.flatnonzero(~fast).tolist())

        # Field widths, least significant first: categories, abstract hits,
        # title hits, keywords, authors.
        most = counts[fast].max(axis=0) if fast.any() else np.zeros(4, dtype=np.int64)
        widths = [int(most[i]).bit_length() for i in (2, 3, 3, 1, 0)]
        offsets = np.concatenate(([0], np.cumsum(widths)[:-1])).astype(np.int64).tolist()
        _, self._abs_at, self._title_at, _, self._author_at = offsets
        self._value_bits = sum(widths)
        self._hits_mask = (1 << widths[1]) - 1
        unit = np.array([1 << offsets[4], 1 << offsets[3], 1 << offsets[0]], dtype=np.int64)

        scan = index.scan(self.papers)
        # Packed values fit 32 bits unless a radar has dozens of chips of every kind.
        vtype = np.int32 if self._value_bits < 31 else np.int64
        value = (
            unit[kind[scan.chip]]
            + (scan.title_hits.astype(np.int64) << self._title_at)
            + (scan.abstract_hits.astype(np.int64) << self._abs_at)
        ).astype(vtype)
        ranks = rank_of[scan.paper]
        chips = sp.csr_matrix((value, (scan.chip, ranks)), shape=(n_chips, n))
        chips.sort_indices()
        # Which chips of a radar matched a paper is a lookup here (only for the
        # papers a digest posts): a binary search within the chip's row.
        self._hits = chips
        self._rank_of = rank_of
        limits, admit = self._limits(scan)

        # Category chips stay out of the product: their papers are shared tails.
        is_category = kind == _KIND[ChipKind.CATEGORY]
        local = np.cumsum(is_category) - 1  # category chip id -> its column in the tails
        on_category = is_category[self._watch_flat] & fast[owner]
        hit_category = is_category[scan.chip]
        self._tails = CategoryTails(
            n,
            int(is_category.sum()),
            local[scan.chip[hit_category]],
            ranks[hit_category],
            np.concatenate(([0], np.cumsum(np.bincount(owner[on_category], minlength=n_radars)))),
            local[self._watch_flat[on_category]],
            limits,
            admit,
        )
        # Radars x author and keyword chips (0/1; the slow radars' rows are
        # zeros: nothing of theirs comes out of the product).
        held = ~is_category[self._watch_flat]
        holders = sp.csr_matrix(
            (
                fast[owner[held]].astype(vtype),
                self._watch_flat[held].astype(np.int32),
                np.concatenate(([0], np.cumsum(np.bincount(owner[held], minlength=n_radars)))),
            ),
            shape=(n_radars, n_chips),
        )
        by_paper = sp.csr_matrix(
            (value[~hit_category], (ranks[~hit_category], scan.chip[~hit_category])),
            shape=(n, n_chips),
        )
        # Radars x papers, each row's papers in rank order: computed as the
        # transpose's product, whose CSC form has every column's rows sorted by
        # construction (a linear pass), instead of sorting the product's
        # entries row by row (three times the cost).
        on = (by_paper @ holders.T.tocsr()).tocsc()
        per_radar = np.diff(on.indptr)
        cols, values = on.indices.astype(np.int32, copy=False), on.data
        indptr = on.indptr
        del on, holders, by_paper  # the arrays live on in ``cols`` and ``values``
        dropped = self._refused(indptr, per_radar, cols, limits, admit)
        if len(dropped):
            keep = np.ones(len(cols), dtype=bool)
            keep[dropped] = False
            dropped_rows = np.searchsorted(indptr, dropped, side="right") - 1
            per_radar = per_radar - np.bincount(dropped_rows, minlength=n_radars)
            cols, values = cols[keep], values[keep]
        # Each entry's category chips, added to its packed value (their field is
        # the lowest); and per radar, how many of its entries are in its tail.
        in_tail = self._tails.counts_of(np.arange(n_radars), cols, grouped=per_radar)
        values = values + in_tail.astype(values.dtype)
        rows = np.repeat(np.arange(n_radars, dtype=np.int32), per_radar)
        self._overlap = np.bincount(rows[in_tail > 0], minlength=n_radars)
        del in_tail, rows
        # The entries: (paper rank, packed value), row after row (a radar's
        # entries at ``_ptr[row]:_ptr[row + 1]``), each row's sorted by rank.
        self._cols, self._values = cols, values
        self._ptr = np.concatenate(([0], np.cumsum(per_radar))).astype(np.int64)
        # Each entry's class: the rank of its packed value among the distinct
        # values (0 = best), and each radar's count of entries per class. A
        # digest's first ``cap`` are then found without sorting every entry.
        self._classes, n_classes = _classes(values, self._value_bits)
        # Counted as a CSR matrix whose columns are the classes, made dense: one
        # pass in C, with no row number per entry to build.
        self._histogram = sp.csr_matrix(
            (np.ones(len(values), dtype=np.int32), self._classes, self._ptr),
            shape=(n_radars, n_classes),
        ).toarray()
        self._builder = MatchBuilder(
            index.chips,
            self._watch_ptr,
            self._watch_flat,
            chips,
            self._ranked_papers,
            self._title_at,
            self._abs_at,
            self._hits_mask,
        )

    def _limits(self, scan: ChipScan) -> tuple[np.ndarray, np.ndarray]:
        """Each radar's combination of source and exclusion chips (-1: none) and,
        per combination, which paper ranks it admits (bool, combinations x papers)."""
        index, n = self.index, self._n
        combos: dict[tuple[frozenset[str] | None, tuple[int, ...]], int] = {}
        combo_of = np.full(len(index), -1, dtype=np.int64)
        for r, limits in enumerate(zip(index.radar_sources, index.radar_exclusions, strict=True)):
            if limits[0] is not None or limits[1]:
                combo_of[r] = combos.setdefault(limits, len(combos))
        admit = np.ones((len(combos), n), dtype=bool)
        for (sources, exclusions), c in combos.items():
            ok = np.ones(n, dtype=bool)
            if sources is not None:
                ok[:] = [not sources.isdisjoint(s) for s in scan.sources]
            if exclusions:
                ok[scan.excluded_paper[np.isin(scan.excluded, exclusions)]] = False
            admit[c, self._rank_of] = ok
        return combo_of, admit

    def _refused(
        self,
        indptr: np.ndarray,
        counts: np.ndarray,
        cols: np.ndarray,
        limits: np.ndarray,
        admit: np.ndarray,
    ) -> np.ndarray:
        """Positions of the entries that the radars' source and exclusion chips
        keep out (only radars with such chips are looked at)."""
        limited = np.flatnonzero(limits >= 0)
        if not len(limited):
            return np.zeros(0, dtype=np.int64)
        entries = ranges(indptr[limited].astype(np.int64), counts[limited])
        ok = admit[np.repeat(limits[limited], counts[limited]), cols[entries]]
        return entries[~ok]

    # -- digests ---------------------------------------------------------------------

    def picks(
        self,
        seen: Mapping[K, Collection[str]],
        caps: Mapping[K, int],
        default_cap: int,
        make: MakePick[K, T],
        keys: Collection[K] | None = None,
    ) -> dict[K, T]:
        """Each radar's digest (every radar's, or those of ``keys``), as ``make``
        makes it: its first ``cap`` matches whose paper key is not in ``seen``
        (what the channel was shown), in ranking order. ``caps`` by radar, else
        ``default_cap``."""
        wanted = list(self.index.keys) if keys is None else [k for k in keys if k in self._row]
        out: dict[K, T] = {}
        fast: list[K] = []
        for key in wanted:
            if self._row[key] in self._slow:
                cap = caps.get(key, default_cap)
                out[key] = make(key, *self._slow_pick(key, seen.get(key, ()), cap))
            else:
                fast.append(key)
        if fast:
            out.update(self._fast_picks(fast, seen, caps, default_cap, make))
        return {k: out[k] for k in wanted}

    def _fast_picks(
        self,
        keys: list[K],
        seen: Mapping[K, Collection[str]],
        caps: Mapping[K, int],
        default_cap: int,
        make: MakePick[K, T],
    ) -> dict[K, T]:
        rows = np.asarray([self._row[k] for k in keys], dtype=np.int64)
        if len(rows) == len(self.index) and bool((rows == np.arange(len(rows))).all()):
            # The usual run, every radar: no gathering.
            entries: np.ndarray | None = None
            counts = np.diff(self._ptr)
            cols, classes = self._cols, self._classes
        else:
            entries, counts = self._entries_of(rows)
            cols, classes = self._cols[entries], self._classes[entries]
        # Entries are grouped row after row, so a per-row value reaches each of
        # its row's entries by ``np.repeat`` (a sequential pass), not by indexing
        # with a row number per entry (millions of scattered reads).
        starts = np.cumsum(counts) - counts
        shown = self._shown(keys, seen, starts, counts, cols)
        n_seen = np.bincount(shown.rows[shown.found], minlength=len(rows))
        cap = np.fromiter((caps.get(k, default_cap) for k in keys), dtype=np.int64, count=len(keys))
        cap = np.maximum(cap, 0)  # a cap of 0 or less takes none, as ``top`` does
        # Candidates: each row's first (cap + its shown entries) in class order
        # (the first ``cap`` unseen ones are among them): every entry of the
        # classes before the one where that count is reached, and of that
        # class the first few, which are the earliest in paper rank.
        need = cap + n_seen
        within = np.cumsum(self._histogram[rows], axis=1)
        cut = (within < need[:, None]).sum(axis=1)
        before = np.where(cut > 0, within[np.arange(len(rows)), np.maximum(cut - 1, 0)], 0)
        cut_at = np.repeat(cut.astype(classes.dtype), counts)
        at_cut = classes == cut_at
        order_at_cut = np.cumsum(at_cut, dtype=np.int32 if len(at_cut) < 1 << 31 else np.int64)
        limit = np.concatenate(([0], order_at_cut))[starts] + need - before
        take = (classes < cut_at) | (
            at_cut & (order_at_cut <= np.repeat(limit.astype(order_at_cut.dtype), counts))
        )
        del cut_at, at_cut, order_at_cut
        take[shown.entries] = False
        picked = np.flatnonzero(take)
        del take
        where = picked if entries is None else entries[picked]
        p_local, p_cols, p_values = self._sort(
            np.searchsorted(starts + counts, picked, side="right"),
            self._cols[where].astype(np.int64),
            self._values[where].astype(np.int64),
        )
        n_picked = np.bincount(p_local, minlength=len(rows))
        position = np.arange(len(p_local)) - (np.cumsum(n_picked) - n_picked)[p_local]
        chosen = position < cap[p_local]
        p_local, p_cols, p_values = p_local[chosen], p_cols[chosen], p_values[chosen]
        # Digests with room left take their first unseen category-only matches.
        t_local, t_ranks, t_values, tail_size, tail_seen = self._tail_picks(
            rows, starts, counts, cols, cap, n_seen, shown
        )
        if len(t_local):  # after each radar's other cards: stable by radar
            local = np.concatenate((p_local, t_local))
            order = np.argsort(local, kind="stable")
            p_local = local[order]
            p_cols = np.concatenate((p_cols, t_ranks))[order]
            p_values = np.concatenate((p_values, t_values))[order]
        # No Match is built here: the picks stay arrays (see ``picks``).
        picked = PickedCards(self._builder, rows[p_local], p_cols, p_values)
        bounds = np.searchsorted(p_local, np.arange(len(rows) + 1)).tolist()
        fresh = (counts + tail_size - n_seen - tail_seen).tolist()
        total = (counts + tail_size).tolist()
        digests = map(Picks, repeat(picked), bounds, bounds[1:])
        return dict(zip(keys, map(make, keys, digests, fresh, total), strict=True))

    def _tail_picks(
        self,
        rows: np.ndarray,
        starts: np.ndarray,
        counts: np.ndarray,
        cols: np.ndarray,
        cap: np.ndarray,
        n_seen: np.ndarray,
        shown: _Shown,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The category-only cards of the digests of ``rows`` (their entries at
        ``starts``/``counts`` in ``cols``) that have room after their other
        matches: (local row, paper rank, packed value) in card order, and per
        row its category-only matches and how many of them it was shown.

        A radar's category-only matches are its tail minus its own entries; its
        first unseen ones are among the tail's first (room + entries in the
        tail + shown ones in the tail), so only that far is read."""
        tails, n = self._tails, self._n
        t_start, t_len = tails.tail_of(rows)
        overlap = self._overlap[rows]
        size = t_len - overlap
        # Shown papers that are not among a radar's entries, but in its tail.
        elsewhere = ~shown.found
        s_local, s_ranks = shown.rows[elsewhere], shown.ranks[elsewhere]
        s_radars = rows[s_local]
        in_tail = (tails.counts_of(s_radars, s_ranks) > 0) & tails.admitted(s_radars, s_ranks)
        s_local, s_ranks = s_local[in_tail], s_ranks[in_tail]
        tail_seen = np.bincount(s_local, minlength=len(rows))
        room = np.minimum(np.maximum(cap - (counts - n_seen), 0), size - tail_seen)
        filled = np.flatnonzero(room > 0)
        nothing = np.zeros(0, dtype=np.int64)
        if not len(filled):
            return nothing, nothing, nothing, size, tail_seen
        read = np.minimum(t_len[filled], room[filled] + overlap[filled] + tail_seen[filled])
        where = ranges(t_start[filled], read)
        c_at = np.repeat(np.arange(len(filled), dtype=np.int64), read)  # position in ``filled``
        c_ranks = tails.ranks[where]
        c_codes = c_at * n + c_ranks
        # Not one of the radar's own entries (those rank higher)...
        own = ranges(starts[filled], counts[filled])
        own_codes = np.repeat(np.arange(len(filled), dtype=np.int64), counts[filled]) * n
        keep = ~_find_sorted(c_codes, own_codes + cols[own])[0]
        # ... and not shown before.
        hit, at = _find_sorted(s_local, filled)
        keep &= ~_find_sorted(c_codes, np.unique(at[hit] * n + s_ranks[hit]))[0]
        c_at, c_ranks, c_values = c_at[keep], c_ranks[keep], tails.counts[where][keep]
        per = np.bincount(c_at, minlength=len(filled))
        position = np.arange(len(c_at)) - (np.cumsum(per) - per)[c_at]
        chosen = position < room[filled][c_at]
        return filled[c_at[chosen]], c_ranks[chosen], c_values[chosen], size, tail_seen

    def ranked(self, keys: Collection[K]) -> dict[K, Ranked]:
        """The whole match list of each radar of ``keys``, in ranking order."""
        out: dict[K, Ranked] = {}
        fast = [k for k in keys if k in self._row and self._row[k] not in self._slow]
        for key in keys:
            if key in self._row and self._row[key] in self._slow:
                found = self._slow_matches(key)
                out[key] = Ranked(
                    np.fromiter((p for p, _ in found), np.int64, len(found)),
                    np.fromiter((m.author_count > 0 for _, m in found), bool, len(found)),
                )
        if fast:
            rows = np.asarray([self._row[k] for k in fast], dtype=np.int64)
            entries, counts = self._entries_of(rows)
            local = np.repeat(np.arange(len(rows), dtype=np.int64), counts)
            cols, values = self._cols[entries].astype(np.int64), self._values[entries]
            # Then each row's tail, but for the row's own entries (ranked above).
            t_start, t_len = self._tails.tail_of(rows)
            t_local = np.repeat(np.arange(len(rows), dtype=np.int64), t_len)
            t_ranks = self._tails.ranks[ranges(t_start, t_len)]
            alone = ~_find_sorted(t_local * self._n + t_ranks, local * self._n + cols)[0]
            t_local, t_ranks = t_local[alone], t_ranks[alone]
            local, cols, values = self._sort(local, cols, values.astype(np.int64))
            local = np.concatenate((local, t_local))
            order = np.argsort(local, kind="stable")
            papers = self._at[np.concatenate((cols, t_ranks))[order]].astype(np.int64, copy=False)
            followed = np.concatenate(
                (values >= (1 << self._author_at), np.zeros(len(t_ranks), dtype=bool))
            )[order]
            counts = np.bincount(local, minlength=len(rows))
            bounds = np.concatenate(([0], np.cumsum(counts))).tolist()
            for i, key in enumerate(fast):
                out[key] = Ranked(
                    papers[bounds[i] : bounds[i + 1]], followed[bounds[i] : bounds[i + 1]]
                )
        return {k: out[k] for k in keys if k in out}

    def matches(self, wanted: Mapping[K, Sequence[int]]) -> dict[K, list[Match]]:
        """For each radar of ``wanted``, its :class:`Match` for each paper at the
        given pool positions (papers on the radar, e.g. from :meth:`ranked`)."""
        out: dict[K, list[Match]] = {}
        rows: list[int] = []
        positions: list[int] = []
        fast: list[K] = []
        for key, where in wanted.items():
            row = self._row[key]
            if row in self._slow:
                compiled = radar_of(tuple(self.radars[key]))
                found = [compiled.match(self.papers[p]) for p in where]
                assert all(m is not None for m in found), "a paper not on the radar"
                out[key] = found  # type: ignore[assignment]
            else:
                fast.append(key)
                rows.extend([row] * len(where))
                positions.extend(where)
        if fast:
            row_arr = np.asarray(rows, dtype=np.int64)
            ranks = self._rank_of[np.asarray(positions, dtype=np.int64)]
            codes = self._codes_of(row_arr, ranks)
            entry_codes = self._codes()
            own, at = _find_sorted(codes, entry_codes)
            values = np.empty(len(codes), dtype=np.int64)
            values[own] = self._values[at[own]]
            # The others are category-only matches: their value is their count.
            tail_rows, tail_ranks = row_arr[~own], ranks[~own]
            values[~own] = self._tails.counts_of(tail_rows, tail_ranks)
            assert bool((values > 0).all()), "a paper not on the radar"
            assert bool(self._tails.admitted(tail_rows, tail_ranks).all()), "a refused paper"
            found = self._builder.build(row_arr, ranks, values)
            start = 0
            for key in fast:
                end = start + len(wanted[key])
                out[key] = found[start:end]
                start = end
        return {k: out[k] for k in wanted}

    # -- the parts ---------------------------------------------------------------------

    def _entry_rows(self) -> np.ndarray:
        """Each entry's radar row (int32; made when needed, not kept: 4 bytes an entry)."""
        return np.repeat(np.arange(len(self._ptr) - 1, dtype=np.int32), np.diff(self._ptr))

    def _codes(self) -> np.ndarray:
        """Every entry as one sorted integer, radar row x papers + paper rank."""
        return self._codes_of(self._entry_rows(), self._cols)

    def _codes_of(self, rows: np.ndarray, ranks: np.ndarray) -> np.ndarray:
        """(row, rank) pairs as the integers ``row x papers + rank``: int32 when
        they fit (half the memory traffic of searching millions of them)."""
        n = self._n
        wide = len(self._ptr) * n >= 1 << 31
        dtype = np.int64 if wide else np.int32
        return rows.astype(dtype, copy=False) * dtype(n) + ranks.astype(dtype, copy=False)

    def _entries_of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of ``rows``' entries (row after row, each in paper-rank
        order) and each row's number of entries."""
        starts, counts = self._ptr[rows], self._ptr[rows + 1] - self._ptr[rows]
        return ranges(starts, counts), counts

    def _shown(
        self,
        keys: Sequence[K],
        seen: Mapping[K, Collection[str]],
        starts: np.ndarray,
        counts: np.ndarray,
        cols: np.ndarray,
    ) -> _Shown:
        """Each (row, rank) of a paper a channel was shown, and whether it is one
        of the row's entries (and which): rows ``keys``' entries lie at
        ``starts``/``counts``, each in paper-rank order (``cols``). Only the rows
        with shown papers are searched, each shown paper one binary search."""
        n = self._n
        shown = [seen.get(key, ()) for key in keys]
        # Each shown key's rank in C (``map``; -1: not in the pool): a day's
        # run looks up about 100,000 of them.
        flat = list(chain.from_iterable(shown))
        ranks = np.fromiter(map(self._rank_of_key.get, flat, repeat(-1)), np.int64, len(flat))
        per_row = np.fromiter(map(len, shown), np.int64, len(shown))
        rows = np.repeat(np.arange(len(shown), dtype=np.int64), per_row)
        found = ranks >= 0
        rows, ranks = rows[found], ranks[found]
        if self._more_ranks:
            more = [
                (i, g)
                for i, keys_shown in enumerate(shown)
                for paper_key in keys_shown
                for g in self._more_ranks.get(paper_key, ())
            ]
            extra = np.asarray(more, dtype=np.int64).reshape(-1, 2)
            rows, ranks = np.concatenate((rows, extra[:, 0])), np.concatenate((ranks, extra[:, 1]))
        if not len(rows):
            nothing = np.zeros(0, dtype=np.int64)
            return _Shown(nothing, nothing, np.zeros(0, dtype=bool), nothing)
        # The searched rows' entries, renumbered 0.. so that (row, rank) codes
        # stay small and sorted.
        searched = np.flatnonzero(np.bincount(rows, minlength=len(shown)))
        where = ranges(starts[searched], counts[searched])
        code_rows = np.repeat(np.arange(len(searched), dtype=np.int64), counts[searched])
        entry_codes = self._codes_of(code_rows, cols[where])
        wanted = (np.searchsorted(searched, rows) * n + ranks).astype(entry_codes.dtype)
        ok, at = _find_sorted(wanted, entry_codes)
        return _Shown(rows, ranks, ok, where[at[ok]])

    def _sort(
        self, local: np.ndarray, cols: np.ndarray, values: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The entries sorted by (row, ranking order): one integer per entry,
        row | inverted packed value | paper rank, sorted (in blocks of rows when
        the row number would not fit the 63 bits)."""
        rank_bits = max(1, self._n.bit_length())
        shift = self._value_bits + rank_bits
        top_value = (1 << self._value_bits) - 1
        room = 63 - shift
        assert room > 0, "pool too large to rank in 63 bits"
        if not len(local):
            return local, cols, values
        last = int(local[-1])
        firsts = np.append(np.arange(0, last + 1, 1 << room), last + 1)
        bounds = np.searchsorted(local, firsts).tolist()
        out_l, out_c, out_v = [], [], []
        for lo, hi in pairwise(bounds):
            part = local[lo:hi]
            base = int(part[0]) if len(part) else 0
            packed = (
                ((part - base) << shift) | ((top_value - values[lo:hi]) << rank_bits) | cols[lo:hi]
            )
            packed.sort()
            out_l.append((packed >> shift) + base)
            out_c.append(packed & ((1 << rank_bits) - 1))
            out_v.append(top_value - ((packed >> rank_bits) & top_value))
        return np.concatenate(out_l), np.concatenate(out_c), np.concatenate(out_v)

    def _slow_matches(self, key: K) -> list[tuple[int, Match]]:
        """The radar's ranked matches (with their pool positions), the reference
        way: ``Radar.match`` over its chips' papers, then ``rank``'s order."""
        radar = radar_of(tuple(self.radars[key]))
        hits = self._hits
        ranks: set[int] = set()
        for cid in self.index.radar_watches(self._row[key]):
            ranks.update(hits.indices[hits.indptr[cid] : hits.indptr[cid + 1]].tolist())
        found = ((p, radar.match(self.papers[p])) for p in sorted(self._at[list(ranks)].tolist()))
        return sorted(((p, m) for p, m in found if m is not None), key=lambda pm: pm[1].order)

    def _slow_pick(
        self, key: K, seen: Collection[str], cap: int
    ) -> tuple[tuple[Match, ...], int, int]:
        found = [m for _, m in self._slow_matches(key)]
        fresh = [m for m in found if m.paper.key not in seen]
        return tuple(top(fresh, cap)), len(fresh), len(found)


def _classes(values: np.ndarray, bits: int) -> tuple[np.ndarray, int]:
    """Each value's class (its rank among the distinct values, largest first,
    int32) and the number of classes (at least one, so that a radar's class
    counts are never an empty row). A lookup table when the values are small
    (they are: a few bits per field), else ``np.unique``."""
    if bits <= 22:
        present = np.zeros(1 << bits, dtype=bool)
        present[values] = True
        distinct = np.flatnonzero(present)[::-1]
        rank = np.zeros(1 << bits, dtype=np.int32)
        rank[distinct] = np.arange(len(distinct), dtype=np.int32)
        return rank[values], max(1, len(distinct))
    distinct, inverse = np.unique(-values, return_inverse=True)
    return inverse.astype(np.int32), max(1, len(distinct))


def _find_sorted(values: np.ndarray, ascending: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each of ``values`` is in ``ascending``, and where (the position
    is meaningful only where found): one binary search each."""
    at = np.searchsorted(ascending, values)
    found = at < len(ascending)
    found[found] = ascending[at[found]] == values[found]
    return found, at
