"""Author chips follow a person, not a string: the "which person?" dialogue.

``/radar author <name>`` looks the name up in OpenAlex (one request): nobody
plausible keeps the name; one person makes the chip follow that identity;
several ask the channel to pick, and the question stays open for
``PENDING_TTL`` until ``/radar pick <n>`` (or a pick button) answers it.
Without OpenAlex a chip follows the name, as it always did.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.core import commands as c
from bot.core.cards import Choice, Reply, ReplyKind
from bot.core.channel import ChannelState
from bot.core.chips import NAME_ONLY, OPENALEX_REF, Chip, ChipKind, identity_chip, same_chip
from bot.core.identity import AuthorCandidate, describe, name_variants, plausible_people
from bot.errors import UpstreamError, UsageError
from bot.service.edits import Edits

log = logging.getLogger("bot.service")

#: A `/radar author` question ("which of these people?") stays open this long.
PENDING_TTL = timedelta(days=1)
#: Characters of a person's line on a pick button.
PICK_LABEL = 72


class Authors(Edits):
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
            kind=ReplyKind.CHOICE,
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
