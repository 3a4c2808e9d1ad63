"""Views of the radar's papers: the digest, a shuffle, a filter, a preview.

A digest is the one view that changes what a channel has seen: it plans the
new matching papers, claims them as a run (``digest_runs``) and is posted
through the outbox, so it reaches the channel once whoever asks for it (a
person, the schedule, a restart). A shuffle and a filter are views on demand:
they change nothing a digest depends on (a shuffle remembers its draw only
so the next one differs).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from bot.core import commands as c
from bot.core.cards import Reply, ReplyKind, make_card
from bot.core.channel import ChannelRef, ChannelState
from bot.core.chips import ChipKind, watches
from bot.core.matching.radar import Match, match_paper
from bot.core.outgoing import Outbound, for_run
from bot.digest.plan import DigestPlan, filter_view, matched_labels, plan_digest, radar_matches
from bot.digest.schedule import run_key_day
from bot.errors import UsageError
from bot.service.base import ServiceBase
from bot.store.records import RunInfo


class Views(ServiceBase):
    def digest(
        self, state: ChannelState, trigger: str, run_key: str | None = None
    ) -> Reply | Outbound:
        """Post a digest now: the same plan the schedule uses, claimed as a run
        and delivered through the outbox (``bot.core.outgoing.for_run``)."""
        if not watches(state.chip_list):
            # Exclusion and source chips only narrow what the others bring.
            what = "no chips yet" if not state.chips else "no author, keyword or category chip"
            raise UsageError(
                f"This radar has {what}, so there is nothing to digest. "
                "Add one, e.g. `/radar category cs.CL`."
            )
        note = self._harvest()
        now = self.clock.now()
        plan = plan_digest(
            self.store,
            state,
            now,
            self.config.radar.digest_window_days,
            reorder=self._reorder(state),
        )
        lines = [note] if note else []
        if not plan.matches:
            lines.append(
                f"No new papers on this radar in the last "
                f"{self.config.radar.digest_window_days} days"
                + (
                    f" ({plan.considered} matching papers were shown before)."
                    if plan.considered
                    else "."
                )
            )
            return Reply("Nothing new", tuple(lines), chips=state.chips, kind=ReplyKind.DIGEST)
        keys = plan.keys
        key = run_key or f"{trigger}-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        run = self.store.claim_run(state.id, key, trigger, keys, plan.more, now)
        if run is None:
            return Reply("This digest was already posted.", kind=ReplyKind.INFO, ephemeral=True)
        return for_run(state.ref, state.id, run.id, self.run_reply(run, state, plan, lines))

    def run_reply(
        self,
        run: RunInfo,
        state: ChannelState,
        plan: DigestPlan | None = None,
        lines: Sequence[str] = (),
    ) -> Reply:
        """The digest a claimed run posts, rebuilt from the run's paper keys, so
        a run interrupted by a crash resumes with the same cards in the same
        order. ``plan``: the plan the run was claimed with, when the caller
        holds it (a typed digest, the day's run): its papers, read from the
        store moments before, are not read again, and a plan made without a
        relevance signal has no reason lines to look up."""
        known = {p.key: p for p in plan.papers} if plan is not None else {}
        papers = {k: known[k] for k in run.planned if k in known}
        if len(papers) < len(run.planned):
            papers.update(self.store.papers_by_key([k for k in run.planned if k not in papers]))
        kept = [papers[k] for k in run.planned if k in papers]
        ranker = None if plan is not None and plan.no_signal else self.ranker
        reasons = ranker.reasons(state.id, state.chip_list, kept) if ranker is not None else {}
        likes = [chip for chip in state.chip_list if chip.kind is ChipKind.LIKE]
        cards = []
        for paper in kept:
            match = match_paper(state.chip_list, paper)
            why = matched_labels(match) if match is not None else ()
            if not why and likes:  # on the radar through a like chip's watch
                why = tuple(f"like {chip.label()}" for chip in likes[:1])
            cards.append(
                make_card(
                    len(cards) + 1,
                    paper,
                    self.config.radar.abstract_chars,
                    why,
                    reasons.get(paper.key),
                )
            )
        footer = None
        if run.more:
            footer = (
                f"+{run.more} more matching paper{'s' if run.more != 1 else ''}: "
                f"`/radar filter since:{self.config.radar.digest_window_days}d` "
                "or `/radar shuffle`"
            )
        # A scheduled run is for a date in the channel's zone (its run key),
        # which can differ from the UTC date it started on.
        day = run_key_day(run.run_key) or run.started_at.date()
        title = f"Paper Radar digest, {day:%Y-%m-%d}: {len(cards)} new"
        return Reply(
            title,
            tuple(lines),
            cards=tuple(cards),
            chips=state.chips,
            footer=footer,
            kind=ReplyKind.DIGEST,
        )

    def shuffle(self, state: ChannelState, n: int) -> Reply:
        """A random draw of ``n`` from the radar's recent pool, preferring papers
        the last draw did not show. Two shuffles at once in one channel draw in
        turn (``channel_lock``), so the second avoids the first's papers too."""
        if not watches(state.chip_list):
            raise UsageError("Add a chip first; shuffle draws from this radar's papers.")
        pool = self._pool()
        matches = self._ranked(state, radar_matches(state.chip_list, pool), pool)
        if not matches:
            return Reply(
                "Nothing to shuffle",
                (
                    f"No paper in the last {self.config.radar.pool_days} days matches this "
                    "radar yet.",
                ),
                chips=state.chips,
                kind=ReplyKind.SHUFFLE,
            )
        with self.channel_lock(state.ref):
            stored = self.store.find_channel(state.ref)  # the last draw, as it is now
            previous = set(stored.last_shuffle if stored is not None else state.last_shuffle)
            fresh = [m for m in matches if m.paper.key not in previous]
            # Prefer papers the last draw did not show; top up from it only when
            # the pool is too small for a whole fresh draw.
            drawn = self._draw(fresh, n, state)
            if len(drawn) < n:
                rest = [m for m in matches if m.paper.key in previous]
                drawn += self._draw(rest, n - len(drawn), state)
            # A shuffle is a view on demand: it is remembered only so the next draw
            # differs, and does not use up papers the digest has yet to post.
            self.store.set_last_shuffle(self._created(state).id, [m.paper.key for m in drawn])
        cards = self._cards(state, drawn)
        return Reply(
            f"Shuffle: {len(cards)} of {len(matches)} recent papers",
            cards=cards,
            chips=state.chips,
            kind=ReplyKind.SHUFFLE,
        )

    def _draw(self, matches: Sequence[Match], k: int, state: ChannelState) -> list[Match]:
        """``k`` of ``matches`` at random; with a relevance order (the channel has
        said what it likes), weighted towards the top: the i-th has weight
        1/(i+1), so liked kinds come up more often and the rest still do."""
        k = min(k, len(matches))
        if k <= 0:
            return []
        if self.ranker is None or not self.ranker.signal(state.id, state.chip_list).any:
            return self.rng.sample(list(matches), k)
        items = list(matches)
        weights = [1.0 / (i + 1) for i in range(len(items))]
        drawn: list[Match] = []
        for _ in range(k):  # without replacement
            pick = self.rng.choices(range(len(items)), weights=weights)[0]
            drawn.append(items.pop(pick))
            weights.pop(pick)
        return drawn

    def filter(self, state: ChannelState, query: c.FilterQuery) -> Reply:
        now = self.clock.now()
        days = self.config.radar.pool_days
        if query.since_days is not None:
            days = max(days, query.since_days)
        elif query.since_date is not None:
            if query.since_date > now.date():
                raise UsageError(
                    f"`since:{query.since_date}` is after today ({now.date()}): "
                    "no paper can match yet.",
                    c.USAGE["filter"],
                )
            days = max(days, (now.date() - query.since_date).days + 1)
        pool = self.store.papers_since(now - timedelta(days=days), until=now)
        matches = self._ranked(state, filter_view(state.chip_list, pool, query, now), [])
        cap = state.digest_cap
        shown = matches[:cap]
        cards = self._cards(state, shown)
        footer = (
            f"+{len(matches) - cap} more; narrow the filter to see them"
            if len(matches) > cap
            else None
        )
        title = (
            f"Filter ({query.describe()}): {len(matches)} paper{'s' if len(matches) != 1 else ''}"
        )
        lines = () if matches else ("Nothing in the pool matches every term.",)
        return Reply(
            title, lines, cards=cards, chips=state.chips, footer=footer, kind=ReplyKind.FILTER
        )

    def preview(self, ref: ChannelRef) -> Reply:
        """The digest the channel would get now, changing nothing (no harvest, no marks)."""
        state = self.store.find_channel(ref) or self._unsaved(ref)
        plan = plan_digest(
            self.store,
            state,
            self.clock.now(),
            self.config.radar.digest_window_days,
            reorder=self._reorder(state),
        )
        cards = self._cards(state, plan.matches)
        footer = f"+{plan.more} more matching papers" if plan.more else None
        return Reply(
            f"Preview: {len(cards)} card{'s' if len(cards) != 1 else ''}",
            cards=cards,
            chips=state.chips,
            footer=footer,
            kind=ReplyKind.DIGEST,
        )
