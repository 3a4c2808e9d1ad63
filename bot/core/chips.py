"""Chips: the filters a channel's radar is made of.

A radar is a union of watches: a paper is on the radar when it matches ANY
author, keyword or category chip, provided it comes from one of the radar's
sources (all sources when there is no source chip) and matches no exclusion.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ChipKind(StrEnum):
    AUTHOR = "author"
    KEYWORD = "keyword"
    CATEGORY = "category"
    SOURCE = "source"
    EXCLUDE = "exclude"  # typed as `/radar keyword -survey`


#: Kinds that add papers to a radar (the others narrow it).
WATCH_KINDS = frozenset({ChipKind.AUTHOR, ChipKind.KEYWORD, ChipKind.CATEGORY})

#: ``Chip.ref`` of an author chip the channel chose to keep as a bare name.
NAME_ONLY = "name-only"
OPENALEX_REF = "openalex:"


@dataclass(frozen=True)
class Chip:
    """One filter chip. ``value`` is its canonical text, as shown on the chip.

    Canonical forms: author names with single spaces (``Yehui Tang``), keyword
    and exclusion text as typed but whitespace-folded (phrases keep their
    quotes: ``"large language model" agents``), categories in arXiv's casing
    (``cs.CL``), sources in lower case (``arxiv``).

    Author chips may follow a person rather than a string: ``ref`` is then
    the identity (``openalex:A5017898742``) and ``names`` the other spellings
    that person publishes under (matched in sources without author ids, i.e.
    arXiv bylines). ``ref`` is ``NAME_ONLY`` when the channel chose the bare
    name, None for chips made before identities existed; both match by name.
    ``evidence`` confirms such a name match: ``cat:<arXiv category>`` and
    ``co:<co-author surname key>`` entries gathered from the person's OpenAlex
    works when the chip was made (see :func:`bot.core.identity.identity_evidence`);
    with evidence, a byline match counts only in a paper sharing a category or
    a co-author with it.
    All fields take part in equality: two chips following different people
    are different chips, even under one display name.
    """

    kind: ChipKind
    value: str
    ref: str | None = None
    names: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()

    @property
    def author_id(self) -> str | None:
        """The OpenAlex author id an identity chip follows (``A5017898742``), else None."""
        if self.kind is ChipKind.AUTHOR and self.ref and self.ref.startswith(OPENALEX_REF):
            return self.ref[len(OPENALEX_REF) :] or None
        return None

    def label(self) -> str:
        """How the chip reads in a header: ``Authors: Yehui Tang``-style pieces."""
        if self.kind is ChipKind.EXCLUDE:
            return f"-{self.value}"
        return self.value


KIND_TITLES = {
    ChipKind.AUTHOR: "Authors",
    ChipKind.KEYWORD: "Keywords",
    ChipKind.CATEGORY: "Categories",
    ChipKind.SOURCE: "Sources",
    ChipKind.EXCLUDE: "Excluding",
}
