"""Radar matching: keyword queries, one radar against one paper, and the indexed
matcher that runs every channel's radar over a day's papers in one pass.

Semantics (``docs/matching.md`` has the full policy):

* A radar is a union of watches. A paper is on the radar when it matches ANY
  author, keyword or category chip, comes from one of the radar's SOURCE chips
  (all sources when there are none) and matches NO exclusion chip.
* Author chips use :mod:`bot.core.names` (same person, not a namesake). An
  author chip that follows an identity (``Chip.ref`` ``openalex:A…``) matches
  a paper whose record lists that author id, and, in papers whose records
  carry no author ids (arXiv's), a byline matching any of the person's names,
  confirmed, when the chip has evidence (``Chip.evidence``), by a category or a
  co-author the paper shares with the person's OpenAlex works.
* Keyword chips are :class:`KeywordQuery`: every phrase must occur in the title
  or the abstract (AND), a phrase's tokens consecutively, compared as tokens
  with light plural folding (:mod:`bot.core.text`).
* Category chips match any of the paper's categories, case-insensitively; a
  chip without a subcategory (``astro-ph``) covers its subcategories.

:class:`RadarIndex` gives exactly what :func:`match_paper` gives for every
(radar, paper) pair, but the work per paper is a handful of dictionary lookups
per token and per author, whatever the number of channels, because the daily
digest runs every channel's radar over the same harvest.
"""

from __future__ import annotations

import gc
import re
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from itertools import filterfalse
from typing import Generic, TypeVar

from bot.core.chips import Chip, ChipKind
from bot.core.names import AuthorName, author_matches, parse_name, person_keys
from bot.core.paper import Paper, author_ids, sources_of
from bot.core.text import tokenize, word_forms

__all__ = [
    "Evidence",
    "KeywordQuery",
    "Match",
    "PaperText",
    "Radar",
    "RadarIndex",
    "author_in_paper",
    "category_in_paper",
    "identity_in_paper",
    "keyword_in_paper",
    "match_paper",
    "name_match_confirmed",
    "paper_text",
]

K = TypeVar("K", bound=Hashable)

#: Weights of the relevance score (see :class:`Match`).
AUTHOR_WEIGHT = 100.0
KEYWORD_WEIGHT = 10.0
TITLE_HIT_WEIGHT = 2.0
ABSTRACT_HIT_WEIGHT = 1.0
CATEGORY_WEIGHT = 1.0


# --- keyword queries ----------------------------------------------------------------

