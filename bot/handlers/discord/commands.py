"""The `/radar` app-command group: typed options that become one command line.

Discord has no free-text slash commands, so each subcommand takes typed
options and ``command_line`` joins them back into exactly the line the
console and Slack take (``/radar author name:Yehui Tang`` -> ``author Yehui
Tang``). Parsing, validation and execution stay in ``bot.core``; the only
rules here are Discord's own (names, descriptions and counts within its
limits) and hints for its UI (autocomplete, min/max that mirror the core's).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any
from zoneinfo import available_timezones

import discord
from discord import app_commands

from bot.core import commands as c
from bot.core import taxonomy
from bot.settings import DiscordSettings

if TYPE_CHECKING:
    from bot.handlers.discord.adapter import DiscordAdapter

log = logging.getLogger("bot.handlers.discord.adapter")

Choice = app_commands.Choice
MAX_CHOICES = 25  # Discord's cap on choices and on autocomplete results
CHOICE_NAME = 100  # characters in a choice's name and a string choice's value
AUTOCOMPLETE_SECONDS = 2.0  # an autocomplete must answer within 3 s: leave room
COMMON_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Australia/Sydney",
)


def command_line(command: str, *args: str | int | None) -> str:
    """The console line for a subcommand and its options, in order; options
    left empty are dropped. ``command_line("schedule", "09:00", None)`` is
    ``schedule 09:00``."""
    parts = [command]
    parts += [str(a).strip() for a in args if a is not None and str(a).strip()]
    return " ".join(parts)


# -- autocomplete sources (pure, so they are tested without Discord) -------------------


def _choice(name: str, value: str) -> Choice[str]:
    return Choice(name=name[:CHOICE_NAME], value=value[:CHOICE_NAME])


def _ranked(current: str, items: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(key, text) items matching ``current``: prefix matches of the key
    first, then substring matches of the key or text, in input order."""
    needle = current.strip().casefold()
    if not needle:
        return list(items)
    prefix, inner = [], []
    for key, text in items:
        k = key.casefold()
        if k.startswith(needle):
            prefix.append((key, text))
        elif needle in k or needle in text.casefold():
            inner.append((key, text))
    return prefix + inner


def category_choices(current: str) -> list[Choice[str]]:
    """arXiv categories for ``current``: ``cs.cl`` and ``computation and
    language`` both find ``cs.CL``."""
    names = taxonomy.names()
    found = _ranked(current, ((cat, names.get(cat, "")) for cat in names))
    return [_choice(f"{cat} ({name})" if name else cat, cat) for cat, name in found[:MAX_CHOICES]]


@cache
def _zones() -> tuple[str, ...]:
    return tuple(sorted(z for z in available_timezones() if "/" in z or z == "UTC"))


def zone_choices(current: str) -> list[Choice[str]]:
    """IANA time zones for ``current``; a few common ones when it is empty."""
    if not current.strip():
        return [_choice(z, z) for z in COMMON_ZONES]
    found = _ranked(current, ((z, z.replace("_", " ")) for z in _zones()))
    return [_choice(z, z) for z, _ in found[:MAX_CHOICES]]


def chip_choices(chips: list[tuple[str, str]], current: str) -> list[Choice[str]]:
    """This channel's chips as ``2. author: Yehui Tang``; the value is the chip's
    number, exactly what `/radar remove 2` takes."""
    numbered = [(str(i), f"{i}. {kind}: {label}") for i, (kind, label) in enumerate(chips, 1)]
    needle = current.strip().casefold()
    found = [(n, text) for n, text in numbered if not needle or needle in text.casefold()]
    return [_choice(text, n) for n, text in found[:MAX_CHOICES]]


HELP_TOPICS = [Choice(name=name, value=name) for name in c.USAGE if name][:MAX_CHOICES]
SOURCES = [Choice(name=name, value=name) for name in c.KNOWN_SOURCES][:MAX_CHOICES]

Text = app_commands.Range[str, 1, c.MAX_ARG]


