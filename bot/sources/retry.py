"""The retry policy every upstream shares: bounded tries, doubling backoff,
``Retry-After`` honoured, an optional total deadline, and a short
``UpstreamError`` for people at the end.

A source's single try raises ``Retry`` for a failure worth repeating (429,
5xx, timeouts, malformed bodies) and anything else for a final one; this
module decides how long to wait and when to give up, so arXiv and OpenAlex
cannot drift apart in how politely they back off.

Two patiences, one mechanism (``RetryPolicy``):

* the scheduled harvest is patient: every try, doubling waits, no deadline;
* a person waiting on a command (a new chip's backfill, ``/radar author``'s
  look-up, ``/radar digest``'s harvest, a paper fetched by id) gets a short
  deadline: the whole call, its throttle queue, tries and waits included,
  ends within it. A try starts only with time left and its network timeout
  is cut to what remains (``Budget``); a wait that would end past the
  deadline is not begun. Then the command says the upstream did not answer
  and carries on with what it has.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import requests
import urllib3

from bot.errors import UpstreamError
from bot.sources.throttle import Throttle, ThrottleTimeout

T = TypeVar("T")

#: Never wait longer than this for one retry, whatever Retry-After says: a
#: person is waiting for a reply in a channel. Longer asks end the attempt.
MAX_RETRY_WAIT = 300.0
#: Shortest network timeout a try gets, however little of its budget is left.
MIN_TIMEOUT = 0.05


class Retry(Exception):
    """One failed try that is worth repeating; ``reason`` is for people."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How patiently one request is retried.

    ``max_retries`` tries after the first, waiting ``backoff_seconds``, then
    twice that, and so on. ``deadline_seconds`` (None: no limit) bounds the
    whole call: throttle queue, tries and waits.
    """

    max_retries: int
    backoff_seconds: float
    deadline_seconds: float | None = None

    @property
    def tries(self) -> int:
        return self.max_retries + 1


@dataclass(frozen=True)
class Budget:
    """What is left of one call's deadline, handed to each try."""

    until: float | None  # a ``monotonic`` instant; None: no deadline
    monotonic: Callable[[], float] = time.monotonic

    def left(self) -> float | None:
        """Seconds left (never below 0), or None without a deadline."""
        return None if self.until is None else max(0.0, self.until - self.monotonic())

    def timeout(self, per_request: float) -> float:
        """The network timeout for this try: ``per_request``, cut to what is left."""
        left = self.left()
        return per_request if left is None else max(MIN_TIMEOUT, min(per_request, left))


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True)
class Answer:
    """One HTTP response, read whole: what a source's verdict is made from."""

    status: int
    headers: Mapping[str, str]  # case-insensitive (``requests``' own mapping)
    content: bytes


def http_get(
    session: requests.Session,
    url: str,
    *,
    budget: Budget,
    timeout: float,
    throttle: Throttle,
    logger: logging.Logger,
    upstream: str,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """One GET in the host's throttle slot, all of it (queue, request, body)
    within ``budget``; network failures become ``Retry``.

    Logs only the exception's type: its text holds the URL, and an OpenAlex
    URL holds the API key.
    """
    try:
        with (
            throttle.slot(timeout=budget.left()),
            session.get(
                url,
                params=params,
                headers=headers,
                timeout=budget.timeout(timeout),
                stream=True,
            ) as resp,
        ):
            return Answer(resp.status_code, resp.headers, read_body(resp, budget))
    except ThrottleTimeout:
        raise Retry("still busy with earlier requests") from None
    except (requests.Timeout, urllib3.exceptions.TimeoutError):
        raise Retry("timed out") from None
    except (requests.ConnectionError, urllib3.exceptions.ProtocolError):
        raise Retry("connection failed") from None
    except (requests.RequestException, urllib3.exceptions.HTTPError) as err:
        logger.warning("%s request failed: %s", upstream, type(err).__name__)
        raise Retry("request failed") from None


def read_body(resp: requests.Response, budget: Budget, chunk: int = 65536) -> bytes:
    """The body of a streamed response, read within ``budget``.

    ``requests`` timeouts bound each socket read, not the whole body: a server
    sending one byte a second would hold a command for as long as it likes.
    Reading one buffer at a time and cutting each socket read to what is left
    makes the deadline hold for the body too. Raises ``Retry("timed out")``.
    """
    raw = resp.raw
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    parts: list[bytes] = []
    while True:
        left = budget.left()
        if left is not None:
            if left <= 0:
                raise Retry("timed out")
            if sock is not None:
                sock.settimeout(max(MIN_TIMEOUT, left))
        data = raw.read1(chunk, decode_content=True)
        if not data:
            return b"".join(parts)
        parts.append(data)


def with_retries(
    attempt: Callable[[Budget], T],
    *,
    upstream: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    logger: logging.Logger,
    what: str = "",
    long_wait_hint: str = "",
    first_index: int = 0,
    monotonic: Callable[[], float] = time.monotonic,
) -> T:
    """Call ``attempt`` until it returns, retrying on ``Retry`` as ``policy`` allows.

    ``upstream`` names the service in messages ("arXiv"); ``long_wait_hint``
    is added when it asks for a wait beyond ``MAX_RETRY_WAIT``. Sleeps happen
    outside any throttle the attempt takes, so other callers keep their slots.
    ``attempt`` gets the call's ``Budget`` (its deadline) to bound its own
    waiting. ``monotonic`` must advance with ``sleep`` (tests fake both).
    """
    tries = policy.tries
    deadline = policy.deadline_seconds
    budget = Budget(None if deadline is None else monotonic() + deadline, monotonic)
    made = 0
    for index in range(first_index, tries):
        try:
            made += 1
            return attempt(budget)
        except Retry as failure:
            where = f"on {what} " if what else ""
            if index + 1 >= tries:
                logger.warning("%s gave up %safter %d tries: %s", upstream, where, tries, failure)
                raise UpstreamError(
                    f"{upstream} did not answer after {tries} tries ({failure.reason}). "
                    "Nothing was changed; try again later."
                ) from None
            wait = min(policy.backoff_seconds * (2**index), MAX_RETRY_WAIT)
            if failure.retry_after is not None:
                if failure.retry_after > MAX_RETRY_WAIT:
                    raise UpstreamError(
                        f"{upstream} asked us to wait {failure.retry_after:.0f} s "
                        f"({failure.reason}){long_wait_hint}. Nothing was changed; "
                        "try again later."
                    ) from None
                wait = max(wait, failure.retry_after)
            left = budget.left()
            if deadline is not None and left is not None and wait >= left:
                logger.warning(
                    "%s gave up %safter %d tr%s within its %.1f s deadline: %s",
                    upstream,
                    where,
                    made,
                    "y" if made == 1 else "ies",
                    deadline,
                    failure,
                )
                if failure.retry_after is not None and failure.retry_after >= left:
                    raise UpstreamError(
                        f"{upstream} asked us to wait {failure.retry_after:.0f} s "
                        f"({failure.reason}), longer than a command waits. Nothing was "
                        "changed; try again later."
                    ) from None
                raise UpstreamError(
                    f"{upstream} did not answer within {deadline:g} s ({failure.reason}). "
                    "Nothing was changed; try again later."
                ) from None
            logger.info(
                "%s %stry %d failed (%s); retry in %.1f s",
                upstream,
                f"{what} " if what else "",
                index + 1,
                failure,
                wait,
            )
            sleep(wait)
    raise AssertionError("unreachable")  # the loop always returns or raises
