"""The retry policy every upstream shares: bounded tries, doubling backoff,
``Retry-After`` honoured, and a short ``UpstreamError`` for people at the end.

A source's single try raises ``Retry`` for a failure worth repeating (429,
5xx, timeouts, malformed bodies) and anything else for a final one; this
module decides how long to wait and when to give up, so arXiv and OpenAlex
cannot drift apart in how politely they back off.
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from bot.errors import UpstreamError

T = TypeVar("T")

#: Never wait longer than this for one retry, whatever Retry-After says: a
#: person is waiting for a reply in a channel. Longer asks end the attempt.
MAX_RETRY_WAIT = 300.0


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


def with_retries(
    attempt: Callable[[], T],
    *,
    upstream: str,
    tries: int,
    backoff: float,
    sleep: Callable[[float], None],
    logger: logging.Logger,
    what: str = "",
    long_wait_hint: str = "",
    first_index: int = 0,
) -> T:
    """Call ``attempt`` until it returns, retrying on ``Retry`` up to ``tries`` times.

    ``upstream`` names the service in messages ("arXiv"); ``long_wait_hint``
    is added when it asks for a wait beyond ``MAX_RETRY_WAIT``. Sleeps happen
    outside any throttle the attempt takes, so other callers keep their slots.
    """
    for index in range(first_index, tries):
        try:
            return attempt()
        except Retry as failure:
            if index + 1 >= tries:
                logger.warning(
                    "%s gave up %safter %d tries: %s",
                    upstream,
                    f"on {what} " if what else "",
                    tries,
                    failure,
                )
                raise UpstreamError(
                    f"{upstream} did not answer after {tries} tries ({failure.reason}). "
                    "Nothing was changed; try again later."
                ) from None
            wait = min(backoff * (2**index), MAX_RETRY_WAIT)
            if failure.retry_after is not None:
                if failure.retry_after > MAX_RETRY_WAIT:
                    raise UpstreamError(
                        f"{upstream} asked us to wait {failure.retry_after:.0f} s "
                        f"({failure.reason}){long_wait_hint}. Nothing was changed; "
                        "try again later."
                    ) from None
                wait = max(wait, failure.retry_after)
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
