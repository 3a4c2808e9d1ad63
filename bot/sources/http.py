"""Polite HTTP to the upstreams the bot reads: arXiv, OpenAlex, full texts.

One mechanism, so the sources cannot drift apart in how politely they ask
and how patiently they back off:

* ``polite_session``: a ``requests`` session that names the bot (``User-Agent``);
* ``Throttle`` / ``throttle_for``: one request at a time per upstream host, for
  the whole process, with a minimum interval between requests;
* classification: which failures are worth repeating (``transient_error`` for
  timeouts and dropped connections, ``check_status`` for 429 and 5xx,
  ``json_object`` for a malformed JSON body), each raised as ``Retry``;
* ``retry_after``: the seconds a ``Retry-After`` header asks for;
* ``RetryPolicy``: bounded tries, doubling backoff, an optional total deadline;
  ``with_retries`` drives a source's single try under it and ends with a short
  ``UpstreamError`` for people. (Slack's posting retry uses the same policy
  object and waits, ``bot.handlers.slack.poster``.)

Two patiences, one mechanism (``RetryPolicy``):

* the scheduled harvest is patient: every try, doubling waits, no deadline;
* a person waiting on a command (a new chip's backfill, ``/radar author``'s
  look-up, ``/radar digest``'s harvest, a paper fetched by id) gets a short
  deadline: the whole call, its throttle queue, tries and waits included,
  ends within it. A try starts only with time left and its network timeout
  is cut to what remains (``Budget``); a wait that would end past the
  deadline is not begun. Then the command says the upstream did not answer
  and carries on with what it has.

The throttle follows arXiv's API terms ("make no more than one request every
three seconds", a single connection at a time). Both rules are about the
*client* (our process, our IP), not about one object, so ``throttle_for(host,
...)`` hands every caller in the process the same ``Throttle`` for a host,
whichever channel, radar or backfill asked. The lock is held for the whole
request (one connection at a time), and the next request may start only
``min_interval`` seconds after the previous one *ended*: that also guarantees
at least ``min_interval`` between starts, and keeps a slow upstream from
being hit again the instant a long response finishes.
"""

from __future__ import annotations

import copy
import email.utils
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import requests
import urllib3

from bot.errors import UpstreamError

__all__ = [
    "MAX_RETRY_WAIT",
    "Answer",
    "Budget",
    "Retry",
    "RetryPolicy",
    "Throttle",
    "ThrottleTimeout",
    "check_status",
    "http_get",
    "json_object",
    "polite_session",
    "retry_after",
    "throttle_for",
    "transient_error",
    "transient_status",
    "with_retries",
]

T = TypeVar("T")

#: Never wait longer than this for one retry, whatever Retry-After says: a
#: person is waiting for a reply in a channel. Longer asks end the attempt.
MAX_RETRY_WAIT = 300.0
#: Shortest network timeout a try gets, however little of its budget is left.
MIN_TIMEOUT = 0.05


def polite_session(user_agent: str) -> requests.Session:
    """A session that names the bot on every request (upstreams ask clients to)."""
    session = requests.Session()
    session.headers["User-Agent"] = user_agent
    return session


# -- one request at a time per host ---------------------------------------------------


class ThrottleTimeout(TimeoutError):
    """A caller's turn at the host did not come within its timeout."""


