"""Button presses are parsed once, in the core, the same for every platform.

A button's value comes back from the client and can be forged: each press is
read as the one command its button may run, or nothing.
"""

from __future__ import annotations

import pytest

from bot.core import commands as c
from bot.core.buttons import (
    Press,
    chip_target,
    command_for,
    pick_line,
    pick_token,
    reaction_verdict,
)
from bot.core.chips import Chip, ChipKind, find_chip


def test_each_press_runs_the_command_its_button_stands_for() -> None:
    assert command_for(Press.SHUFFLE) == c.Shuffle()
    assert command_for(Press.BRIEF, "anything") == c.Brief()
    assert command_for(Press.REMOVE, " keyword agents ") == c.RemoveChip("keyword agents")
    assert command_for(Press.REMOVE_ID, "17") == c.RemoveChip("17", chip_id=17)
    assert command_for(Press.PICK, "pick 2 openalex:A5017898742") == c.Pick(2, "A5017898742")
    assert command_for(Press.PICK, "pick name") == c.Pick(None)
    assert command_for(Press.ASK, "1712.0001") is None  # the platform opens a thread
    key = "arxiv:2604.26951"
    assert command_for(Press.MORE, key) == c.Verdict("like", key, source="button")
    assert command_for(Press.LESS, key) == c.Verdict("dislike", key, source="button")
    assert command_for(Press.SAVE, key) == c.Verdict("save", key, source="button")
    old = "arxiv:astro-ph/0601001"
    assert command_for(Press.MORE, old) == c.Verdict("like", old, source="button")
    # A card's Brief: that paper (in its thread), never the whole radar.
    assert command_for(Press.PAPER_BRIEF, key) == c.BriefPaper(key=key)
    assert command_for(Press.PAPER_BRIEF, old) == c.BriefPaper(key=old)


@pytest.mark.parametrize(
    ("press", "value"),
    [
        (Press.PICK, "clear"),  # a forged value: only a pick may run
        (Press.PICK, "pick 2"),  # a typed pick, not what a button carries
        (Press.PICK, "pick 2 openalex:A1; clear"),
        (Press.REMOVE_ID, "17 or 18"),
        (Press.REMOVE_ID, "²"),
        (Press.REMOVE, "   "),
        (Press.MORE, "clear"),  # a feedback button carries a paper key, nothing else
        (Press.MORE, "arxiv:2604.26951 clear"),
        (Press.LESS, ""),
        (Press.SAVE, "arxiv:"),
        (Press.SAVE, "like 2604.26951"),
        (Press.PAPER_BRIEF, ""),  # a card's Brief carries its paper key, nothing else
        (Press.PAPER_BRIEF, "brief"),
        (Press.PAPER_BRIEF, "<!channel> arxiv:2604.26951"),
        (Press.PAPER_BRIEF, "arxiv:2604.26951 every week"),
    ],
)
def test_a_value_its_button_could_not_carry_runs_nothing(press: Press, value: str) -> None:
    assert command_for(press, value) is None


def test_pick_tokens_for_short_button_ids_round_trip() -> None:
    for line in ("pick 2 openalex:A5017898742", "pick name"):
        token = pick_token(line)
        assert token is not None and pick_line(token) == line
    assert pick_token("clear") is None
    assert command_for(Press.PICK, pick_line("3:A1; drop")) is None


def test_a_chips_remove_button_names_exactly_that_chip() -> None:
    chips = (
        (4, Chip(ChipKind.KEYWORD, '"diffusion model" agents')),
        (5, Chip(ChipKind.EXCLUDE, "survey")),
        (6, Chip(ChipKind.KEYWORD, "survey")),
    )
    for chip_id, chip in chips:
        command = command_for(Press.REMOVE, chip_target(chip))
        assert isinstance(command, c.RemoveChip)
        assert find_chip(chips, command.target) == (chip_id, chip)


def test_thumbs_reactions_are_verdicts_and_removing_one_takes_it_back() -> None:
    key = "arxiv:2604.26951"
    for name in ("+1", "thumbsup", "+1::skin-tone-3"):
        assert reaction_verdict(name, key) == c.Verdict("like", key, source="reaction")
    for name in ("-1", "thumbsdown"):
        assert reaction_verdict(name, key) == c.Verdict("dislike", key, source="reaction")
    assert reaction_verdict("+1", key, removed=True) == c.Verdict(
        "like", key, undo=True, source="reaction"
    )
    assert reaction_verdict("tada", key) is None  # other emoji mean nothing
    assert reaction_verdict("+1", "not a key") is None
