"""``SlackPoster``: the Slack side of the one delivery path.

``bot.digest.deliver.deliver`` posts what the core returns message by message
through a ``Poster`` and keeps an outbox so each message reaches the channel
exactly once. This module is that poster for Slack, over ``slack_sdk``'s
``AsyncWebClient``:

- ``send`` posts one message (a digest's header, one card, or its footer) with
  ``chat.postMessage`` and tags it with message metadata
  (``event_type = "paper_radar_post"``, ``event_payload.marker``) so that
  ``find`` can later tell whether it already reached the channel;
- ``find`` reads ``conversations.history`` (with metadata) for that marker.

Failures, and why each is handled where it is:

- 429: Slack did not post; the client's ``AsyncRateLimitErrorRetryHandler``
  waits ``Retry-After`` and retries (and ``send`` does once more if the
  handler gives up).
- 5xx, timeouts, dropped connections: the message *may* have been posted (Slack
  has no idempotency key for ``chat.postMessage``), so a blind retry could post
  it twice. ``send`` retries a bounded number of times, but before each retry it
  looks for the marker in the channel and returns the message it finds.
  Idempotent calls (history, replies, auth.test) use slack_sdk's ordinary
  server and connection error retry handlers; see ``retry_handlers``.
- Anything else (``not_in_channel``, ``invalid_auth``...) will not get better
  by retrying now: ``send`` raises at once.

Pacing: ``SlackPoster.rates`` declares Slack's posting rate (``SLACK_RATES``),
which ``bot.digest.deliver`` keeps to through the process's one limiter
before each message, so a 429 is the exception rather than the way the bot
finds the limit.

Connections: the client should hold one ``aiohttp.ClientSession`` for the
life of the process (``SlackAdapter.start`` gives it one), so posting 10,000
digests reuses a few kept-alive connections instead of opening one per call.

When ``send`` raises, delivery leaves a digest run unfinished, and a later
delivery resumes it: never dropped, never posted twice.

Usage (the scheduler, or any code holding a bot token)::

    client = make_client(config.slack, os.environ[config.slack.bot_token_env])
    poster = SlackPoster(client)
    await deliver(store, poster, clock, outbound)   # bot.digest.deliver
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.cards import Reply
from bot.core.channel import ChannelRef
from bot.core.outgoing import Outgoing
from bot.digest.limiter import PostRates, Rate
from bot.errors import RadarError
from bot.handlers import render_slack
from bot.settings import SlackSettings
from bot.sources.http import MAX_RETRY_WAIT, RetryPolicy, retry_after

log = logging.getLogger(__name__)

#: The metadata event type every message the bot posts carries.
EVENT_TYPE = "paper_radar_post"
#: Methods that must never be retried blindly: a retry after an ambiguous
#: failure could post the same message twice.
NON_IDEMPOTENT = ("chat.postMessage", "chat.postEphemeral", "chat.update", "chat.delete")
#: Error codes Slack may send with HTTP 200 when it failed mid-way ("it's possible
#: some aspect of the operation succeeded"): as ambiguous as a 5xx.
SERVER_ERRORS = frozenset(
    {"fatal_error", "internal_error", "service_unavailable", "request_timeout"}
)
#: Clock skew allowed between the outbox's clock and Slack's message timestamps.
FIND_SKEW_SECONDS = 300
#: ``find`` reads at most this many history pages (200 messages each).
FIND_MAX_PAGES = 25
#: ``chat.postMessage``: "generally one message per second per channel", with
#: short bursts tolerated (Slack's rate-limit docs; a channel's bucket has been
#: measured at about 25 messages). A burst of 20 lets a default digest (header,
#: 10 cards, footer) go out at once; past it, a channel gets one a second.
#: Slack's workspace-wide limit is unpublished: a 429 there is waited out.
SLACK_RATES = PostRates(channel=Rate(1.0, burst=20))


class SlackPostError(RadarError):
    """A message could not be posted. ``error`` is Slack's error code (or the
    exception's name); ``permanent`` says retrying soon will not help (the bot is
    not in the channel, the token was revoked, the blocks were refused)."""

    def __init__(self, message: str, error: str, permanent: bool) -> None:
        super().__init__(message)
        self.error = error
        self.permanent = permanent


class _Idempotent:
    """Mixin: retry only methods that are safe to repeat (reads, auth.test)."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if request.url.rsplit("/", 1)[-1].split("?")[0] in NON_IDEMPOTENT:
            return False
        return await super()._can_retry_async(  # type: ignore[misc, no-any-return]
            state=state, request=request, response=response, error=error
        )


