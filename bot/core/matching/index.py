"""The indexed matcher: every channel's radar over a day's papers in one pass.

The daily digest runs every channel's radar over the same harvest. Checking
each (radar, paper) pair costs channels x papers; :class:`RadarIndex` compiles
every distinct chip once and files author chips under the keys a byline
would look them up by, so the work per paper is a handful of dictionary
lookups per author and category, whatever the number of channels; keyword
queries are decided for the whole pool at once (:class:`QueryTable`).

:meth:`RadarIndex.scan` gives, per distinct chip, the papers it matches (and
per exclusion query, the papers it hits). That is all the top-k planner
(:mod:`bot.core.matching.topk`) needs: it combines chips into radars with
array operations and builds a :class:`~bot.core.matching.radar.Match` only
for the cards a digest posts. What the planner makes of a scan equals
:func:`bot.core.matching.radar.match_paper` for every (radar, paper) pair:
property tests hold it to that.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Generic, TypeVar

import numpy as np

from bot.core.chips import Chip, ChipKind
from bot.core.matching.filters import category_lookups
from bot.core.matching.keywords import KeywordQuery
from bot.core.matching.querytable import QueryTable
from bot.core.matching.radar import (
    Evidence,
    compile_chip,
    name_match_confirmed,
)
from bot.core.names import AuthorName, Reading, author_matches, parse_name
from bot.core.paper import Paper, author_ids, sources_of

__all__ = ["ChipScan", "RadarIndex"]

K = TypeVar("K", bound=Hashable)

#: A chip's fields, the ones its equality compares: ``Chip.__eq__`` and
#: ``__hash__`` are Python methods, and the index looks up every chip of every
#: radar (30,000 a day); a tuple built and hashed in C says the same.
_chip_fields = attrgetter(*(f.name for f in fields(Chip) if f.compare))

#: What a distinct chip is to a radar (see ``RadarIndex._compile``).
_NOTHING, _WATCH, _SOURCE, _EXCLUDE = range(4)


def _initials(reading: Reading) -> frozenset[str]:
    """The first letters a reading's given names can agree on: ``""`` for a
    reading without given names.

    Two readings can only match (``author_matches``) when they share a surname
    key and either the chip side has no given name, or the first given names
    agree (same full name, or initials consistent with it: same first letter)
    or the joined given names agree; every one of those shares a first letter
    from this set. So filing a chip under (surname key, letter) and looking a
    byline up under its own letters and ``""`` misses no match, and spares
    comparing "Yehui Tang" with every other Tang.
    """
    if not reading.given:
        return frozenset({""})
    first = reading.given[0]
    letters = {k[0] for k in first.keys}
    for keys in (first.parts[0].keys, reading.given_concat):
        if keys is not first.keys:  # one set for all three when the name is one full word
            letters.update(k[0] for k in keys)
    return frozenset(letters)


def _filing_keys(name: AuthorName) -> set[tuple[str, str]]:
    """(surname key, initial) keys a chip name is filed under."""
    out: set[tuple[str, str]] = set()
    for r in name.readings:
        letters = _initials(r)
        for s in r.surname:
            for i in letters:
                out.add((s, i))
    return out


def _lookup_keys(name: AuthorName) -> set[tuple[str, str]]:
    """(surname key, initial) keys a byline looks chips up under.

    Plain loops (no generators or set unions): this runs for every distinct
    byline of a harvest, and nearly all of them have one or two keys per reading.
    """
    out: set[tuple[str, str]] = set()
    for r in name.readings:
        letters = _initials(r)
        for s in r.surname:
            out.add((s, ""))
            for i in letters:
                out.add((s, i))
    return out


@dataclass(frozen=True)
class ChipScan:
    """What :meth:`RadarIndex.scan` found: parallel int32 arrays, one entry per hit.

    ``chip``/``paper``: a distinct chip id (``RadarIndex.chips``) matched the
    paper at that position of the scanned list; ``title_hits``/``abstract_hits``
    are its keyword hits (0 for other kinds). ``excluded``/``excluded_paper``:
    an exclusion query id (``RadarIndex.radar_exclusions``) hit that paper.
    """

    chip: np.ndarray
    paper: np.ndarray
    title_hits: np.ndarray
    abstract_hits: np.ndarray
    excluded: np.ndarray
    excluded_paper: np.ndarray
    sources: list[frozenset[str]]  # per paper: the sources that reported it


class RadarIndex(Generic[K]):
    """Every channel's radar, indexed so one pass over the papers serves them all.

    Author chips are filed under their (surname key, initial), category chips
    under their category, keyword chips (and exclusions) become queries of one
    :class:`QueryTable`. Per paper, the scan looks up each byline's keys and
    each category (with its dotted prefixes), then verifies only the
    candidates it found. A chip is compiled once however many channels hold
    it, and equal chips in different channels are one entry: verified once
    per paper.
    """

    def __init__(self) -> None:
        self._keys: list[K] = []
        # Per radar: its distinct watch chips (cids) in the radar's order (all
        # radars' in one flat list; radar r's end at ``_watch_ends[r]``), the
        # sources it accepts (None = all) and its exclusion query ids.
        self._watch_ids: list[int] = []
        self._watch_ends: list[int] = []
        self._sources: list[frozenset[str] | None] = []
        self._exclusions: list[tuple[int, ...]] = []
        # Distinct watch chips (cid): the chip, its kind, its query id (or -1)
        # and the evidence confirming an identity chip's name matches.
        self._chips: list[Chip] = []
        self._chip_kind: list[ChipKind] = []
        self._chip_query: list[int] = []
        self._chip_evidence: list[Evidence | None] = []
        # Distinct author names: aid -> name, (surname key, initial) -> aids,
        # aid -> cids of name chips, aid -> cids of identity chips spelt
        # (also) by that name.
        self._authors: list[AuthorName] = []
        self._authors_by_key: dict[tuple[str, str], list[int]] = {}
        self._author_chips: list[list[int]] = []
        self._author_identity_chips: dict[int, list[int]] = {}  # few names have any
        # Identity chips by the catalogue author id they follow.
        self._identity_chips: dict[str, list[int]] = {}
        # Distinct keyword queries (watches and exclusions): qid -> query,
        # qid -> watch cids.
        self._queries: list[KeywordQuery] = []
        self._query_chips: list[list[int]] = []
        # Category key (casefolded) -> cids.
        self._category_chips: dict[str, list[int]] = {}

    # -- building ------------------------------------------------------------------

    @classmethod
    def build(cls, radars: Mapping[K, Sequence[Chip]]) -> RadarIndex[K]:
        """Compile and index ``radars`` (channel id -> chips).

        Each distinct chip is compiled once (with :func:`compile_chip`, as
        ``Radar.from_chips`` does, so a chip means here what it means to a
        radar); a radar is then its chips' ids, deduplicated in order, exactly
        as ``Radar.from_chips`` combines them.
        """
        index: RadarIndex[K] = cls()
        compiled: dict[tuple[object, ...], tuple[int, object]] = {}
        query_ids: dict[KeywordQuery, int] = {}
        author_ids_: dict[AuthorName, int] = {}
        # Equal chips compile to one entry, so a radar's repeated chip shows up
        # as a repeated id: dropping those is dropping duplicate chips (hashing
        # each of 30,000 chips once, not twice). One pair of scratch lists for
        # all radars: only each radar's tuples are kept.
        watches: list[int] = []
        exclusions: list[int] = []
        for key, chips in radars.items():
            watches.clear()
            exclusions.clear()
            sources: set[str] | None = None
            for chip in chips:
                same = _chip_fields(chip)
                entry = compiled.get(same)
                if entry is None:
                    entry = compiled[same] = index._compile(chip, query_ids, author_ids_)
                role, value = entry
                if role == _WATCH:
                    if value not in watches:
                        watches.append(value)  # type: ignore[arg-type]
                elif role == _SOURCE:
                    if sources is None:
                        sources = set()
                    sources.add(value)  # type: ignore[arg-type]
                elif role == _EXCLUDE and value not in exclusions:
                    exclusions.append(value)  # type: ignore[arg-type]
            index._keys.append(key)
            index._watch_ids.extend(watches)
            index._watch_ends.append(len(index._watch_ids))
            index._sources.append(None if sources is None else frozenset(sources))
            index._exclusions.append(tuple(exclusions))
        return index

    def _compile(
        self,
        chip: Chip,
        query_ids: dict[KeywordQuery, int],
        author_ids_: dict[AuthorName, int],
    ) -> tuple[int, object]:
        """(role, cid / source / exclusion qid) of one distinct chip."""
        watch = compile_chip(chip)
        if isinstance(watch, str):
            return _SOURCE, watch
        if isinstance(watch, KeywordQuery):
            return _EXCLUDE, self._query_id(watch, query_ids)
        if watch is None:
            return _NOTHING, None  # unparseable, or a kind that matches nothing here
        cid = len(self._chips)
        self._chips.append(chip)
        self._chip_kind.append(chip.kind)
        self._chip_query.append(-1)
        self._chip_evidence.append(None)
        if watch.author_id is not None:
            self._chip_evidence[cid] = watch.evidence
            self._identity_chips.setdefault(watch.author_id, []).append(cid)
            for name in watch.names:
                aid = self._author_id(name, author_ids_)
                self._author_identity_chips.setdefault(aid, []).append(cid)
        elif watch.author is not None:
            self._author_chips[self._author_id(watch.author, author_ids_)].append(cid)
        elif watch.query is not None:
            qid = self._query_id(watch.query, query_ids)
            self._query_chips[qid].append(cid)
            self._chip_query[cid] = qid
        elif watch.category is not None:
            self._category_chips.setdefault(watch.category, []).append(cid)
        return _WATCH, cid

    def _query_id(self, query: KeywordQuery, query_ids: dict[KeywordQuery, int]) -> int:
        """The query's id (one per distinct query, whatever role it plays)."""
        qid = query_ids.get(query)
        if qid is None:
            qid = query_ids[query] = len(self._queries)
            self._queries.append(query)
            self._query_chips.append([])
        return qid

    def _author_id(self, name: AuthorName, author_ids_: dict[AuthorName, int]) -> int:
        aid = author_ids_.get(name)
        if aid is None:
            aid = author_ids_[name] = len(self._authors)
            self._authors.append(name)
            self._author_chips.append([])
            for fkey in _filing_keys(name):
                self._authors_by_key.setdefault(fkey, []).append(aid)
        return aid

    # -- what the planner reads ------------------------------------------------------

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def keys(self) -> list[K]:
        """The radars' keys, in build order (a radar's row in every table)."""
        return self._keys

    @property
    def chips(self) -> list[Chip]:
        """The distinct watch chips (a chip id is a position here)."""
        return self._chips

    @property
    def chip_kinds(self) -> list[ChipKind]:
        return self._chip_kind

    @property
    def watch_ids(self) -> list[int]:
        """Every radar's watch chip ids, radar after radar, each in the radar's
        order (one flat list: the planner turns it into an array as it is)."""
        return self._watch_ids

    @property
    def watch_ends(self) -> list[int]:
        """Where each radar's ids end in :attr:`watch_ids`."""
        return self._watch_ends

    def radar_watches(self, row: int) -> list[int]:
        """The watch chip ids of the radar at ``row``, in the radar's order."""
        return self._watch_ids[self._watch_ends[row - 1] if row else 0 : self._watch_ends[row]]

    @property
    def radar_sources(self) -> list[frozenset[str] | None]:
        """Per radar, the sources it accepts (casefolded; None = every source)."""
        return self._sources

    @property
    def radar_exclusions(self) -> list[tuple[int, ...]]:
        """Per radar, the ids of its exclusion queries."""
        return self._exclusions

    def query_phrases(self, qid: int) -> int:
        """How many phrases a query has: the most title (or abstract) hits it gives."""
        return len(self._queries[qid].phrases)

    @property
    def chip_queries(self) -> list[int]:
        """Per watch chip, its keyword query id (-1 for other kinds)."""
        return self._chip_query

    # -- matching --------------------------------------------------------------------

    def scan(self, papers: Sequence[Paper]) -> ChipScan:
        """Every distinct chip's hits among ``papers`` (see :class:`ChipScan`).

        Authors and categories are looked up paper by paper, as :meth:`match`
        does; keyword queries (watches and exclusions) are decided for the whole
        list at once (:class:`~bot.core.matching.querytable.QueryTable`). The
        per-radar work is left to the caller, which combines chips with array
        operations.
        """
        chip: list[int] = []
        paper: list[int] = []
        bylines: dict[str, tuple[int, ...]] = {}
        # A day's papers repeat a few hundred category lists: each is looked up once.
        categories: dict[tuple[tuple[str, ...], str], list[int]] = {}
        for i, p in enumerate(papers):
            listed = (p.categories, p.primary_category)
            in_categories = categories.get(listed)
            if in_categories is None:
                in_categories = categories[listed] = self._categories(p)
            cids = self._people(p, bylines) + in_categories
            chip.extend(cids)
            paper.extend([i] * len(cids))
        chips = np.asarray(chip, dtype=np.int32)
        rows = np.asarray(paper, dtype=np.int32)
        zeros = np.zeros(len(chips), dtype=np.int32)
        parts = [(chips, rows, zeros, zeros)]
        excluded = np.zeros(0, dtype=np.int32)
        excluded_paper = np.zeros(0, dtype=np.int32)
        if self._queries:
            table = QueryTable(self._queries)
            hits = table.hits([(p.title, p.abstract) for p in papers])
            # A query's hits become hits of each of its watch chips...
            per_query = np.array([len(c) for c in self._query_chips], dtype=np.int64)
            flat = np.fromiter(
                (c for cs in self._query_chips for c in cs), dtype=np.int32, count=per_query.sum()
            )
            starts = np.concatenate(([0], np.cumsum(per_query)[:-1]))
            n = per_query[hits.query]
            take = np.repeat(starts[hits.query] - np.cumsum(n) + n, n) + np.arange(n.sum())
            parts.append(
                (
                    flat[take],
                    np.repeat(hits.paper, n),
                    np.repeat(hits.title_hits, n),
                    np.repeat(hits.abstract_hits, n),
                )
            )
            # ... and of the radars excluding it.
            used = np.zeros(len(self._queries), dtype=bool)
            used[[q for qs in self._exclusions for q in qs]] = True
            keep = used[hits.query]
            excluded, excluded_paper = hits.query[keep], hits.paper[keep]
        return ChipScan(
            *(np.concatenate(col) for col in zip(*parts, strict=True)),
            excluded,
            excluded_paper,
            [sources_of(p) for p in papers],
        )

    def _people(self, paper: Paper, bylines: dict[str, tuple[int, ...]]) -> list[int]:
        """Author and identity chips that ``paper`` satisfies.

        ``bylines``: each byline's matching author names (aids), kept across
        papers of one pass, since prolific people sign many of a day's papers.
        """
        cids: list[int] = []
        ids = author_ids(paper) if self._identity_chips else frozenset()
        if self._authors:
            found: set[int] = set()
            for raw in paper.authors:
                aids = bylines.get(raw)
                if aids is None:
                    aids = bylines[raw] = self._byline_authors(raw)
                found.update(aids)
            people: set[int] = set()
            for aid in found:
                cids.extend(self._author_chips[aid])
                if not ids:  # a record without author ids: identities match by name
                    people.update(self._author_identity_chips.get(aid, ()))
            evidence = self._chip_evidence
            cids.extend(c for c in sorted(people) if name_match_confirmed(evidence[c], paper))
        for author_id in ids:
            cids.extend(self._identity_chips.get(author_id, ()))
        return cids

    def _categories(self, paper: Paper) -> list[int]:
        """Category chips that ``paper`` satisfies (its categories and their prefixes)."""
        cids: list[int] = []
        if self._category_chips:
            seen: set[str] = set()
            for cat in (*paper.categories, paper.primary_category):
                if not cat:
                    continue
                for ckey in category_lookups(cat):
                    if ckey not in seen:
                        seen.add(ckey)
                        cids.extend(self._category_chips.get(ckey, ()))
        return cids

    def _byline_authors(self, raw: str) -> tuple[int, ...]:
        """The indexed author names (aids) that the byline ``raw`` is."""
        try:
            byline = parse_name(raw)
        except ValueError:
            return ()  # an unparseable byline entry (e.g. only punctuation) is nobody
        by_key = self._authors_by_key
        candidates: set[int] = set()
        for lkey in _lookup_keys(byline):
            found = by_key.get(lkey)
            if found is not None:  # most keys file no chip
                candidates.update(found)
        authors = self._authors
        return tuple([a for a in sorted(candidates) if author_matches(authors[a], byline)])
