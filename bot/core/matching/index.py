"""The indexed matcher: every channel's radar over a day's papers in one pass.

The daily digest runs every channel's radar over the same harvest. Checking
each (radar, paper) pair costs channels x papers; :class:`RadarIndex` files
every distinct chip under the keys a paper would look it up by, so the work
per paper is a handful of dictionary lookups per token and per author,
whatever the number of channels. Its results equal
:func:`bot.core.matching.radar.match_paper` for every (radar, paper) pair
(a property test holds it to that).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from itertools import filterfalse
from typing import Generic, TypeVar

from bot.core.chips import Chip
from bot.core.matching.filters import bylines, category_lookups
from bot.core.matching.keywords import KeywordQuery, PaperText, keyword_hits, paper_text
from bot.core.matching.radar import (
    Evidence,
    Match,
    Radar,
    make_match,
    name_match_confirmed,
    radar_of,
)
from bot.core.names import AuthorName, author_matches
from bot.core.paper import Paper, author_ids, sources_of
from bot.core.text import word_forms

__all__ = ["RadarIndex"]

K = TypeVar("K", bound=Hashable)


class RadarIndex(Generic[K]):
    """Every channel's radar, indexed so one pass over the papers serves them all.

    Author chips are filed under their surname keys, keyword chips under every
    plural form of their anchor token, category chips under their category.
    Per paper, the matcher looks up each byline's surname keys, each distinct
    token of title+abstract, and each category (with its dotted prefixes), then
    verifies only the candidates it found. Equal chips in different channels
    are one entry: verified once per paper, and the ``Match`` for an equal set
    of matched chips is built once per paper and shared (matches are
    immutable). Results equal :func:`match_paper` for every (radar, paper).

    The output is the real cost at scale (a popular category chip puts a few
    hundred papers into each of thousands of channels), so the per-(radar,
    paper) path is kept to one list append for the common case: a radar
    matched by a single chip, with no source or exclusion chips.
    """

    def __init__(self) -> None:
        self._keys: list[K] = []
        self._radars: list[Radar] = []
        # Distinct chips (cid): the chip, its radars split into unconstrained ones
        # (no source or exclusion chips) and constrained ones, and its position in each.
        self._chips: list[Chip] = []
        self._chip_plain: list[list[int]] = []
        self._chip_constrained: list[list[int]] = []
        self._chip_rids: list[list[int]] = []
        self._chip_pos: list[dict[int, int]] = []
        self._chip_query: list[int] = []  # cid -> query id, or -1 for non-keyword chips
        # The chips of each distinct matched set, built once and shared by every
        # Match of that set (see ``match``).
        self._chip_sets: dict[tuple[int, ...], tuple[Chip, ...]] = {}
        # Distinct author names: aid -> name, surname key -> aids, aid -> cids of
        # name chips, aid -> cids of identity chips spelt (also) by that name.
        self._authors: list[AuthorName] = []
        self._authors_by_key: dict[str, list[int]] = {}
        self._author_chips: list[list[int]] = []
        self._author_identity_chips: list[list[int]] = []
        # Identity chips by the catalogue author id they follow.
        self._identity_chips: dict[str, list[int]] = {}
        # cid -> the evidence confirming an identity chip's name matches (None: none).
        self._chip_evidence: list[Evidence | None] = []
        # Distinct keyword queries: qid -> query, anchor form -> qids, qid -> cids.
        self._queries: list[KeywordQuery] = []
        self._queries_by_token: dict[str, list[int]] = {}
        self._query_chips: list[list[int]] = []
        # Category key (casefolded) -> cids.
        self._category_chips: dict[str, list[int]] = {}
        # Per radar: accepted sources (None = all) and exclusion query ids.
        self._sources: list[frozenset[str] | None] = []
        self._exclusions: list[tuple[int, ...]] = []

    @classmethod
    def build(cls, radars: Mapping[K, Sequence[Chip]]) -> RadarIndex[K]:
        """Compile and index ``radars`` (channel id -> chips)."""
        index: RadarIndex[K] = cls()
        chip_ids: dict[Chip, int] = {}
        author_ids: dict[AuthorName, int] = {}
        query_ids: dict[KeywordQuery, int] = {}

        def query_id(query: KeywordQuery, filed: bool) -> int:
            qid = query_ids.get(query)
            if qid is None:
                qid = query_ids[query] = len(index._queries)
                index._queries.append(query)
                index._query_chips.append([])
            if filed and not index._query_chips[qid]:
                for form in word_forms(query.anchor):
                    index._queries_by_token.setdefault(form, []).append(qid)
            return qid

        def author_id_of(name: AuthorName) -> int:
            aid = author_ids.get(name)
            if aid is None:
                aid = author_ids[name] = len(index._authors)
                index._authors.append(name)
                index._author_chips.append([])
                index._author_identity_chips.append([])
                for skey in name.keys:
                    index._authors_by_key.setdefault(skey, []).append(aid)
            return aid

        for rid, (key, chips) in enumerate(radars.items()):
            radar = radar_of(tuple(chips))
            index._keys.append(key)
            index._radars.append(radar)
            index._sources.append(radar.sources)
            index._exclusions.append(tuple(query_id(q, False) for q in radar.exclusions))
            constrained = radar.sources is not None or bool(radar.exclusions)
            for pos, watch in enumerate(radar.watches):
                cid = chip_ids.get(watch.chip)
                if cid is None:
                    cid = chip_ids[watch.chip] = index._new_chip(watch.chip)
                    if watch.author_id is not None:
                        index._chip_evidence[cid] = watch.evidence
                        index._identity_chips.setdefault(watch.author_id, []).append(cid)
                        for name in watch.names:
                            index._author_identity_chips[author_id_of(name)].append(cid)
                    elif watch.author is not None:
                        index._author_chips[author_id_of(watch.author)].append(cid)
                    elif watch.query is not None:
                        qid = query_id(watch.query, True)
                        index._query_chips[qid].append(cid)
                        index._chip_query[cid] = qid
                    elif watch.category is not None:
                        index._category_chips.setdefault(watch.category, []).append(cid)
                (index._chip_constrained if constrained else index._chip_plain)[cid].append(rid)
                index._chip_rids[cid].append(rid)
                index._chip_pos[cid][rid] = pos
        return index

    def _new_chip(self, chip: Chip) -> int:
        self._chips.append(chip)
        self._chip_plain.append([])
        self._chip_constrained.append([])
        self._chip_rids.append([])
        self._chip_pos.append({})
        self._chip_query.append(-1)
        self._chip_evidence.append(None)
        return len(self._chips) - 1

    def __len__(self) -> int:
        return len(self._keys)

    def match(self, papers: Sequence[Paper]) -> dict[K, list[Match]]:
        """Every radar's matches among ``papers``: every radar is a key, and each
        list keeps the papers' order (as a loop over ``papers`` would)."""
        lists: list[list[Match]] = [[] for _ in self._keys]
        appenders = [lst.append for lst in lists]
        # What the cyclic collector costs here grows with the objects that outlive
        # the call (a day's run keeps a few hundred thousand Matches). It stays
        # on: its switch is the whole process's, and this runs in a worker
        # thread. Instead every Match of one chip set shares that set's chips
        # tuple (``_build``), so there is less for it to scan.
        for paper in papers:
            self._match_into(paper, appenders)
        return dict(zip(self._keys, lists, strict=True))

    def _matched_chips(
        self, paper: Paper, query_hits: dict[int, tuple[int, int] | None]
    ) -> tuple[list[int], PaperText | None]:
        """Distinct chip ids that ``paper`` satisfies (fills ``query_hits``)."""
        cids: list[int] = []
        ids = author_ids(paper) if self._identity_chips else frozenset()
        if self._authors:
            found: set[int] = set()
            by_key = self._authors_by_key
            for byline in bylines(paper.authors):
                for skey in byline.keys:
                    for aid in by_key.get(skey, ()):
                        if aid not in found and author_matches(self._authors[aid], byline):
                            found.add(aid)
            people: set[int] = set()
            for aid in found:
                cids.extend(self._author_chips[aid])
                if not ids:  # a record without author ids: identities match by name
                    people.update(self._author_identity_chips[aid])
            evidence = self._chip_evidence
            cids.extend(c for c in sorted(people) if name_match_confirmed(evidence[c], paper))
        for author_id in ids:
            cids.extend(self._identity_chips.get(author_id, ()))

        text: PaperText | None = None
        if self._queries_by_token:
            text = paper_text(paper)
            by_token = self._queries_by_token
            for token in text.vocabulary:
                for qid in by_token.get(token, ()):
                    if qid not in query_hits:
                        query_hits[qid] = hit = keyword_hits(self._queries[qid], text)
                        if hit is not None:
                            cids.extend(self._query_chips[qid])

        if self._category_chips:
            seen: set[str] = set()
            for cat in (*paper.categories, paper.primary_category):
                if not cat:
                    continue
                for ckey in category_lookups(cat):
                    if ckey not in seen:
                        seen.add(ckey)
                        cids.extend(self._category_chips.get(ckey, ()))
        return cids, text

    def _match_into(self, paper: Paper, appenders: list[Callable[[Match], None]]) -> None:
        """Append ``paper``'s Match to the list of every radar it is on."""
        query_hits: dict[int, tuple[int, int] | None] = {}
        cids, text = self._matched_chips(paper, query_hits)
        if not cids:
            return
        sources = sources_of(paper)  # once per paper, not once per radar
        chip_rids = self._chip_rids
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
                match = built[cid] = self._build(paper, (cid,), query_hits)
            plain = self._chip_plain[cid]
            if not dups or dups.isdisjoint(plain):
                for rid in plain:
                    appenders[rid](match)
            else:
                for rid in filterfalse(dups.__contains__, plain):
                    appenders[rid](match)
                positions = self._chip_pos[cid]
                for rid in dups.intersection(plain):
                    multi.setdefault(rid, []).append((positions[rid], cid))
            for rid in self._chip_constrained[cid]:
                if rid in dups:
                    multi.setdefault(rid, []).append((self._chip_pos[cid][rid], cid))
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
                match = built[key] = self._build(paper, key, query_hits)
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
    ) -> Match:
        title_hits = abstract_hits = 0
        for cid in cids:
            qid = self._chip_query[cid]
            if qid >= 0:
                hit = query_hits[qid]
                assert hit is not None
                title_hits += hit[0]
                abstract_hits += hit[1]
        chips = self._chip_sets.get(cids)
        if chips is None:
            chips = self._chip_sets.setdefault(cids, tuple(self._chips[c] for c in cids))
        return make_match(paper, chips, title_hits, abstract_hits)
