"""OpenAlex records to the bot's neutral values: a work to a ``Paper``, an
author to an ``AuthorCandidate``.

OpenAlex's JSON is trusted with nothing: every field may be missing, null or
of the wrong type, titles and abstracts carry HTML/JATS markup, abstracts
arrive as inverted indexes, and dates may be a year's first day standing for
"some time that year". Each function here takes one decoded JSON object and
returns a clean value (or None when the record is unusable), without I/O.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from bot.core.dedupe import (
    ARXIV_DOI_PREFIX,
    arxiv_id_from_doi,
    arxiv_id_from_url,
    normalize_doi,
    preprint_server,
)
from bot.core.identity import AuthorCandidate
from bot.core.paper import Paper
from bot.sources.openalex.query import ENTITY_ID

__all__ = [
    "abstract_from_inverted_index",
    "candidate_from_author",
    "clean_markup",
    "paper_from_work",
]

logger = logging.getLogger(__name__)

#: Source types whose name is a venue readers cite (not a repository mirror).
VENUE_TYPES = frozenset({"journal", "conference", "book series", "ebook platform"})

_ORCID = re.compile(r"(\d{4}-\d{4}-\d{4}-\d{3}[\dX])$", re.I)

_INLINE_TAGS = (
    "i|b|em|strong|u|sc|scp|italic|bold|span|a|tt|code|small|big|font|mml:[a-z]+|"
    "jats:(?:italic|bold|sc|underline|monospace|named-content|ext-link)"
)
_TAG = re.compile(
    r"<(?P<close>/)?(?P<name>sub|sup|jats:sub|jats:sup|" + _INLINE_TAGS + r"|"
    r"p|br|div|title|sec|list|list-item|jats:p|jats:title|jats:sec|jats:list|jats:list-item)"
    r"(?:\s[^<>]*)?/?>",
    re.I,
)
_BLOCK_TAGS = frozenset(
    {"p", "br", "div", "title", "sec", "list", "list-item", "jats:p", "jats:title", "jats:sec",
     "jats:list", "jats:list-item"}
)  # fmt: skip
_GLUE_TAGS = frozenset({"sub", "sup", "jats:sub", "jats:sup"})
_INLINE_MARK, _GLUE_MARK = "\x00", "\x01"
_BETWEEN_WORDS = re.compile(r"(?<=\w)\x00+(?=\w)")
_HEADING = re.compile(r"^(?:Abstract|ABSTRACT)[:.]?\s+(?=[A-Z0-9(])")


def clean_markup(text: str | None) -> str:
    """Plain text from OpenAlex's HTML/JATS-flavoured titles and abstracts.

    ``Using<b>lme4</b>`` -> ``Using lme4`` (the capture really has no space),
    ``H<sub>2</sub>O`` -> ``H2O``, ``<jats:p>...</jats:p>`` -> paragraphs,
    ``&lt;2-fold`` -> ``<2-fold``. Only known markup tags are removed, so a
    ``<`` in mathematics survives. Whitespace is folded.
    """
    if not text:
        return ""

    def mark(match: re.Match[str]) -> str:
        name = match["name"].lower()
        if name in _BLOCK_TAGS:
            return " "
        return _GLUE_MARK if name in _GLUE_TAGS else _INLINE_MARK

    text = _TAG.sub(mark, text)
    # An emphasis tag glued between two words stood for a space the source lost.
    text = _BETWEEN_WORDS.sub(" ", text)
    text = text.replace(_INLINE_MARK, "").replace(_GLUE_MARK, "")
    return " ".join(html.unescape(text).split())


def abstract_from_inverted_index(index: Mapping[str, Any] | None) -> str:
    """The abstract text from OpenAlex's ``abstract_inverted_index``.

    OpenAlex may not redistribute many abstracts verbatim, so it ships each
    one as ``{word: [positions]}``. The words are put back at their positions
    in order and joined with single spaces (the original whitespace is not
    recoverable). Missing or malformed indexes give ``""``; gaps in the
    positions are skipped rather than invented.
    """
    if not index or not isinstance(index, Mapping):
        return ""
    placed: dict[int, str] = {}
    for word, positions in index.items():
        if not isinstance(word, str) or not isinstance(positions, list):
            continue
        for pos in positions:
            if isinstance(pos, int) and not isinstance(pos, bool) and pos >= 0:
                placed.setdefault(pos, word)
    text = clean_markup(" ".join(placed[p] for p in sorted(placed)))
    # JATS abstracts often open with their section heading as a word.
    return _HEADING.sub("", text, count=1)


def _short_id(url_or_id: str | None) -> str | None:
    if not url_or_id:
        return None
    return url_or_id.rstrip("/").rsplit("/", 1)[-1] or None


def _orcid(value: str | None) -> str | None:
    if not value:
        return None
    match = _ORCID.search(value.strip())
    return match[1].upper() if match else None


def _date(value: Any) -> datetime | None:
    """A timezone-aware UTC datetime from ``2024-05-08`` or ``2025-09-09T19:03:40.363384``."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _locations(work: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Primary location first, then the others, each once."""
    out: list[Mapping[str, Any]] = []
    for loc in [work.get("primary_location"), *_list(work.get("locations"))]:
        loc = _dict(loc)
        if loc and loc not in out:
            out.append(loc)
    return out


