"""Filter primitives: is this person, these words, this category in a paper?

Each answers for one term and one paper. ``/radar filter`` narrows a view with
them (every term must hold), and the radar's author, keyword and category
chips are decided by the same rules, so a chip and a filter term with the same
text always agree.
"""

from __future__ import annotations

from functools import lru_cache

from bot.core.matching.keywords import KeywordQuery, keyword_hits, paper_text
from bot.core.names import AuthorName, author_matches, parse_name
from bot.core.paper import Paper

__all__ = [
    "author_in_paper",
    "bylines",
    "category_in_paper",
    "category_key",
    "category_lookups",
    "keyword_in_paper",
]


@lru_cache(maxsize=8192)
def bylines(authors: tuple[str, ...]) -> tuple[AuthorName, ...]:
    """A paper's author list, parsed once (cached: many radars read one paper)."""
    out: list[AuthorName] = []
    for raw in authors:
        try:
            out.append(parse_name(raw))
        except ValueError:
            continue  # an unparseable byline entry (e.g. only punctuation) is nobody
    return tuple(out)


def author_in_paper(name: AuthorName, paper: Paper) -> bool:
    """Whether any author of ``paper`` is the person ``name`` (a chip) names."""
    return any(author_matches(name, b) for b in bylines(paper.authors))


def keyword_in_paper(query: KeywordQuery, paper: Paper) -> bool:
    """Whether every phrase of ``query`` occurs in the title or the abstract of ``paper``."""
    return keyword_hits(query, paper_text(paper)) is not None


def category_key(category: str) -> str:
    """The form categories are compared in: trimmed and casefolded."""
    return category.strip().casefold()


def category_lookups(category: str) -> list[str]:
    """The chip keys a paper category satisfies: itself and each dotted prefix."""
    key = category_key(category)
    out = [key]
    i = key.find(".")
    while i > 0:
        out.append(key[:i])
        i = key.find(".", i + 1)
    return out


def category_in_paper(category: str, paper: Paper) -> bool:
    """Whether ``paper`` is in ``category`` (any casing; ``astro-ph`` covers ``astro-ph.GA``)."""
    want = category_key(category)
    if not want:
        return False
    return any(
        want in category_lookups(c) for c in (*paper.categories, paper.primary_category) if c
    )
