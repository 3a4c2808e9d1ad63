"""The indexed matcher: every channel's radar over a day's papers in one pass.

The daily digest runs every channel's radar over the same harvest. Checking
each (radar, paper) pair costs channels x papers; :class:`RadarIndex` files
every distinct chip under the keys a paper would look it up by, so the work
per paper is a handful of dictionary lookups per token and per author,
whatever the number of channels. Its results equal
:func:`bot.core.matching.radar.match_paper` for every (radar, paper) pair
(a property test holds it to that).

Two ways out of one index:

* :meth:`RadarIndex.scan`: per distinct chip, the papers it matches (and per
  exclusion query, the papers it hits). That is all the top-k planner
  (:mod:`bot.core.matching.topk`) needs: it combines chips into radars with
  array operations and builds a :class:`Match` only for the cards a digest
  posts.
* :meth:`RadarIndex.match`: every radar's full list of :class:`Match`, for
  callers that want all of them (and as the reference the planner is tested
  against).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import filterfalse
from typing import Generic, TypeVar

import numpy as np

from bot.core.chips import Chip, ChipKind
from bot.core.matching.filters import category_lookups
from bot.core.matching.keywords import KeywordQuery, PaperText, keyword_hits, paper_text
from bot.core.matching.querytable import QueryTable
from bot.core.matching.radar import (
    Evidence,
    Match,
    Radar,
    make_match,
    name_match_confirmed,
)
from bot.core.names import AuthorName, Reading, author_matches, parse_name
from bot.core.paper import Paper, author_ids, sources_of
from bot.core.text import word_forms

__all__ = ["ChipScan", "RadarIndex"]

K = TypeVar("K", bound=Hashable)

#: What a distinct chip is to a radar (see ``RadarIndex._compile``).
_NOTHING, _WATCH, _SOURCE, _EXCLUDE = range(4)
#: ``query_hits`` has no verdict yet for a query (None means "asked: no hit").
_UNASKED = (-1, -1)


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
    letters.update(k[0] for k in first.parts[0].keys)
    letters.update(k[0] for k in reading.given_concat)
    return frozenset(letters)


def _filing_keys(name: AuthorName) -> set[tuple[str, str]]:
    """(surname key, initial) keys a chip name is filed under."""
    return {(s, i) for r in name.readings for s in r.surname for i in _initials(r)}


def _lookup_keys(name: AuthorName) -> set[tuple[str, str]]:
    """(surname key, initial) keys a byline looks chips up under."""
    out: set[tuple[str, str]] = set()
    for r in name.readings:
        letters = _initials(r) | {""}
        out.update((s, i) for s in r.surname for i in letters)
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

    Author chips are filed under their (surname key, initial), keyword chips
    under every plural form of their anchor token, category chips under their
    category. Per paper, the matcher looks up each byline's keys, the tokens of
    title+abstract that any query is filed under, and each category (with its
    dotted prefixes), then verifies only the candidates it found. A chip is
    compiled once however many channels hold it, and equal chips in different
    channels are one entry: verified once per paper. Results equal
    :func:`match_paper` for every (radar, paper).
    """

    def __init__(self) -> None:
        self._keys: list[K] = []
        # Per radar: its distinct watch chips (cids) in the radar's order, the
        # sources it accepts (None = all) and its exclusion query ids.
        self._watches: list[tuple[int, ...]] = []
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
        self._author_identity_chips: list[list[int]] = []
        # Identity chips by the catalogue author id they follow.
        self._identity_chips: dict[str, list[int]] = {}
        # Distinct keyword queries: qid -> query, anchor form -> qids (watch
        # queries, and separately exclusion queries), qid -> watch cids.
        self._queries: list[KeywordQuery] = []
        self._queries_by_token: dict[str, list[int]] = {}
        self._exclusions_by_token: dict[str, list[int]] = {}
        self._query_chips: list[list[int]] = []
        self._filed: set[tuple[int, bool]] = set()  # (qid, as an exclusion) filed
        # Category key (casefolded) -> cids.
        self._category_chips: dict[str, list[int]] = {}
        # The fan-out tables of ``match`` (built on its first call).
        self._fanout: _Fanout | None = None

    # -- building ------------------------------------------------------------------

    @classmethod
    def build(cls, radars: Mapping[K, Sequence[Chip]]) -> RadarIndex[K]:
        """Compile and index ``radars`` (channel id -> chips).

        Each distinct chip is compiled once (with :meth:`Radar.from_chips`, so a
        chip means here what it means to a radar); a radar is then its chips'
        ids, deduplicated in order, exactly as ``Radar.from_chips`` combines them.
        """
        index: RadarIndex[K] = cls()
        compiled: dict[Chip, tuple[int, object]] = {}
        query_ids: dict[KeywordQuery, int] = {}
        author_ids_: dict[AuthorName, int] = {}
        for key, chips in radars.items():
            watches: list[int] = []
            sources: set[str] = set()
            exclusions: list[int] = []
            for chip in dict.fromkeys(chips):
                entry = compiled.get(chip)
                if entry is None:
                    entry = compiled[chip] = index._compile(chip, query_ids, author_ids_)
                role, value = entry
                if role == _WATCH:
                    watches.append(value)  # type: ignore[arg-type]
                elif role == _SOURCE:
                    sources.add(value)  # type: ignore[arg-type]
                elif role == _EXCLUDE and value not in exclusions:
                    exclusions.append(value)  # type: ignore[arg-type]
            index._keys.append(key)
            index._watches.append(tuple(watches))
            index._sources.append(frozenset(sources) or None)
            index._exclusions.append(tuple(exclusions))
        return index

    def _compile(
        self,
        chip: Chip,
        query_ids: dict[KeywordQuery, int],
        author_ids_: dict[AuthorName, int],
    ) -> tuple[int, object]:
        """(role, cid / source / exclusion qid) of one distinct chip."""
        one = Radar.from_chips((chip,))
        if one.sources:
            return _SOURCE, next(iter(one.sources))
        if one.exclusions:
            return _EXCLUDE, self._query_id(one.exclusions[0], query_ids, exclusion=True)
        if not one.watches:
            return _NOTHING, None  # unparseable, or a kind that matches nothing here
        watch = one.watches[0]
        cid = len(self._chips)
        self._chips.append(chip)
        self._chip_kind.append(chip.kind)
        self._chip_query.append(-1)
        self._chip_evidence.append(None)
        if watch.author_id is not None:
            self._chip_evidence[cid] = watch.evidence
            self._identity_chips.setdefault(watch.author_id, []).append(cid)
            for name in watch.names:
                self._author_identity_chips[self._author_id(name, author_ids_)].append(cid)
        elif watch.author is not None:
            self._author_chips[self._author_id(watch.author, author_ids_)].append(cid)
        elif watch.query is not None:
            qid = self._query_id(watch.query, query_ids, exclusion=False)
            self._query_chips[qid].append(cid)
            self._chip_query[cid] = qid
        elif watch.category is not None:
            self._category_chips.setdefault(watch.category, []).append(cid)
        return _WATCH, cid

    def _query_id(
        self, query: KeywordQuery, query_ids: dict[KeywordQuery, int], *, exclusion: bool
    ) -> int:
        """The query's id; filed under its anchor's forms for the role it plays."""
        qid = query_ids.get(query)
        if qid is None:
            qid = query_ids[query] = len(self._queries)
            self._queries.append(query)
            self._query_chips.append([])
        if (qid, exclusion) not in self._filed:
            self._filed.add((qid, exclusion))
            table = self._exclusions_by_token if exclusion else self._queries_by_token
            for form in word_forms(query.anchor):
                table.setdefault(form, []).append(qid)
        return qid

    def _author_id(self, name: AuthorName, author_ids_: dict[AuthorName, int]) -> int:
        aid = author_ids_.get(name)
        if aid is None:
            aid = author_ids_[name] = len(self._authors)
            self._authors.append(name)
            self._author_chips.append([])
            self._author_identity_chips.append([])
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
    def radar_watches(self) -> list[tuple[int, ...]]:
        """Per radar, its watch chips' ids in the radar's order."""
        return self._watches

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
        for i, p in enumerate(papers):
            cids = self._people(p, bylines) + self._categories(p)
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
            hits = table.hits([paper_text(p) for p in papers])
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

    def _hit_queries(
        self,
        text: PaperText,
        table: dict[str, list[int]],
        query_hits: dict[int, tuple[int, int] | None],
    ) -> list[int]:
        """Ids of the queries filed in ``table`` that ``text`` satisfies, each once
        (a query is filed under every form of its anchor). ``query_hits`` caches
        each query's verdict for the paper, whichever role asked first."""
        found: list[int] = []
        asked: set[int] = set()
        for token in text.vocabulary.intersection(table):
            for qid in table[token]:
                if qid in asked:
                    continue
                asked.add(qid)
                hit = query_hits.get(qid, _UNASKED)
                if hit is _UNASKED:
                    hit = query_hits[qid] = keyword_hits(self._queries[qid], text)
                if hit is not None:
                    found.append(qid)
        return found

    def _matched_chips(
        self,
        paper: Paper,
        query_hits: dict[int, tuple[int, int] | None],
        bylines: dict[str, tuple[int, ...]],
    ) -> tuple[list[int], PaperText | None]:
        """Distinct chip ids that ``paper`` satisfies (fills ``query_hits``)."""
        cids = self._people(paper, bylines)
        text: PaperText | None = None
        if self._queries_by_token:
            text = paper_text(paper)
            for qid in self._hit_queries(text, self._queries_by_token, query_hits):
                cids.extend(self._query_chips[qid])
        cids.extend(self._categories(paper))
        return cids, text

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
                    people.update(self._author_identity_chips[aid])
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
            candidates.update(by_key.get(lkey, ()))
        return tuple(a for a in sorted(candidates) if author_matches(self._authors[a], byline))

    def match(self, papers: Sequence[Paper]) -> dict[K, list[Match]]:
        """Every radar's matches among ``papers``: every radar is a key, and each
        list keeps the papers' order (as a loop over ``papers`` would)."""
        fanout = self._fanout or _Fanout.of(self)
        self._fanout = fanout
        lists: list[list[Match]] = [[] for _ in self._keys]
        appenders = [lst.append for lst in lists]
        bylines: dict[str, tuple[int, ...]] = {}
        # What the cyclic collector costs here grows with the objects that outlive
        # the call. It stays on: its switch is the whole process's, and this runs
        # in a worker thread. Instead every Match of one chip set shares that
        # set's chips tuple (``_build``), so there is less for it to scan.
        for paper in papers:
            self._match_into(paper, appenders, fanout, bylines)
        return dict(zip(self._keys, lists, strict=True))

    def _match_into(
        self,
        paper: Paper,
        appenders: list[Callable[[Match], None]],
        fanout: _Fanout,
        bylines: dict[str, tuple[int, ...]],
    ) -> None:
        """Append ``paper``'s Match to the list of every radar it is on."""
        query_hits: dict[int, tuple[int, int] | None] = {}
        cids, text = self._matched_chips(paper, query_hits, bylines)
        if not cids:
            return
        sources = sources_of(paper)  # once per paper, not once per radar
        chip_rids = fanout.rids
        # Radars hit by more than one chip take the slow path (their chips combine).
        dups: set[int] = set()
        if len(cids) > 1:
            seen: set[int] = set()
            for cid in cids:
                rids = chip_rids[cid]
                dups.update(seen.intersection(rids))
                seen.update(rids)

        built: dict[int | tuple[int, ...], Match] = {}
        multi: dict[int, list[tuple[int, int]]] = {}
        for cid in cids:
            match = built.get(cid)
            if match is None:
                match = built[cid] = self._build(paper, (cid,), query_hits, fanout)
            plain = fanout.plain[cid]
            if not dups or dups.isdisjoint(plain):
                for rid in plain:
                    appenders[rid](match)
            else:
                for rid in filterfalse(dups.__contains__, plain):
                    appenders[rid](match)
                positions = fanout.pos[cid]
                for rid in dups.intersection(plain):
                    multi.setdefault(rid, []).append((positions[rid], cid))
            for rid in fanout.constrained[cid]:
                if rid in dups:
                    multi.setdefault(rid, []).append((fanout.pos[cid][rid], cid))
                else:
                    if text is None and self._exclusions[rid]:
                        text = paper_text(paper)
                    if self._admits(rid, sources, text, query_hits):
                        appenders[rid](match)

        for rid, hits in multi.items():
            if text is None and self._exclusions[rid]:
                text = paper_text(paper)
            if not self._admits(rid, sources, text, query_hits):
                continue
            hits.sort()
            key = tuple(cid for _, cid in hits)
            match = built.get(key)
            if match is None:
                match = built[key] = self._build(paper, key, query_hits, fanout)
            appenders[rid](match)

    def _admits(
        self,
        rid: int,
        sources: frozenset[str],
        text: PaperText | None,
        query_hits: dict[int, tuple[int, int] | None],
    ) -> bool:
        """The radar's source and exclusion chips let the paper (from ``sources``) through."""
        allowed = self._sources[rid]
        if allowed is not None and allowed.isdisjoint(sources):
            return False
        for qid in self._exclusions[rid]:
            if qid not in query_hits:
                assert text is not None
                query_hits[qid] = keyword_hits(self._queries[qid], text)
            if query_hits[qid] is not None:
                return False
        return True

    def _build(
        self,
        paper: Paper,
        cids: tuple[int, ...],
        query_hits: dict[int, tuple[int, int] | None],
        fanout: _Fanout,
    ) -> Match:
        title_hits = abstract_hits = 0
        for cid in cids:
            qid = self._chip_query[cid]
            if qid >= 0:
                hit = query_hits[qid]
                assert hit is not None
                title_hits += hit[0]
                abstract_hits += hit[1]
        chips = fanout.chip_sets.get(cids)
        if chips is None:
            chips = fanout.chip_sets.setdefault(cids, tuple(self._chips[c] for c in cids))
        return make_match(paper, chips, title_hits, abstract_hits)


