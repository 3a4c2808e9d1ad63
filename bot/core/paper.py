"""``Paper``: the neutral record every source produces and every radar matches."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Paper:
    """One work, as the bot knows it.

    ``key`` is the identity across versions: for arXiv the identifier without
    its version suffix (``2604.26951``, ``astro-ph/0601001``), prefixed by the
    source (``arxiv:2604.26951``) so other sources can share the table.
    """

    key: str
    source: str  # "arxiv", later "openalex", ...
    title: str
    abstract: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    primary_category: str
    published: datetime  # first version, timezone-aware UTC
    updated: datetime  # latest version, timezone-aware UTC
    url: str  # the abstract page
    version: int = 1
    pdf_url: str | None = None
    doi: str | None = None
    journal_ref: str | None = None
    comment: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    #: Where the work appeared, as a reader names it: a journal or conference
    #: ("Nature Machine Intelligence") or a preprint server with its subject
    #: ("bioRxiv (Neuroscience)"). None when unknown or for plain arXiv records.
    venue: str | None = None
    #: Other versions of the same work (preprint <-> published), never ``url``
    #: itself; filled when sources report, or de-duplication merges, versions.
    links: tuple[str, ...] = ()

    @property
    def source_id(self) -> str:
        """The identifier without the source prefix (``2604.26951``)."""
        return self.key.split(":", 1)[1] if ":" in self.key else self.key


def author_ids(paper: Paper) -> frozenset[str]:
    """The catalogue author ids the paper's record carries (OpenAlex ``A…``).

    Empty for records from sources that know no author identities (arXiv):
    author chips that follow a person then match by name instead.
    """
    ids = paper.extra.get("author_ids", "")
    return frozenset(ids.split()) if ids else frozenset()


def sources_of(paper: Paper) -> frozenset[str]:
    """Every source that reported this work (casefolded): its own, and a merged
    record's contributors (``extra["sources"]``)."""
    found = {paper.source.casefold()}
    found.update(s.casefold() for s in paper.extra.get("sources", "").split())
    return frozenset(found)
