"""The shared retry mechanism: patient without a deadline, bounded with one.

``with_retries`` is driven with a fake clock whose ``sleep`` advances its
``monotonic``, so deadlines are checked without waiting; the throttle's turn
timeout uses a real lock held by another thread and a ``threading.Event``.
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
import urllib3

from bot.errors import UpstreamError
from bot.sources.http import (
    Answer,
    Budget,
    Retry,
    RetryPolicy,
    Throttle,
    ThrottleTimeout,
    check_status,
    json_object,
    retry_after,
    transient_error,
    with_retries,
)

log = logging.getLogger("test_retry")


class FakeTime:
    """``sleep`` records and moves ``monotonic`` on; nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def failing(clock: FakeTime, reason: str = "HTTP 503", cost: float = 0.0, **kw: float):
    """An attempt that always fails after taking ``cost`` seconds; records its budgets."""
    budgets: list[float | None] = []

    def attempt(budget: Budget) -> None:
        budgets.append(budget.left())
        clock.now += cost
        raise Retry(reason, **kw)

    return attempt, budgets


def run(clock: FakeTime, attempt, policy: RetryPolicy) -> str:
    with pytest.raises(UpstreamError) as caught:
        with_retries(
            attempt,
            upstream="arXiv",
            policy=policy,
            sleep=clock.sleep,
            logger=log,
            monotonic=clock.monotonic,
        )
    return str(caught.value)


def test_without_a_deadline_every_try_is_made() -> None:
    clock = FakeTime()
    attempt, budgets = failing(clock, cost=30.0)  # each try times out after 30 s
    message = run(clock, attempt, RetryPolicy(3, 5.0))
    assert message == (
        "arXiv did not answer after 4 tries (HTTP 503). Nothing was changed; try again later."
    )
    assert len(budgets) == 4 and budgets == [None] * 4
    assert clock.sleeps == [5.0, 10.0, 20.0]


def test_a_deadline_ends_the_call_within_it() -> None:
    clock = FakeTime()
    start = clock.now
    attempt, budgets = failing(clock, cost=0.1)
    message = run(clock, attempt, RetryPolicy(3, 1.0, deadline_seconds=5.0))
    assert message == (
        "arXiv did not answer within 5 s (HTTP 503). Nothing was changed; try again later."
    )
    # Tries at 0, 1.1 and 3.2 s; the next wait (4 s) would end past 5 s: not begun.
    assert clock.sleeps == [1.0, 2.0]
    assert len(budgets) == 3
    assert budgets[0] == pytest.approx(5.0) and budgets[-1] == pytest.approx(5.0 - 3.2)
    assert clock.now - start <= 5.0


def test_a_hanging_try_gets_only_what_is_left() -> None:
    clock = FakeTime()
    timeouts: list[float] = []

    def attempt(budget: Budget) -> None:
        timeout = budget.timeout(30.0)  # the configured per-request timeout
        timeouts.append(timeout)
        clock.now += timeout  # the server never answers: the timeout runs out
        raise Retry("timed out")

    message = run(clock, attempt, RetryPolicy(3, 1.0, deadline_seconds=5.0))
    assert timeouts == [5.0]
    assert "within 5 s (timed out)" in message


def test_retry_after_longer_than_the_deadline_ends_the_call_at_once() -> None:
    clock = FakeTime()
    attempt, budgets = failing(clock, "HTTP 429", retry_after=60.0)
    message = run(clock, attempt, RetryPolicy(3, 1.0, deadline_seconds=5.0))
    assert message == (
        "arXiv asked us to wait 60 s (HTTP 429), longer than a command waits. "
        "Nothing was changed; try again later."
    )
    assert clock.sleeps == [] and len(budgets) == 1
    # Without a deadline the same answer is waited for, once.
    clock = FakeTime()
    attempt, budgets = failing(clock, "HTTP 429", retry_after=60.0)
    run(clock, attempt, RetryPolicy(1, 1.0))
    assert clock.sleeps == [60.0]


def test_success_within_the_deadline_returns() -> None:
    clock = FakeTime()
    calls = iter([Retry("HTTP 503"), "papers"])

    def attempt(budget: Budget) -> str:
        outcome = next(calls)
        if isinstance(outcome, Retry):
            raise outcome
        return outcome

    got = with_retries(
        attempt,
        upstream="arXiv",
        policy=RetryPolicy(3, 1.0, deadline_seconds=5.0),
        sleep=clock.sleep,
        logger=log,
        monotonic=clock.monotonic,
    )
    assert got == "papers" and clock.sleeps == [1.0]


def test_throttle_turn_times_out_while_another_request_holds_the_host() -> None:
    throttle = Throttle(0.0)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with throttle.slot():
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(5)
        began = time.monotonic()
        with pytest.raises(ThrottleTimeout), throttle.slot(timeout=0.2):
            pass  # pragma: no cover - the turn never comes
        assert time.monotonic() - began < 2.0
    finally:
        release.set()
        holder.join()
    with throttle.slot(timeout=0.2):  # free again: the turn comes at once
        pass


def test_throttle_turn_times_out_when_the_interval_would_outlast_it() -> None:
    clock = FakeTime()
    throttle = Throttle(3.0, sleep=clock.sleep, monotonic=clock.monotonic)
    with throttle.slot():
        pass
    with pytest.raises(ThrottleTimeout), throttle.slot(timeout=1.0):
        pass  # pragma: no cover
    assert clock.sleeps == []  # gave up without waiting
    with throttle.slot(timeout=5.0):
        pass
    assert clock.sleeps == [3.0]


# -- what every upstream retries, and for how long ----------------------------------------


def test_retry_after_reads_seconds_and_http_dates() -> None:
    soon = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert retry_after("7") == 7.0
    assert 100 < (retry_after(soon) or 0) <= 120
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # already past
    assert retry_after("soon") is None and retry_after(None) is None


@pytest.mark.parametrize(
    ("status", "retried"), [(200, False), (404, False), (429, True), (500, True), (503, True)]
)
def test_429_and_5xx_are_retried_with_the_wait_asked(status: int, retried: bool) -> None:
    answer = Answer(status, {"Retry-After": "3"}, b"")
    if not retried:
        check_status(answer)
        return
    with pytest.raises(Retry) as caught:
        check_status(answer)
    assert caught.value.reason == f"HTTP {status}" and caught.value.retry_after == 3.0


def test_network_failures_are_told_apart_from_bugs() -> None:
    assert transient_error(requests.ConnectTimeout()) == "timed out"
    assert transient_error(urllib3.exceptions.ReadTimeoutError(None, "/", "slow")) == "timed out"
    assert transient_error(requests.ConnectionError()) == "connection failed"
    assert transient_error(ConnectionResetError()) == "connection failed"
    assert transient_error(ValueError("a bug")) is None


def test_a_body_that_is_not_a_json_object_is_retried() -> None:
    assert json_object(Answer(200, {}, b'{"results": []}')) == {"results": []}
    for body in (b"<html>bad gateway</html>", b"[1, 2]", b'{"cut": '):
        with pytest.raises(Retry, match="malformed"):
            json_object(Answer(200, {}, body))


def test_the_wait_doubles_honours_retry_after_and_is_capped() -> None:
    policy = RetryPolicy(5, 1.0)
    assert [policy.wait(i) for i in range(4)] == [1.0, 2.0, 4.0, 8.0]
    assert policy.wait(0, asked=30.0) == 30.0 and policy.wait(3, asked=2.0) == 8.0
    assert RetryPolicy(20, 1.0).wait(15) == 300.0
