"""``RadarService``: executes parsed commands for one channel and returns a ``Reply``.

This is the whole command flow, shared by every adapter: the console, Slack
and Discord all call ``handle(ref, line)`` and render what comes back. It is
plain synchronous code; adapters run it in a worker thread where their event
loop must stay free.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.config import Config
from bot.core import commands as c
from bot.core.cards import Reply, make_card
from bot.core.channel import ChannelRef, ChannelState
from bot.core.chips import KIND_TITLES, Chip, ChipKind
from bot.core.matching import KeywordQuery, match_paper
from bot.core.names import author_matches, parse_name
from bot.digest.harvest import Harvester, PaperSource
from bot.digest.plan import cards_for, filter_view, matched_labels, plan_digest, radar_matches
from bot.digest.qa import extractive_answer
from bot.errors import NotFoundError, RadarError, UpstreamError, UsageError
from bot.store.repo import RunInfo, Store

log = logging.getLogger(__name__)

CHIP_REPLY_CARDS = 5


@dataclass
class RadarService:
    store: Store
    source: PaperSource
    harvester: Harvester
    clock: Clock
    config: Config
    rng: random.Random

    # -- entry points --------------------------------------------------------

    def handle(self, ref: ChannelRef, line: str) -> Reply:
        """Parse and execute one command line; every failure becomes a reply."""
        try:
            command = c.parse(line)
        except UsageError as err:
            return error_reply(str(err))
        return self.execute(ref, command)

    def execute(self, ref: ChannelRef, command: c.Command) -> Reply:
        try:
            # Read-only and refused commands must not create a channel row:
            # bad input changes nothing. Commands that write call _created().
            state = self.store.find_channel(ref) or self._unsaved(ref)
            return self._dispatch(state, command)
        except RadarError as err:
            return error_reply(str(err))

    def _dispatch(self, state: ChannelState, command: c.Command) -> Reply:
        match command:
            case c.Show():
                return self.show(state)
            case c.Help(topic):
                return help_reply(topic)
            case c.AddChip(chip):
                return self.add_chip(state, chip)
            case c.RemoveChip(target):
                return self.remove_chip(state, target)
            case c.ClearChips():
                n = self.store.clear_chips(state.id)
                return Reply(
                    f"Removed {n} chip{'s' if n != 1 else ''}; this radar is empty.",
                    chips=(),
                    kind="radar",
                )
            case c.RunDigest():
                return self.digest(state, trigger="manual")
            case c.Shuffle(n):
                return self.shuffle(state, n or self.config.radar.shuffle_size)
            case c.Filter(query):
                return self.filter(state, query)
            case c.Brief() | c.BriefCadence():
                return Reply(
                    "Briefings are not available yet.",
                    ("They arrive with the language-model work; nothing was changed.",),
                    ephemeral=True,
                    kind="error",
                )
            case c.SetSchedule(time, zone):
                return self.schedule(state, time, zone)
            case c.SetCap(n):
                self.store.set_digest_cap(self._created(state).id, n)
                return Reply(f"Digests now show up to {n} cards.", kind="info")
        raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover

    # -- commands ----------------------------------------------------------

    def show(self, state: ChannelState) -> Reply:
        lines = []
        if not state.chips:
            lines.append(
                "No chips yet. Start with `/radar author <name>`, "
                "`/radar keyword <words>` or `/radar category cs.CL`."
            )
        lines.append(f"Schedule: {describe_schedule(state, self.config)}")
        lines.append(f"Digest size: up to {state.digest_cap} cards")
        last = self.store.last_run(state.id)
        if last is not None and last.finished_at is not None:
            lines.append(
                f"Last digest: {last.finished_at:%Y-%m-%d %H:%M} UTC, "
                f"{len(last.planned)} card{'s' if len(last.planned) != 1 else ''}"
            )
        else:
            lines.append("Last digest: none yet")
        if state.chips:
            pool = self._pool()
            matches = radar_matches(state.chip_list, pool)
            lines.append(
                f"Matching now: {len(matches)} paper{'s' if len(matches) != 1 else ''}"
                f" in the last {self.config.radar.pool_days} days"
            )
        return Reply("This channel's radar", tuple(lines), chips=state.chips, kind="radar")

    def _unsaved(self, ref: ChannelRef) -> ChannelState:
        """A channel the bot has not stored yet, as it would be stored."""
        return ChannelState(id=0, ref=ref, digest_cap=self.config.radar.digest_cap)

    def _created(self, state: ChannelState) -> ChannelState:
        """The stored channel, created on its first write."""
        return state if state.id else self.store.channel(state.ref, self.config.radar.digest_cap)

    def add_chip(self, state: ChannelState, chip: Chip) -> Reply:
        if len(state.chips) >= self.config.radar.max_chips:
            raise UsageError(
                f"This radar already has {len(state.chips)} chips, the most it "
                "can hold. Remove one first."
            )
        twin = next((have for _, have in state.chips if same_chip(have, chip)), None)
        if twin is not None:
            return Reply(
                f"{chip_title(twin)} is already on this radar; nothing changed.",
                chips=state.chips,
                ephemeral=True,
                kind="radar",
            )
        state = self._created(state)
        if not self.store.add_chip(state.id, chip):
            return Reply(
                f"{chip_title(chip)} is already on this radar; nothing changed.",
                chips=state.chips,
                ephemeral=True,
                kind="radar",
            )
        note = self._backfill(chip)
        state = self.store.channel(state.ref)
        lines = [note] if note else []
        cards: tuple = ()
        if chip.kind in (ChipKind.AUTHOR, ChipKind.KEYWORD, ChipKind.CATEGORY):
            matches = radar_matches([chip, *_scope_chips(state.chip_list)], self._pool())
            shown = matches[:CHIP_REPLY_CARDS]
            cards = cards_for(shown, self.config.radar.abstract_chars)
            if shown:
                self.store.mark_seen(
                    state.id, [m.paper.key for m in shown], self.clock.now(), via="chip"
                )
                lines.append(
                    f"{len(matches)} recent "
                    + ("paper matches" if len(matches) == 1 else "papers match")
                    + f" this chip; the newest {len(shown)}:"
                )
            elif not note:
                lines.append(
                    f"No paper in the last {self.config.radar.pool_days} days matches "
                    "it yet; new ones will come with the daily digest."
                )
        return Reply(
            f"Added {chip_title(chip)}.", tuple(lines), cards=cards, chips=state.chips, kind="radar"
        )

    def _backfill(self, chip: Chip) -> str | None:
        """One upstream query so a new chip's first reply shows real papers."""
        try:
            if chip.kind is ChipKind.AUTHOR:
                papers = self.source.backfill_author(chip.value)
            elif chip.kind is ChipKind.KEYWORD:
                papers = self.source.backfill_keyword(KeywordQuery.parse(chip.value).phrases)
            elif chip.kind is ChipKind.CATEGORY:
                papers = self.source.backfill_category(chip.value)
            else:
                return None
        except UpstreamError as err:
            log.warning("backfill failed chip=%s:%s error=%s", chip.kind, chip.value, err)
            return (
                "arXiv did not answer just now, so recent papers could not be fetched; "
                "the chip is saved and the next harvest will fill it."
            )
        self.store.upsert_papers(papers, self.clock.now())
        return None

    def remove_chip(self, state: ChannelState, target: str) -> Reply:
        chip_id, chip = find_chip(state, target)
        self.store.remove_chip(state.id, chip_id)
        state = self.store.channel(state.ref)
        return Reply(f"Removed {chip_title(chip)}.", chips=state.chips, kind="radar")

    def digest(self, state: ChannelState, trigger: str, run_key: str | None = None) -> Reply:
        """Post a digest now: the same plan the schedule uses, recorded as a run."""
        if not _watch_chips(state):
            raise UsageError(
                "This radar has no chips yet, so there is nothing to digest. "
                "Add one, e.g. `/radar category cs.CL`."
            )
        note = self._harvest()
        now = self.clock.now()
        plan = plan_digest(self.store, state, now, self.config.radar.digest_window_days)
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
            return Reply("Nothing new", tuple(lines), chips=state.chips, kind="digest")
        keys = [m.paper.key for m in plan.matches]
        key = run_key or f"{trigger}-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        run = self.store.claim_run(state.id, key, trigger, keys, plan.more, now)
        if run is None:
            return Reply("This digest was already posted.", kind="info", ephemeral=True)
        return self.run_reply(run, state, lines)

    def run_reply(self, run: RunInfo, state: ChannelState, lines: Sequence[str] = ()) -> Reply:
        """The digest a claimed run posts, rebuilt from the run alone, so a run
        interrupted by a crash resumes with the same cards in the same order."""
        papers = self.store.papers_by_key(list(run.planned))
        cards = []
        for key in run.planned:
            paper = papers.get(key)
            if paper is None:
                continue
            match = match_paper(state.chip_list, paper)
            why = matched_labels(match) if match is not None else ()
            cards.append(make_card(len(cards) + 1, paper, self.config.radar.abstract_chars, why))
        footer = None
        if run.more:
            footer = (
                f"+{run.more} more matching paper{'s' if run.more != 1 else ''}: "
                f"`/radar filter since:{self.config.radar.digest_window_days}d` "
                "or `/radar shuffle`"
            )
        title = f"Paper Radar digest, {run.started_at:%Y-%m-%d}: {len(cards)} new"
        return Reply(
            title,
            tuple(lines),
            cards=tuple(cards),
            chips=state.chips,
            footer=footer,
            kind="digest",
            extra={"run_id": str(run.id), "channel_id": str(state.id)},
        )

    def shuffle(self, state: ChannelState, n: int) -> Reply:
        if not _watch_chips(state):
            raise UsageError("Add a chip first; shuffle draws from this radar's papers.")
        matches = radar_matches(state.chip_list, self._pool())
        if not matches:
            return Reply(
                "Nothing to shuffle",
                (
                    f"No paper in the last {self.config.radar.pool_days} days matches this "
                    "radar yet.",
                ),
                chips=state.chips,
                kind="shuffle",
            )
        previous = set(state.last_shuffle)
        fresh = [m for m in matches if m.paper.key not in previous]
        # Prefer papers the last draw did not show; top up from it only when
        # the pool is too small for a whole fresh draw.
        drawn = self.rng.sample(fresh, min(n, len(fresh)))
        if len(drawn) < n:
            rest = [m for m in matches if m.paper.key in previous]
            drawn += self.rng.sample(rest, min(n - len(drawn), len(rest)))
        # A shuffle is a view on demand: it is remembered only so the next draw
        # differs, and does not use up papers the digest has yet to post.
        self.store.set_last_shuffle(self._created(state).id, [m.paper.key for m in drawn])
        cards = cards_for(drawn, self.config.radar.abstract_chars)
        return Reply(
            f"Shuffle: {len(cards)} of {len(matches)} recent papers",
            cards=cards,
            chips=state.chips,
            kind="shuffle",
        )

    def filter(self, state: ChannelState, query: c.FilterQuery) -> Reply:
        now = self.clock.now()
        days = self.config.radar.pool_days
        if query.since_days is not None:
            days = max(days, query.since_days)
        elif query.since_date is not None:
            days = max(days, (now.date() - query.since_date).days + 1)
        pool = self.store.papers_since(now - timedelta(days=days), until=now)
        matches = filter_view(state.chip_list, pool, query, now)
        cap = state.digest_cap
        shown = matches[:cap]
        cards = cards_for(shown, self.config.radar.abstract_chars)
        footer = (
            f"+{len(matches) - cap} more; narrow the filter to see them"
            if len(matches) > cap
            else None
        )
        title = (
            f"Filter ({query.describe()}): {len(matches)} paper{'s' if len(matches) != 1 else ''}"
        )
        lines = () if matches else ("Nothing in the pool matches every term.",)
        return Reply(title, lines, cards=cards, chips=state.chips, footer=footer, kind="filter")

    def schedule(self, state: ChannelState, time: str | None, zone: str | None) -> Reply:
        if time is None:
            if state.id:
                self.store.set_schedule(state.id, None, None)
            return Reply("Daily digest turned off for this channel.", kind="info")
        zone = zone or state.schedule_tz or self.config.radar.default_timezone
        self.store.set_schedule(self._created(state).id, time, zone)
        state = self.store.channel(state.ref)
        return Reply(
            f"Daily digest at {time} {zone}.",
            (f"Next: {next_run(time, zone, self.clock.now()):%a %Y-%m-%d %H:%M %Z}.",),
            kind="info",
        )

    def ask(
        self, ref: ChannelRef, message_ref: str, question: str, history: Sequence[str] = ()
    ) -> Reply | None:
        """Answer a question asked in the thread under a card.

        ``message_ref`` is the card's message id on its platform; None comes back
        when that message is not one of this channel's cards (the thread is not
        about a paper the bot posted), so the adapter stays silent.
        """
        state = self.store.find_channel(ref)
        if state is None:
            return None
        paper = self.store.paper_for_message(state.id, message_ref)
        if paper is None:
            return None
        question = " ".join(question.split())[:2000]
        if not question:
            return Reply(
                f"About: {paper.title}",
                ("Ask a question about this paper in this thread.",),
                kind="answer",
            )
        return extractive_answer(paper, question, history)

    # -- helpers -----------------------------------------------------------

    def preview(self, ref: ChannelRef) -> Reply:
        """The digest the channel would get now, changing nothing (no harvest, no marks)."""
        state = self.store.find_channel(ref) or self._unsaved(ref)
        plan = plan_digest(
            self.store, state, self.clock.now(), self.config.radar.digest_window_days
        )
        cards = cards_for(plan.matches, self.config.radar.abstract_chars)
        footer = f"+{plan.more} more matching papers" if plan.more else None
        return Reply(
            f"Preview: {len(cards)} card{'s' if len(cards) != 1 else ''}",
            cards=cards,
            chips=state.chips,
            footer=footer,
            kind="digest",
        )

    def _pool(self) -> list:
        now = self.clock.now()
        return self.store.papers_since(now - timedelta(days=self.config.radar.pool_days), until=now)

    def _harvest(self) -> str | None:
        try:
            self.harvester.run()
        except UpstreamError as err:
            log.warning("harvest failed: %s", err)
            return (
                "arXiv did not answer, so this digest uses the papers already stored; "
                "the next digest will catch up."
            )
        return None


