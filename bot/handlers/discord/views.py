"""Buttons that keep working after a restart: dynamic items with stable custom_ids.

Every button is a ``DynamicItem``: its custom_id holds all it needs (which
chip, which card), and its class is registered on the client at start
(``add_dynamic_items``), so a button on a digest posted last week still works
after any number of restarts, with no per-message state in memory. The
custom_id formats below are a contract with every message already posted:
change them and old buttons stop working (a test pins them).

Each press goes to the core as a ``bot.core.buttons.Press`` with its value;
the core decides what it runs.

- ``radar:shuffle``            Shuffle (a fresh draw, as `/radar shuffle`)
- ``radar:brief``              Brief on a radar's chips (as `/radar brief`)
- ``radar:brief:<n>:<paper key>``  Brief on a card: that paper, in the card's
  thread (opened for it when it has none yet)
- ``radar:chip:<chip id>``     × on a chip (as `/radar remove <its number>`)
- ``radar:ask:<n>:<paper key>``  Ask about this paper (opens a thread)
- ``radar:more:<paper key>``   More like this (a like of that paper)
- ``radar:less:<paper key>``   Less like this (a dislike)
- ``radar:save:<paper key>``   Save (the channel's reading list; a like too)
- ``radar:pick:<n>:<author id>`` one person of a `/radar author` question (as
  `/radar pick <n> openalex:<author id>`: a button of an older question
  cannot pick from a newer list); ``radar:pick:name`` keeps the name only
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import ui

from bot.core.buttons import Press, pick_line, pick_token
from bot.core.cards import Card, Choice
from bot.core.chips import Chip, shown_kind
from bot.core.safety import clip
from bot.handlers.render_discord import Message

if TYPE_CHECKING:
    from bot.handlers.discord.adapter import DiscordAdapter

SHUFFLE_ID = "radar:shuffle"
BRIEF_ID = "radar:brief"
CHIP_ID = "radar:chip:{chip_id}"
ASK_ID = "radar:ask:{number}:{key}"
CARD_BRIEF_ID = "radar:brief:{number}:{key}"
PICK_ID = "radar:pick:{choice}"
FEEDBACK_ID = "radar:{press}:{key}"  # press: more, less or save
#: The feedback buttons of a card, in order, and their labels.
FEEDBACK = (
    (Press.MORE, "More like this"),
    (Press.LESS, "Less like this"),
    (Press.SAVE, "Save"),
)
CUSTOM_ID = 100  # Discord's limit on a custom_id
LABEL = 80  # Discord's limit on a button label
ROWS, PER_ROW = 5, 5  # a message holds 5 action rows of 5 buttons


def _adapter(interaction: discord.Interaction[Any]) -> DiscordAdapter:
    return interaction.client.radar  # type: ignore[attr-defined, no-any-return]


class ShuffleButton(ui.DynamicItem[ui.Button[Any]], template=re.escape(SHUFFLE_ID)):
    def __init__(self) -> None:
        super().__init__(
            ui.Button(label="Shuffle", style=discord.ButtonStyle.primary, custom_id=SHUFFLE_ID)
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: ui.Item[Any], match: re.Match[str], /
    ) -> ShuffleButton:
        return cls()

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _adapter(interaction).press(interaction, Press.SHUFFLE)


class BriefButton(ui.DynamicItem[ui.Button[Any]], template=re.escape(BRIEF_ID)):
    def __init__(self) -> None:
        super().__init__(
            ui.Button(label="Brief", style=discord.ButtonStyle.secondary, custom_id=BRIEF_ID)
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: ui.Item[Any], match: re.Match[str], /
    ) -> BriefButton:
        return cls()

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _adapter(interaction).press(interaction, Press.BRIEF)


class CardBriefButton(
    ui.DynamicItem[ui.Button[Any]],
    template=r"radar:brief:(?P<number>[0-9]{1,3}):(?P<key>\S{1,80})",
):
    """Brief on a card: that paper briefed in the card's thread (not the whole radar)."""

    def __init__(self, number: int, key: str) -> None:
        super().__init__(
            ui.Button(
                label="Brief",
                style=discord.ButtonStyle.secondary,
                custom_id=CARD_BRIEF_ID.format(number=number, key=key),
            )
        )
        self.number, self.key = number, key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: ui.Item[Any], match: re.Match[str], /
    ) -> CardBriefButton:
        return cls(int(match["number"]), match["key"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _adapter(interaction).brief_button(interaction, self.number, self.key)


class RemoveChipButton(
    ui.DynamicItem[ui.Button[Any]], template=r"radar:chip:(?P<chip_id>[0-9]{1,18})"
):
    """The × on a chip. It names the chip by its stored id, not its number, so a
    button pressed after other chips were removed still removes the right one."""

    def __init__(self, chip_id: int, label: str = "×") -> None:
        super().__init__(
            ui.Button(
                label=clip(label, LABEL),
                style=discord.ButtonStyle.secondary,
                custom_id=CHIP_ID.format(chip_id=chip_id),
            )
        )
        self.chip_id = chip_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: ui.Item[Any], match: re.Match[str], /
    ) -> RemoveChipButton:
        return cls(int(match["chip_id"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _adapter(interaction).press(interaction, Press.REMOVE_ID, str(self.chip_id))


class AskButton(
    ui.DynamicItem[ui.Button[Any]], template=r"radar:ask:(?P<number>[0-9]{1,3}):(?P<key>\S{1,80})"
):
    """Ask about this paper: opens a thread on the card, where every message is a question."""

    def __init__(self, number: int, key: str, label: str = "Ask about this paper") -> None:
        super().__init__(
            ui.Button(
                label=clip(label, LABEL),
                style=discord.ButtonStyle.secondary,
                custom_id=ASK_ID.format(number=number, key=key),
            )
        )
        self.number, self.key = number, key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: ui.Item[Any], match: re.Match[str], /
    ) -> AskButton:
        return cls(int(match["number"]), match["key"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _adapter(interaction).ask_button(interaction, self.number, self.key)


class FeedbackButton(
    ui.DynamicItem[ui.Button[Any]],
    template=r"radar:(?P<press>more|less|save):(?P<key>\S{1,80})",
):
    """More like this / Less like this / Save on a card: that person's verdict
    on its paper, recorded by the core (``bot.core.buttons``)."""

    def __init__(self, press: Press, key: str, label: str) -> None:
        super().__init__(
            ui.Button(
                label=clip(label, LABEL),
                style=discord.ButtonStyle.secondary,
                custom_id=FEEDBACK_ID.format(press=press.value, key=key),
            )
        )
        self.press, self.key = press, key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: ui.Item[Any], match: re.Match[str], /
    ) -> FeedbackButton:
        press = Press(match["press"])
        return cls(press, match["key"], dict(FEEDBACK)[press])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _adapter(interaction).verdict(interaction, self.press, self.key)


class PickButton(
    ui.DynamicItem[ui.Button[Any]],
    template=r"radar:pick:(?P<choice>[0-9]{1,2}:A[0-9]{1,12}|name)",
):
    """One answer to "which person did you mean?": runs `/radar pick …`."""

    def __init__(self, choice: str, label: str = "Pick") -> None:
        super().__init__(
            ui.Button(
                label=clip(label, LABEL) or "Pick",
                style=discord.ButtonStyle.primary
                if choice != "name"
                else discord.ButtonStyle.secondary,
                custom_id=PICK_ID.format(choice=choice),
            )
        )
        self.choice = choice

    @property
    def line(self) -> str:
        """The command line this button stands for."""
        return pick_line(self.choice)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: ui.Item[Any], match: re.Match[str], /
    ) -> PickButton:
        return cls(match["choice"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _adapter(interaction).press(interaction, Press.PICK, self.line)


DYNAMIC_ITEMS: tuple[type[ui.DynamicItem[Any]], ...] = (
    ShuffleButton,
    BriefButton,
    CardBriefButton,
    RemoveChipButton,
    AskButton,
    FeedbackButton,
    PickButton,
)


def pick_button(choice: Choice) -> PickButton | None:
    """The button for a reply's choice, or None when its line is not a pick."""
    token = pick_token(choice.line)
    return None if token is None else PickButton(token, choice.label)


def chip_label(chip: Chip) -> str:
    return f"× {shown_kind(chip.kind)}: {chip.value}"


def askable(card: Card) -> bool:
    return len(ASK_ID.format(number=card.number, key=card.key)) <= CUSTOM_ID and not any(
        ch.isspace() for ch in card.key
    )


def view_for(message: Message) -> ui.View | None:
    """The buttons of one message: a button per answer where the bot asked a
    question, a × per chip, Shuffle and Brief where the chips are shown, an
    Ask button per card, and Brief (that paper) and More like this / Less like
    this / Save on a message of one card (a channel's cards are posted one per
    message; a private list of several uses `/radar brief <n>` and `/radar
    like <n>`). None when there are none.

    Five rows of five buttons is all a message holds: answers (at most 10),
    Ask buttons (at most 10 cards per message) and the Shuffle/Brief row come
    first, and chips get the rows left; chips beyond them are removed with
    `/radar remove`.
    """
    cards = [card for card in message.cards if askable(card)]
    ask_rows = math.ceil(len(cards) / PER_ROW)
    picks = [b for choice in message.choices if (b := pick_button(choice)) is not None]
    picks = picks[: (ROWS - ask_rows - (1 if message.chips is not None else 0)) * PER_ROW]
    if not cards and message.chips is None and not picks:
        return None
    view = ui.View(timeout=None)
    row = 0
    for i, button in enumerate(picks):
        _add(view, button, i // PER_ROW)
    row += math.ceil(len(picks) / PER_ROW)
    if message.chips is not None:
        chip_rows = ROWS - ask_rows - row - 1
        for i, (chip_id, chip) in enumerate(message.chips[: chip_rows * PER_ROW]):
            _add(view, RemoveChipButton(chip_id, chip_label(chip)), row + i // PER_ROW)
        row += math.ceil(min(len(message.chips), chip_rows * PER_ROW) / PER_ROW)
        _add(view, ShuffleButton(), row)
        _add(view, BriefButton(), row)
        row += 1
    single = len(message.cards) == 1
    for i, card in enumerate(cards):
        label = "Ask about this paper" if single else f"Ask about {card.number:02d}"
        _add(view, AskButton(card.number, card.key, label), row + i // PER_ROW)
    if single and cards and not picks and message.chips is None:
        card = cards[0]
        if len(CARD_BRIEF_ID.format(number=card.number, key=card.key)) <= CUSTOM_ID:
            _add(view, CardBriefButton(card.number, card.key), row)
        for press, label in FEEDBACK:
            if len(FEEDBACK_ID.format(press=press.value, key=card.key)) <= CUSTOM_ID:
                _add(view, FeedbackButton(press, card.key, label), row)
    return view


def _add(view: ui.View, item: ui.DynamicItem[Any], row: int) -> None:
    item.row = row
    view.add_item(item)
