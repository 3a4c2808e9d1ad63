"""The OpenAlex client: author look-ups, backfills, harvests and single works.

OpenAlex (https://api.openalex.org) indexes works from journals, conference
proceedings and preprint servers (arXiv, bioRxiv, medRxiv, SSRN, ChemRxiv,
Research Square ...) and disambiguates their authors into records with ids.
``OpenAlexSource`` talks to its REST API over ``requests``:

* ``search_authors`` -- candidate identities for a typed name (see
  ``bot.core.identity`` for which of them are plausible);
* ``works_by_author`` -- one identity's works since a date;
* ``works_since`` -- new works, filtered;
* ``harvest`` -- the daily pass over followed identities and configured
  venues, batched (``query.MAX_OR_VALUES`` ids per request);
* ``work`` -- one work by OpenAlex id, DOI or arXiv id;

each converted to the neutral ``Paper`` (``records.paper_from_work``); the
questions themselves are built in ``query``.

Politeness and safety, the same discipline as ``bot.sources.arxiv`` (both
through ``bot.sources.http``):

* every request goes through the process-wide throttle for the API host;
  ``delay_seconds`` = 0.1 keeps us at 10 requests/second at most, well under
  the documented per-second limit, whatever number of channels asks;
* ``mailto`` (the "polite pool") and the API key (read from the environment
  variable named in the settings, sent as the documented ``api_key`` query
  parameter) go on every request; this module never logs a URL, since the
  key travels in it, and the application's log formatter masks the key in
  any other logger's lines (``bot.run.secret_values``);
* lists are read with cursor paging (``cursor=*``, then ``meta.next_cursor``)
  and ``select`` asks only for the fields the conversion reads; every page is
  fetched before anything is converted, so a failure on page three returns
  nothing rather than a silent partial list;
* HTTP 429 and 5xx, timeouts, connection errors and malformed bodies are
  retried with exponential backoff, honouring ``Retry-After``; other 4xx are
  final; the caller sees one ``UpstreamError`` written for people;
  ``interactive()`` is the same source for a person waiting on a command,
  each request ending within ``interactive_deadline_seconds``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import requests

from bot.core.identity import AuthorCandidate
from bot.core.paper import Paper
from bot.errors import NotFoundError, UpstreamError
from bot.settings import OpenAlexSettings
from bot.sources.http import (
    Budget,
    Retry,
    RetryPolicy,
    Throttle,
    check_status,
    http_get,
    interactive_view,
    json_object,
    polite_session,
    retry_after,
    throttle_for,
    with_retries,
)
from bot.sources.openalex import query
from bot.sources.openalex.records import candidate_from_author, paper_from_work

__all__ = ["OpenAlexSource"]

logger = logging.getLogger(__name__)

USER_AGENT = "paper-radar/0.1"


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
        self._session = session or polite_session(USER_AGENT)
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
        return interactive_view(self)

    # -- what we ask OpenAlex -------------------------------------------------------

    def search_authors(self, name: str) -> list[AuthorCandidate]:
        """Candidate author records for a typed name (one request; see ``query.author_search``)."""
        params = query.author_search(name, self.settings.author_results)
        body = self._get_json("/authors", params, what="author search")
        results = body.get("results")
        return [
            c
            for r in (results if isinstance(results, list) else [])
            if isinstance(r, Mapping) and (c := candidate_from_author(r)) is not None
        ]

    def author(self, author_id: str) -> AuthorCandidate:
        """One author record by id (``A5017898742`` or its URL)."""
        aid = query.entity_id(author_id, "A")
        body = self._get_json(
            f"/authors/{aid}", {"select": ",".join(query.AUTHOR_FIELDS)}, what=f"author {aid}"
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
        params = query.works_listing(
            since,
            until=until,
            author_ids=author_ids,
            source_ids=source_ids,
            types=types,
            text=text,
        )
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

        Ids are OR'd in batches of ``query.MAX_OR_VALUES`` per listing, so the
        cost is one paged listing per 50 distinct identities and per 50
        sources, whatever number of channels follow them. All or nothing: a
        failure in any batch raises ``UpstreamError`` and returns no works.
        Works met in several batches are returned once per batch; the store
        merges them.
        """
        papers: list[Paper] = []
        for batch in query.harvest_batches(author_ids, source_ids):
            papers += self.works_since(since, until=until, **batch)
        return papers

    def work(self, id_or_doi: str) -> Paper:
        """One work by OpenAlex id (``W…``), DOI (any common form) or ``arxiv:<id>``.

        Raises ``NotFoundError`` when OpenAlex has no such work, ``ValueError``
        when the text is none of these.
        """
        text = id_or_doi.strip()
        path = query.work_path(text)
        body = self._get_json(path, {"select": ",".join(query.WORK_FIELDS)}, what=f"work {text}")
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
        params = dict(params)
        if self.settings.mailto:
            params["mailto"] = self.settings.mailto
        if self._api_key:
            params["api_key"] = self._api_key
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
            params=params,
            headers={"User-Agent": agent, "Accept": "application/json"},
        )
        check_status(resp)
        status = resp.status
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
        return json_object(resp)


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
