"""Author identities: which catalogue records could be the person a chip names.

``/radar author Yehui Tang`` is a string; the radar should follow a *person*.
Catalogues such as OpenAlex hold author records (an id, a display name and its
variants, the last known institution, an ORCID, a works count, top topics);
several records often share a name, and some are debris (a byline parsed
into a "name" such as ``Downward and Mearman Tony Lawson``).

:func:`plausible_people` keeps the records whose name fits the typed name by
the same rules author chips use for bylines (:func:`bot.core.names.author_matches`:
``Joseph Mearman`` fits ``Joseph W. Mearman`` but not ``J. Mearman`` or
``Andrew Mearman``; ``A. Mearman`` opts into every A. Mearman; ``Mearman``
into every Mearman), drops records whose name cannot be a person, and orders
the rest so the likeliest person comes first. When more than one remains,
the channel is asked to pick; :func:`describe` gives each choice one line.

This module is platform- and source-neutral: ``bot.sources.openalex`` builds
``AuthorCandidate`` values from API records, the command layer asks and
remembers the choice.

:func:`identity_evidence` summarises a followed person's catalogue works
(their arXiv categories, their co-authors' surnames) into the evidence that
confirms a byline match in sources without author ids (``Chip.evidence``).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.core.names import AuthorName, author_matches, parse_name, person_keys
from bot.core.paper import Paper
from bot.core.text import fold

__all__ = [
    "AuthorCandidate",
    "describe",
    "identity_evidence",
    "looks_like_person",
    "name_variants",
    "plausible_people",
]


@dataclass(frozen=True)
class AuthorCandidate:
    """One catalogue record for a person, with what a channel needs to tell people apart.

    ``id`` is the catalogue's short id (OpenAlex ``A5017898742``); ``orcid`` the
    bare ORCID iD; ``institutions`` the last known ones (or, when the catalogue
    has none, the most recent affiliation); ``topics`` the record's top topics,
    most works first; ``last_active`` the latest year the record has works
    (or an affiliation) in.
    """

    id: str
    display_name: str
    orcid: str | None = None
    works_count: int = 0
    cited_by_count: int = 0
    institutions: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()
    last_active: int | None = None
    source: str = "openalex"


#: Words that join two people's names; a "name" containing one is two bylines run together.
_CONJUNCTIONS = frozenset({"and", "&", "und"})
_NOT_IN_NAMES = re.compile(r"[\d@;()\[\]{}<>/|\\]")
#: Longer "names" are almost always several bylines or an affiliation run together.
MAX_NAME_WORDS = 6


def looks_like_person(name: str) -> bool:
    """Whether a catalogue display name can be one person's name.

    False for names that join several people (``Downward and Mearman Tony
    Lawson``, ``Smith & Jones``, ``Smith et al.``), carry digits, brackets,
    slashes or addresses, list more than one comma, or run past
    :data:`MAX_NAME_WORDS` words; these are parse debris, not people.
    """
    text = " ".join(name.split())
    if not text or _NOT_IN_NAMES.search(text) or text.count(",") > 1:
        return False
    words = [w.strip(".,").casefold() for w in text.split()]
    if len(words) > MAX_NAME_WORDS or any(w in _CONJUNCTIONS for w in words):
        return False
    if any(a == "et" and b.startswith("al") for a, b in itertools.pairwise(words)):
        return False
    try:
        parse_name(text)
    except ValueError:
        return False
    return True


def name_variants(candidate: AuthorCandidate) -> tuple[str, ...]:
    """The display name and every alternative that looks like a person, deduplicated.

    These are the spellings to look the person up under in sources that know
    no author ids (arXiv bylines).
    """
    seen: dict[str, str] = {}
    for name in (candidate.display_name, *candidate.alternatives):
        clean = " ".join(name.split())
        if clean and looks_like_person(clean):
            seen.setdefault(fold(clean), clean)
    return tuple(seen.values())


def _fits(chip: AuthorName, names: Iterable[str]) -> bool:
    for name in names:
        try:
            if author_matches(chip, parse_name(name)):
                return True
        except ValueError:
            continue
    return False


def _order(candidate: AuthorCandidate) -> tuple[int, int, str, str]:
    return (
        -candidate.works_count,
        -(candidate.last_active or 0),
        fold(candidate.display_name),
        candidate.id,
    )


def plausible_people(name: str, candidates: list[AuthorCandidate]) -> list[AuthorCandidate]:
    """The candidates that plausibly are the person typed as ``name``, likeliest first.

    A candidate is plausible when its display name, or one of its alternative
    names, matches ``name`` under the author-chip rules, and its display name
    looks like a person (:func:`looks_like_person`). Order: more works first
    (an established record over a stray one-paper split), then the more
    recently active, then by name and id, so the list is stable. Raises
    ``ValueError`` when ``name`` is not a name.
    """
    chip = parse_name(name)
    kept: dict[str, AuthorCandidate] = {}
    for candidate in candidates:
        if candidate.id in kept or not looks_like_person(candidate.display_name):
            continue
        if _fits(chip, name_variants(candidate)):
            kept[candidate.id] = candidate
    return sorted(kept.values(), key=_order)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)].rstrip() + "…"


def describe(candidate: AuthorCandidate, *, width: int = 120, max_topics: int = 3) -> str:
    """One line for a pick list: name — institution — works — topics — ORCID.

    ``Joseph Mearman — Bangor University — 9 works — Augmented Reality
    Applications, 3D Surveying and Cultural Heritage``. Topics are dropped
    from the end until the line fits ``width``; a line that still does not fit
    is clipped with an ellipsis. Everything here is what a colleague would use
    to recognise the person: where they work, how much and on what.
    """
    head = [" ".join(candidate.display_name.split())]
    if candidate.institutions:
        head.append(", ".join(candidate.institutions[:2]))
    count = candidate.works_count
    head.append(f"{count} work" if count == 1 else f"{count} works")
    tail = [f"ORCID {candidate.orcid}"] if candidate.orcid else []
    topics = list(candidate.topics[:max_topics])
    while True:
        parts = head + ([", ".join(topics)] if topics else []) + tail
        line = " — ".join(parts)
        if len(line) <= width or not topics:
            return _clip(line, width)
        topics.pop()


#: The most co-author keys and categories an identity chip keeps as evidence.
MAX_EVIDENCE_COAUTHORS = 200
MAX_EVIDENCE_CATEGORIES = 20
#: An arXiv category (``cs.CL``, ``hep-th``, ``astro-ph.GA``), not an OpenAlex
#: subfield (``Computer Vision and Pattern Recognition``).
_ARXIV_CATEGORY = re.compile(r"[a-z]+(-[a-z]+)*(\.[A-Za-z]+(-[A-Za-z]+)*)?")


def identity_evidence(names: Sequence[str], works: Iterable[Paper]) -> tuple[str, ...]:
    """Evidence entries for a chip following the person called ``names``, from
    their catalogue ``works``: ``cat:<arXiv category>`` for the arXiv categories
    of works known to arXiv (``arxiv:`` keys), and ``co:<surname>/<initial>`` for
    their co-authors (bylines that are not the person; the person's own keys are
    never evidence, as every namesake's byline has them). Most frequent
    first, at most :data:`MAX_EVIDENCE_CATEGORIES` categories and
    :data:`MAX_EVIDENCE_COAUTHORS` co-author keys; empty when the works tell
    nothing (the chip then matches arXiv bylines by name alone).
    """
    person: list[AuthorName] = []
    for name in names:
        try:
            person.append(parse_name(name))
        except ValueError:
            continue
    own = frozenset().union(*(person_keys(p) for p in person))
    categories: Counter[str] = Counter()
    coauthors: Counter[str] = Counter()
    for work in works:
        if work.key.startswith("arxiv:"):
            cats = {
                c.strip()
                for c in (*work.categories, work.primary_category)
                if c and _ARXIV_CATEGORY.fullmatch(c.strip())
            }
            categories.update(cats)
        keys: set[str] = set()
        for raw in work.authors:
            try:
                byline = parse_name(raw)
            except ValueError:
                continue
            if any(author_matches(p, byline) for p in person):
                continue
            keys.update(person_keys(byline) - own)
        coauthors.update(keys)

    def top(counts: Counter[str], limit: int) -> list[str]:
        return sorted(counts, key=lambda k: (-counts[k], k))[:limit]

    return (
        *(f"cat:{c}" for c in top(categories, MAX_EVIDENCE_CATEGORIES)),
        *(f"co:{k}" for k in top(coauthors, MAX_EVIDENCE_COAUTHORS)),
    )