@dataclass
class _Fanout:
    """Chip -> radars tables for :meth:`RadarIndex.match`.

    The full match list is the real cost at scale (a popular category chip
    puts a few hundred papers into each of thousands of channels), so the
    per-(radar, paper) path is kept to one list append for the common case: a
    radar matched by a single chip, with no source or exclusion chips.
    """

    plain: list[list[int]]  # cid -> radars without source or exclusion chips
    constrained: list[list[int]]  # cid -> the other radars
    rids: list[list[int]]  # cid -> every radar holding it
    pos: list[dict[int, int]]  # cid -> {radar: the chip's position among its watches}
    chip_sets: dict[tuple[int, ...], tuple[Chip, ...]]  # shared chips tuples

    @classmethod
    def of(cls, index: RadarIndex[K]) -> _Fanout:
        n = len(index.chips)
        out = cls([[] for _ in range(n)], [[] for _ in range(n)], [[] for _ in range(n)], [], {})
        out.pos = [{} for _ in range(n)]
        for rid, watches in enumerate(index.radar_watches):
            constrained = index.radar_sources[rid] is not None or bool(index.radar_exclusions[rid])
            for pos, cid in enumerate(watches):
                (out.constrained if constrained else out.plain)[cid].append(rid)
                out.rids[cid].append(rid)
                out.pos[cid][rid] = pos
        return out