def _work_arxiv_id(work: Mapping[str, Any], doi: str | None) -> str | None:
    """The arXiv id of a work: from an arXiv DOI, else from arxiv.org locations if they agree."""
    from_doi = arxiv_id_from_doi(doi)
    if from_doi:
        return from_doi
    found: set[str] = set()
    for loc in _locations(work):
        for url in (loc.get("landing_page_url"), loc.get("pdf_url")):
            if isinstance(url, str) and (aid := arxiv_id_from_url(url)):
                found.add(aid)
    if len(found) > 1:
        logger.info("OpenAlex work %s has several arXiv ids %s", work.get("id"), sorted(found))
        return None
    return found.pop() if found else None


def _subfield(work: Mapping[str, Any]) -> str | None:
    topic = _dict(work.get("primary_topic")) or next(iter(_list(work.get("topics"))), {})
    name = _dict(_dict(topic).get("subfield")).get("display_name")
    return name if isinstance(name, str) and name else None


def _venue(work: Mapping[str, Any]) -> tuple[str | None, bool]:
    """(venue name, is it a journal/conference) for a work.

    A journal, conference or book series anywhere among the locations wins (the
    version of record); else, when the work lives on a preprint server (its
    primary location, or any location of a work typed ``preprint``), that
    server, named short with the work's subfield (``bioRxiv (Neuroscience)``).
    A published work that merely has an arXiv copy is not "on arXiv"
    (ResNet's record has a CVPR DOI and no source: no venue rather than a
    wrong one). Institutional repositories and indexes (PubMed Central, DOAJ,
    a university portal) are not venues.
    """
    locations = _locations(work)
    for loc in locations:
        src = _dict(loc.get("source"))
        name = src.get("display_name")
        if (
            isinstance(name, str)
            and name
            and src.get("type") in VENUE_TYPES
            and preprint_server(name) is None
        ):
            return " ".join(name.split()), True
    primary = _dict(work.get("primary_location"))
    on_server = locations if work.get("type") == "preprint" else [primary]
    for loc in on_server:
        name = _dict(loc.get("source")).get("display_name")
        short = preprint_server(name) if isinstance(name, str) else None
        if short:
            subfield = _subfield(work)
            return (f"{short} ({subfield})" if subfield else short), False
    return None, False