# -- pure helpers (no store) ------------------------------------------------------


def error_reply(message: str) -> Reply:
    return Reply(message, ephemeral=True, kind="error")


def chip_title(chip: Chip) -> str:
    if chip.kind is ChipKind.EXCLUDE:
        return f"exclusion -{chip.value}"
    return f"{chip.kind.value} chip {chip.value}"


def find_chip(state: ChannelState, target: str) -> tuple[int, Chip]:
    chips = state.chips
    if not chips:
        raise NotFoundError("This radar has no chips to remove.")
    text = target.strip().strip('"').strip()
    if c.is_number(text):
        n = int(text)
        if 1 <= n <= len(chips):
            return chips[n - 1]
        raise NotFoundError(f"There is no chip {n}; this radar has {len(chips)} (see `/radar`).")
    folded = " ".join(text.split()).casefold()
    for chip_id, chip in chips:
        forms = {
            chip.value.casefold(),
            chip.label().casefold(),
            f"{chip.kind.value} {chip.value}".casefold(),
        }
        if chip.kind is ChipKind.KEYWORD:
            forms.add(chip.value.replace('"', "").casefold())
        if folded in forms:
            return chip_id, chip
    listing = ", ".join(f"{i}. {chip.label()}" for i, (_, chip) in enumerate(chips, start=1))
    raise NotFoundError(f"No chip matches `{text[:40]}`. Chips: {listing}")


