"""``Paper``: the neutral record every source produces and every radar matches."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime

from bot.core.safety import strip_controls


@dataclass(frozen=True)
class Paper:
    """One work, as the bot knows it.

    ``key`` is the identity across versions: for arXiv the identifier without
    its version suffix (``2604.26951``, ``astro-ph/0601001``), prefixed by the
    source (``arxiv:2604.26951``) so other sources can share the table.
    """

    key: str
    source: str  # "arxiv" or "openalex"
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

    def __post_init__(self) -> None:
        """Remove control characters from every text field, once, here.

        Every record becomes a ``Paper`` (each source builds one, and so does
        the store when it reads a row), so this is the one place where ANSI
        escapes, ``\\x07`` and bidi overrides from a record are removed before
        the paper is stored, matched or shown (``bot.core.safety.strip_controls``,
        the same notion of "control character" that refuses typed commands).
        Frozen, hence ``object.__setattr__``; a clean field is left as it is.
        """
        if _printable(self):
            return
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str):
                cleaned: object = strip_controls(value)
            elif isinstance(value, tuple):
                cleaned = tuple(strip_controls(v) if isinstance(v, str) else v for v in value)
            elif isinstance(value, dict):
                cleaned = {
                    k: strip_controls(v) if isinstance(v, str) else v for k, v in value.items()
                }
            else:
                continue
            if cleaned != value:
                object.__setattr__(self, f.name, cleaned)

    @property
    def source_id(self) -> str:
        """The identifier without the source prefix (``2604.26951``)."""
        return self.key.split(":", 1)[1] if ":" in self.key else self.key


def _printable(p: Paper) -> bool:
    """Whether no field holds a control character: one C-speed pass over all of
    them, since a paper is built for every stored row the bot reads."""
    parts = [p.key, p.source, p.title, p.abstract, p.primary_category, p.url]
    parts += [v for v in (p.pdf_url, p.doi, p.journal_ref, p.comment, p.venue) if v]
    parts += [*p.authors, *p.categories, *p.links, *p.extra.keys(), *p.extra.values()]
    try:
        return "".join(parts).isprintable()
    except TypeError:  # a non-string where a string belongs: let the slow path see
        return False


def own_urls(paper: Paper) -> tuple[str, ...]:
    """The paper's own URLs: its page, PDF, DOI and other versions. The only
    links model output about it may keep (``bot.core.safety.defuse_links``)."""
    found = [paper.url, paper.pdf_url, *paper.links]
    if paper.doi:
        found.append(f"https://doi.org/{paper.doi}")
    return tuple(dict.fromkeys(u for u in found if u))


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
