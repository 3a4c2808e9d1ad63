"""Slack's posting retry follows the policy every upstream shares (``bot.sources.http``).

Real ``slack_sdk`` ``AsyncWebClient`` against the local fake Slack Web API
(``tests/fakeslack.py``); the client has no retry handlers of its own here, so
every wait is ``SlackPoster``'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.channel import ChannelRef
from bot.handlers.slack.poster import SlackPoster, SlackPostError
from bot.sources.http import RetryPolicy
from tests.fakeslack import BOT_TOKEN, TEAM, FakeSlack

CHANNEL = ChannelRef("slack", TEAM, "C0LAB", "lab")
MESSAGE = {"text": "Paper Radar: 1 new paper"}


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


def post(fake: FakeSlack, poster_of, marker: str = "m1"):  # type: ignore[no-untyped-def]
    """Post once through a fresh client; the error, or None when it posted."""

    async def go() -> SlackPostError | None:
        client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.url, retry_handlers=[])
        try:
            # Bounded: a poster that sleeps out a long Retry-After fails here.
            await asyncio.wait_for(poster_of(client).post(CHANNEL, MESSAGE, marker), 20)
        except SlackPostError as err:
            return err
        return None

    return asyncio.run(go())


def test_a_429_asking_longer_than_any_retry_waits_gives_up_at_once(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", 429, times=3, retry_after=3600)
    err = post(fake, lambda c: SlackPoster(c, attempts=3, backoff=0.01))
    assert err is not None and not err.permanent and err.error == "ratelimited"
    assert len(fake.calls_to("chat.postMessage")) == 1  # no hour-long sleep, no second post
    assert fake.channel(CHANNEL.channel) == []


def test_a_429_is_retried_after_retry_after_and_posts_once(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", 429, times=1, retry_after=1)
    assert post(fake, lambda c: SlackPoster(c, attempts=3, backoff=0.01)) is None
    first, second = fake.calls_to("chat.postMessage")
    assert second.at - first.at >= 1.0
    assert len(fake.channel(CHANNEL.channel)) == 1


def test_the_shared_policy_bounds_the_posts(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", 500, times=5)
    policy = RetryPolicy(max_retries=1, backoff_seconds=0.01)
    err = post(fake, lambda c: SlackPoster(c, policy=policy))
    assert err is not None and not err.permanent
    assert len(fake.calls_to("chat.postMessage")) == 2  # the first try and one retry


def test_a_deadline_stops_retrying_before_a_wait_that_would_pass_it(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", 500, times=5)
    policy = RetryPolicy(max_retries=5, backoff_seconds=2.0, deadline_seconds=1.0)
    err = post(fake, lambda c: SlackPoster(c, policy=policy))
    assert err is not None and not err.permanent
    assert len(fake.calls_to("chat.postMessage")) == 1  # a 2 s wait would pass the 1 s deadline
