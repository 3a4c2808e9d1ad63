"""OpenAlex: journals, conferences and preprint servers beyond arXiv, and author identities.

OpenAlex (https://api.openalex.org) indexes works from journals, conference
proceedings and preprint servers (arXiv, bioRxiv, medRxiv, SSRN, ChemRxiv,
Research Square ...) and disambiguates their authors into records with ids.
This module talks to its REST API over plain ``requests`` and gives the bot:

* :meth:`OpenAlexSource.search_authors` -- candidate identities for a typed
  name (see :mod:`bot.core.identity` for which of them are plausible);
* :meth:`OpenAlexSource.works_by_author` -- one identity's works since a date;
* :meth:`OpenAlexSource.works_since` -- new works, filtered;
* :meth:`OpenAlexSource.harvest` -- the daily pass over followed identities
  and configured venues, batched (:data:`MAX_OR_VALUES` ids per request);
* :meth:`OpenAlexSource.work` -- one work by OpenAlex id, DOI or arXiv id;

each converted to the neutral ``Paper`` (:func:`paper_from_work`).

Politeness and safety, the same discipline as ``bot.sources.arxiv``:

* every request goes through the process-wide throttle for the API host;
  ``delay_seconds`` = 0.1 keeps us at 10 requests/second at most, well under
  the documented per-second limit, whatever number of channels asks;
* ``mailto`` (the "polite pool") and the API key (read from the environment
  variable named in the settings, sent as the documented ``api_key`` query
  parameter) go on every request; the key is never logged, and no URL is
  logged since the key travels in it;
* lists are read with cursor paging (``cursor=*``, then ``meta.next_cursor``)
  and ``select`` asks only for the fields the conversion reads; every page is
  fetched before anything is converted, so a failure on page three returns
  nothing rather than a silent partial list;
* HTTP 429 and 5xx, timeouts, connection errors and malformed bodies are
  retried with exponential backoff, honouring ``Retry-After``; other 4xx are
  final; the caller sees one ``UpstreamError`` written for people;
  ``interactive()`` is the same source for a person waiting on a command,
  each request ending within ``interactive_deadline_seconds``;
* user text never reaches the ``filter`` syntax: ids, dates and types are
  validated, free text is reduced to letters, digits and spaces with the
  boolean operators disarmed (:func:`search_text`), so a name cannot add a
  filter (``,``), an alternative (``|``), a field (``:``) or a negation (``!``).
"""

from __future__ import annotations

import copy
import html
import json
import logging
import os
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from bot.core.dedupe import (
    ARXIV_DOI_PREFIX,
    arxiv_id_from_doi,
    arxiv_id_from_url,
    normalize_doi,
    preprint_server,
)
from bot.core.identity import AuthorCandidate
from bot.core.names import parse_name
from bot.core.paper import Paper
from bot.errors import NotFoundError, UpstreamError
from bot.settings import OpenAlexSettings
from bot.sources.retry import Budget, Retry, RetryPolicy, http_get, retry_after, with_retries
from bot.sources.throttle import Throttle, throttle_for

__all__ = [
    "OpenAlexSettings",
    "OpenAlexSource",
    "abstract_from_inverted_index",
    "candidate_from_author",
    "clean_markup",
    "paper_from_work",
    "search_text",
]

logger = logging.getLogger(__name__)

USER_AGENT = "paper-radar/0.1"

#: Root-level fields the conversion reads; ``select`` keeps responses small.
WORK_FIELDS = (
    "id",
    "doi",
    "title",
    "display_name",
    "publication_date",
    "publication_year",
    "created_date",
    "updated_date",
    "type",
    "ids",
    "primary_location",
    "best_oa_location",
    "locations",
    "authorships",
    "primary_topic",
    "topics",
    "biblio",
    "abstract_inverted_index",
    "is_paratext",
    "is_retracted",
)
AUTHOR_FIELDS = (
    "id",
    "display_name",
    "display_name_alternatives",
    "orcid",
    "works_count",
    "cited_by_count",
    "last_known_institutions",
    "affiliations",
    "topics",
    "counts_by_year",
)
#: OpenAlex work types (``type`` filter values) a caller may ask for.
WORK_TYPES = frozenset(
    {
        "article", "book", "book-chapter", "dataset", "dissertation", "editorial",
        "erratum", "grant", "letter", "libguides", "other", "paratext", "peer-review",
        "preprint", "reference-entry", "report", "retraction", "review", "standard",
        "supplementary-materials",
    }
)  # fmt: skip
#: Source types whose name is a venue readers cite (not a repository mirror).
VENUE_TYPES = frozenset({"journal", "conference", "book series", "ebook platform"})

