"""The ack path: what runs between a request from Slack and its empty 200, and
nothing else.

Slack waits at most 3 seconds for an ack, and a burst of commands queues on
one event loop: what one ack costs, the hundredth request of a burst pays a
hundred times. So the ack path is only what the ack needs (the body, its
signature, one parse; for anything but a slash command, Bolt's routing and
``ack()``: a command's ack is always the same, so Bolt sees it afterwards,
``HttpEndpoint``), and the work each event starts (its parse, database reads,
look-ups, posts) waits behind ``AckGate`` until no ack is being made:

- ``AckGate`` counts the requests being acknowledged (HTTP mode's from body
  to response, Socket Mode's from envelope to its ack) and releases held
  work once none is and none has come or gone for ``QUIET``, or once the
  work has waited ``HOLD_MAX`` (a steady stream of requests still gets its
  replies). One timer serves every held piece of work, so a burst of a
  hundred commands does not also wake a hundred polling tasks. The
  dispatcher checks the gate again before each step of the work (a job, a
  message), so work that started in a lull stops when the burst goes on.

  ``QUIET`` is 30 ms, not a few: on a loaded machine a burst arrives in
  waves, and between two waves the loop spends several milliseconds on the
  listeners the first wave started. At 5 ms the gate opened there, the
  work's threads took the GIL from the next wave's acks, and a tenth of a
  burst's acks came 200 ms late (``bench/bench_slack_ack.py``, rounds of p99
  3-4x the baseline's). A reply 30 ms later is not something a person sees.
- ``Direct`` runs a middleware as Bolt's own do, with ``(req, resp, next)``;
  a plain function given to Bolt would have its arguments looked up by name
  on every request (``build_async_required_kwargs``), the ack path's most
  expensive step after the HTTP parsing.
- ``BotAuthorize``: one install, one bot token, the same way.

Measured by ``bench/bench_slack_ack.py`` against a minimal Bolt app that only
acks, on the same server stack.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

log = logging.getLogger("bot.handlers.slack.adapter")

QUIET = 0.03  # seconds with no request coming or going before held work starts (see above)
HOLD_MAX = 0.25  # the longest work waits for such a pause

Next = Callable[[], Awaitable[Any]]
Process = Callable[[AsyncBoltRequest, BoltResponse, Next], Awaitable[BoltResponse | None]]


class AckGate:
    """Holds work started by events while other events are being acknowledged."""

    def __init__(self, quiet: float = QUIET, hold_max: float = HOLD_MAX) -> None:
        self.quiet = quiet
        self.hold_max = hold_max
        #: Requests being acknowledged now.
        self.acking = 0
        self._changed = 0.0  # monotonic: the last request that came or went
        #: (latest start, what starts it), oldest first.
        self._held: deque[tuple[float, Callable[[], object]]] = deque()
        self._timer: tuple[asyncio.AbstractEventLoop, asyncio.TimerHandle] | None = None

    @contextmanager
    def acknowledging(self) -> Iterator[None]:
        """Around one request's ack path: no held work starts meanwhile."""
        self.acking += 1
        self._changed = time.monotonic()
        try:
            yield
        finally:
            self.acking -= 1
            self._changed = time.monotonic()

    def _open(self, now: float) -> bool:
        return self.acking == 0 and now - self._changed >= self.quiet

    async def clear(self) -> None:
        """Return once no request is being acknowledged and none came or went
        for ``quiet`` seconds, or after ``hold_max`` seconds at the latest."""
        loop = asyncio.get_running_loop()
        released: asyncio.Future[None] = loop.create_future()
        if self.after(partial(_release, released)):
            await released

    def after(self, start: Callable[[], object]) -> bool:
        """Call ``start`` (on the event loop) when ``clear`` would return: at
        once, or later (then True). What a request's listener hands over while
        it is being acknowledged costs no task or future until it starts."""
        now = time.monotonic()
        if not self._held and self._open(now):
            start()
            return False
        self._held.append((now + self.hold_max, start))
        loop = asyncio.get_running_loop()
        if self._timer is None or self._timer[0] is not loop:  # none yet, or a past loop's
            self._timer = (loop, loop.call_later(self.quiet, self._tick, loop))
        return True

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        """Every ``quiet`` seconds while work is held: release what may start,
        in the order it was held (every hold is as long, so the oldest first)."""
        self._timer = None
        now = time.monotonic()
        open_ = self._open(now)
        while self._held and (open_ or self._held[0][0] <= now):
            _, start = self._held.popleft()
            try:
                start()
            except Exception:  # one start that fails must not strand the rest
                log.exception("held work failed to start")
        if self._held:
            self._timer = (loop, loop.call_later(self.quiet, self._tick, loop))


def _release(released: asyncio.Future[None]) -> None:
    if not released.done():  # not cancelled meanwhile (a stop)
        released.set_result(None)


class Direct(AsyncMiddleware):
    """A middleware called with Bolt's own arguments, ``process(req, resp, next)``."""

    def __init__(self, process: Process) -> None:
        self.process = process

    async def async_process(
        self, *, req: AsyncBoltRequest, resp: BoltResponse, next: Next
    ) -> BoltResponse | None:
        return await self.process(req, resp, next)

    @property
    def name(self) -> str:
        return getattr(self.process, "__qualname__", type(self).__name__)


class BotAuthorize(AsyncAuthorize):
    """Every request authorised as the one bot: ``identity()`` is ``auth.test``'s
    answer (asked once, before the first request), ``token`` the bot token."""

    def __init__(self, identity: Callable[[], Awaitable[dict[str, Any]]], token: str) -> None:
        self.identity = identity
        self.token = token

    async def __call__(
        self,
        *,
        context: Any,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult:
        auth = await self.identity()
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            bot_user_id=auth.get("user_id"),
            bot_id=auth.get("bot_id"),
            bot_token=self.token,
        )