class IdempotentServerErrorRetryHandler(_Idempotent, AsyncServerErrorRetryHandler):
    """slack_sdk's 500/503 retries, for every method but posts."""


class IdempotentConnectionErrorRetryHandler(_Idempotent, AsyncConnectionErrorRetryHandler):
    """slack_sdk's connection-error retries, for every method but posts."""


def retry_handlers(rate_limit_retries: int = 5, error_retries: int = 2) -> list[AsyncRetryHandler]:
    """The retry policy of every Slack client the bot makes (see the module doc)."""
    return [
        AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
        IdempotentServerErrorRetryHandler(max_retry_count=error_retries),
        IdempotentConnectionErrorRetryHandler(max_retry_count=error_retries),
    ]


class _SdkLogger(logging.Logger):
    """The logger a Web API client logs to, whose ``level`` reads as the
    effective level of ``bot.handlers.slack``.

    slack_sdk decides whether to build its debug lines (every request's
    arguments, blocks included, and every response's headers and body) by
    ``logger.level <= DEBUG``, and a logger left at NOTSET (0) passes that
    test: without this, each call formats them for nobody, a sixth of what a
    post costs the bot. With it, they are built exactly when the application's
    logging asks for DEBUG. Its records go to ``bot.handlers.slack``'s handlers.
    """

    def __init__(self) -> None:
        super().__init__("bot.handlers.slack.sdk")
        self.parent = logging.getLogger("bot.handlers.slack")

    @property  # type: ignore[override]
    def level(self) -> int:
        parent = self.parent
        return parent.getEffectiveLevel() if parent is not None else logging.WARNING

    @level.setter
    def level(self, value: int) -> None:
        pass  # follows the application's logging (see the class doc)

    def isEnabledFor(self, level: int) -> bool:
        # Uncached: this logger is not registered with logging's manager, which
        # clears the loggers' caches when a level changes.
        return not self.disabled and level >= self.level


def make_client(settings: SlackSettings, token: str, *, timeout: int = 30) -> AsyncWebClient:
    """A Web API client for ``settings.api_url`` with the bot's retry policy.

    ``token`` is the bot token (``xoxb-…``), read by the caller from the
    environment variable ``settings.bot_token_env``; it is never logged.
    """
    return AsyncWebClient(
        token=token,
        base_url=settings.api_url,
        timeout=timeout,
        retry_handlers=retry_handlers(),
        logger=_SdkLogger(),
    )


def marker_metadata(marker: str) -> dict[str, Any]:
    return {"event_type": EVENT_TYPE, "event_payload": {"marker": marker}}


def message_marker(message: dict[str, Any]) -> str | None:
    """The marker a message posted by ``SlackPoster`` carries, if any."""
    meta = message.get("metadata")
    if not isinstance(meta, dict) or meta.get("event_type") != EVENT_TYPE:
        return None
    payload = meta.get("event_payload")
    marker = payload.get("marker") if isinstance(payload, dict) else None
    return marker if isinstance(marker, str) else None


def _status(err: SlackApiError) -> int:
    """The HTTP status behind ``err``. slack_sdk attaches its own response for
    JSON bodies, but the raw aiohttp response when a 5xx came back as HTML."""
    response = err.response
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    return int(status) if status else 0


def _error_code(err: Exception) -> str:
    if isinstance(err, SlackApiError):
        data = getattr(err.response, "data", None)
        if isinstance(data, dict) and data.get("error"):
            return str(data["error"])
        return f"http_{_status(err)}"
    return type(err).__name__