class RadarGroup(app_commands.Group):
    """`/radar <subcommand>`: one Discord command per line of the grammar."""

    def __init__(self, adapter: DiscordAdapter) -> None:
        super().__init__(name="radar", description="Paper Radar: this channel's literature radar")
        self.adapter = adapter

    async def _run(self, interaction: discord.Interaction, line: str) -> None:
        await self.adapter.run_line(interaction, line)

    @app_commands.command(
        name="show", description="Show this channel's chips, schedule and matches"
    )
    async def cmd_show(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, command_line("show"))

    @app_commands.command(name="author", description="Add an author chip, e.g. Yehui Tang")
    @app_commands.describe(name="The person's name: Yehui Tang, Tang, Yehui or Y. Tang")
    async def cmd_author(self, interaction: discord.Interaction, name: Text) -> None:
        await self._run(interaction, command_line("author", name))

    @app_commands.command(name="pick", description="Say which person `/radar author` meant")
    @app_commands.describe(choice="The person's number in the list, or: name")
    async def cmd_pick(
        self, interaction: discord.Interaction, choice: app_commands.Range[str, 1, 40]
    ) -> None:
        await self._run(interaction, command_line("pick", choice))

    @app_commands.command(
        name="keyword", description="Add a keyword chip, or -word alone to exclude it"
    )
    @app_commands.describe(
        words='Words or "a phrase" for titles and abstracts; -survey alone: excluded radar-wide'
    )
    async def cmd_keyword(self, interaction: discord.Interaction, words: Text) -> None:
        await self._run(interaction, command_line("keyword", words))

    @app_commands.command(name="category", description="Add an arXiv category chip, e.g. cs.CL")
    @app_commands.describe(name="An arXiv category, e.g. cs.CL")
    async def cmd_category(self, interaction: discord.Interaction, name: Text) -> None:
        await self._run(interaction, command_line("category", name))

    @cmd_category.autocomplete("name")
    async def _category_complete(
        self, interaction: discord.Interaction, current: str
    ) -> list[Choice[str]]:
        return category_choices(current)

    @app_commands.command(name="source", description="Limit this radar to a source")
    @app_commands.describe(name="The source")
    @app_commands.choices(name=SOURCES)
    async def cmd_source(self, interaction: discord.Interaction, name: str) -> None:
        await self._run(interaction, command_line("source", name))

    @app_commands.command(name="remove", description="Remove a chip (its number or its text)")
    @app_commands.describe(chip="The chip to remove")
    async def cmd_remove(self, interaction: discord.Interaction, chip: Text) -> None:
        await self._run(interaction, command_line("remove", chip))

    @cmd_remove.autocomplete("chip")
    async def _chip_complete(
        self, interaction: discord.Interaction, current: str
    ) -> list[Choice[str]]:
        try:
            chips = await asyncio.wait_for(
                self.adapter.dispatch.chip_labels(self.adapter.ref_for(interaction)),
                AUTOCOMPLETE_SECONDS,
            )
        except Exception:  # a slow or failing store must not break typing: no hints
            return []
        return chip_choices(chips, current)

    @app_commands.command(name="clear", description="Remove every chip from this radar")
    async def cmd_clear(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, command_line("clear"))

    @app_commands.command(name="digest", description="Post a digest now, as the schedule would")
    async def cmd_digest(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, command_line("digest"))

    @app_commands.command(name="shuffle", description="A fresh random draw from recent matches")
    @app_commands.describe(n=f"How many papers, 1 to {c.MAX_SHUFFLE}")
    async def cmd_shuffle(
        self,
        interaction: discord.Interaction,
        n: app_commands.Range[int, 1, c.MAX_SHUFFLE] | None = None,
    ) -> None:
        await self._run(interaction, command_line("shuffle", n))

    @app_commands.command(name="filter", description="One narrowed view; changes nothing")
    @app_commands.describe(terms='e.g. since:7d author:"Yehui Tang" cat:cs.CL -survey')
    async def cmd_filter(self, interaction: discord.Interaction, terms: Text) -> None:
        await self._run(interaction, command_line("filter", terms))

    @app_commands.command(name="brief", description="A briefing across recent papers")
    @app_commands.describe(topic="Optional focus; or: every day, every week, off")
    async def cmd_brief(self, interaction: discord.Interaction, topic: Text | None = None) -> None:
        await self._run(interaction, command_line("brief", topic))

    @app_commands.command(name="ask", description="Ask about one paper: a card number or arXiv id")
    @app_commands.describe(
        paper="A card's number in this channel (e.g. 2), or an arXiv id (e.g. 2604.26951)",
        question="Your question about it",
    )
    async def cmd_ask(
        self,
        interaction: discord.Interaction,
        paper: app_commands.Range[str, 1, 40],
        question: app_commands.Range[str, 1, c.MAX_LINE - 50],  # a few sentences
    ) -> None:
        await self._run(interaction, command_line("ask", paper, question))

    @app_commands.command(name="like", description="More papers like this one: a like chip")
    @app_commands.describe(paper="An arXiv id (e.g. 2604.26951) or a card's number here")
    async def cmd_like(
        self, interaction: discord.Interaction, paper: app_commands.Range[str, 1, 40]
    ) -> None:
        await self._run(interaction, command_line("like", paper))

    @app_commands.command(name="likes", description="What this radar learned from its likes")
    async def cmd_likes(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, command_line("likes"))

    @app_commands.command(name="forget", description="Clear what the radar learned; chips stay")
    async def cmd_forget(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, command_line("forget"))

    @app_commands.command(name="saved", description="The channel's reading list")
    @app_commands.describe(form="Leave empty for the list, or: bibtex")
    async def cmd_saved(self, interaction: discord.Interaction, form: Text | None = None) -> None:
        await self._run(interaction, command_line("saved", form))

    @app_commands.command(name="schedule", description="Set the daily digest time, or turn it off")
    @app_commands.describe(
        time="HH:MM (24-hour) or 9am, or off; empty: the schedule now",
        zone="Time zone, e.g. Europe/Berlin",
    )
    async def cmd_schedule(
        self,
        interaction: discord.Interaction,
        time: app_commands.Range[str, 1, 10] | None = None,
        zone: app_commands.Range[str, 1, 64] | None = None,
    ) -> None:
        await self._run(interaction, command_line("schedule", time, zone))

    @cmd_schedule.autocomplete("zone")
    async def _zone_complete(
        self, interaction: discord.Interaction, current: str
    ) -> list[Choice[str]]:
        return zone_choices(current)

    @app_commands.command(name="cap", description="Cards per digest for this channel")
    @app_commands.describe(n=f"1 to {c.MAX_DIGEST_CAP}; empty: the cap now")
    async def cmd_cap(
        self,
        interaction: discord.Interaction,
        n: app_commands.Range[int, 1, c.MAX_DIGEST_CAP] | None = None,
    ) -> None:
        await self._run(interaction, command_line("cap", n))

    @app_commands.command(name="help", description="How to use Paper Radar")
    @app_commands.describe(command="One command to explain")
    @app_commands.choices(command=HELP_TOPICS)
    async def cmd_help(self, interaction: discord.Interaction, command: str | None = None) -> None:
        await self._run(interaction, command_line("help", command))


# -- publishing the group ----------------------------------------------------------------


async def publish(
    client: discord.Client, tree: app_commands.CommandTree[Any], settings: DiscordSettings
) -> None:
    """Publish `/radar`: to each configured guild (or every joined one), which
    takes effect at once; or globally when ``global_sync`` is set (also in DMs;
    then not per guild, or members would see it twice). A refusal is logged."""
    try:
        if settings.global_sync:
            await tree.sync()
            log.info("discord: /radar synced globally")
        else:
            guilds: list[discord.abc.Snowflake] = [
                discord.Object(int(g)) for g in settings.guilds
            ] or list(client.guilds)
            for guild in guilds:
                await publish_to_guild(tree, guild)
    except discord.HTTPException as err:
        log.error("discord: command sync failed: %s", err)


async def publish_to_guild(
    tree: app_commands.CommandTree[Any], guild: discord.abc.Snowflake
) -> None:
    tree.copy_global_to(guild=guild)
    try:
        await tree.sync(guild=guild)
        log.info("discord: /radar synced to guild %s", guild.id)
    except discord.Forbidden:
        log.warning(
            "discord: guild %s refused the commands; re-invite the bot with the "
            "applications.commands scope (docs/discord.md)",
            guild.id,
        )