class Throttle:
    """Serialise requests and keep ``min_interval`` seconds between them.

    ``sleep`` and ``monotonic`` are injectable so tests can check the spacing
    without waiting: a fake ``monotonic`` plus a ``sleep`` that records (and
    advances the fake clock) is enough.
    """

    def __init__(
        self,
        min_interval: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if min_interval < 0:
            raise ValueError("min_interval must be >= 0")
        self.min_interval = float(min_interval)
        self._sleep = sleep
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._last_end: float | None = None

    @contextmanager
    def slot(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the host for one request.

        Takes the lock (so no other request can slip in), waits until
        ``min_interval`` has passed since the previous request ended, runs the
        body, and stamps the end time even when the request failed: a failed
        request still counts against the upstream's rate limit.

        ``timeout`` (seconds; None waits as long as it takes) bounds the wait
        for the turn, for a caller on a deadline: ``ThrottleTimeout`` when the
        lock or the interval would take longer; no request is counted then.
        """
        began = self._monotonic()
        if not self._lock.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            raise ThrottleTimeout(f"no turn within {timeout:.1f} s")
        try:
            if self._last_end is not None:
                wait = self._last_end + self.min_interval - self._monotonic()
                if wait > 0:
                    if timeout is not None and self._monotonic() - began + wait > timeout:
                        raise ThrottleTimeout(f"no turn within {timeout:.1f} s")
                    self._sleep(wait)
            try:
                yield
            finally:
                self._last_end = self._monotonic()
        finally:
            self._lock.release()

    def tighten(self, min_interval: float) -> None:
        """Raise ``min_interval`` (never lower it): the strictest caller wins."""
        with self._lock:
            self.min_interval = max(self.min_interval, float(min_interval))


_registry: dict[str, Throttle] = {}
_registry_lock = threading.Lock()


def throttle_for(host: str, min_interval: float) -> Throttle:
    """The process-wide throttle for ``host`` (e.g. ``export.arxiv.org``).

    The first caller creates it; later callers get the same object, and a
    caller asking for a longer interval tightens it for everyone, so two
    sources configured differently can never together exceed the stricter
    rate. ``host`` should include the port when it is not the default, so
    local replay servers (one per test) do not share a throttle.
    """
    key = host.lower()
    with _registry_lock:
        throttle = _registry.get(key)
        if throttle is None:
            throttle = _registry[key] = Throttle(min_interval)
            return throttle
    throttle.tighten(min_interval)
    return throttle


# -- which failures are worth repeating -------------------------------------------------


class Retry(Exception):
    """One failed try that is worth repeating; ``reason`` is for people."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


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


def transient_status(status: int) -> bool:
    """Whether an HTTP status says "not now" rather than "no": 429 and every 5xx."""
    return status == 429 or status >= 500


def transient_error(err: BaseException) -> str | None:
    """The reason (for people) when ``err`` is a network failure worth repeating
    (a timeout, a refused or dropped connection), else None.

    ``requests`` and ``urllib3`` each have their own classes for both, and a
    socket cut under a blocking read may surface as a bare ``OSError``.
    """
    if isinstance(err, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError):
        return "timed out"
    if isinstance(
        err,
        requests.ConnectionError | urllib3.exceptions.ProtocolError | ConnectionError,
    ):
        return "connection failed"
    return None


@dataclass(frozen=True)
class Answer:
    """One HTTP response, read whole: what a source's verdict is made from."""

    status: int
    headers: Mapping[str, str]  # case-insensitive (``requests``' own mapping)
    content: bytes


def check_status(answer: Answer) -> None:
    """Raise ``Retry`` (with the upstream's ``Retry-After``) for a transient status."""
    if transient_status(answer.status):
        raise Retry(f"HTTP {answer.status}", retry_after(answer.headers.get("Retry-After")))


def json_object(answer: Answer) -> dict[str, Any]:
    """The body as a JSON object; ``Retry`` when it is not one (a proxy's error
    page, a body cut short): asked again, it usually is."""
    try:
        body = json.loads(answer.content)
    except ValueError:
        raise Retry("malformed response") from None
    if not isinstance(body, dict):
        raise Retry("malformed response")
    return body


# -- how patiently -------------------------------------------------------------------


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

    def budget(self, monotonic: Callable[[], float] = time.monotonic) -> Budget:
        """The deadline of a call starting now."""
        deadline = self.deadline_seconds
        return Budget(None if deadline is None else monotonic() + deadline, monotonic)

    def wait(self, index: int, asked: float | None = None) -> float:
        """The pause after failed try ``index`` (0 for the first): the backoff,
        doubled per try and capped at ``MAX_RETRY_WAIT``, or longer when the
        upstream asked for longer (``Retry-After``; callers first check that
        ``asked`` is within ``MAX_RETRY_WAIT``)."""
        wait = min(self.backoff_seconds * (2**index), MAX_RETRY_WAIT)
        return wait if asked is None else max(wait, asked)


class InteractiveKnobs(Protocol):
    """The settings of a source that offers a short-deadline view."""

    max_retries: int
    interactive_backoff_seconds: float
    interactive_deadline_seconds: float


class HasPolicy(Protocol):
    settings: InteractiveKnobs
    policy: RetryPolicy


SourceT = TypeVar("SourceT", bound=HasPolicy)


def interactive_view(source: SourceT) -> SourceT:
    """``source`` for a person waiting on a command: a shallow copy sharing its
    session, throttle and key, whose every request ends within
    ``interactive_deadline_seconds``, retries and waits included (close the
    source, not the view). The daily harvest keeps the patient policy."""
    view = copy.copy(source)
    knobs = source.settings
    view.policy = RetryPolicy(
        knobs.max_retries, knobs.interactive_backoff_seconds, knobs.interactive_deadline_seconds
    )
    return view


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
    budget = policy.budget(monotonic)
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
            if failure.retry_after is not None and failure.retry_after > MAX_RETRY_WAIT:
                raise UpstreamError(
                    f"{upstream} asked us to wait {failure.retry_after:.0f} s "
                    f"({failure.reason}){long_wait_hint}. Nothing was changed; "
                    "try again later."
                ) from None
            wait = policy.wait(index, failure.retry_after)
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


# -- one GET --------------------------------------------------------------------------


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
    except (requests.RequestException, urllib3.exceptions.HTTPError) as err:
        reason = transient_error(err)
        if reason is None:
            logger.warning("%s request failed: %s", upstream, type(err).__name__)
            reason = "request failed"
        raise Retry(reason) from None


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