def same_chip(a: Chip, b: Chip) -> bool:
    """Whether two chips watch the same thing (``Distillation`` = ``distillation``;
    ``Jorg Frochte`` = ``Jörg Frochte``), so the second is a duplicate."""
    if a.kind is not b.kind:
        return False
    if a.value.casefold() == b.value.casefold():
        return True
    try:
        if a.kind is ChipKind.AUTHOR:
            x, y = parse_name(a.value), parse_name(b.value)
            return author_matches(x, y) and author_matches(y, x)
        if a.kind in (ChipKind.KEYWORD, ChipKind.EXCLUDE):
            return KeywordQuery.parse(a.value) == KeywordQuery.parse(b.value)
    except ValueError:
        return False
    return False


def _watch_chips(state: ChannelState) -> bool:
    return any(
        chip.kind in (ChipKind.AUTHOR, ChipKind.KEYWORD, ChipKind.CATEGORY)
        for chip in state.chip_list
    )


def _scope_chips(chips: Sequence[Chip]) -> list[Chip]:
    return [chip for chip in chips if chip.kind in (ChipKind.SOURCE, ChipKind.EXCLUDE)]


def describe_schedule(state: ChannelState, config: Config) -> str:
    if not state.schedule_time:
        return "off (set one with `/radar schedule 09:00 Europe/Berlin`)"
    return f"daily at {state.schedule_time} {state.schedule_tz or config.radar.default_timezone}"