_QUERY_PART = re.compile(r'"([^"]*)"?|([^\s"]+)')
_SMART_QUOTES = str.maketrans(
    {"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"'}
)


@dataclass(frozen=True)
class KeywordQuery:
    """A keyword chip, parsed: phrases that must all occur in title or abstract.

    ``phrases`` holds normalised token tuples; a bare word is a one-token phrase,
    and a bare hyphenated word is a phrase of its parts (``state-of-the-art``).
    Equality is on ``phrases`` only, so ``Diffusion  Transformer`` and
    ``diffusion transformer`` are one query (and one index entry).
    """

    phrases: tuple[tuple[str, ...], ...]
    text: str = field(default="", compare=False)
    forms: tuple[tuple[frozenset[str], ...], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.phrases or not all(self.phrases):
            raise ValueError("a keyword query needs at least one word")
        if not self.forms:
            object.__setattr__(
                self, "forms", tuple(tuple(word_forms(t) for t in p) for p in self.phrases)
            )

    @classmethod
    def parse(cls, value: str) -> KeywordQuery:
        """Parse chip text (``"large language model" agents``); ``ValueError`` if no words.

        Unbalanced quotes run to the end of the text; a leading ``-`` (an
        exclusion typed as such) is ignored; duplicate phrases are dropped.
        """
        if not isinstance(value, str):
            raise ValueError(f"not keyword text: {value!r}")
        return _parse_query(value)

    @property
    def anchor(self) -> str:
        """The token the index files this query under: the longest (rarest, in
        practice) token of any phrase, ties broken alphabetically. Every phrase is
        required, so a paper without (a plural form of) it cannot match."""
        return min((t for p in self.phrases for t in p), key=lambda t: (-len(t), t))

    def __str__(self) -> str:
        return self.text or " ".join(
            f'"{" ".join(p)}"' if len(p) > 1 else p[0] for p in self.phrases
        )


@lru_cache(maxsize=4096)
def _parse_query(value: str) -> KeywordQuery:
    text = " ".join(value.translate(_SMART_QUOTES).split())
    body = text[1:] if text.startswith("-") else text
    phrases: list[tuple[str, ...]] = []
    for m in _QUERY_PART.finditer(body):
        quoted, bare = m.group(1), m.group(2)
        tokens = tokenize(quoted if quoted is not None else bare)
        if tokens and tokens not in phrases:
            phrases.append(tokens)
    if not phrases:
        raise ValueError(f"no words to match in {value!r}")
    return KeywordQuery(tuple(phrases), text)


# --- paper text ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaperText:
    """A paper's title and abstract tokenised once, with token -> positions maps."""

    title: tuple[str, ...]
    abstract: tuple[str, ...]
    title_at: Mapping[str, tuple[int, ...]]
    abstract_at: Mapping[str, tuple[int, ...]]

    @property
    def vocabulary(self) -> Iterable[str]:
        """Each distinct token once."""
        return self.title_at.keys() | self.abstract_at.keys()


def _positions(tokens: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    at: dict[str, list[int]] = defaultdict(list)
    for i, tok in enumerate(tokens):
        at[tok].append(i)
    return {tok: tuple(pos) for tok, pos in at.items()}


@lru_cache(maxsize=8192)
def _text_of(title: str, abstract: str) -> PaperText:
    t, a = tokenize(title), tokenize(abstract)
    return PaperText(t, a, _positions(t), _positions(a))


def paper_text(paper: Paper) -> PaperText:
    """The tokenised title and abstract of ``paper`` (cached: tokenise each paper once)."""
    return _text_of(paper.title, paper.abstract)


def _phrase_in(
    tokens: tuple[str, ...], at: Mapping[str, tuple[int, ...]], forms: tuple[frozenset[str], ...]
) -> bool:
    """Whether the phrase occurs in one field: its tokens consecutive, each agreeing."""
    n = len(forms)
    last = len(tokens) - n
    for form in forms[0]:
        for p in at.get(form, ()):
            if p <= last and all(tokens[p + i] in forms[i] for i in range(1, n)):
                return True
    return False


def _keyword_hits(query: KeywordQuery, text: PaperText) -> tuple[int, int] | None:
    """(phrases in title, phrases in abstract), or None unless every phrase occurs."""
    title_hits = abstract_hits = 0
    for forms in query.forms:
        in_title = _phrase_in(text.title, text.title_at, forms)
        in_abstract = _phrase_in(text.abstract, text.abstract_at, forms)
        if not (in_title or in_abstract):
            return None
        title_hits += in_title
        abstract_hits += in_abstract
    return title_hits, abstract_hits


# --- primitives (also used by `/radar filter`) -----------------------------------------


@lru_cache(maxsize=8192)
def _bylines(authors: tuple[str, ...]) -> tuple[AuthorName, ...]:
    out: list[AuthorName] = []
    for raw in authors:
        try:
            out.append(parse_name(raw))
        except ValueError:
            continue  # an unparseable byline entry (e.g. only punctuation) is nobody
    return tuple(out)


def author_in_paper(name: AuthorName, paper: Paper) -> bool:
    """Whether any author of ``paper`` is the person ``name`` (a chip) names."""
    return any(author_matches(name, b) for b in _bylines(paper.authors))


def keyword_in_paper(query: KeywordQuery, paper: Paper) -> tuple[bool, float]:
    """Whether ``query`` matches ``paper``, and a score: 2 per phrase in the title
    plus 1 per phrase in the abstract (a phrase in both counts 3)."""
    hits = _keyword_hits(query, paper_text(paper))
    if hits is None:
        return False, 0.0
    return True, TITLE_HIT_WEIGHT * hits[0] + ABSTRACT_HIT_WEIGHT * hits[1]


def _category_key(category: str) -> str:
    return category.strip().casefold()


def _category_lookups(category: str) -> list[str]:
    """The chip keys a paper category satisfies: itself and each dotted prefix."""
    key = _category_key(category)
    out = [key]
    i = key.find(".")
    while i > 0:
        out.append(key[:i])
        i = key.find(".", i + 1)
    return out


def category_in_paper(category: str, paper: Paper) -> bool:
    """Whether ``paper`` is in ``category`` (any casing; ``astro-ph`` covers ``astro-ph.GA``)."""
    want = _category_key(category)
    if not want:
        return False
    return any(
        want in _category_lookups(c) for c in (*paper.categories, paper.primary_category) if c
    )


@lru_cache(maxsize=65536)
def _timestamp(when: datetime) -> float:
    # A naive time is read as UTC, never local time, so the order never
    # depends on the machine's zone. Cached: many matches share a paper.
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


# --- one radar --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Match:
    """One paper on one radar, and why.

    ``chips`` are the watch chips (author, keyword, category) that matched, in
    the radar's order, so a card can say "matched: author Yehui Tang".
    ``title_hits``/``abstract_hits`` count the matched keyword chips' phrases
    found in the title / abstract. ``score`` summarises relevance as
    100 per author chip + 10 per keyword chip + 2 per title hit + 1 per abstract
    hit + 1 per category chip; :func:`bot.core.ranking.rank` orders by the
    parts themselves, not by this sum.
    """

    paper: Paper
    chips: tuple[Chip, ...]
    score: float
    title_hits: int = 0
    abstract_hits: int = 0
    #: The ranking key (see ``bot.core.ranking``), computed once per match: the
    #: index shares one Match between radars, and a digest of 10,000 channels
    #: sorts millions of them.
    order: tuple[int, int, int, int, int, int, float, str] = field(
        default=(0, 0, 0, 0, 0, 0, 0.0, ""), compare=False, repr=False
    )

    def _count(self, kind: ChipKind) -> int:
        return sum(1 for c in self.chips if c.kind is kind)

    @property
    def author_count(self) -> int:
        return self._count(ChipKind.AUTHOR)

    @property
    def keyword_count(self) -> int:
        return self._count(ChipKind.KEYWORD)

    @property
    def category_count(self) -> int:
        return self._count(ChipKind.CATEGORY)

    def reason(self) -> str:
        """``matched: author Yehui Tang, keyword diffusion`` for a card's footer."""
        return "matched: " + ", ".join(f"{c.kind.value} {c.value}" for c in self.chips)


def make_match(paper: Paper, chips: Sequence[Chip], title_hits: int, abstract_hits: int) -> Match:
    """The one constructor both matchers use, so their results compare equal."""
    authors = keywords = categories = 0
    for chip in chips:
        if chip.kind is ChipKind.AUTHOR:
            authors += 1
        elif chip.kind is ChipKind.KEYWORD:
            keywords += 1
        else:
            categories += 1
    score = (
        AUTHOR_WEIGHT * authors
        + KEYWORD_WEIGHT * keywords
        + CATEGORY_WEIGHT * categories
        + TITLE_HIT_WEIGHT * title_hits
        + ABSTRACT_HIT_WEIGHT * abstract_hits
    )
    tier = 0 if authors else 1 if keywords else 2
    order = (
        tier,
        -authors,
        -keywords,
        -title_hits,
        -abstract_hits,
        -categories,
        -_timestamp(paper.published),
        paper.key,
    )
    return Match(paper, tuple(chips), score, title_hits, abstract_hits, order)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What confirms an identity chip's name match in a record without author
    ids: the person's arXiv categories (casefolded) and co-authors' ``surname/initial`` keys,
    from the chip's ``cat:``/``co:`` entries (see :attr:`Chip.evidence`)."""

    categories: frozenset[str]
    coauthors: frozenset[str]

    @classmethod
    def of(cls, chip: Chip) -> Evidence | None:
        """The chip's evidence, or None when it has none (names match unconfirmed)."""
        cats: set[str] = set()
        cos: set[str] = set()
        for entry in chip.evidence:
            kind, _, value = entry.partition(":")
            if kind == "cat" and _category_key(value):
                cats.add(_category_key(value))
            elif kind == "co" and value:
                cos.add(value)
        if not cats and not cos:
            return None
        return cls(frozenset(cats), frozenset(cos))

    def confirms(self, paper: Paper) -> bool:
        """The paper shares a category or a co-author (``surname/initial``) with the evidence."""
        if any(
            _category_key(c) in self.categories
            for c in (*paper.categories, paper.primary_category)
            if c
        ):
            return True
        return not self.coauthors.isdisjoint(_byline_keys(paper.authors))


@lru_cache(maxsize=8192)
def _byline_keys(authors: tuple[str, ...]) -> frozenset[str]:
    """Every ``surname/initial`` key of every byline of a paper (see ``person_keys``)."""
    return frozenset().union(*(person_keys(b) for b in _bylines(authors)))


def identity_in_paper(
    author_id: str,
    names: Sequence[AuthorName],
    paper: Paper,
    evidence: Evidence | None = None,
) -> bool:
    """Whether ``paper`` is by the person with catalogue id ``author_id``.

    A record that lists its authors' ids (OpenAlex's) decides by id, so a
    namesake's paper never matches; a record without ids (arXiv's) is
    matched by the person's names (``names``: the chip's name and variants),
    confirmed by ``evidence`` when the chip has some (a shared category or
    co-author; see :func:`name_match_confirmed`).
    """
    ids = author_ids(paper)
    if ids:
        return author_id in ids
    return name_match_confirmed(evidence, paper) and any(
        author_in_paper(name, paper) for name in names
    )


def name_match_confirmed(evidence: Evidence | None, paper: Paper) -> bool:
    """Whether an identity chip with ``evidence`` may match ``paper`` (a record
    without author ids) by name: always without evidence, else only when the
    evidence confirms it. Both matchers decide through this one function."""
    return evidence is None or evidence.confirms(paper)


@dataclass(frozen=True, slots=True)
class _Watch:
    chip: Chip
    author: AuthorName | None = None
    query: KeywordQuery | None = None
    category: str | None = None  # casefolded
    #: An identity chip: the author id it follows and every name it is spelt by.
    author_id: str | None = None
    names: tuple[AuthorName, ...] = ()
    evidence: Evidence | None = None


def _names(chip: Chip) -> tuple[AuthorName, ...]:
    """The chip's name and its variants, parsed; unparseable variants are skipped."""
    out: list[AuthorName] = [parse_name(chip.value)]
    for name in chip.names:
        try:
            parsed = parse_name(name)
        except ValueError:
            continue
        if parsed not in out:
            out.append(parsed)
    return tuple(out)


@dataclass(frozen=True)
class Radar:
    """The chips of one channel, compiled for matching.

    Chips that cannot be parsed (an author "name" with no letters, a keyword
    with no words) match nothing rather than failing the whole radar: the
    command layer rejects them on entry, and a stored oddity must not stop a
    channel's digest.
    """

    chips: tuple[Chip, ...]
    watches: tuple[_Watch, ...]
    sources: frozenset[str] | None  # casefolded; None = every source
    exclusions: tuple[KeywordQuery, ...]

    @classmethod
    def from_chips(cls, chips: Iterable[Chip]) -> Radar:
        """Compile chips (duplicates dropped, order kept)."""
        unique = tuple(dict.fromkeys(chips))
        watches: list[_Watch] = []
        sources: set[str] = set()
        exclusions: list[KeywordQuery] = []
        for chip in unique:
            try:
                if chip.kind is ChipKind.AUTHOR:
                    author = parse_name(chip.value)
                    if chip.author_id is not None:
                        watches.append(
                            _Watch(
                                chip,
                                author,
                                author_id=chip.author_id,
                                names=_names(chip),
                                evidence=Evidence.of(chip),
                            )
                        )
                    else:
                        watches.append(_Watch(chip, author=author))
                elif chip.kind is ChipKind.KEYWORD:
                    watches.append(_Watch(chip, query=KeywordQuery.parse(chip.value)))
                elif chip.kind is ChipKind.CATEGORY:
                    if _category_key(chip.value):
                        watches.append(_Watch(chip, category=_category_key(chip.value)))
                elif chip.kind is ChipKind.SOURCE:
                    if chip.value.strip():
                        sources.add(chip.value.strip().casefold())
                elif chip.kind is ChipKind.EXCLUDE:
                    query = KeywordQuery.parse(chip.value)
                    if query not in exclusions:
                        exclusions.append(query)
            except ValueError:
                continue
        return cls(unique, tuple(watches), frozenset(sources) or None, tuple(exclusions))

    def admits_source(self, paper: Paper) -> bool:
        """No source chips, or one of them names a source that reported the paper
        (a merged preprint + journal record counts for arXiv and OpenAlex)."""
        return self.sources is None or not self.sources.isdisjoint(sources_of(paper))

    def match(self, paper: Paper) -> Match | None:
        """This radar's verdict on ``paper`` (the reference the index must equal)."""
        if not self.watches or not self.admits_source(paper):
            return None
        matched: list[Chip] = []
        title_hits = abstract_hits = 0
        for watch in self.watches:
            if watch.author_id is not None:
                if identity_in_paper(watch.author_id, watch.names, paper, watch.evidence):
                    matched.append(watch.chip)
            elif watch.author is not None:
                if author_in_paper(watch.author, paper):
                    matched.append(watch.chip)
            elif watch.query is not None:
                hits = _keyword_hits(watch.query, paper_text(paper))
                if hits is not None:
                    matched.append(watch.chip)
                    title_hits += hits[0]
                    abstract_hits += hits[1]
            elif watch.category is not None and category_in_paper(watch.category, paper):
                matched.append(watch.chip)
        if not matched:
            return None
        text = paper_text(paper) if self.exclusions else None
        if text is not None and any(_keyword_hits(q, text) for q in self.exclusions):
            return None
        return make_match(paper, matched, title_hits, abstract_hits)


def match_paper(radar_chips: Sequence[Chip], paper: Paper) -> Match | None:
    """Whether ``paper`` is on the radar made of ``radar_chips``, and why."""
    return _compiled(tuple(radar_chips)).match(paper)


@lru_cache(maxsize=1024)
def _compiled(chips: tuple[Chip, ...]) -> Radar:
    return Radar.from_chips(chips)


# --- many radars ---------------------------------------------------------------------------


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
            radar = _compiled(tuple(chips))
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
        # A day's run allocates millions of references to a few hundred thousand
        # acyclic Match objects; the cyclic collector would rescan the growing
        # heap over and over (~20% of the run) to free nothing.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for paper in papers:
                self._match_into(paper, appenders)
        finally:
            if collecting:
                gc.enable()
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
            for byline in _bylines(paper.authors):
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
                        query_hits[qid] = hit = _keyword_hits(self._queries[qid], text)
                        if hit is not None:
                            cids.extend(self._query_chips[qid])

        if self._category_chips:
            seen: set[str] = set()
            for cat in (*paper.categories, paper.primary_category):
                if not cat:
                    continue
                for ckey in _category_lookups(cat):
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
                query_hits[qid] = _keyword_hits(self._queries[qid], text)
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
        return make_match(paper, [self._chips[c] for c in cids], title_hits, abstract_hits)
