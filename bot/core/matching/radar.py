"""One radar against one paper: a channel's chips compiled, and the verdict.

A radar is a union of watches. A paper is on the radar when it matches ANY
author, keyword or category chip, comes from one of the radar's SOURCE chips
(all sources when there are none) and matches NO exclusion chip
(``docs/matching.md`` has the full policy):

* Author chips use :mod:`bot.core.names` (same person, not a namesake). An
  author chip that follows an identity (``Chip.ref`` ``openalex:A…``) matches
  a paper whose record lists that author id, and, in papers whose records
  carry no author ids (arXiv's), a byline matching any of the person's names,
  confirmed, when the chip has evidence (``Chip.evidence``), by a category or a
  co-author the paper shares with the person's OpenAlex works.
* Keyword chips are :class:`~bot.core.matching.keywords.KeywordQuery`.
* Category chips match any of the paper's categories, case-insensitively; a
  chip without a subcategory (``astro-ph``) covers its subcategories.

:meth:`Radar.match` is the reference: the index
(:mod:`bot.core.matching.index`) must give exactly what it gives.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import lru_cache

from bot.core.chips import Chip, ChipKind
from bot.core.matching.filters import author_in_paper, bylines, category_in_paper, category_key
from bot.core.matching.keywords import KeywordQuery, keyword_hits, paper_text
from bot.core.names import AuthorName, parse_name, person_keys
from bot.core.paper import Paper, author_ids, sources_of

__all__ = [
    "Evidence",
    "Match",
    "Radar",
    "chip_counts",
    "compile_chip",
    "identity_in_paper",
    "make_match",
    "make_matches",
    "match_paper",
    "name_match_confirmed",
    "paper_ties",
    "radar_of",
]


@lru_cache(maxsize=65536)
def _timestamp(when: datetime) -> float:
    # A naive time is read as UTC, never local time, so the order never
    # depends on the machine's zone. Cached: many matches share a paper.
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


@dataclass(frozen=True, slots=True)
class Match:
    """One paper on one radar, and why.

    ``chips`` are the watch chips (author, keyword, category) that matched, in
    the radar's order, so a card can say "matched: author Yehui Tang".
    ``title_hits``/``abstract_hits`` count the matched keyword chips' phrases
    found in the title / abstract; :func:`bot.core.ranking.rank` orders by
    these parts themselves, never by a weighted sum.
    """

    paper: Paper
    chips: tuple[Chip, ...]
    title_hits: int = 0
    abstract_hits: int = 0

    #: ``order``, once asked (a ranked list is sorted, then its first few are
    #: taken by the same key); None until then.
    _order: tuple[int, int, int, int, int, int, float, str] | None = field(
        default=None, init=False, compare=False, repr=False
    )

    @property
    def order(self) -> tuple[int, int, int, int, int, int, float, str]:
        """The ranking key, the total order :mod:`bot.core.ranking` documents:
        tier (0 author, 1 keyword, 2 category only), then more author chips,
        keyword chips, title hits, abstract hits, category chips, then the
        newest, then the key (smaller sorts first).

        Computed when first asked, not when the Match is built: the daily
        planner, which can build tens of thousands of Matches for its cards,
        orders them by packed integers and never asks (a key built with every
        Match was one more tuple each for the collector to walk)."""
        order = self._order
        if order is None:
            authors, keywords, categories = chip_counts(self.chips)
            newest, key = paper_ties(self.paper)
            tier = 0 if authors else 1 if keywords else 2
            order = (
                tier,
                -authors,
                -keywords,
                -self.title_hits,
                -self.abstract_hits,
                -categories,
                newest,
                key,
            )
            object.__setattr__(self, "_order", order)  # a cache: frozen to everyone else
        return order

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


def chip_counts(chips: Sequence[Chip]) -> tuple[int, int, int]:
    """(author, keyword, category) chips among ``chips``: what ``Match.order`` counts."""
    authors = keywords = categories = 0
    for chip in chips:
        if chip.kind is ChipKind.AUTHOR:
            authors += 1
        elif chip.kind is ChipKind.KEYWORD:
            keywords += 1
        else:
            categories += 1
    return authors, keywords, categories


def paper_ties(paper: Paper) -> tuple[float, str]:
    """The last two fields of ``Match.order``: the newest first, then the key."""
    return -_timestamp(paper.published), paper.key


def make_match(paper: Paper, chips: Sequence[Chip], title_hits: int, abstract_hits: int) -> Match:
    """The one constructor both matchers use, so their results compare equal."""
    return Match(paper, tuple(chips), title_hits, abstract_hits)


#: Match's fields in order, each slot's own store (see ``make_matches``).
_MATCH_STORES = tuple(getattr(Match, f.name).__set__ for f in fields(Match))


def make_matches(
    papers: Iterable[Paper],
    chips: Iterable[tuple[Chip, ...]],
    title_hits: Iterable[int],
    abstract_hits: Iterable[int],
) -> list[Match]:
    """``make_match`` over parallel iterables (``chips`` already tuples), in
    about half the time: a daily plan's cards, when asked for their
    Matches (:mod:`bot.core.matching.picks`), are 40,000 at once.

    A frozen dataclass's ``__init__`` stores each field through
    ``object.__setattr__``, found by name; here each slot's descriptor stores
    it directly, as that ``__init__`` ends up doing. A field added to Match
    must be stored here too: until it is, unpacking ``_MATCH_STORES`` fails."""
    new = object.__new__
    paper_, chips_, title_, abstract_, order_ = _MATCH_STORES
    out: list[Match] = []
    append = out.append
    for paper, chip_set, title, abstract in zip(
        papers, chips, title_hits, abstract_hits, strict=True
    ):
        match = new(Match)
        paper_(match, paper)
        chips_(match, chip_set)
        title_(match, title)
        abstract_(match, abstract)
        order_(match, None)
        append(match)
    return out


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
            if kind == "cat" and category_key(value):
                cats.add(category_key(value))
            elif kind == "co" and value:
                cos.add(value)
        if not cats and not cos:
            return None
        return cls(frozenset(cats), frozenset(cos))

    def confirms(self, paper: Paper) -> bool:
        """The paper shares a category or a co-author (``surname/initial``) with the evidence."""
        if any(
            category_key(c) in self.categories
            for c in (*paper.categories, paper.primary_category)
            if c
        ):
            return True
        return not self.coauthors.isdisjoint(_byline_keys(paper.authors))


@lru_cache(maxsize=8192)
def _byline_keys(authors: tuple[str, ...]) -> frozenset[str]:
    """Every ``surname/initial`` key of every byline of a paper (see ``person_keys``)."""
    return frozenset().union(*(person_keys(b) for b in bylines(authors)))


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
class Watch:
    """One watch chip, compiled: exactly one of ``author``/``query``/``category``
    (or ``author_id`` with ``names``, for a chip that follows an identity)."""

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


def compile_chip(chip: Chip) -> Watch | KeywordQuery | str | None:
    """What one chip is to a radar: a :class:`Watch` (author, keyword or
    category), the source it admits (casefolded ``str``), the query an
    exclusion chip refuses (:class:`KeywordQuery`), or None when it cannot be
    parsed or is a kind that matches nothing. The one place a chip's meaning
    is decided: :meth:`Radar.from_chips` and the radar index both compile here.
    """
    try:
        if chip.kind is ChipKind.AUTHOR:
            author = parse_name(chip.value)
            if chip.author_id is None:
                return Watch(chip, author=author)
            return Watch(
                chip,
                author,
                author_id=chip.author_id,
                names=_names(chip),
                evidence=Evidence.of(chip),
            )
        if chip.kind is ChipKind.KEYWORD:
            return Watch(chip, query=KeywordQuery.parse(chip.value))
        if chip.kind is ChipKind.CATEGORY:
            category = category_key(chip.value)
            return Watch(chip, category=category) if category else None
        if chip.kind is ChipKind.SOURCE:
            return chip.value.strip().casefold() or None
        if chip.kind is ChipKind.EXCLUDE:
            return KeywordQuery.parse(chip.value)
    except ValueError:
        pass  # the command layer rejects these on entry; a stored oddity matches nothing
    return None


@dataclass(frozen=True)
class Radar:
    """The chips of one channel, compiled for matching.

    Chips that cannot be parsed (an author "name" with no letters, a keyword
    with no words) match nothing rather than failing the whole radar: the
    command layer rejects them on entry, and a stored oddity must not stop a
    channel's digest.
    """

    chips: tuple[Chip, ...]
    watches: tuple[Watch, ...]
    sources: frozenset[str] | None  # casefolded; None = every source
    exclusions: tuple[KeywordQuery, ...]

    @classmethod
    def from_chips(cls, chips: Iterable[Chip]) -> Radar:
        """Compile chips (duplicates dropped, order kept)."""
        unique = tuple(dict.fromkeys(chips))
        watches: list[Watch] = []
        sources: set[str] = set()
        exclusions: list[KeywordQuery] = []
        for chip in unique:
            part = compile_chip(chip)
            if isinstance(part, Watch):
                watches.append(part)
            elif isinstance(part, str):
                sources.add(part)
            elif isinstance(part, KeywordQuery) and part not in exclusions:
                exclusions.append(part)
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
                hits = keyword_hits(watch.query, paper_text(paper))
                if hits is not None:
                    matched.append(watch.chip)
                    title_hits += hits[0]
                    abstract_hits += hits[1]
            elif watch.category is not None and category_in_paper(watch.category, paper):
                matched.append(watch.chip)
        if not matched:
            return None
        text = paper_text(paper) if self.exclusions else None
        if text is not None and any(keyword_hits(q, text) for q in self.exclusions):
            return None
        return make_match(paper, matched, title_hits, abstract_hits)


def match_paper(radar_chips: Sequence[Chip], paper: Paper) -> Match | None:
    """Whether ``paper`` is on the radar made of ``radar_chips``, and why."""
    return radar_of(tuple(radar_chips)).match(paper)


@lru_cache(maxsize=1024)
def radar_of(chips: tuple[Chip, ...]) -> Radar:
    """The compiled radar of ``chips`` (cached: a channel's chips compile once,
    however many papers or views ask)."""
    return Radar.from_chips(chips)
