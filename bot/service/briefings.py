"""Briefings: ``/radar brief [topic]`` on demand, and automatically after a digest.

The briefing itself (which papers, the model's prompt and its checks, the
extractive fallback) is ``bot.digest.brief``'s; this module decides when one
is due, counts it against the daily caps, and, for the automatic briefing,
claims its period so it is posted once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.cards import Reply
from bot.core.channel import ChannelState
from bot.core.outgoing import Outbound, channel_messages
from bot.digest import brief as briefing
from bot.service.base import ServiceBase, workspace

#: An automatic briefing follows a digest: one started at most this long ago.
AUTO_BRIEF_AFTER_HOURS = 12


class Briefings(ServiceBase):
    def brief(
        self, state: ChannelState, topic: str | None = None, user: str | None = None
    ) -> Reply:
        """``/radar brief [topic]``: a briefing over the recent papers (see bot.digest.brief).

        Costs at most one model call per distinct paper set (cached across
        channels), none when no model is configured; never fails for the model.
        Counts against the daily caps of ``user`` (the platform's user id) and
        the channel (``_admit``).
        """
        now = self.clock.now()
        bset = briefing.select_papers(self.store, state, now, self.config.radar, topic)
        if not bset.items:
            return briefing.empty_reply(topic, self.config.radar)
        self._admit(state, user)
        return briefing.brief_reply(bset, self.gateway, workspace(state.ref), now)

    def auto_brief(self, state: ChannelState, now: datetime) -> Outbound | None:
        """The automatic briefing due after the digest just posted, or None.

        For the digest runner: call it right after a channel's scheduled digest
        is delivered, before the run is finished, and deliver what it returns.
        It decides by the channel's cadence (``/radar brief every day|week``):
        "day" briefs the digest just posted, once per local day; "week" briefs
        the cards of the last 7 days' digests, once per ISO week (in the
        channel's time zone). None when the cadence is off, no digest started
        in the last ``AUTO_BRIEF_AFTER_HOURS``, or this period was briefed.

        The period is claimed in the database first, so several workers post it
        at most once; its messages are markers ``brief:<period>:…`` in the
        outbox, so a delivery a crash interrupted (its header in the outbox, the
        run unfinished) is resumed, never repeated. Makes a model call only on
        a cache miss; model failures give the extractive briefing. Blocking
        (database, model): from an event loop, use ``asyncio.to_thread``.
        """
        if not state.id or state.brief_cadence not in ("day", "week"):
            return None
        run = self.store.last_run(state.id)
        if run is None or not run.planned:
            return None
        if now - run.started_at > timedelta(hours=AUTO_BRIEF_AFTER_HOURS):
            return None
        try:
            zone = ZoneInfo(state.schedule_tz or self.config.radar.default_timezone)
        except (KeyError, ValueError):
            zone = ZoneInfo("UTC")
        local = now.astimezone(zone).date()
        if state.brief_cadence == "day":
            period, label = f"day:{local.isoformat()}", "Daily briefing"
            papers = self.store.papers_by_key(list(run.planned))
            shown = [papers[k] for k in run.planned if k in papers][: briefing.MAX_PAPERS]
            scope = f"today's digest ({len(shown)} card{'s' if len(shown) != 1 else ''})"
        else:
            year, week, _ = local.isocalendar()
            period, label = f"week:{year}-W{week:02d}", "Weekly briefing"
            shown = briefing.papers_of_runs(self.store, state, now - timedelta(days=7))
            scope = f"this week's digests ({len(shown)} paper{'s' if len(shown) != 1 else ''})"
        if not shown:
            return None
        prefix = f"brief:{period}"
        # Claimed before: when its delivery began (the header is in the outbox),
        # the run it follows is unfinished, so resume it (delivery skips what
        # was sent); otherwise it was posted, or another worker has it.
        if not self.store.claim_auto_brief(state.id, period, now) and (
            self.store.outbox(state.id, f"{prefix}:header") is None
        ):
            return None
        bset = briefing.BriefSet(tuple(enumerate(shown, start=1)), scope, label=label)
        reply = briefing.brief_reply(bset, self.gateway, workspace(state.ref), now)
        return Outbound(
            state.ref,
            reply,
            messages=channel_messages(prefix, reply),
            channel_id=state.id,
            resumes=True,
        )