_ENTITY_ID = {
    letter: re.compile(
        rf"^(?:https?://(?:www\.)?openalex\.org/)?(?:openalex:)?({letter}\d+)$", re.I
    )
    for letter in "AWS"
}
_ORCID = re.compile(r"(\d{4}-\d{4}-\d{4}-\d{3}[\dX])$", re.I)


#: Values OpenAlex takes OR'd in one filter (``authorships.author.id:A1|A2|…``);
#: its guide says 50 (newer pages say 100): the lower one is safe on both.
MAX_OR_VALUES = 50


# -- query building ------------------------------------------------------------------

_OPERATORS = frozenset({"AND", "OR", "NOT"})
_KEEP = frozenset("'.")


def search_text(text: str) -> str:
    """``text`` reduced to words OpenAlex search and ``*.search`` filters take literally.

    Keeps letters and digits of any script (with their combining marks),
    apostrophes and full stops; everything else, including the filter syntax
    ``,`` ``|`` ``:`` ``!`` ``+`` ``"`` ``(`` ``)`` ``*`` and ``-``, becomes a
    space. The boolean operators OpenAlex honours in upper case (``AND``,
    ``OR``, ``NOT``) are lower-cased into plain words. Raises ``ValueError``
    when nothing searchable is left.
    """
    text = unicodedata.normalize("NFC", text)
    kept = [ch if unicodedata.category(ch)[0] in "LNM" or ch in _KEEP else " " for ch in text]
    words = []
    for word in "".join(kept).split():
        word = word.strip(".'")
        if not word:
            continue
        words.append(word.lower() if word in _OPERATORS else word)
    if not words:
        raise ValueError(f"nothing searchable is left in {text!r}")
    return " ".join(words)


def _entity_id(value: str, letter: str) -> str:
    """``A5017898742`` from ``A5017898742``, ``https://openalex.org/A…`` or ``openalex:A…``."""
    match = _ENTITY_ID[letter].fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not an OpenAlex {letter} id: {value!r}")
    return match[1].upper()


def _filter(pairs: Iterable[tuple[str, Sequence[str]]]) -> str:
    """``attr:v1|v2,attr2:v3`` from validated values (callers validate; this asserts)."""
    parts = []
    for attribute, values in pairs:
        for value in values:
            if not value or any(ch in value for ch in ",|!:"):
                raise ValueError(f"unsafe filter value for {attribute}: {value!r}")
        if values:
            parts.append(f"{attribute}:{'|'.join(values)}")
    return ",".join(parts)


# -- conversion ----------------------------------------------------------------------

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
        and _ENTITY_ID["A"].fullmatch(aid)
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


# -- the client ----------------------------------------------------------------------


