"""What a button press means: one grammar for every platform's buttons.

Platforms draw buttons their own way (Slack action ids and values, Discord
custom ids) and translate a press into a ``Press`` and the value the button
carries; this module turns that into the command it stands for, exactly as
if typed. A button's value comes back from the client and can be forged, so
a value is only ever read as the one command its button may run: a pick
button runs a `/radar pick`, nothing else.
"""

from __future__ import annotations

import re
from enum import StrEnum

from bot.core import commands as c
from bot.core.chips import Chip, is_number
from bot.errors import UsageError

#: What a pick button may run: an answer to `/radar author`, nothing else.
PICK_LINE = re.compile(r"pick (?P<n>[0-9]{1,2}) openalex:(?P<author>A[0-9]{1,12})|pick name")
#: A pick button's compact form, for platforms with short button ids:
#: ``2:A5017898742`` or ``name``.
PICK_TOKEN = re.compile(r"(?P<n>[0-9]{1,2}):(?P<author>A[0-9]{1,12})|name")
#: What a feedback or a card's Brief button may carry: a paper key as ``bot.core.paper.Paper``
#: makes them (``arxiv:2604.26951``, ``arxiv:astro-ph/0601001``,
#: ``openalex:W…``): a source prefix, then no whitespace. Anything else runs
#: nothing; a well-formed key of a paper not stored is the service's to refuse.
PAPER_KEY = re.compile(r"[a-z][a-z0-9_-]{0,15}:[^\s:][^\s]{0,199}")
#: Slack reaction names (skin tones stripped) and the verdict each stands for.
REACTIONS = {"+1": "like", "thumbsup": "like", "-1": "dislike", "thumbsdown": "dislike"}


class Press(StrEnum):
    SHUFFLE = "shuffle"  # `/radar shuffle`
    BRIEF = "brief"  # `/radar brief`: the whole radar (a header's Brief)
    PAPER_BRIEF = "paper_brief"  # a card's Brief: that paper; value: the card's paper key
    REMOVE = "remove"  # a chip's ×; value: the chip's text (``chip_target``)
    REMOVE_ID = "remove_id"  # a chip's ×; value: the chip's stored id
    PICK = "pick"  # one answer to "which person?"; value: the pick line
    ASK = "ask"  # ask about a card: no command, the platform opens its thread
    MORE = "more"  # More like this; value: the card's paper key
    LESS = "less"  # Less like this; value: the card's paper key
    SAVE = "save"  # Save to the reading list; value: the card's paper key


#: A feedback press and the verdict it records.
VERDICTS = {Press.MORE: "like", Press.LESS: "dislike", Press.SAVE: "save"}


def command_for(press: Press, value: str = "") -> c.Command | None:
    """The command a press runs, or None when the value is not one its button
    could carry (a forged or stale value: nothing runs)."""
    value = value.strip()
    match press:
        case Press.SHUFFLE:
            return c.Shuffle()
        case Press.BRIEF:
            return c.Brief()
        case Press.PAPER_BRIEF:
            # A card's Brief briefs its own paper in its thread, never the
            # whole radar: a value that is not a paper key runs nothing.
            return c.BriefPaper(key=value) if PAPER_KEY.fullmatch(value) else None
        case Press.REMOVE:
            return c.RemoveChip(value) if value else None
        case Press.REMOVE_ID:
            return c.RemoveChip(value, chip_id=int(value)) if is_number(value) else None
        case Press.PICK:
            if not PICK_LINE.fullmatch(value):
                return None
            try:
                return c.parse(value)
            except UsageError:
                return None
        case Press.MORE | Press.LESS | Press.SAVE:
            if not PAPER_KEY.fullmatch(value):
                return None
            return c.Verdict(VERDICTS[press], value, source="button")
    return None


def reaction_verdict(name: str, paper_key: str, removed: bool = False) -> c.Verdict | None:
    """A reaction on a card message as the verdict it stands for (👍 like, 👎
    dislike; a removed reaction takes it back), or None for any other emoji."""
    kind = REACTIONS.get(name.split("::", 1)[0])  # "+1::skin-tone-2" is a 👍 too
    if kind is None or not PAPER_KEY.fullmatch(paper_key):
        return None
    return c.Verdict(kind, paper_key, undo=removed, source="reaction")


def chip_target(chip: Chip) -> str:
    """What a chip's × button carries (``Press.REMOVE``): text that
    ``bot.core.chips.find_chip`` matches to exactly that chip (``author Yehui
    Tang``, ``exclude survey``), so the button removes the chip it was drawn
    for even after other chips were added or removed."""
    return f"{chip.kind.value} {chip.value}"


def pick_token(line: str) -> str | None:
    """A choice's line (``pick 2 openalex:A…``, ``pick name``) as a pick
    button's compact token, or None when the line is not a pick."""
    match = PICK_LINE.fullmatch(line)
    if match is None:
        return None
    return "name" if match["n"] is None else f"{match['n']}:{match['author']}"


def pick_line(token: str) -> str:
    """The pick line a compact token stands for (``pick_token`` undone); a
    token that is not one gives a line ``command_for`` refuses."""
    match = PICK_TOKEN.fullmatch(token)
    if match is None:
        return token
    return "pick name" if match["n"] is None else f"pick {match['n']} openalex:{match['author']}"
