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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.config import Config
from bot.core import commands as c
from bot.core import permissions
from bot.core.actor import Actor
from bot.core.cards import Choice, Reply, make_card
from bot.core.channel import ChannelRef, ChannelState
from bot.core.chips import KIND_TITLES, NAME_ONLY, OPENALEX_REF, Chip, ChipKind
from bot.core.identity import (
    AuthorCandidate,
    describe,
    identity_evidence,
    name_variants,
    plausible_people,
)
from bot.core.matching.keywords import KeywordQuery
from bot.core.matching.radar import match_paper
from bot.core.names import author_matches, parse_name
from bot.core.paper import Paper
from bot.digest import brief as briefing
from bot.digest import qa
from bot.digest.fulltext import FullTextFetcher, Outcome
from bot.digest.harvest import Harvester, PaperSource
from bot.digest.plan import cards_for, filter_view, matched_labels, plan_digest, radar_matches
from bot.digest.schedule import next_occurrence, parse_hhmm, run_key_day
from bot.errors import NotFoundError, RadarError, UpstreamError, UsageError
from bot.llm import Gateway, workspace_of
from bot.sources.openalex import OpenAlexSource
from bot.store.repo import RunInfo, Store, Turn

log = logging.getLogger(__name__)

CHIP_REPLY_CARDS = 5
#: A `/radar author` question ("which of these people?") stays open this long.
PENDING_TTL = timedelta(days=1)
#: Characters of a person's line on a pick button.
PICK_LABEL = 72
#: An automatic briefing follows a digest: one started at most this long ago.
AUTO_BRIEF_AFTER_HOURS = 12


