"""One work, one card: merging the versions several sources report of the same paper.

A paper is often posted to arXiv, indexed again by OpenAlex (sometimes twice:
once as the preprint, once as the journal article), and published months later
under a slightly different title. A radar that showed each record would post
the same result two or three times, so :func:`merge` folds them into one
``Paper`` before anything is ranked or posted.

Two records are the same work when they share

1. an arXiv identifier (from an ``arxiv:`` key, a ``10.48550/arXiv.*`` DOI,
   or an arxiv.org URL), or
2. a DOI (normalised: lower case, no resolver prefix), or
3. a normalised title *and* the first author's surname, published within
   :data:`TITLE_MATCH_YEARS` years of each other. Titles are compared as
   folded token sequences (case, accents, LaTeX, hyphens and punctuation do
   not matter), and a one- or two-word lead-in before a colon may be missing
   on one side (``ChemCrow: Augmenting large-language models ...`` is the
   journal's ``Augmenting large language models ...``).

Two different arXiv identifiers are never merged, however alike the titles:
arXiv itself holds them as different papers, and every radar ledger keys on
them.

The merged record keeps the richest metadata (see :func:`merge`), keeps the
arXiv key as its identity whenever any version has one (so "never show twice"
ledgers built on arXiv keys keep working), and lists the other versions'
URLs in ``links``. The result does not depend on the order of the input
records, only the order of the output list does (first occurrence wins).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from urllib.parse import unquote, urlsplit

from bot.core.names import parse_name
from bot.core.paper import Paper
from bot.core.text import tokenize

__all__ = [
    "TITLE_MATCH_YEARS",
    "arxiv_id_from_doi",
    "arxiv_id_from_url",
    "merge",
    "merge_work",
    "normalize_doi",
    "paper_arxiv_id",
    "preprint_server",
    "title_keys",
    "work_groups",
]

#: Titles shorter than this many tokens ("Introduction", "Reply") never match by title.
MIN_TITLE_TOKENS = 3
#: A lead-in before a colon may be dropped only when what follows is this long.
MIN_SUBTITLE_TOKENS = 4
#: Title matches must be published within this many years of each other
#: (preprint to journal usually takes months; recurring generic titles span decades).
TITLE_MATCH_YEARS = 3

ARXIV_DOI_PREFIX = "10.48550/arxiv."
_ARXIV_HOSTS = frozenset({"arxiv.org", "www.arxiv.org", "export.arxiv.org"})
_NEW_ID = re.compile(r"(?P<id>\d{4}\.\d{4,5})(?:v\d+)?", re.ASCII)
_OLD_ID = re.compile(
    r"(?P<archive>[a-z]+(?:-[a-z]+)*)(?:\.[a-z]{2})?/(?P<num>\d{7})(?:v\d+)?", re.ASCII
)
_ARXIV_PATH = re.compile(r"^/(?:abs|pdf|html)/(?P<id>.+?)(?:\.pdf)?/?$")
_DOI_PREFIXES = (
    "https://doi.org/",
    "http://doi.org/",
    "https://dx.doi.org/",
    "http://dx.doi.org/",
    "doi.org/",
    "doi:",
)
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")

#: Preprint servers as OpenAlex and publishers name them -> the short name readers use.
_PREPRINT_SERVERS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.I), name)
    for pattern, name in (
        (r"\barxiv\b", "arXiv"),
        (r"\bbiorxiv\b", "bioRxiv"),
        (r"\bmedrxiv\b", "medRxiv"),
        (r"\bchemrxiv\b", "ChemRxiv"),
        (r"\bpsyarxiv\b", "PsyArXiv"),
        (r"\bsocarxiv\b", "SocArXiv"),
        (r"\beartharxiv\b", "EarthArXiv"),
        (r"\btechrxiv\b", "TechRxiv"),
        (r"\bengrxiv\b", "engrXiv"),
        (r"\bssrn\b", "SSRN"),
        (r"\bresearch square\b", "Research Square"),
        (r"^preprints(\.org)?\b", "Preprints.org"),
        (r"\bosf preprints\b", "OSF Preprints"),
        (r"\bauthorea\b", "Authorea"),
    )
)
_PARENTHETICAL = re.compile(r"\s*\([^()]*\)\s*$")


# -- identifiers -------------------------------------------------------------------


def normalize_doi(text: str | None) -> str | None:
    """A bare, lower-case DOI (``10.1038/s42256-024-00832-8``), or None.

    Accepts ``https://doi.org/...``, ``doi:...`` and percent-encoded forms;
    DOIs are case-insensitive, so lower case is their canonical form here.
    """
    if not text:
        return None
    doi = unquote(text.strip()).lower()
    for prefix in _DOI_PREFIXES:
        if doi.startswith(prefix):
            doi = doi[len(prefix) :]
            break
    doi = doi.rstrip(".,;")
    return doi if _DOI.fullmatch(doi) else None


#: An arXiv link as people paste it, scheme optional: its path's id.
_ARXIV_URL = re.compile(
    r"(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/(.+?)(?:\.pdf)?/?"
)


def arxiv_id(raw: str) -> str | None:
    """The canonical arXiv id (no version) that ``raw`` names, or None: ``2604.26951``,
    ``arXiv:2604.26951v2``, ``https://arxiv.org/abs/2604.26951``, ``hep-th/9901001``,
    ``10.48550/arXiv.2604.26951`` (arXiv's DOI). What people type, where
    :func:`arxiv_id_from_url` and :func:`arxiv_id_from_doi` read records."""
    text = raw.strip().lower()
    if url := _ARXIV_URL.fullmatch(text):
        text = url[1]
    # arXiv's own DOI (10.48550/arXiv.<id>, as its abstract pages cite it) is
    # the arXiv paper: no need to ask OpenAlex which one it is.
    for prefix in ("https://doi.org/", "http://doi.org/", "doi.org/", "doi:"):
        text = text.removeprefix(prefix)
    return _canonical_arxiv_id(text.removeprefix(ARXIV_DOI_PREFIX).removeprefix("arxiv:"))


def _canonical_arxiv_id(text: str) -> str | None:
    """``2304.05376v2`` -> ``2304.05376``; ``math.AG/0309136`` -> ``math/0309136``."""
    text = text.strip().lower()
    if m := _NEW_ID.fullmatch(text):
        return m["id"]
    if m := _OLD_ID.fullmatch(text):
        return f"{m['archive']}/{m['num']}"
    return None


def arxiv_id_from_doi(doi: str | None) -> str | None:
    """The arXiv id of a DataCite arXiv DOI (``10.48550/arXiv.2304.05376``), or None."""
    bare = normalize_doi(doi)
    if bare is None or not bare.startswith(ARXIV_DOI_PREFIX):
        return None
    return _canonical_arxiv_id(bare[len(ARXIV_DOI_PREFIX) :])


def arxiv_id_from_url(url: str | None) -> str | None:
    """The arXiv id of an arxiv.org abstract/PDF URL, without version, or None."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if (parts.hostname or "").lower() not in _ARXIV_HOSTS:
        return None
    match = _ARXIV_PATH.match(parts.path)
    return _canonical_arxiv_id(match["id"]) if match else None


def paper_arxiv_id(paper: Paper) -> str | None:
    """The arXiv id a record carries: its key, its DOI, or (when they agree) its URLs."""
    if paper.key.startswith("arxiv:"):
        return _canonical_arxiv_id(paper.key[len("arxiv:") :])
    from_doi = arxiv_id_from_doi(paper.doi)
    if from_doi:
        return from_doi
    found = {
        aid
        for url in (paper.url, paper.pdf_url, *paper.links)
        if (aid := arxiv_id_from_url(url)) is not None
    }
    return found.pop() if len(found) == 1 else None


def preprint_server(name: str | None) -> str | None:
    """The short name of a preprint server (``arXiv (Cornell University)`` -> ``arXiv``).

    None when ``name`` is not a known preprint server (a journal, a conference,
    an institutional repository). Any other name containing ``rxiv`` counts too,
    minus a trailing parenthetical host.
    """
    if not name:
        return None
    for pattern, short in _PREPRINT_SERVERS:
        if pattern.search(name):
            return short
    if "rxiv" in name.casefold():
        return _PARENTHETICAL.sub("", name).strip() or None
    return None


def _is_preprint_venue(venue: str | None) -> bool:
    # "bioRxiv (Neuroscience)" as well as raw names such as "arXiv (Cornell University)".
    return venue is not None and preprint_server(venue) is not None


# -- title keys ----------------------------------------------------------------------


def title_keys(title: str) -> frozenset[str]:
    """The normalised forms under which ``title`` can match another title.

    The whole title as folded tokens, plus, for ``Lead-in: rest`` with a one- or
    two-word lead-in, the rest alone: journals often drop a system name that
    the preprint's title led with.
    """
    keys: set[str] = set()
    tokens = tokenize(title)
    if len(tokens) >= MIN_TITLE_TOKENS:
        keys.add(" ".join(tokens))
    head, colon, rest = title.partition(":")
    if colon:
        head_tokens, rest_tokens = tokenize(head), tokenize(rest)
        if 1 <= len(head_tokens) <= 2 and len(rest_tokens) >= MIN_SUBTITLE_TOKENS:
            keys.add(" ".join(rest_tokens))
    return frozenset(keys)


def _first_author_keys(paper: Paper) -> frozenset[str]:
    for author in paper.authors[:1]:
        try:
            return parse_name(author).keys
        except ValueError:
            return frozenset()
    return frozenset()


# -- grouping ------------------------------------------------------------------------


class _Groups:
    """Union-find over record indices that refuses to join two arXiv identities."""

    def __init__(self, arxiv_ids: Sequence[str | None]) -> None:
        self.parent = list(range(len(arxiv_ids)))
        self.arxiv = list(arxiv_ids)

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        xa, xb = self.arxiv[ra], self.arxiv[rb]
        if xa is not None and xb is not None and xa != xb:
            return False
        low, high = min(ra, rb), max(ra, rb)
        self.parent[high] = low
        self.arxiv[low] = xa or xb
        return True


def _group(papers: Sequence[Paper]) -> list[list[int]]:
    """Indices of ``papers`` grouped by work, each group in canonical order."""
    # Canonical order first, so which unions happen (and which a conflict
    # refuses) never depends on the order the caller passed records in.
    order = sorted(
        range(len(papers)),
        key=lambda i: (papers[i].key, papers[i].source, papers[i].url, papers[i].title),
    )
    ranked = [papers[i] for i in order]
    groups = _Groups([paper_arxiv_id(p) for p in ranked])

    strong: dict[str, int] = {}
    for pos, paper in enumerate(ranked):
        keys = [f"key:{paper.key}"]
        if (aid := groups.arxiv[pos]) is not None:
            keys.append(f"arxiv:{aid}")
        if (doi := normalize_doi(paper.doi)) is not None:
            keys.append(f"doi:{doi}")
        # A version's DOI link (a journal record listing its bioRxiv preprint)
        # identifies that version's own record.
        keys.extend(
            f"doi:{link_doi}"
            for link in paper.links
            if "doi.org/" in link and (link_doi := normalize_doi(link)) is not None
        )
        for key in keys:
            first = strong.setdefault(key, pos)
            if first != pos:
                groups.union(first, pos)

    by_title: dict[tuple[str, str], list[int]] = {}
    for pos, paper in enumerate(ranked):
        for title in sorted(title_keys(paper.title)):
            for surname in sorted(_first_author_keys(paper)):
                by_title.setdefault((title, surname), []).append(pos)
    for bucket in by_title.values():
        for n, pos in enumerate(bucket):
            year = ranked[pos].published.year
            for other in bucket[:n]:
                if abs(ranked[other].published.year - year) <= TITLE_MATCH_YEARS and groups.union(
                    other, pos
                ):
                    break

    members: dict[int, list[int]] = {}
    for pos in range(len(ranked)):
        members.setdefault(groups.find(pos), []).append(order[pos])
    return list(members.values())


# -- merging -------------------------------------------------------------------------


def _published_score(paper: Paper) -> int:
    """How much a record looks like the version of record (journal, conference)."""
    score = 0
    if paper.venue and not _is_preprint_venue(paper.venue):
        score += 2
    doi = normalize_doi(paper.doi)
    if doi and not doi.startswith(ARXIV_DOI_PREFIX):
        score += 1
    return score


def _rank(paper: Paper) -> tuple[int, int, int, str, str]:
    # The version of record first; among preprints, arXiv's own record first,
    # its latest version first.
    return (
        -_published_score(paper),
        0 if paper.source == "arxiv" else 1,
        -paper.version,
        paper.key,
        paper.url,
    )


def _url_key(url: str) -> str:
    """``http://arxiv.org/abs/X`` and ``https://www.arxiv.org/abs/X/`` are one link."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip().lower()
    host = (parts.hostname or "").lower().removeprefix("www.")
    return f"{host}{parts.path.rstrip('/')}?{parts.query}".lower()


def _listed(papers: Sequence[Paper], name: str) -> set[str]:
    """The union of a space-separated ``extra`` list over ``papers``."""
    return {item for p in papers for item in p.extra.get(name, "").split()}


def _merge_group(group: Sequence[Paper]) -> Paper:
    ranked = sorted(group, key=_rank)
    best = ranked[0]
    from_arxiv = [p for p in ranked if p.source == "arxiv"]
    arxiv_first = from_arxiv + [p for p in ranked if p.source != "arxiv"]

    aids = {aid for p in ranked if (aid := paper_arxiv_id(p)) is not None}
    if len(aids) == 1:
        key = f"arxiv:{aids.pop()}"
        source = (
            "arxiv" if from_arxiv else next((p.source for p in ranked if p.key == key), best.source)
        )
    else:
        # No arXiv version: the earliest record's key, the one a ledger most likely holds.
        first = min(ranked, key=lambda p: (p.published, p.key))
        key, source = first.key, first.source

    dois = [d for p in ranked if (d := normalize_doi(p.doi)) is not None]
    doi = next((d for d in dois if not d.startswith(ARXIV_DOI_PREFIX)), dois[0] if dois else None)
    venues = [p.venue for p in ranked if p.venue]
    venue = next((v for v in venues if not _is_preprint_venue(v)), venues[0] if venues else None)

    url = best.url
    links: dict[str, str] = {_url_key(url): url}
    for paper in ranked:
        for link in (paper.url, *paper.links):
            if link:
                links.setdefault(_url_key(link), link)
    del links[_url_key(url)]

    extra: dict[str, str] = {}
    for paper in reversed(ranked):
        extra.update(paper.extra)
    # Lists a version may already hold (it can be an earlier merge: the store
    # merges what arrives into what it holds) are unions, never overwritten.
    aliases = sorted(({p.key for p in ranked} | _listed(ranked, "aliases")) - {key})
    if aliases:
        extra["aliases"] = " ".join(aliases)
    else:
        extra.pop("aliases", None)
    extra["sources"] = " ".join(sorted({p.source for p in ranked} | _listed(ranked, "sources")))
    author_ids = _listed(ranked, "author_ids")
    if author_ids:
        extra["author_ids"] = " ".join(sorted(author_ids))

    categories = tuple(dict.fromkeys(c for p in arxiv_first for c in p.categories if c))
    published = (
        min(p.published for p in from_arxiv) if from_arxiv else min(p.published for p in ranked)
    )
    return replace(
        best,
        key=key,
        source=source,
        title=best.title,
        abstract=max(ranked, key=lambda p: len(p.abstract.strip())).abstract,
        authors=max(ranked, key=lambda p: len(p.authors)).authors,
        categories=categories,
        primary_category=next((p.primary_category for p in arxiv_first if p.primary_category), ""),
        published=published,
        updated=max(p.updated for p in ranked),
        url=url,
        version=max(p.version for p in ranked),
        pdf_url=next((p.pdf_url for p in arxiv_first if p.pdf_url), None),
        doi=doi,
        journal_ref=next((p.journal_ref for p in ranked if p.journal_ref), None),
        comment=next((p.comment for p in arxiv_first if p.comment), None),
        extra=extra,
        venue=venue,
        links=tuple(links.values()),
    )


def merge(papers: Iterable[Paper]) -> list[Paper]:
    """The input with every work's versions folded into one ``Paper``.

    Records with no other version come back unchanged (the same objects).
    For a merged work:

    * ``key``: ``arxiv:<id>`` when any version has an arXiv id, else the key of
      the earliest-published version; the other versions' keys are kept in
      ``extra["aliases"]`` (space-separated) so ledgers can check them too, and
      every contributing source in ``extra["sources"]``; these lists and the
      authors' catalogue ids (``extra["author_ids"]``) are unions over the
      versions, so merging into an earlier merge loses none. ``source`` is
      ``arxiv`` when arXiv's own record is among them.
    * title, url, DOI, venue and journal reference from the version of record
      (a journal or conference version before a preprint); the longest
      abstract; the longest author list;
    * arXiv's categories, primary category, comment, PDF and first-version
      date when arXiv's record is present (OpenAlex often dates preprints to
      1 January of their year); otherwise the earliest ``published``;
      the latest ``updated``;
    * ``links``: every other version's URL, deduplicated.

    Output order: each work at the position of its first record in the input.
    """
    items = list(papers)
    return [merge_work([items[i] for i in indices]) for indices in work_groups(items)]


def work_groups(papers: Sequence[Paper]) -> list[list[int]]:
    """Indices of ``papers`` grouped by work, by the rules of :func:`merge`.

    Each group lists its records in canonical order; groups come in the order
    of their first record. The store uses it to see which stored rows a new
    record belongs with.
    """
    groups = _group(papers)
    groups.sort(key=min)
    return groups


def merge_work(versions: Sequence[Paper]) -> Paper:
    """One work's versions (a group of :func:`work_groups`) as one ``Paper``;
    a lone version comes back as the same object."""
    if not versions:
        raise ValueError("a work needs at least one version")
    return versions[0] if len(versions) == 1 else _merge_group(versions)
