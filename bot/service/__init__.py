"""``RadarService``: a command for one channel in, what to post out.

This is the whole command flow, shared by every platform: an adapter (through
``bot.dispatch``) calls ``respond(ref, line, actor)`` (or ``answer`` with a
parsed command, e.g. a button's) and gets an ``Outbound``: the reply and how
it is posted (``bot.core.outgoing``). ``handle`` is the same, returning just
the ``Reply``. Plain synchronous code; adapters run it in a worker thread.

Dispatch lives here; each concern is a module of its own, mixed in:

- ``edits``: chips (and a new chip's backfill), schedule, cadence, digest size;
- ``authors``: the "which person?" dialogue of `/radar author`;
- ``views``: the digest (claimed as a run), shuffle, filter, preview;
- ``briefings``: `/radar brief` and the automatic briefing after a digest;
- ``paper_brief``: one paper briefed in its card's thread (a card's Brief);
- ``questions``: questions about a paper, in its card's thread or `/radar ask`;
- ``likes``: like chips, card feedback, `/radar likes|forget|saved`
  (ordering by relevance itself: ``relevance``).

Who may change a radar is decided here too (``bot.core.permissions``),
before anything is read or written.
"""

from __future__ import annotations

from bot.core import commands as c
from bot.core import permissions
from bot.core.actor import Actor
from bot.core.cards import Reply, ReplyKind
from bot.core.channel import ChannelRef, ChannelState
from bot.core.chips import ChipKind
from bot.core.outgoing import Outbound, outbound
from bot.digest.plan import radar_matches
from bot.errors import RadarError, UsageError
from bot.service.authors import Authors
from bot.service.base import credited, error_reply, user_id
from bot.service.briefings import Briefings
from bot.service.edits import describe_schedule
from bot.service.likes import Likes
from bot.service.paper_brief import PaperBriefs
from bot.service.questions import Questions
from bot.service.views import Views

__all__ = ["RadarService", "help_reply"]


class RadarService(Authors, Likes, Views, Briefings, PaperBriefs, Questions):
    # -- entry points --------------------------------------------------------

    def respond(self, ref: ChannelRef, line: str, actor: Actor | None = None) -> Outbound:
        """Parse and execute one command line; every failure becomes a private reply.

        ``actor`` is who typed it, as the platform vouches for them: changes
        are checked against ``[permissions]`` and announced with their name.
        None (a caller with no person, e.g. the scheduler) skips both.
        """
        try:
            command = c.parse(line)
        except UsageError as err:
            return outbound(ref, error_reply(str(err)))
        return self.answer(ref, command, actor)

    def answer(self, ref: ChannelRef, command: c.Command, actor: Actor | None = None) -> Outbound:
        """Execute a parsed command (typed, or a button's: ``bot.core.buttons``)."""
        try:
            if actor is not None and c.changes_radar(command):
                refused = permissions.check(
                    self.config.permissions,
                    actor,
                    ref.platform,
                    self.config.discord.manage_permission,
                )
                if refused is not None:  # before any read or write: nothing changes
                    return outbound(ref, error_reply(refused))
            # Read-only and refused commands must not create a channel row:
            # bad input changes nothing. Commands that write call _created().
            state = self.store.find_channel(ref) or self._unsaved(ref)
            done = self._dispatch(state, command, actor)
        except RadarError as err:
            return outbound(ref, error_reply(str(err)))
        return done if isinstance(done, Outbound) else outbound(ref, done, channel_id=state.id)

    def handle(self, ref: ChannelRef, line: str, actor: Actor | None = None) -> Reply:
        """``respond``'s reply alone (what the bot says, not how it is posted)."""
        return self.respond(ref, line, actor).reply

    def execute(self, ref: ChannelRef, command: c.Command, actor: Actor | None = None) -> Reply:
        """``answer``'s reply alone."""
        return self.answer(ref, command, actor).reply

    def _dispatch(
        self, state: ChannelState, command: c.Command, actor: Actor | None = None
    ) -> Reply | Outbound:
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
            case c.RemoveChip(target, chip_id):
                return credited(self.remove_chip(state, target, chip_id), who)
            case c.ClearChips():
                return credited(self.clear_chips(state), who)
            case c.RunDigest():
                return self.digest(state, trigger="manual")
            case c.Shuffle(n):
                return self.shuffle(state, n or self.config.radar.shuffle_size)
            case c.Filter(query):
                return self.filter(state, query)
            case c.Brief(topic):
                return self.brief(state, topic, user=user_id(actor))
            case c.BriefPaper(key, card, arxiv_id):
                return self.brief_paper(state, key, card, arxiv_id, user=user_id(actor))
            case c.BriefCadence(cadence):
                return self.brief_cadence(state, cadence, who)
            case c.Ask(question, card, arxiv_id):
                return self.ask_about(state, question, card, arxiv_id, who, user=user_id(actor))
            case c.Like(card, arxiv_id, doi):
                return credited(self.like(state, card, arxiv_id, doi), who)
            case c.Likes():
                return self.likes(state)
            case c.Forget():
                return self.forget(state, who)
            case c.Saved(bibtex):
                return self.saved(state, bibtex)
            case c.Verdict():
                return self.verdict(state, command, actor)
            case c.SetSchedule(time, zone):
                return self.schedule(state, time, zone, who)
            case c.SetCap(n):
                return self.set_cap(state, n, who)
            case c.ShowSetting(name):
                return self.setting(state, name)
        raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover

    # -- reading -------------------------------------------------------------

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
        if state.brief_cadence is not None:
            lines.append(f"Briefings: every {state.brief_cadence}, after its first digest")
        last = self.store.last_run(state.id)
        if last is not None and last.finished_at is not None:
            lines.append(
                f"Last digest: {last.finished_at:%Y-%m-%d %H:%M} UTC, "
                f"{len(last.planned)} card{'s' if len(last.planned) != 1 else ''}"
            )
        else:
            lines.append("Last digest: none yet")
        if state.chips:
            matches = radar_matches(state.chip_list, self._pool())
            lines.append(
                f"Matching now: {len(matches)} paper{'s' if len(matches) != 1 else ''}"
                f" in the last {self.config.radar.pool_days} days"
            )
        return Reply("This channel's radar", tuple(lines), chips=state.chips, kind=ReplyKind.RADAR)

    def chip_labels(self, ref: ChannelRef) -> list[tuple[str, str]]:
        """(kind, label) of this channel's chips in their `/radar` order, for a
        platform's autocomplete."""
        state = self.store.find_channel(ref)
        if state is None:
            return []
        return [(chip.kind.value, chip.label()) for _, chip in state.chips]


def help_reply(topic: str | None) -> Reply:
    if topic:
        return Reply(f"/radar {topic}", (c.USAGE[topic],), ephemeral=True, kind=ReplyKind.HELP)
    lines = tuple(c.USAGE.values())
    lines += (
        "A paper is on the radar when it matches ANY author, keyword or category chip; "
        "source chips and -exclusions narrow it.",
    )
    return Reply("Paper Radar commands", lines, ephemeral=True, kind=ReplyKind.HELP)