class _RedactApiKey(logging.Filter):
    """Blank out ``api_key=...`` in log records.

    OpenAlex takes the key as a query parameter, and urllib3 logs every
    request line (query string included) at DEBUG; a bot run with debug
    logging must still not write the key to its logs.
    """

    _KEY = re.compile(r"(api_key=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        if "api_key=" in message:
            record.msg, record.args = self._KEY.sub(r"\1<redacted>", message), ()
        return True


def _install_redaction() -> None:
    for name in ("urllib3.connectionpool", "urllib3", "requests", __name__):
        target = logging.getLogger(name)
        if not any(isinstance(f, _RedactApiKey) for f in target.filters):
            target.addFilter(_RedactApiKey())


_install_redaction()


class OpenAlexSource:
    """Author look-ups, author backfills, harvests and single works from OpenAlex.

    Thread-safe in the same way as ``ArxivSource``: one ``requests`` session
    whose use the host's process-wide throttle serialises. As built, requests
    are retried patiently (the harvest); ``interactive()`` is the view for
    commands a person is waiting on.
    """

    def __init__(
        self,
        settings: OpenAlexSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
        throttle: Throttle | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= settings.per_page <= 200:
            raise ValueError("per_page must be between 1 and 200 (OpenAlex's limit)")
        self.settings = settings
        self._sleep = sleep
        self._monotonic = monotonic
        self.policy = RetryPolicy(settings.max_retries, settings.backoff_seconds)
        self._session = session or requests.Session()
        host = urlsplit(settings.api_url).netloc or settings.api_url
        self.throttle = throttle or throttle_for(host, settings.delay_seconds)
        # Read once; kept out of settings, repr and logs.
        self._api_key = (
            os.environ.get(settings.api_key_env, "").strip() if settings.api_key_env else ""
        )

    def __repr__(self) -> str:
        key = "set" if self._api_key else "unset"
        return f"OpenAlexSource(api_url={self.settings.api_url!r}, api_key={key})"

    def close(self) -> None:
        self._session.close()

    def interactive(self) -> OpenAlexSource:
        """This source for a person waiting on a command (``/radar author``'s
        look-up and backfill, a work fetched by DOI): each request ends within
        ``interactive_deadline_seconds``, retries and waits included.

        A view sharing this source's session, throttle and key (close this
        source, not the view).
        """
        view = copy.copy(self)
        view.policy = RetryPolicy(
            self.settings.max_retries,
            self.settings.interactive_backoff_seconds,
            self.settings.interactive_deadline_seconds,
        )
        return view

    # -- what we ask OpenAlex -------------------------------------------------------

    def search_authors(self, name: str) -> list[AuthorCandidate]:
        """Candidate author records for a typed name (one request).

        The query is the name as ``Given Surname`` (``Tang, Yehui`` -> ``Yehui
        Tang``); when the given names are only initials (``J. Mearman``) only
        the surname is searched, because OpenAlex matches whole words and the
        initials are better checked locally (:func:`bot.core.identity.plausible_people`).
        """
        parsed = parse_name(name)
        initials_only = not parsed.given or all(len(g.strip(".")) <= 1 for g in parsed.given)
        query = parsed.surname if initials_only else f"{' '.join(parsed.given)} {parsed.surname}"
        params = {
            "search": search_text(query),
            "per_page": str(max(1, min(self.settings.author_results, 200))),
            "select": ",".join(AUTHOR_FIELDS),
        }
        body = self._get_json("/authors", params, what="author search")
        results = _list(body.get("results"))
        return [c for r in results if (c := candidate_from_author(_dict(r))) is not None]

    def author(self, author_id: str) -> AuthorCandidate:
        """One author record by id (``A5017898742`` or its URL)."""
        aid = _entity_id(author_id, "A")
        body = self._get_json(
            f"/authors/{aid}", {"select": ",".join(AUTHOR_FIELDS)}, what=f"author {aid}"
        )
        candidate = candidate_from_author(body)
        if candidate is None:
            raise UpstreamError(
                "OpenAlex sent an author record without a name. Nothing was changed."
            )
        return candidate

    def works_by_author(
        self, author_id: str, since: date, *, until: date | None = None
    ) -> list[Paper]:
        """One identity's works published on or after ``since`` (newest first, paged)."""
        return self.works_since(since, until=until, author_ids=[author_id])

    def works_since(
        self,
        since: date,
        *,
        until: date | None = None,
        author_ids: Sequence[str] = (),
        source_ids: Sequence[str] = (),
        types: Sequence[str] = (),
        text: str | None = None,
        limit: int | None = None,
    ) -> list[Paper]:
        """Works published in ``[since, until]`` matching every given filter, newest first.

        ``author_ids`` (OpenAlex ``A…``), ``source_ids`` (venues, ``S…``) and
        ``types`` (``article``, ``preprint`` ...) each match any of their
        values; ``text`` must appear in the title or abstract. At most
        ``limit`` (default ``max_results``) works, read with cursor paging.
        Paratext (tables of contents, covers) and retracted works are left out:
        nobody wants them on a radar.
        """
        if isinstance(since, datetime) or (until is not None and isinstance(until, datetime)):
            raise TypeError("works_since takes dates, not datetimes")
        if until is not None and until < since:
            raise ValueError("until is before since")
        bad_types = sorted(set(types) - WORK_TYPES)
        if bad_types:
            raise ValueError(f"unknown OpenAlex work types: {', '.join(bad_types)}")
        pairs: list[tuple[str, Sequence[str]]] = [
            ("from_publication_date", [since.isoformat()]),
        ]
        if until is not None:
            pairs.append(("to_publication_date", [until.isoformat()]))
        if author_ids:
            pairs.append(("authorships.author.id", [_entity_id(a, "A") for a in author_ids]))
        if source_ids:
            pairs.append(("primary_location.source.id", [_entity_id(s, "S") for s in source_ids]))
        if types:
            pairs.append(("type", sorted(set(types))))
        if text is not None:
            pairs.append(("title_and_abstract.search", [search_text(text)]))
        pairs.append(("is_paratext", ["false"]))
        params = {
            "filter": _filter(pairs),
            "sort": "publication_date:desc",
            "select": ",".join(WORK_FIELDS),
        }
        works = self._paged("/works", params, limit or self.settings.max_results)
        return self._convert(w for w in works if w.get("is_retracted") is not True)

    def harvest(
        self,
        since: date,
        *,
        until: date | None = None,
        author_ids: Sequence[str] = (),
        source_ids: Sequence[str] = (),
    ) -> list[Paper]:
        """New works for the daily harvest: by any of ``author_ids`` or in any of
        ``source_ids``, published in ``[since, until]``.

        Ids are OR'd in batches of :data:`MAX_OR_VALUES` per listing, so the
        cost is one paged listing per 50 distinct identities and per 50
        sources, whatever number of channels follow them. All or nothing: a
        failure in any batch raises ``UpstreamError`` and returns no works.
        Works met in several batches are returned once per batch; the store
        merges them.
        """
        papers: list[Paper] = []
        for field_name, ids in (
            ("author_ids", sorted({_entity_id(a, "A") for a in author_ids})),
            ("source_ids", sorted({_entity_id(s, "S") for s in source_ids})),
        ):
            for i in range(0, len(ids), MAX_OR_VALUES):
                batch = ids[i : i + MAX_OR_VALUES]
                papers += self.works_since(since, until=until, **{field_name: batch})
        return papers

    def work(self, id_or_doi: str) -> Paper:
        """One work by OpenAlex id (``W…``), DOI (any common form) or ``arxiv:<id>``.

        Raises ``NotFoundError`` when OpenAlex has no such work, ``ValueError``
        when the text is none of these.
        """
        text = id_or_doi.strip()
        if text.lower().startswith("arxiv:"):
            arxiv_id = text[len("arxiv:") :]
            doi = normalize_doi(f"{ARXIV_DOI_PREFIX}{arxiv_id}")
            if doi is None or arxiv_id_from_doi(doi) is None:
                raise ValueError(f"not an arXiv identifier: {arxiv_id!r}")
            path = f"/works/doi:{quote(doi, safe='/.()-_;')}"
        elif (doi := normalize_doi(text)) is not None:
            path = f"/works/doi:{quote(doi, safe='/.()-_;')}"
        else:
            path = f"/works/{_entity_id(text, 'W')}"
        body = self._get_json(path, {"select": ",".join(WORK_FIELDS)}, what=f"work {text}")
        paper = paper_from_work(body)
        if paper is None:
            raise UpstreamError(
                "OpenAlex sent a work without a title or date. Nothing was changed."
            )
        return paper

    # -- plumbing -------------------------------------------------------------------

    @staticmethod
    def _convert(works: Iterable[Mapping[str, Any]]) -> list[Paper]:
        papers: dict[str, Paper] = {}
        for work in works:
            paper = paper_from_work(work)
            if paper is not None:
                papers.setdefault(paper.key, paper)
        return list(papers.values())

    def _paged(self, path: str, params: Mapping[str, str], limit: int) -> list[Mapping[str, Any]]:
        """Every result of a listing up to ``limit``, by cursor; all pages or an error."""
        per_page = max(1, min(self.settings.per_page, limit))
        cursor: str | None = "*"
        seen_cursors: set[str] = set()
        results: list[Mapping[str, Any]] = []
        while cursor is not None and len(results) < limit:
            page_params = {**params, "per_page": str(per_page), "cursor": cursor}
            body = self._get_json(path, page_params, what="listing")
            page = [_dict(r) for r in _list(body.get("results"))]
            results.extend(page)
            seen_cursors.add(cursor)
            meta = _dict(body.get("meta"))
            nxt, count = meta.get("next_cursor"), meta.get("count")
            if not page or not isinstance(nxt, str) or not nxt:
                break
            if isinstance(count, int) and len(results) >= count:
                break  # the last page already came; skip asking for an empty one
            if nxt in seen_cursors:
                logger.warning(
                    "OpenAlex repeated a cursor on %s; stopping after %d", path, len(results)
                )
                break
            cursor = nxt
        if len(results) >= limit:
            count = _dict(body.get("meta")).get("count")
            logger.info("OpenAlex listing %s capped at %d of %s results", path, limit, count)
        return results[:limit]

    def _get_json(self, path: str, params: Mapping[str, str], *, what: str) -> Mapping[str, Any]:
        """One GET with retries; the parsed JSON object, or ``UpstreamError``."""
        return with_retries(
            lambda budget: self._try_once(path, params, what, budget),
            upstream="OpenAlex",
            policy=self.policy,
            sleep=self._sleep,
            logger=logger,
            what=what,
            long_wait_hint="; its daily allowance may be used up",
            monotonic=self._monotonic,
        )

    def _try_once(
        self, path: str, params: Mapping[str, str], what: str, budget: Budget
    ) -> Mapping[str, Any]:
        """One request and its verdict: a JSON object, ``Retry``, or a final error."""
        query = dict(params)
        if self.settings.mailto:
            query["mailto"] = self.settings.mailto
        if self._api_key:
            query["api_key"] = self._api_key
        agent = USER_AGENT + (f" (mailto:{self.settings.mailto})" if self.settings.mailto else "")
        url = self.settings.api_url.rstrip("/") + path
        # http_get logs no exception text: it holds the URL, and the URL the key.
        resp = http_get(
            self._session,
            url,
            budget=budget,
            timeout=self.settings.timeout_seconds,
            throttle=self.throttle,
            logger=logger,
            upstream=f"OpenAlex {what}",
            params=query,
            headers={"User-Agent": agent, "Accept": "application/json"},
        )
        status = resp.status
        if status == 429 or status >= 500:
            raise Retry(f"HTTP {status}", retry_after(resp.headers.get("Retry-After")))
        if status == 403 and resp.headers.get("Retry-After"):
            # OpenAlex documents 403 for "rate limit exceeded; slow down".
            raise Retry("HTTP 403", retry_after(resp.headers.get("Retry-After")))
        if status == 404 and path.count("/") >= 2:  # a single entity: /works/W…
            raise NotFoundError(f"OpenAlex has no {what}.")
        if status == 401:
            raise UpstreamError(
                "OpenAlex refused the request (HTTP 401): it needs an API key; set "
                f"{self.settings.api_key_env or 'the API key variable'}. Nothing was changed."
            )
        if status != 200:
            # The body is OpenAlex's error JSON; log a little of it, never show it.
            logger.warning(
                "OpenAlex refused %s %s with HTTP %d: %.300r", what, path, status, resp.content
            )
            raise UpstreamError(
                f"OpenAlex refused the request (HTTP {status}). Nothing was changed."
            )
        try:
            body = json.loads(resp.content)
        except ValueError:
            raise Retry("malformed response") from None
        if not isinstance(body, dict):
            raise Retry("malformed response")
        return body