def next_run(time: str, zone: str, now: datetime) -> datetime:
    tz = ZoneInfo(zone)
    hh, mm = (int(x) for x in time.split(":"))
    local = now.astimezone(tz)
    candidate = local.replace(hour=hh, minute=mm, second=0, microsecond=0)
    if candidate <= local:
        candidate = (local + timedelta(days=1)).replace(hour=hh, minute=mm, second=0, microsecond=0)
    return candidate


def help_reply(topic: str | None) -> Reply:
    if topic:
        return Reply(
            f"/radar {topic}" if topic else "/radar", (c.USAGE[topic],), ephemeral=True, kind="help"
        )
    lines = tuple(c.USAGE[name] for name in c.USAGE if name)
    lines += (
        "A paper is on the radar when it matches ANY author, keyword or category chip; "
        "source chips and -exclusions narrow it.",
    )
    return Reply("Paper Radar commands", lines, ephemeral=True, kind="help")


def chips_header(chips: Sequence[tuple[int, Chip]]) -> list[tuple[str, list[tuple[int, Chip]]]]:
    """Chips grouped under their kind's title, in a stable order, for headers."""
    groups: dict[ChipKind, list[tuple[int, Chip]]] = {}
    for chip_id, chip in chips:
        groups.setdefault(chip.kind, []).append((chip_id, chip))
    return [(KIND_TITLES[kind], groups[kind]) for kind in ChipKind if kind in groups]
