"""arXiv through the ``arxiv`` package, made polite, bounded and safe.

The package does the query encoding, the Atom parsing and the paging (it keeps
asking for the next page until ``opensearch:totalResults`` is reached). This
module adds what a bot shared by many channels needs on top:

* every page request goes through the process-wide throttle for the API host
  (one connection at a time, at least ``delay_seconds`` between requests), so
  backfills and harvests from any number of channels together stay within
  arXiv's "one request every three seconds";
* a timeout on every request, and retries with exponential backoff for the
  failures that are worth retrying (HTTP 429 and 5xx, timeouts, connection
  errors, malformed or truncated feeds, spuriously empty pages), honouring
  ``Retry-After``; any other 4xx is final;
* two patiences (``bot.sources.http.RetryPolicy``): the source as built is
  the scheduled harvest's, with every retry; ``interactive()`` is the same
  source for a person waiting on a command, each request ending within
  ``interactive_deadline_seconds``, retries included;
* one user-facing ``UpstreamError`` when arXiv cannot be reached, never a raw
  body or a traceback;
* query building that user text cannot escape: names and keywords become
  quoted literal phrases, categories must look like categories;
* conversion of ``arxiv.Result`` into the bot's neutral ``Paper``.

Upstream cost is fixed by the caller's inputs, never by the number of
channels: a harvest is one paged pass over a time window, a backfill is one
request.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import arxiv
import requests
from arxiv import _feed

from bot.core import taxonomy
from bot.core.paper import Paper
from bot.errors import UpstreamError
from bot.settings import ArxivSettings
from bot.sources.http import (
    Budget,
    Retry,
    RetryPolicy,
    Throttle,
    check_status,
    http_get,
    interactive_view,
    polite_session,
    throttle_for,
    with_retries,
)

__all__ = [
    "ArxivSettings",
    "ArxivSource",
    "category_term",
    "harvest_query",
    "paper_from_result",
    "quote_term",
]

logger = logging.getLogger(__name__)

USER_AGENT = f"paper-radar/0.1 (arxiv.py/{arxiv.__version__})"

_VERSION = re.compile(r"^(?P<base>.+?)v(?P<version>\d+)$")
_NEW_ID = re.compile(r"^\d{4}\.\d{4,5}(v\d+)?$")
_OLD_ID = re.compile(r"^[a-z]+(-[a-z]+)*(\.[A-Z]{2})?/\d{7}(v\d+)?$")
_ERROR_ENTRY = re.compile(rb"<id>\s*https?://arxiv\.org/api/errors")
_CATEGORY = re.compile(r"^[a-z]+(-[a-z]+)*(\.[A-Za-z]+(-[A-Za-z]+)*)?$")


# -- query building ----------------------------------------------------------

_KEEP_PUNCTUATION = frozenset("-'.")


def quote_term(text: str) -> str:
    """``text`` as one quoted literal phrase for an arXiv query field.

    Keeps letters and digits of any script (with their combining marks, so
    Devanagari or decomposed accents survive), spaces, ``-``, ``'`` and
    ``.``; every other character becomes a space, so ``au:x OR cat:*`` turns
    into the harmless phrase ``"au x OR cat"``: inside double quotes ``OR`` is
    a word, not an operator, and no quote, bracket or colon can get through
    to close the phrase or open a field. Raises ``ValueError`` when nothing is
    left; callers validate user input before it gets here.
    """
    text = unicodedata.normalize("NFC", text)
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat[0] in "LNM" or ch in _KEEP_PUNCTUATION:
            kept.append(ch)
        else:
            kept.append(" ")
    cleaned = " ".join("".join(kept).split())
    if not cleaned:
        raise ValueError(f"nothing searchable is left in {text!r}")
    return f'"{cleaned}"'


def category_term(category: str) -> str:
    """A validated ``cat:`` term. Known categories get arXiv's casing.

    Unknown but well-formed ids (old archives such as ``astro-ph``) pass
    through unchanged; anything else raises ``ValueError``.
    """
    cat = category.strip()
    canonical = taxonomy.canonical(cat)
    if canonical is not None:
        return f"cat:{canonical}"
    if _CATEGORY.fullmatch(cat):
        return f"cat:{cat}"
    raise ValueError(f"not an arXiv category: {category!r}")


def _minute(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y%m%d%H%M")


def harvest_query(start: datetime, end: datetime, categories: Sequence[str] = ()) -> str:
    """The ``search_query`` for papers submitted in ``[start, end)``, UTC.

    arXiv's ``submittedDate:[A TO B]`` is inclusive at minute resolution, so
    the upper bound is the last minute before ``end`` (``end`` is truncated
    to the minute first); consecutive windows then neither overlap nor leave
    a gap.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("harvest needs timezone-aware datetimes")
    lo = start.astimezone(UTC).replace(second=0, microsecond=0)
    hi = end.astimezone(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    if hi < lo:
        raise ValueError("harvest window is empty: end must be at least a minute after start")
    query = f"submittedDate:[{_minute(lo)} TO {_minute(hi)}]"
    if categories:
        cats = " OR ".join(category_term(c) for c in categories)
        query += f" AND ({cats})"
    return query


def _check_id(arxiv_id: str) -> str:
    arxiv_id = arxiv_id.strip()
    if arxiv_id.startswith("arxiv:"):
        arxiv_id = arxiv_id[len("arxiv:") :]
    if _NEW_ID.fullmatch(arxiv_id) or _OLD_ID.fullmatch(arxiv_id):
        return arxiv_id
    raise ValueError(f"not an arXiv identifier: {arxiv_id!r}")


# -- conversion ----------------------------------------------------------------


def _fold(text: str | None) -> str:
    return " ".join((text or "").split())


def _optional(text: str | None) -> str | None:
    folded = _fold(text)
    return folded or None


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def split_version(short_id: str) -> tuple[str, int]:
    """``2604.26951v2`` -> (``2604.26951``, 2); no suffix means version 1."""
    match = _VERSION.fullmatch(short_id)
    if match is None:
        return short_id, 1
    return match["base"], int(match["version"])


def paper_from_result(result: arxiv.Result) -> Paper:
    """The neutral ``Paper`` for one API entry.

    The key drops the version (``arxiv:2604.26951``) so a new version of a
    paper is the same paper, not a new one to post again.
    """
    base, version = split_version(result.get_short_id())
    categories = tuple(dict.fromkeys(c for c in result.categories if c))
    return Paper(
        key=f"arxiv:{base}",
        source="arxiv",
        title=_fold(result.title),
        abstract=_fold(result.summary),
        authors=tuple(name for a in result.authors if (name := _fold(a.name))),
        categories=categories,
        primary_category=result.primary_category or (categories[0] if categories else ""),
        published=_utc(result.published),
        updated=_utc(result.updated),
        url=f"https://arxiv.org/abs/{base}",
        version=version,
        pdf_url=result.pdf_url or None,
        doi=_optional(result.doi),
        journal_ref=_optional(result.journal_ref),
        comment=_optional(result.comment),
    )


# -- the client ----------------------------------------------------------------


class ThrottledClient(arxiv.Client):
    """``arxiv.Client`` whose every page request is throttled, bounded and retried.

    Only ``_parse_feed`` is replaced; URL building and paging stay the
    package's. The package's own ``delay_seconds`` bookkeeping is per client
    object, which is not enough for a bot with many concurrent callers, so
    spacing is left entirely to the shared ``Throttle``.
    """

    def __init__(
        self,
        settings: ArxivSettings,
        *,
        page_size: int,
        throttle: Throttle,
        session: requests.Session,
        sleep: Callable[[float], None],
        policy: RetryPolicy,
        monotonic: Callable[[], float],
    ) -> None:
        super().__init__(page_size=page_size, delay_seconds=0.0, num_retries=policy.max_retries)
        # The format string is filled by str.format: escape any literal braces.
        self.query_url_format = settings.api_url.replace("{", "{{").replace("}", "}}") + "?{}"
        self._session = session
        self._settings = settings
        self._throttle = throttle
        self._sleep = sleep
        self._policy = policy
        self._monotonic = monotonic
        self.total_results: int | None = None  # from the first page

    def _parse_feed(
        self, url: str, first_page: bool = True, _try_index: int = 0
    ) -> _feed.ParsedFeed:
        feed = with_retries(
            lambda budget: self._try_once(url, first_page, budget),
            upstream="arXiv",
            policy=self._policy,
            sleep=self._sleep,
            logger=logger,
            first_index=_try_index,
            monotonic=self._monotonic,
        )
        if first_page:
            self.total_results = feed.header.total_results
        return feed

    def _try_once(self, url: str, first_page: bool, budget: Budget) -> _feed.ParsedFeed:
        """One request and its verdict: a feed, ``Retry``, or a final ``UpstreamError``."""
        resp = http_get(
            self._session,
            url,
            budget=budget,
            timeout=self._settings.timeout_seconds,
            throttle=self._throttle,
            logger=logger,
            upstream="arXiv",
        )
        check_status(resp)
        status = resp.status
        if status != 200:
            # The body of a 4xx is arXiv's error feed; log it, never show it.
            logger.warning("arXiv refused %s with HTTP %d: %.300r", url, status, resp.content)
            raise UpstreamError(f"arXiv refused the request (HTTP {status}). Nothing was changed.")
        if b"</feed>" not in resp.content:  # truncated, or not a feed at all
            raise Retry("malformed response")
        feed = _feed.parse(resp.content)
        if feed.malformed:
            raise Retry("malformed response")
        if _ERROR_ENTRY.search(resp.content):
            # arXiv's error feed (entry id .../api/errors#...); the package's
            # parser silently drops that entry, which would read as "no papers".
            logger.warning("arXiv answered %s with an error entry: %.300r", url, resp.content)
            raise UpstreamError("arXiv refused the request. Nothing was changed.")
        if not feed.results and not first_page:
            # Known arXiv flakiness: a page that should have entries comes back
            # empty; asking again usually works.
            raise Retry("empty page")
        return feed


class ArxivSource:
    """Harvests, backfills and lookups against the arXiv API.

    Thread-safe: each call builds its own small client; all of them share
    one HTTP session and the process-wide throttle for the API host, which
    also serialises the session's use.

    As built, every request is retried patiently (the scheduled harvest);
    ``interactive()`` gives the same source with the short deadline for
    commands a person is waiting on. ``sleep`` and ``monotonic`` are
    injectable together so tests can check waits and deadlines without
    waiting.
    """

    def __init__(
        self,
        settings: ArxivSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        throttle: Throttle | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._monotonic = monotonic
        host = urlsplit(settings.api_url).netloc or settings.api_url
        self.throttle = throttle or throttle_for(host, settings.delay_seconds)
        self._session = polite_session(USER_AGENT)
        self.policy = RetryPolicy(settings.max_retries, settings.backoff_seconds)

    def close(self) -> None:
        self._session.close()

    def interactive(self) -> ArxivSource:
        """This source for a person waiting on a command: each request (a
        backfill, a harvest page, a fetch by id) ends within
        ``interactive_deadline_seconds``, retries and waits included, with a
        short ``UpstreamError`` when arXiv does not answer in time.

        A view: it shares this source's session and throttle (close this
        source, not the view).
        """
        return interactive_view(self)

    # -- the four questions we ask arXiv ------------------------------------

    def harvest(
        self, start: datetime, end: datetime, categories: Sequence[str] = ()
    ) -> list[Paper]:
        """Every paper submitted in ``[start, end)``, newest first.

        One paged pass (``page_size`` per request, at most ``max_harvest``
        papers); the request count depends only on how many papers the window
        holds. All pages are collected before anything is returned, so a
        failure on any page raises ``UpstreamError`` and yields nothing.
        """
        search = arxiv.Search(
            query=harvest_query(start, end, categories),
            max_results=self.settings.max_harvest,
            sort_by=arxiv.SortCriterion.SubmittedDate,
            sort_order=arxiv.SortOrder.Descending,
        )
        client = self._client(self.settings.page_size)
        papers = self._collect(client, search)
        if client.total_results is not None and client.total_results > self.settings.max_harvest:
            logger.warning(
                "harvest window %s..%s holds %d papers; kept the newest %d (max_harvest)",
                start.isoformat(),
                end.isoformat(),
                client.total_results,
                self.settings.max_harvest,
            )
        return papers

    def backfill_author(self, name: str) -> list[Paper]:
        """An author's newest papers (one request)."""
        return self._backfill(f"au:{quote_term(name)}")

    def backfill_keyword(self, phrases: Sequence[Sequence[str]]) -> list[Paper]:
        """Newest papers matching every phrase (one request).

        Each inner sequence is one phrase of words: ``[["large", "language",
        "model"], ["agents"]]`` -> ``all:"large language model" AND all:"agents"``.
        """
        if not phrases:
            raise ValueError("a keyword backfill needs at least one phrase")
        terms = [
            # A bare string is one phrase, not a sequence of one-letter words.
            f"all:{quote_term(words if isinstance(words, str) else ' '.join(words))}"
            for words in phrases
        ]
        return self._backfill(" AND ".join(terms))

    def backfill_category(self, category: str) -> list[Paper]:
        """A category's newest papers (one request)."""
        return self._backfill(category_term(category))

    def fetch_ids(self, ids: Sequence[str]) -> list[Paper]:
        """Papers by identifier (``2604.26951``, ``astro-ph/0601001v1``, ``arxiv:...``)."""
        if isinstance(ids, str):
            ids = [ids]
        id_list = list(dict.fromkeys(_check_id(i) for i in ids))
        if not id_list:
            return []
        search = arxiv.Search(id_list=id_list, max_results=len(id_list))
        return self._collect(self._client(min(len(id_list), self.settings.page_size)), search)

    # -- plumbing --------------------------------------------------------------

    def _backfill(self, query: str) -> list[Paper]:
        size = self.settings.backfill_size
        search = arxiv.Search(
            query=query,
            max_results=size,
            sort_by=arxiv.SortCriterion.SubmittedDate,
            sort_order=arxiv.SortOrder.Descending,
        )
        # Exactly one request, by construction: take the first page and stop,
        # even when a short page claims more results exist.
        client = self._client(size)
        feed = client._parse_feed(client._format_url(search, 0, size), first_page=True)
        return self._convert(feed.results[:size])

    def _client(self, page_size: int) -> ThrottledClient:
        return ThrottledClient(
            self.settings,
            page_size=page_size,
            throttle=self.throttle,
            session=self._session,
            sleep=self._sleep,
            policy=self.policy,
            monotonic=self._monotonic,
        )

    def _collect(self, client: ThrottledClient, search: arxiv.Search) -> list[Paper]:
        # list() drains every page before we convert anything: nothing is
        # returned unless the whole pass succeeded. Pages can overlap when
        # arXiv's index shifts under us, hence the de-duplication by key.
        return self._convert(list(client.results(search)))

    @staticmethod
    def _convert(results: Sequence[arxiv.Result]) -> list[Paper]:
        papers: dict[str, Paper] = {}
        for result in results:
            paper = paper_from_result(result)
            papers.setdefault(paper.key, paper)
        return list(papers.values())
