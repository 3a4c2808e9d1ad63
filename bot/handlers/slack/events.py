"""Slack events in, one front-door call each: the translation half of ``SlackAdapter``.

- ``/radar <line>``: acknowledged at once (before any work, so always inside
  Slack's 3 seconds), then ``Dispatcher.command`` with the line as typed.
- Buttons (``render_slack``'s action ids) become the core's ``Press``es:
  Shuffle, a chip's ×, a person to pick, Ask (a prompt in the card's
  thread, ``Dispatcher.ask_prompt``), a card's Brief (that paper, briefed
  in the card's thread: the core finds the thread by the card's paper key).
- A card's More like this / Less like this / Save buttons are presses too;
  a 👍/👎 reaction added to (or removed from) a card message becomes
  ``Dispatcher.reaction`` (the core finds the card by the message's ts;
  the bot's own reactions and other messages' are ignored).
- A message (or an @-mention) in the thread under a card becomes
  ``Dispatcher.question``, with the thread's earlier messages as context;
  an @-mention in the channel itself is a command line, as ``/radar`` takes
  it (people @-mention bots with commands: they get an answer, not silence).
- Events Slack delivers twice (a redelivered ``event_id``, a retry after a
  slow ack, a mention that is also a message) are acknowledged and skipped.

What comes back is posted by the dispatcher through a ``SlackReplier`` for
the event; a post Slack refuses is told to the person, privately. The work
(even its parse) runs after the ack, once no other request is being
acknowledged (``bot.handlers.slack.acks.AckGate``), tracked so ``drain`` and
``stop`` can wait for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from functools import partial
from typing import Any

import aiohttp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.actor import Actor
from bot.core.buttons import Press
from bot.core.cards import Reply, ReplyKind
from bot.core.channel import ChannelRef
from bot.core.recent import Recent
from bot.digest.deliver import DeliveryFailed
from bot.dispatch import Dispatcher
from bot.handlers import render_slack
from bot.handlers.slack.acks import AckGate, Next
from bot.handlers.slack.people import People
from bot.handlers.slack.poster import SlackPoster, SlackPostError
from bot.handlers.slack.replier import SlackReplier
from bot.handlers.slack.text import from_slack, strip_mentions, unescape

log = logging.getLogger("bot.handlers.slack.adapter")

PLATFORM = "slack"
#: ``render_slack``'s action ids (before any ``:<position>``) as the core's presses.
PRESSES = {
    render_slack.ACTION_SHUFFLE: Press.SHUFFLE,
    render_slack.ACTION_BRIEF: Press.PAPER_BRIEF,  # on a card: that paper, in its thread
    render_slack.ACTION_CHIP_REMOVE: Press.REMOVE,
    render_slack.ACTION_PICK: Press.PICK,
    render_slack.ACTION_ASK: Press.ASK,
    render_slack.ACTION_MORE: Press.MORE,
    render_slack.ACTION_LESS: Press.LESS,
    render_slack.ACTION_SAVE: Press.SAVE,
}
NOT_IN_CHANNEL = (
    "I can't post in this channel yet. Invite me with `/invite @Paper Radar`, then try again."
)
HISTORY_TURNS = 20
#: Message subtypes that are a person talking (the others are edits, joins, bots...).
_HUMAN_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})
#: Slack error codes that mean "the bot cannot post here": tell the person how to fix it.
_CANNOT_POST = frozenset({"not_in_channel", "channel_not_found", "is_archived"})


class SlackEvents:
    """Bolt's middleware and listeners (``SlackAdapter`` registers them)."""

    dispatch: Dispatcher
    poster: SlackPoster
    people: People
    client: AsyncWebClient
    _events: Recent
    _messages: Recent
    _session: aiohttp.ClientSession | None

    _tasks: set[asyncio.Task[None]]
    _waiting: set[Coroutine[Any, Any, None]]  # held at the gate, not started
    acks: AckGate

    async def _identity(self) -> dict[str, Any]: ...  # auth.test, once (``SlackAdapter``)

    # -- after the ack ----------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` once no request is being acknowledged, tracked so
        ``drain`` and ``stop`` can wait for it.

        Slack's 3-second ack deadline is hard; the work's is not. Work on the
        event loop delays the acks queued behind it, and work in worker threads
        takes the GIL from the loop, so during a burst of requests new work
        waits (``AckGate``: at most ``HOLD_MAX``) until every ack is out. Then
        the dispatcher runs it in its kind's pool (``bot.workpools``): five
        stuck questions fill the "ask" pool, and a command still runs at once.
        Until it starts it is only a coroutine in the gate's queue: no task,
        nothing more made on the ack path of the requests still coming.
        """
        self._waiting.add(work)
        self.acks.after(partial(self._start, work))

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        if work not in self._waiting:
            return  # dropped at stop
        self._waiting.discard(work)
        task = asyncio.get_running_loop().create_task(self._run(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception:  # work guards itself (``_guard``); this is the last resort
            log.exception("Slack work failed")

    def _drop_waiting(self) -> None:
        """Forget work that never started (a stop past its grace period)."""
        for work in self._waiting:
            work.close()  # no "never awaited" warning
        self._waiting.clear()

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until the work started by requests so far (and any it started) is done."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for _ in range(3):  # let listeners Bolt scheduled after an ack spawn their work
            await asyncio.sleep(0)
        while self._tasks or self._waiting:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                log.warning(
                    "Slack: %d tasks still running at stop",
                    len(self._tasks) + len(self._waiting),
                )
                return
            # Work held at the gate becomes a task when it opens (within
            # ``hold_max``): while any is held, look again every ``quiet``.
            step = min(self.acks.quiet, left or self.acks.quiet) if self._waiting else left
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=step)
            else:
                await asyncio.sleep(step or 0.0)

    async def _events_once(self, req: AsyncBoltRequest, resp: BoltResponse, next: Next) -> Any:
        """Acknowledge and skip an event already handled: an ``event_id`` seen
        before (Socket Mode redeliveries, HTTP retries), or a retry Slack sent
        because the first ack was slow (the first delivery is being handled)."""
        body = req.body
        if body.get("type") != "event_callback":
            return await next()
        event_id = body.get("event_id")
        fresh = self._events.add(event_id) if event_id else True
        retry = (req.headers.get("x-slack-retry-num") or [None])[0]
        reason = (req.headers.get("x-slack-retry-reason") or [None])[0]
        if not fresh or (retry is not None and reason == "http_timeout"):
            log.info("Slack event skipped event_id=%s retry=%s reason=%s", event_id, retry, reason)
            return BoltResponse(status=200, body="")
        return await next()

    async def _ack_first(self, req: AsyncBoltRequest, resp: BoltResponse, next: Next) -> None:
        """Acknowledge before the listener even starts: a command or an action
        is acknowledged as soon as Bolt has matched it, whatever its listener
        does; the work, however slow, runs afterwards (``_spawn``)."""
        await req.context.ack()
        await next()

    async def _on_command(self, command: dict[str, Any], context: Any) -> None:
        # Acknowledged by ``_ack_first``; the work waits for the acks still
        # being made (a burst of commands is acked first). It keeps the channel
        # and the command's fields, not Bolt's context: a hundred held commands
        # holding a hundred contexts (a Web API client each, and its helpers)
        # made every young collection during the burst walk them.
        ref = self._ref(context, command.get("channel_id"), command.get("channel_name"))
        self._spawn(self._command(ref, command))

    async def _command(self, ref: ChannelRef, command: dict[str, Any]) -> None:
        user = command.get("user_id") or ""
        replier = self._replier(user, command.get("response_url") or "")
        line = from_slack(str(command.get("text") or ""))
        work = self.dispatch.command(ref, line, replier, self._who(ref, user))
        await self._guard(ref, replier, work)

    async def _on_action(self, body: dict[str, Any], context: Any) -> None:
        channel = body.get("channel") or {}
        ref = self._ref(context, channel.get("id"), channel.get("name"))
        user = (body.get("user") or {}).get("id") or ""
        replier = self._replier(user, body.get("response_url") or "")
        action = (body.get("actions") or [{}])[0]
        press = PRESSES.get(str(action.get("action_id") or "").split(":", 1)[0])
        if press is Press.ASK:
            message = (body.get("container") or {}).get("message_ts") or (
                body.get("message") or {}
            ).get("ts")
            if message:
                self._spawn(
                    self._guard(ref, replier, self.dispatch.ask_prompt(ref, message, replier))
                )
            return
        if press is not None:
            # The value is what render_slack wrote (entities undone in case Slack
            # hands it back escaped); the core reads it as that button's command only.
            value = unescape(str(action.get("value") or "")[: render_slack.BUTTON_VALUE])
            work = self.dispatch.button(ref, press, value, replier, self._who(ref, user))
            self._spawn(self._guard(ref, replier, work))

    async def _on_event(self, event: dict[str, Any], context: Any) -> None:
        # Events are acknowledged by Bolt before this runs.
        if event.get("type") == "app_mention" and not event.get("thread_ts"):
            # "@Paper Radar digest" in the channel itself: what follows the
            # mention is a `/radar` line (a mention alone, the radar).
            ref = self._ref(context, event.get("channel"), None)
            self._spawn(self._mention(ref, event))
            return
        self._spawn(self._thread_question(context, event))

    async def _mention(self, ref: ChannelRef, event: dict[str, Any]) -> None:
        user = str(event.get("user") or "")
        if not user or event.get("bot_id"):
            return
        replier = self._replier(user)
        line = strip_mentions(str(event.get("text") or ""))
        await self._guard(
            ref, replier, self.dispatch.command(ref, line, replier, self._who(ref, user))
        )

    async def _on_reaction(self, event: dict[str, Any], context: Any) -> None:
        # Acknowledged by Bolt before this runs; the verdict is recorded after.
        self._spawn(self._reaction(context, event))

    async def _reaction(self, context: Any, event: dict[str, Any]) -> None:
        """A reaction added to or removed from a message: a 👍/👎 on one of
        this channel's cards is that person's verdict on its paper."""
        item = event.get("item") or {}
        channel, ts, user = item.get("channel"), item.get("ts"), event.get("user")
        if item.get("type") != "message" or not channel or not ts or not user:
            return  # a reaction on a file, or a malformed event
        ref = self._ref(context, channel, None)
        try:
            if user == (await self._identity()).get("user_id"):
                return  # the bot's own reaction is not the channel's verdict
            removed = event.get("type") == "reaction_removed"
            name = str(event.get("reaction") or "")
            await self.dispatch.reaction(ref, str(ts), name, removed, self._who(ref, str(user)))
        except Exception:
            log.exception("Slack reaction failed channel=%s ts=%s", channel, ts)

    async def _thread_question(self, context: Any, event: dict[str, Any]) -> None:
        """A person's message in the thread under one of this channel's cards."""
        channel, ts = event.get("channel"), event.get("ts")
        thread_ts = event.get("thread_ts")
        if not channel or not ts or not thread_ts or thread_ts == ts:
            return  # not a reply in a thread
        if event.get("bot_id") or event.get("subtype") not in _HUMAN_SUBTYPES:
            return  # bots (this one included), edits, joins...
        # A mention in a thread arrives twice (app_mention and message): answer once.
        if not self._messages.add((context.team_id, channel, ts)):
            return
        ref = self._ref(context, channel, None)
        try:
            if event.get("user") == (await self._identity()).get("user_id"):
                return
            if not await self.dispatch.is_card(ref, thread_ts):
                return
            history = await self._history(channel, thread_ts, ts)
            question = strip_mentions(str(event.get("text") or ""))
            replier = self._replier(str(event.get("user") or ""), thread=thread_ts)
            await self.dispatch.question(ref, thread_ts, question, history, replier)
        except Exception:
            log.exception("Slack thread answer failed channel=%s thread=%s", channel, thread_ts)

    # -- helpers ----------------------------------------------------------------------------

    def _replier(
        self, user: str, response_url: str = "", thread: str | None = None
    ) -> SlackReplier:
        return SlackReplier(self.poster, user, response_url, self._session, thread)

    def _who(self, ref: ChannelRef, user: str) -> Callable[[bool], Awaitable[Actor]]:
        """Who sent an event: their id, looked up (admin, name) only when the
        reply depends on it; always after the ack."""
        return lambda full: self.people.actor(ref.workspace, user, full)

    async def _guard(
        self, ref: ChannelRef, replier: SlackReplier, work: Coroutine[Any, Any, object]
    ) -> None:
        """Run ``work``; a post Slack refused, or any failure, is told to the
        person briefly and privately (how to invite the bot, when that is why)."""
        try:
            await work
        except DeliveryFailed as err:
            cause = err.__cause__
            code = cause.error if isinstance(cause, SlackPostError) else type(cause).__name__
            log.warning("Slack post failed channel=%s error=%s", ref.channel, code)
            if code in _CANNOT_POST:
                message = NOT_IN_CHANNEL
            elif err.outbound.resumes:
                message = "Slack did not take the whole digest; the rest is posted on the next try."
            else:
                message = f"Slack did not take the reply ({code}); please try again."
            await replier.send_private(ref, Reply(message, kind=ReplyKind.ERROR))
        except Exception:
            log.exception("Slack command failed channel=%s", ref.channel)
            await replier.send_private(
                ref,
                Reply("Something went wrong on my side; please try again.", kind=ReplyKind.ERROR),
            )

    def _ref(self, context: Any, channel: Any, name: Any) -> ChannelRef:
        """The channel as the core knows it: team id + channel id, from the payload."""
        team = getattr(context, "team_id", None) or getattr(context, "enterprise_id", None)
        return ChannelRef(PLATFORM, str(team or ""), str(channel or ""), str(name or ""))

    async def _history(self, channel: str, thread_ts: str, before_ts: str) -> list[str]:
        """The thread's earlier messages (card excluded), oldest first, mentions stripped."""
        try:
            response = await self.client.conversations_replies(
                channel=channel, ts=thread_ts, limit=100
            )
        except SlackApiError as err:
            log.warning("conversations.replies failed: %s", err.response.get("error"))
            return []
        out = []
        messages: Sequence[dict[str, Any]] = response.get("messages") or ()
        for message in messages:
            ts = str(message.get("ts") or "")
            if ts == thread_ts or not ts or float(ts) >= float(before_ts):
                continue
            text = strip_mentions(str(message.get("text") or ""))
            if text:
                out.append(text)
        return out[-HISTORY_TURNS:]