def _journal_ref(venue: str, work: Mapping[str, Any]) -> str | None:
    """``Nature Machine Intelligence 6(5), 525–535 (2024)`` from ``biblio``; None if bare."""
    biblio = _dict(work.get("biblio"))
    volume, issue = biblio.get("volume"), biblio.get("issue")
    first, last = biblio.get("first_page"), biblio.get("last_page")
    if not volume and not first:
        return None
    ref = venue
    if volume:
        ref += f" {volume}"
        if issue:
            ref += f"({issue})"
    if first:
        pages = first if not last or last == first else f"{first}–{last}"
        ref += f", {pages}" if volume else f" {pages}"
    year = work.get("publication_year")
    if isinstance(year, int):
        ref += f" ({year})"
    return ref


def _https_arxiv(url: str) -> str:
    return "https://" + url[len("http://") :] if url.startswith("http://arxiv.org/") else url


def _pdf_url(work: Mapping[str, Any], arxiv_id: str | None) -> str | None:
    for loc in [work.get("best_oa_location"), *_locations(work)]:
        url = _dict(loc).get("pdf_url")
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            return _https_arxiv(url)
    return f"https://arxiv.org/pdf/{arxiv_id}" if arxiv_id else None


def _url_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{(parts.hostname or '').removeprefix('www.')}{parts.path.rstrip('/')}?{parts.query}"


def _published(work: Mapping[str, Any]) -> datetime | None:
    """When the work appeared: ``publication_date``, or the year, or the record's creation.

    OpenAlex dates many preprints (and some articles) to 1 January when only
    the year is known (ChemCrow's arXiv record says 2023-01-01; arXiv says
    2023-04-11). When the date is 1 January and the record was created later
    that same year, the creation date is the better estimate.
    """
    published = _date(work.get("publication_date"))
    if published is None and isinstance(work.get("publication_year"), int):
        published = datetime(work["publication_year"], 1, 1, tzinfo=UTC)
    created = _date(work.get("created_date"))
    if published is None:
        return created
    if (
        created is not None
        and (published.month, published.day) == (1, 1)
        and created.year == published.year
        and created > published
    ):
        return created
    return published


def paper_from_work(work: Mapping[str, Any]) -> Paper | None:
    """The neutral ``Paper`` for one OpenAlex work object, or None when it has no title/date.

    The key is ``arxiv:<id>`` when the work is an arXiv preprint (DataCite
    arXiv DOI) or has an arxiv.org location, so it is the same paper as
    arXiv's own record and the channel ledgers never show it twice; otherwise
    ``openalex:W…``. ``extra["openalex"]`` always holds the W id.
    """
    work_id = _short_id(work.get("id"))
    title = clean_markup(work.get("display_name") or work.get("title"))
    published = _published(work)
    if not work_id or not title or published is None:
        return None

    doi = normalize_doi(work.get("doi"))
    arxiv_id = _work_arxiv_id(work, doi)
    key = f"arxiv:{arxiv_id}" if arxiv_id else f"openalex:{work_id}"
    venue, is_venue = _venue(work)

    doi_url = f"https://doi.org/{doi}" if doi and not doi.startswith(ARXIV_DOI_PREFIX) else None
    arxiv_url = f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else None
    landing = _dict(work.get("primary_location")).get("landing_page_url")
    landing = landing if isinstance(landing, str) and landing.startswith("http") else None
    url = doi_url or arxiv_url or landing or f"https://openalex.org/{work_id}"
    links: dict[str, str] = {}
    if landing and arxiv_id and arxiv_id_from_url(landing) == arxiv_id:
        landing = None  # an arXiv PDF or mirror URL: the abstract page stands for it
    # Copies on preprint servers are the other versions (DESeq2's record lists
    # its bioRxiv preprint, https://doi.org/10.1101/002832, as a location).
    preprints = [
        loc.get("landing_page_url")
        for loc in _locations(work)
        if preprint_server(_dict(loc.get("source")).get("display_name")) is not None
        and arxiv_id_from_url(loc.get("landing_page_url")) is None
    ]
    for link in (doi_url, arxiv_url, landing, *preprints):
        if isinstance(link, str) and link.startswith(("http://", "https://")):
            links.setdefault(_url_key(_https_arxiv(link)), _https_arxiv(link))
    links.pop(_url_key(url), None)

    topics = [_dict(t) for t in _list(work.get("topics"))]
    subfields = [
        name
        for t in topics
        if isinstance(name := _dict(t.get("subfield")).get("display_name"), str) and name
    ]
    topic_names = [name for t in topics if isinstance(name := t.get("display_name"), str) and name]
    extra = {"openalex": work_id}
    if isinstance(work.get("type"), str):
        extra["type"] = work["type"]
    if topic_names:
        extra["topics"] = "; ".join(dict.fromkeys(topic_names))
    if work.get("is_retracted") is True:
        extra["retracted"] = "true"

    authors = tuple(
        name
        for a in _list(work.get("authorships"))
        if (name := " ".join(str(_dict(_dict(a).get("author")).get("display_name") or "").split()))
    )
    # The authors' identities, so a chip that follows a person matches by id.
    ids = [
        aid
        for a in _list(work.get("authorships"))
        if (aid := _short_id(_dict(_dict(a).get("author")).get("id")))
        and ENTITY_ID["A"].fullmatch(aid)
    ]
    if ids:
        extra["author_ids"] = " ".join(dict.fromkeys(i.upper() for i in ids))
    return Paper(
        key=key,
        source="openalex",
        title=title,
        abstract=abstract_from_inverted_index(work.get("abstract_inverted_index")),
        authors=authors,
        categories=tuple(dict.fromkeys(subfields)),
        primary_category=_subfield(work) or "",
        published=published,
        updated=max(_date(work.get("updated_date")) or published, published),
        url=url,
        pdf_url=_pdf_url(work, arxiv_id),
        doi=doi,
        journal_ref=_journal_ref(venue, work) if venue and is_venue else None,
        extra=extra,
        venue=venue,
        links=tuple(links.values()),
    )


