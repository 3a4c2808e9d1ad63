"""Changes to a channel's radar: chips (with the backfill a new chip gets),
the daily schedule, automatic briefings, the digest size.

Each change is checked before anything is written, so bad input changes
nothing; a new chip's reply shows the papers it matches right now, which
first needs one upstream query (the backfill) so it is never empty for a
real author.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.core.cards import Card, Reply, ReplyKind
from bot.core.channel import ChannelState
from bot.core.chips import (
    Chip,
    ChipKind,
    chip_title,
    find_chips,
    same_chip,
    scope_chips,
    sentence,
)
from bot.core.commands import surname_only_hint, two_people_hint
from bot.core.identity import identity_evidence
from bot.core.matching.keywords import KeywordQuery
from bot.digest.plan import radar_matches
from bot.digest.schedule import effective_time, next_occurrence, parse_hhmm
from bot.errors import NotFoundError, UpstreamError, UsageError
from bot.service.base import ServiceBase, said
from bot.settings import MAX_DIGEST_CAP

log = logging.getLogger("bot.service")

#: Cards a new chip's reply shows at most (its newest matches).
CHIP_REPLY_CARDS = 5


class Edits(ServiceBase):
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
                f"The {chip_title(twin)} is already on this radar; nothing changed.",
                chips=state.chips,
                ephemeral=True,
                kind=ReplyKind.RADAR,
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
        if (
            chip.kind is ChipKind.AUTHOR
            and chip.author_id is None  # an OpenAlex id is one person
            and (hint := surname_only_hint(chip.value))
        ):
            lines.append(hint)
        cards: tuple[Card, ...] = ()
        shown: list = []
        if chip.kind in (ChipKind.AUTHOR, ChipKind.KEYWORD, ChipKind.CATEGORY):
            pool = self._pool()
            found = radar_matches([chip, *scope_chips(state.chip_list)], pool)
            # The chip's own papers, by what the channel likes (when it said so).
            matches = self._ranked(state, found, []) if found else found
            shown = matches[:CHIP_REPLY_CARDS]
            cards = self._cards(state, shown)
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
                if chip.kind is ChipKind.AUTHOR and (hint := two_people_hint(chip.value)):
                    lines.append(hint)
        twin = next((have for _, have in state.chips if same_chip(have, chip)), None)
        keys = [m.paper.key for m in shown]
        if twin is not None or not self.store.add_chip(state.id, chip, keys, self.clock.now()):
            return Reply(  # another command added it meanwhile
                f"The {chip_title(twin or chip)} is already on this radar; nothing changed.",
                chips=state.chips,
                ephemeral=True,
                kind=ReplyKind.RADAR,
            )
        state = self.store.channel(state.ref)
        return Reply(
            sentence(f"Added {chip_title(chip)}"),
            tuple(lines),
            cards=cards,
            chips=state.chips,
            kind=ReplyKind.RADAR,
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
        self.harvester.keep(papers)  # stored, and represented in the background
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
        self.harvester.keep(papers)  # stored, and represented in the background
        return None

    def remove_chip(self, state: ChannelState, target: str, chip_id: int | None = None) -> Reply:
        """``/radar remove <number | text>``; a button names the chip by its
        stored id instead, so it removes the chip it was drawn for or nothing."""
        if chip_id is not None:
            chip = dict(state.chips).get(chip_id)
            if chip is None:
                raise NotFoundError("That chip is no longer on this radar; nothing changed.")
            removed = [(chip_id, chip)]
        else:
            removed = find_chips(state.chips, target)
        self.store.remove_chips(state.id, [i for i, _ in removed])
        state = self.store.channel(state.ref)
        titles = [chip_title(chip) for _, chip in removed]
        listed = titles[0] if len(titles) == 1 else f"{', '.join(titles[:-1])} and {titles[-1]}"
        return Reply(sentence(f"Removed {listed}"), chips=state.chips, kind=ReplyKind.RADAR)

    def clear_chips(self, state: ChannelState) -> Reply:
        if not state.chips:  # nothing to announce to the channel either
            raise NotFoundError("This radar has no chips to clear; nothing changed.")
        n = self.store.clear_chips(state.id)
        return Reply(
            f"Removed {n} chip{'s' if n != 1 else ''}; this radar is empty.",
            chips=(),
            kind=ReplyKind.RADAR,
        )

    def set_cap(self, state: ChannelState, n: int, who: str | None = None) -> Reply:
        if state.digest_cap == n:
            return unchanged(f"Digests already show up to {n} cards")
        self.store.set_digest_cap(self._created(state).id, n)
        return Reply(
            said(
                who, f"set digests to show up to {n} cards.", f"Digests now show up to {n} cards."
            ),
            kind=ReplyKind.INFO,
        )

    def setting(self, state: ChannelState, name: str) -> Reply:
        """`/radar cap` or `/radar schedule` alone: the setting now, to the asker."""
        if name == "cap":
            now = f"Digests show up to {state.digest_cap} cards."
            how = f"Change it with `/radar cap <n>` (1 to {MAX_DIGEST_CAP})."
        else:
            now = f"Schedule: {describe_schedule(state, self.config)}."
            how = "Change it with `/radar schedule 09:00 Europe/Berlin`, or `/radar schedule off`."
            if not self._schedule_time(state):
                return Reply(now, ephemeral=True, kind=ReplyKind.INFO)  # says how to set one
        return Reply(now, (how,), ephemeral=True, kind=ReplyKind.INFO)

    def schedule(
        self, state: ChannelState, time: str | None, zone: str | None, who: str | None = None
    ) -> Reply:
        if time is None:
            if not self._schedule_time(state):
                return unchanged("The daily digest is already off")
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
                kind=ReplyKind.INFO,
            )
        zone = zone or state.schedule_tz or self.config.radar.default_timezone
        upcoming = f"Next: {next_run(time, zone, self.clock.now()):%a %Y-%m-%d %H:%M %Z}."
        if state.schedule_time == time and state.schedule_tz == zone:
            return unchanged(f"The daily digest is already at {time} {zone}", upcoming)
        self.store.set_schedule(self._created(state).id, time, zone)
        state = self.store.channel(state.ref)
        self._schedule_changed(state.id)
        return Reply(
            said(who, f"set the daily digest to {time} {zone}.", f"Daily digest at {time} {zone}."),
            (upcoming,),
            kind=ReplyKind.INFO,
        )

    def _schedule_time(self, state: ChannelState) -> str:
        """The channel's daily digest time as the scheduler keeps it ("" when off)."""
        return effective_time(
            state.schedule_time, state.schedule_tz, self.config.schedule.default_time
        )

    def _schedule_changed(self, channel_id: int) -> None:
        for listener in self.schedule_listeners:
            try:
                listener(channel_id)
            except Exception:  # a scheduler hiccup must not fail the command
                log.exception("schedule listener failed channel=%d", channel_id)

    def brief_cadence(
        self, state: ChannelState, cadence: str | None, who: str | None = None
    ) -> Reply:
        """``/radar brief every day|week|off``: store when automatic briefings follow digests."""
        if cadence == state.brief_cadence:
            return unchanged(
                "Automatic briefings are already "
                + ("off" if cadence is None else f"every {cadence}")
            )
        if cadence is None:
            if state.id:
                self.store.set_brief_cadence(state.id, None)
            return Reply(
                said(
                    who,
                    "turned automatic briefings off for this channel.",
                    "Automatic briefings turned off for this channel.",
                ),
                kind=ReplyKind.INFO,
            )
        state = self._created(state)
        self.store.set_brief_cadence(state.id, cadence)
        every = "day" if cadence == "day" else "week"
        lines = [
            f"A briefing will follow this channel's first digest of each {every}, "
            "covering " + ("that digest's cards." if every == "day" else "the week's cards.")
        ]
        if not self._schedule_time(state):
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
            kind=ReplyKind.INFO,
        )


def unchanged(what: str, *lines: str) -> Reply:
    """The reply to a setting that is already so: to the asker alone, since
    the channel hears only of changes."""
    return Reply(f"{what}; nothing changed.", lines, ephemeral=True, kind=ReplyKind.INFO)


def describe_schedule(state: ChannelState, config: Config) -> str:
    """The daily digest's time as the scheduler will keep it."""
    at = effective_time(state.schedule_time, state.schedule_tz, config.schedule.default_time)
    if not at:
        return "off (set one with `/radar schedule 09:00 Europe/Berlin`)"
    zone = state.schedule_tz or config.radar.default_timezone
    if not state.schedule_time:
        return f"daily at {at} {zone}, this server's default (`/radar schedule off` stops it)"
    return f"daily at {at} {zone}"


def next_run(time: str, zone: str, now: datetime) -> datetime:
    """The next scheduled digest, in the channel's zone (the scheduler's own
    daylight-saving-safe arithmetic, so what we announce is what happens)."""
    tz = ZoneInfo(zone)
    return next_occurrence(parse_hhmm(time), tz, now).at.astimezone(tz)