class SlackPoster:
    """``bot.digest.deliver.Poster`` for Slack.

    ``client`` is an ``AsyncWebClient`` holding the bot token; build it with
    ``make_client`` so 429s are waited out (any client works, but one without a
    rate-limit handler leaves ``send`` alone to wait out 429s). ``attempts`` bounds
    the posts per message after ambiguous failures (5xx, timeouts); ``backoff`` is
    the first pause between them, doubled each time. Both make the ``RetryPolicy``
    every upstream shares (``bot.sources.http``); pass ``policy`` to give one
    whole, with a deadline if posting must give up sooner. ``rates`` is the pace
    delivery keeps to (see the module doc).
    """

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        attempts: int = 3,
        backoff: float = 1.0,
        policy: RetryPolicy | None = None,
        rates: PostRates = SLACK_RATES,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.client = client
        self.rates = rates
        self.policy = policy or RetryPolicy(attempts - 1, backoff)

    @property
    def attempts(self) -> int:
        return self.policy.tries

    async def send(self, ref: ChannelRef, out: Outgoing, thread: str | None = None) -> str:
        """Post ``out`` to ``ref.channel`` (or, whole, in the thread of message
        ``thread``); returns the message ``ts``."""
        if thread is not None:
            return await self.post_in_thread(ref, thread, out.reply)
        return await self.post(ref, render_slack.render_outgoing(out), out.marker)

    async def post_in_thread(self, ref: ChannelRef, thread: str, reply: Reply) -> str:
        """``reply`` in the thread under message ``thread`` (an answer about a
        card's paper), split only past Block Kit's limits. One try per message:
        a thread reply is not in the channel's history, so an ambiguous failure
        could not be reconciled, and a second try might post it twice."""
        first: str | None = None
        for message in render_slack.render_thread(reply):
            try:
                response = await self.client.chat_postMessage(
                    channel=ref.channel,
                    thread_ts=thread,
                    text=message["text"],
                    blocks=message["blocks"],
                    unfurl_links=False,
                    unfurl_media=False,
                )
            except SlackApiError as err:
                error = _error_code(err)
                raise SlackPostError(f"chat.postMessage: {error}", error, True) from None
            first = first or str(response["ts"])
        return first or thread

    async def post(self, ref: ChannelRef, message: dict[str, Any], marker: str) -> str:
        """Post one rendered top-level message (``text`` + ``blocks``) tagged with
        ``marker``. (Top-level only: ``find`` reads the channel's history, which
        does not list thread replies.)"""
        started = datetime.now(UTC)
        budget = self.policy.budget()
        last: Exception | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                response = await self.client.chat_postMessage(
                    channel=ref.channel,
                    text=message["text"],
                    blocks=message.get("blocks"),
                    metadata=marker_metadata(marker),
                    unfurl_links=False,
                    unfurl_media=False,
                )
                return str(response["ts"])
            except SlackApiError as err:
                status = _status(err)
                transient = _error_code(err) in SERVER_ERRORS
                if 0 < status < 500 and status != 429 and not transient:
                    raise SlackPostError(
                        f"Slack refused the message ({_error_code(err)}).",
                        _error_code(err),
                        permanent=True,
                    ) from err
                last, ambiguous = err, status != 429
                pause = self._pause(attempt, err if status == 429 else None)
            except (aiohttp.ClientError, TimeoutError, OSError) as err:
                last, ambiguous = err, True
                pause = self._pause(attempt)
            log.warning(
                "chat.postMessage failed channel=%s marker=%s attempt=%d/%d error=%s",
                ref.channel,
                marker,
                attempt,
                self.attempts,
                _error_code(last),
            )
            left = budget.left()
            if attempt == self.attempts or pause is None or (left is not None and pause >= left):
                break  # out of tries, or Slack asks for longer than the policy waits
            await asyncio.sleep(pause)
            if ambiguous:
                found = await self.find(ref, marker, started)
                if found is not None:
                    log.info("post had landed despite the error marker=%s ts=%s", marker, found)
                    return found
        assert last is not None
        raise SlackPostError(
            f"Slack did not take the message after {attempt} attempt"
            f"{'' if attempt == 1 else 's'} ({_error_code(last)}); it will be retried.",
            _error_code(last),
            permanent=False,
        ) from last

    def _pause(self, attempt: int, rate_limited: SlackApiError | None = None) -> float | None:
        """The policy's wait after failed ``attempt``, at least Slack's ``Retry-After``
        on a 429; None when Slack asks for longer than ``MAX_RETRY_WAIT``."""
        asked = None
        if rate_limited is not None:
            header = rate_limited.response.headers.get("Retry-After")
            asked = retry_after(str(header)) if header is not None else None
            asked = 1.0 if asked is None else asked
            if asked > MAX_RETRY_WAIT:
                return None
        return self.policy.wait(attempt - 1, asked)

    async def find(self, ref: ChannelRef, marker: str, since: datetime) -> str | None:
        """The ``ts`` of a top-level message in ``ref.channel`` carrying ``marker``,
        posted since ``since`` (minus a few minutes for clock skew), if any."""
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        oldest = f"{max(0.0, since.timestamp() - FIND_SKEW_SECONDS):.6f}"
        cursor: str | None = None
        for _ in range(FIND_MAX_PAGES):
            response = await self.client.conversations_history(
                channel=ref.channel,
                oldest=oldest,
                limit=200,
                include_all_metadata=True,
                cursor=cursor,
            )
            messages: Sequence[dict[str, Any]] = response.get("messages") or ()
            for message in messages:
                if message_marker(message) == marker:
                    return str(message["ts"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not response.get("has_more") or not cursor:
                return None
        log.warning(
            "find gave up after %d pages channel=%s marker=%s", FIND_MAX_PAGES, ref.channel, marker
        )
        return None