@dataclass
class RadarService:
    store: Store
    source: PaperSource
    harvester: Harvester
    clock: Clock
    config: Config
    rng: random.Random
    #: Called with a channel id after its schedule changes (from the thread the
    #: command ran in), so a running scheduler resyncs that job at once.
    schedule_listeners: list[Callable[[int], None]] = field(default_factory=list)
    #: The language model behind briefings and answers (None: extractive only).
    gateway: Gateway | None = None
    #: Full texts for thread answers (None: answers use the abstract only).
    fulltext: FullTextFetcher | None = None
    #: Author identities and works beyond arXiv (None: author chips are names).
    openalex: OpenAlexSource | None = None

    # -- entry points --------------------------------------------------------

    def handle(self, ref: ChannelRef, line: str, actor: Actor | None = None) -> Reply:
        """Parse and execute one command line; every failure becomes a reply.

        ``actor`` is who typed it, as the platform vouches for them: changes
        are checked against ``[permissions]`` and announced with their name.
        None (a caller with no person, e.g. the scheduler) skips both.
        """
        try:
            command = c.parse(line)
        except UsageError as err:
            return error_reply(str(err))
        return self.execute(ref, command, actor)

    def execute(self, ref: ChannelRef, command: c.Command, actor: Actor | None = None) -> Reply:
        try:
            if actor is not None and c.changes_radar(command):
                refused = permissions.check(
                    self.config.permissions,
                    actor,
                    ref.platform,
                    self.config.discord.manage_permission,
                )
                if refused is not None:
                    return error_reply(refused)  # before any read or write: nothing changes
            # Read-only and refused commands must not create a channel row:
            # bad input changes nothing. Commands that write call _created().
            state = self.store.find_channel(ref) or self._unsaved(ref)
            return self._dispatch(state, command, actor)
        except RadarError as err:
            return error_reply(str(err))

    def _dispatch(
        self, state: ChannelState, command: c.Command, actor: Actor | None = None
    ) -> Reply:
        # Who made a change, named in its reply, which the channel sees: no
        # radar changes silently. None: nobody to name (the old wording).
        who = permissions.credit(actor) if actor is not None else None
        match command:
            case c.Show():
                return self.show(state)
            case c.Help(topic):
                return help_reply(topic)
            case c.AddChip(chip):
                if chip.kind is ChipKind.AUTHOR:
                    return credited(self.add_author(state, chip), who)
                return credited(self.add_chip(state, chip), who)
            case c.Pick(choice, author_id):
                return credited(self.pick(state, choice, author_id), who)
            case c.RemoveChip(target):
                return credited(self.remove_chip(state, target), who)
            case c.ClearChips():
                n = self.store.clear_chips(state.id)
                reply = Reply(
                    f"Removed {n} chip{'s' if n != 1 else ''}; this radar is empty.",
                    chips=(),
                    kind="radar",
                )
                return credited(reply, who)
            case c.RunDigest():
                return self.digest(state, trigger="manual")
            case c.Shuffle(n):
                return self.shuffle(state, n or self.config.radar.shuffle_size)
            case c.Filter(query):
                return self.filter(state, query)
            case c.Brief(topic):
                return self.brief(state, topic, user=_user_id(actor))
            case c.BriefCadence(cadence):
                return self.brief_cadence(state, cadence, who)
            case c.Ask(question, card, arxiv_id):
                return self.ask_about(state, question, card, arxiv_id, who, user=_user_id(actor))
            case c.SetSchedule(time, zone):
                return self.schedule(state, time, zone, who)
            case c.SetCap(n):
                self.store.set_digest_cap(self._created(state).id, n)
                return Reply(
                    said(
                        who,
                        f"set digests to show up to {n} cards.",
                        f"Digests now show up to {n} cards.",
                    ),
                    kind="info",
                )
        raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover

    # -- commands ----------------------------------------------------------

    def show(self, state: ChannelState) -> Reply:
        lines = []
        if not state.chips:
            lines.append(
                "No chips yet. Start with `/radar author <name>`, "
                "`/radar keyword <words>` or `/radar category cs.CL`."
            )
        lines.extend(
            f"{chip.value} is one person: OpenAlex author {chip.author_id}"
            + (f" (on arXiv also as {', '.join(chip.names)})" if chip.names else "")
            for chip in state.chip_list
            if chip.author_id is not None
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

    # -- author chips: a person, not a string ----------------------------------

    def add_author(self, state: ChannelState, chip: Chip) -> Reply:
        """``/radar author <name> [openalex:A…]``: find who the name means.

        Without OpenAlex the chip follows the name, as it always did. With it,
        the name is looked up (one search request): nobody plausible keeps the
        name; one person makes the chip follow that identity; several ask the
        channel to pick (the question stays open, see ``pick``). The explicit
        ``openalex:A…`` form is checked against that author's record instead.
        """
        self._room(state)
        if self.openalex is None:
            if chip.ref is not None:
                raise UsageError(
                    "OpenAlex is turned off here, so a chip cannot follow an OpenAlex "
                    f"identity; `/radar author {chip.value}` follows the name."
                )
            return self.add_chip(state, chip)
        if state.id:
            self.store.set_pending(state.id, None)  # a new question replaces an old one
        if chip.ref is not None:
            return self._add_explicit(state, chip)
        twin = next((have for _, have in state.chips if same_chip(have, chip)), None)
        if twin is not None:
            return self.add_chip(state, chip)  # says it is already there, asks nobody
        name = chip.value
        try:
            # A person is waiting: the short retry deadline, not the harvest's.
            people = plausible_people(name, self.openalex.interactive().search_authors(name))
        except (UpstreamError, ValueError) as err:
            log.warning("author look-up failed name=%r error=%s", name, err)
            return self.add_chip(
                state,
                chip,
                (
                    "OpenAlex did not answer just now, so this chip follows the name only; "
                    "add it again later to follow the person.",
                ),
            )
        if not people:
            return self.add_chip(
                state,
                replace(chip, ref=NAME_ONLY),
                (f"OpenAlex knows nobody called {name}, so this chip follows the name as typed.",),
            )
        if len(people) == 1:
            person = people[0]
            return self.add_chip(
                state, identity_chip(person), (f"Following {describe(person)} (OpenAlex).",)
            )
        return self._ask(state, name, people)

    def _add_explicit(self, state: ChannelState, chip: Chip) -> Reply:
        """``/radar author <name> openalex:A…``: that person, if the name fits them."""
        assert self.openalex is not None and chip.author_id is not None
        try:
            person = self.openalex.interactive().author(chip.author_id)
        except UpstreamError as err:
            log.warning("author record failed id=%s error=%s", chip.author_id, err)
            return self.add_chip(
                state,
                chip,
                (
                    f"OpenAlex did not answer just now, so this chip follows {chip.author_id} "
                    "under the name as typed.",
                ),
            )
        if not plausible_people(chip.value, [person]):
            raise UsageError(
                f"OpenAlex author {chip.author_id} is {person.display_name}, not "
                f"{chip.value}; nothing changed."
            )
        return self.add_chip(
            state, identity_chip(person), (f"Following {describe(person)} (OpenAlex).",)
        )

    def _ask(self, state: ChannelState, name: str, people: list[AuthorCandidate]) -> Reply:
        """Several people fit ``name``: list them, remember the question, add nothing."""
        state = self._created(state)
        shown = people[: c.MAX_PICK]
        self.store.set_pending(
            state.id,
            {
                "name": name,
                "asked_at": self.clock.now().isoformat(),
                "people": [
                    {
                        "id": p.id,
                        "name": p.display_name,
                        "names": list(name_variants(p)),
                        "line": describe(p),
                    }
                    for p in shown
                ],
            },
        )
        lines = [f"{i}. {describe(p)}" for i, p in enumerate(shown, start=1)]
        if len(people) > len(shown):
            lines.append(
                f"… and {len(people) - len(shown)} more: type a fuller name to narrow it down."
            )
        lines.append(
            f"Pick one with `/radar pick <number>`, or `/radar pick name` to follow the name "
            f"{name} as typed (anyone of that name). Nothing was added yet."
        )
        choices = [
            Choice(
                f"{i}. {describe(p, width=PICK_LABEL, max_topics=0)}",
                f"pick {i} {OPENALEX_REF}{p.id}",
            )
            for i, p in enumerate(shown, start=1)
        ]
        choices.append(Choice("Name only", "pick name"))
        return Reply(
            f"Which {name}? OpenAlex knows {len(people)} people of that name.",
            tuple(lines),
            kind="choice",
            choices=tuple(choices),
        )

    def pick(self, state: ChannelState, choice: int | None, author_id: str | None) -> Reply:
        """``/radar pick <n>`` / ``/radar pick name``: answer the open question."""
        pending = _pending(self.store.pending(state.id)) if state.id else None
        if pending is None:
            raise UsageError(
                "There is no open question here: `/radar pick` answers a `/radar author` "
                "that found several people."
            )
        name, asked_at, people = pending
        if self.clock.now() - asked_at > PENDING_TTL:
            self.store.set_pending(state.id, None)
            raise UsageError(
                f"The question about {name} has expired; ask again with `/radar author {name}`."
            )
        if choice is None:
            chip = Chip(ChipKind.AUTHOR, name, NAME_ONLY)
            notes: tuple[str, ...] = (f"This chip follows the name {name} as typed.",)
        else:
            if choice > len(people):
                raise UsageError(
                    f"There is no person {choice}: the list has {len(people)} "
                    "(or `/radar pick name`)."
                )
            person = people[choice - 1]
            if author_id is not None and author_id != person["id"]:
                raise UsageError(
                    "That button belongs to an earlier question; nothing changed. "
                    "Pick from the latest list."
                )
            chip = Chip(
                ChipKind.AUTHOR,
                person["name"],
                f"{OPENALEX_REF}{person['id']}",
                tuple(n for n in person["names"] if n != person["name"]),
            )
            notes = (f"Following {person['line']} (OpenAlex).",)
        reply = self.add_chip(state, chip, notes)
        self.store.set_pending(state.id, None)
        return reply

    def _room(self, state: ChannelState) -> None:
        if len(state.chips) >= self.config.radar.max_chips:
            raise UsageError(
                f"This radar already has {len(state.chips)} chips, the most it "
                "can hold. Remove one first."
            )

    def add_chip(self, state: ChannelState, chip: Chip, notes: Sequence[str] = ()) -> Reply:
        self._room(state)
        twin = next((have for _, have in state.chips if same_chip(have, chip)), None)
        if twin is not None:
            return Reply(
                f"{chip_title(twin)} is already on this radar; nothing changed.",
                chips=state.chips,
                ephemeral=True,
                kind="radar",
            )
        chip, identity_note = self._backfill_identity(chip)
        note = self._backfill(chip, identity_note)
        # What the reply reports is worked out first; the chip and its cards'
        # seen marks are then stored in one transaction. A failure before that
        # leaves no chip behind (so a retry is not told "already on this
        # radar" and never sees its cards); papers a backfill stored are
        # shared by every radar and harmless.
        state = self.store.channel(state.ref, self.config.radar.digest_cap)
        lines = [*notes, note] if note else list(notes)
        cards: tuple = ()
        shown: list = []
        if chip.kind in (ChipKind.AUTHOR, ChipKind.KEYWORD, ChipKind.CATEGORY):
            matches = radar_matches([chip, *_scope_chips(state.chip_list)], self._pool())
            shown = matches[:CHIP_REPLY_CARDS]
            cards = cards_for(shown, self.config.radar.abstract_chars)
            if shown:
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
        twin = next((have for _, have in state.chips if same_chip(have, chip)), None)
        keys = [m.paper.key for m in shown]
        if twin is not None or not self.store.add_chip(state.id, chip, keys, self.clock.now()):
            return Reply(  # another command added it meanwhile
                f"{chip_title(twin or chip)} is already on this radar; nothing changed.",
                chips=state.chips,
                ephemeral=True,
                kind="radar",
            )
        state = self.store.channel(state.ref)
        return Reply(
            f"Added {chip_title(chip)}.", tuple(lines), cards=cards, chips=state.chips, kind="radar"
        )

    def _backfill(self, chip: Chip, openalex_note: str | None = None) -> str | None:
        """One upstream query so a new chip's first reply shows real papers
        (two for a chip that follows a person: arXiv by name, and OpenAlex by
        id, already asked by :meth:`_backfill_identity`, whose note this is)."""
        arxiv_note = self._backfill_arxiv(chip)
        return " ".join(n for n in (arxiv_note, openalex_note) if n) or None

    def _backfill_identity(self, chip: Chip) -> tuple[Chip, str | None]:
        """The person's works in the recent pool, by OpenAlex author id, stored;
        and the chip with the evidence those works give (their arXiv categories
        and co-authors, which confirm its name matches in arXiv bylines)."""
        if chip.author_id is None or self.openalex is None:
            return chip, None
        now = self.clock.now()
        since = (now - timedelta(days=self.config.radar.pool_days)).date()
        try:
            papers = self.openalex.interactive().works_by_author(
                chip.author_id, since, until=now.date()
            )
        except (UpstreamError, ValueError) as err:
            log.warning("OpenAlex backfill failed author=%s error=%s", chip.author_id, err)
            return chip, (
                "OpenAlex did not answer just now, so this person's papers beyond arXiv "
                "will come with the next harvest."
            )
        self.store.upsert_papers(papers, now)
        # The stored versions: a work merged with its arXiv record has arXiv's categories.
        stored = self.store.papers_by_key([p.key for p in papers])
        works = [stored.get(p.key, p) for p in papers]
        evidence = identity_evidence((chip.value, *chip.names), works)
        return replace(chip, evidence=evidence), None

    def _backfill_arxiv(self, chip: Chip) -> str | None:
        # A person is waiting for this reply: a few seconds of retries, then
        # the note below; the chip is saved either way and the harvest fills it.
        source = self.source.interactive()
        try:
            if chip.kind is ChipKind.AUTHOR:
                papers = source.backfill_author(chip.value)
            elif chip.kind is ChipKind.KEYWORD:
                papers = source.backfill_keyword(KeywordQuery.parse(chip.value).phrases)
            elif chip.kind is ChipKind.CATEGORY:
                papers = source.backfill_category(chip.value)
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

    def schedule(
        self, state: ChannelState, time: str | None, zone: str | None, who: str | None = None
    ) -> Reply:
        if time is None:
            if state.id:
                # The zone stays: "off" is then told apart from "never set", which
                # `schedule.default_time` applies to, and a later time reuses it.
                zone = state.schedule_tz or self.config.radar.default_timezone
                self.store.set_schedule(state.id, None, zone)
                self._schedule_changed(state.id)
            return Reply(
                said(
                    who,
                    "turned the daily digest off for this channel.",
                    "Daily digest turned off for this channel.",
                ),
                kind="info",
            )
        zone = zone or state.schedule_tz or self.config.radar.default_timezone
        self.store.set_schedule(self._created(state).id, time, zone)
        state = self.store.channel(state.ref)
        self._schedule_changed(state.id)
        return Reply(
            said(who, f"set the daily digest to {time} {zone}.", f"Daily digest at {time} {zone}."),
            (f"Next: {next_run(time, zone, self.clock.now()):%a %Y-%m-%d %H:%M %Z}.",),
            kind="info",
        )

    def _schedule_changed(self, channel_id: int) -> None:
        for listener in self.schedule_listeners:
            try:
                listener(channel_id)
            except Exception:  # a scheduler hiccup must not fail the command
                log.exception("schedule listener failed channel=%d", channel_id)

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
        return briefing.brief_reply(bset, self.gateway, _workspace(state.ref), now)

    def _admit(self, state: ChannelState, user: str | None) -> None:
        """Count one briefing or question against today's caps of the person and
        the channel (``Gateway.admit``: every one counts, cached or not, while a
        model is configured); raises ``LimitError`` when one is used up."""
        if self.gateway is not None:
            self.gateway.admit(
                workspace=_workspace(state.ref),
                channel=state.ref.channel,
                user=user,
                now=self.clock.now(),
            )

    def brief_cadence(
        self, state: ChannelState, cadence: str | None, who: str | None = None
    ) -> Reply:
        """``/radar brief every day|week|off``: store when automatic briefings follow digests."""
        if cadence is None:
            if state.id:
                self.store.set_brief_cadence(state.id, None)
            return Reply(
                said(
                    who,
                    "turned automatic briefings off for this channel.",
                    "Automatic briefings turned off for this channel.",
                ),
                kind="info",
            )
        state = self._created(state)
        self.store.set_brief_cadence(state.id, cadence)
        every = "day" if cadence == "day" else "week"
        lines = [
            f"A briefing will follow this channel's first digest of each {every}, "
            "covering " + ("that digest's cards." if every == "day" else "the week's cards.")
        ]
        if not state.schedule_time:
            lines.append(
                "This channel has no daily digest yet: set one with "
                "`/radar schedule 09:00 Europe/Berlin`."
            )
        return Reply(
            said(
                who,
                f"turned on automatic briefings every {every}.",
                f"Automatic briefings every {every}.",
            ),
            tuple(lines),
            kind="info",
        )

    def auto_brief(self, state: ChannelState, now: datetime) -> Reply | None:
        """The automatic briefing due after the digest just posted, or None.

        For the scheduler: call it right after a channel's digest is delivered
        and post what it returns like any reply. It decides by the channel's
        cadence (``/radar brief every day|week``): "day" briefs the digest just
        posted, once per local day; "week" briefs the cards of the last 7 days'
        digests, once per ISO week (in the channel's time zone). None when the
        cadence is off, no digest started in the last ``AUTO_BRIEF_AFTER_HOURS``,
        or this period was already briefed. The period is claimed in the
        database first, so several workers post it at most once. Makes a model
        call only on a cache miss; model failures give the extractive briefing.
        Blocking (database, model): from an event loop, use ``asyncio.to_thread``.
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
        if not self.store.claim_auto_brief(state.id, period, now):
            return None
        bset = briefing.BriefSet(tuple(enumerate(shown, start=1)), scope, label=label)
        reply = briefing.brief_reply(bset, self.gateway, _workspace(state.ref), now)
        return replace(reply, extra={"channel_id": str(state.id), "brief_period": period})

    def ask(
        self,
        ref: ChannelRef,
        message_ref: str,
        question: str,
        history: Sequence[str] = (),
        user: Actor | str | None = None,
    ) -> Reply | None:
        """Answer a question asked in the thread under a card.

        ``message_ref`` is the card's message id on its platform; None comes back
        when that message is not one of this channel's cards (the thread is not
        about a paper the bot posted), so the adapter stays silent.

        The answer comes from the paper (abstract, plus the full text when it
        can be fetched) through the model when one is configured, else
        extractively (bot.digest.qa). The thread's turns are stored, so a
        follow-up has its context; ``history`` (the thread's earlier messages
        as the platform shows them) is used only when none are stored yet.
        ``user`` (who asked: an ``Actor`` or the platform's user id) counts the
        question against their daily cap; a used-up cap, like any error a
        person can meet, comes back as an error reply.
        """
        state = self.store.find_channel(ref)
        if state is None:
            return None
        paper = self.store.paper_for_message(state.id, message_ref)
        if paper is None:
            return None
        who = user.user_id if isinstance(user, Actor) else user
        try:
            return self._answer(state, paper, message_ref, question, history, user=who)
        except RadarError as err:
            return error_reply(str(err))

    def ask_about(
        self,
        state: ChannelState,
        question: str,
        card: int | None,
        arxiv_id: str | None,
        who: str | None = None,
        user: str | None = None,
    ) -> Reply:
        """``/radar ask <card | arXiv id> <question>``: a thread question, asked anywhere.

        A card number is the newest card posted in this channel with that
        number; an arXiv id is that stored paper. The answer is the thread's
        answer (``_answer``, the same turns): when the paper has a card here,
        ``extra["thread"]`` is that card's message id, and a platform posts the
        answer in its thread; a paper never posted here keeps its own
        conversation under ``ask:<key>``.
        """
        key = f"arxiv:{arxiv_id}" if arxiv_id is not None else None
        posted = self.store.posted_card(state.id, number=card, paper_key=key) if state.id else None
        if posted is not None:
            thread, paper = posted
        elif card is not None:
            raise NotFoundError(
                f"No card {card:02d} has been posted in this channel yet; cards come with "
                "`/radar digest`, `/radar shuffle` and new chips."
            )
        else:
            assert key is not None
            found = self.store.papers_by_key([key]).get(key)
            if found is None:
                raise NotFoundError(
                    f"arXiv {arxiv_id} is not among the papers I have; papers arrive with the "
                    "daily harvest and with new chips."
                )
            paper, thread = found, f"ask:{found.key}"
            state = self._created(state)  # the conversation is this channel's
        reply = self._answer(state, paper, thread, question, user=user)
        asked = " ".join(question.split())
        lines = (f"{who} asked: {asked}" if who else f"Question: {asked}", *reply.lines)
        extra = {**reply.extra, "thread": thread} if posted is not None else reply.extra
        return replace(reply, lines=lines, extra=extra)

    def _answer(
        self,
        state: ChannelState,
        paper: Paper,
        thread_ref: str,
        question: str,
        history: Sequence[str] = (),
        user: str | None = None,
    ) -> Reply:
        """The answer to ``question`` about ``paper`` in the conversation
        ``thread_ref`` of this channel, whose turns are kept for follow-ups;
        ``user`` asked it (their daily cap, ``_admit``)."""
        question = " ".join(question.split())[:2000]
        if not question:
            return Reply(
                f"About: {paper.title}",
                ("Ask a question about this paper in this thread.",),
                kind="answer",
            )
        self._admit(state, user)
        turns = self.store.thread_turns(state.id, thread_ref)
        if not turns:
            turns = [Turn("thread", h) for h in history[-6:] if h.strip()]
        outcome = self.fulltext.get(paper) if self.fulltext is not None else Outcome(None)
        now = self.clock.now()
        reply = qa.answer(
            paper,
            question,
            full=outcome.text,
            turns=turns,
            gateway=self.gateway,
            workspace=_workspace(state.ref),
            now=now,
            fetch_note=outcome.note,
        )
        answered = qa.answer_text(reply)
        self.store.add_thread_turns(
            state.id, thread_ref, paper.key, [Turn("user", question), Turn("bot", answered)], now
        )
        return reply

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
            self.harvester.run(interactive=True)  # a person asked: the short deadline
        except UpstreamError as err:
            log.warning("harvest failed: %s", err)
            return (
                "arXiv did not answer, so this digest uses the papers already stored; "
                "the next digest will catch up."
            )
        return None


# -- pure helpers (no store) ------------------------------------------------------


def _user_id(actor: Actor | None) -> str | None:
    """Whose daily cap a briefing or question counts against (None: nobody's)."""
    return actor.user_id if actor is not None else None


def _workspace(ref: ChannelRef) -> str:
    """The unit of the daily model budget: one Slack team, Discord guild or console."""
    return workspace_of(ref.platform, ref.workspace)


def error_reply(message: str) -> Reply:
    return Reply(message, ephemeral=True, kind="error")


def said(who: str | None, by: str, plain: str) -> str:
    """A change's title: ``Alice set …`` naming who made it, or ``plain``
    when nobody is to be named (a caller without a person)."""
    return plain if who is None else f"{who} {by}"


def credited(reply: Reply, who: str | None) -> Reply:
    """A chip change's reply with who made it: ``Added keyword chip x.`` becomes
    ``Alice added keyword chip x.``. Replies that changed nothing (ephemeral
    ones, an errand such as "which of these people?") stay as they are."""
    if who is None or reply.ephemeral or reply.kind != "radar":
        return reply
    for verb in ("Added ", "Removed "):
        if reply.title.startswith(verb):
            return replace(reply, title=f"{who} {verb.lower()}{reply.title[len(verb) :]}")
    return reply


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


def identity_chip(person: AuthorCandidate) -> Chip:
    """The author chip that follows ``person``: shown by their name, matched by
    their id, and in arXiv bylines by every spelling they publish under."""
    return Chip(
        ChipKind.AUTHOR,
        " ".join(person.display_name.split()),
        f"{OPENALEX_REF}{person.id}",
        tuple(n for n in name_variants(person) if n != person.display_name),
    )


def _pending(raw: dict[str, Any] | None) -> tuple[str, datetime, list[dict[str, Any]]] | None:
    """(name, asked at, people) of a stored question, None if there is none or it is unreadable."""
    if not raw:
        return None
    try:
        name = str(raw["name"])
        asked_at = datetime.fromisoformat(str(raw["asked_at"]))
        people = [
            {
                "id": str(p["id"]),
                "name": str(p["name"]),
                "names": [str(n) for n in p.get("names", ())],
                "line": str(p.get("line") or p["name"]),
            }
            for p in raw["people"]
        ]
    except (KeyError, TypeError, ValueError):
        log.warning("unreadable pending author choice dropped")
        return None
    if asked_at.tzinfo is None or not people:
        return None
    return name, asked_at, people


def same_chip(a: Chip, b: Chip) -> bool:
    """Whether two chips watch the same thing (``Distillation`` = ``distillation``;
    ``Jorg Frochte`` = ``Jörg Frochte``), so the second is a duplicate. Two chips
    that follow identities are the same only when they follow the same person."""
    if a.kind is not b.kind:
        return False
    if a.author_id is not None and b.author_id is not None:
        return a.author_id == b.author_id
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
    """The next scheduled digest, in the channel's zone (the scheduler's own
    daylight-saving-safe arithmetic, so what we announce is what happens)."""
    tz = ZoneInfo(zone)
    return next_occurrence(parse_hhmm(time), tz, now).at.astimezone(tz)


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