def candidate_from_author(author: Mapping[str, Any]) -> AuthorCandidate | None:
    """An ``AuthorCandidate`` from one OpenAlex author object (None without id or name)."""
    author_id = _short_id(author.get("id"))
    name = " ".join(str(author.get("display_name") or "").split())
    if not author_id or not name:
        return None
    institutions = tuple(
        n
        for i in _list(author.get("last_known_institutions"))
        if isinstance(n := _dict(i).get("display_name"), str) and n
    )
    affiliation_years: list[tuple[int, str]] = []
    for aff in _list(author.get("affiliations")):
        inst = _dict(_dict(aff).get("institution")).get("display_name")
        years = [y for y in _list(_dict(aff).get("years")) if isinstance(y, int)]
        if isinstance(inst, str) and inst and years:
            affiliation_years.append((max(years), inst))
    if not institutions and affiliation_years:
        institutions = (max(affiliation_years, key=lambda yi: (yi[0], yi[1]))[1],)
    active = [
        y
        for c in _list(author.get("counts_by_year"))
        if isinstance(y := _dict(c).get("year"), int) and (_dict(c).get("works_count") or 0) > 0
    ]
    last_active = max(active) if active else max((y for y, _ in affiliation_years), default=None)
    alternatives = tuple(
        dict.fromkeys(
            alt
            for a in _list(author.get("display_name_alternatives"))
            if isinstance(a, str) and (alt := " ".join(a.split())) and alt != name
        )
    )
    topics = tuple(
        n for t in _list(author.get("topics")) if isinstance(n := _dict(t).get("display_name"), str)
    )
    works, cited = author.get("works_count"), author.get("cited_by_count")
    return AuthorCandidate(
        id=author_id,
        display_name=name,
        orcid=_orcid(author.get("orcid")),
        works_count=works if isinstance(works, int) else 0,
        cited_by_count=cited if isinstance(cited, int) else 0,
        institutions=institutions,
        topics=topics[:5],
        alternatives=alternatives,
        last_active=last_active,
    )
