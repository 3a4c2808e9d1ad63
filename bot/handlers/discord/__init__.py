"""Paper Radar on Discord (discord.py 2.x): the `/radar` group, embeds, buttons, threads.

``paper-radar run`` starts it when ``$DISCORD_TOKEN`` is set::

    adapter = DiscordAdapter(app, config.discord, token)
    await adapter.start()      # logs in, connects in the background, returns once READY
    ...                        # the scheduler posts digests through adapter.poster
    await adapter.stop()

Set-up (application, scopes, permissions, invite URL, intents): docs/discord.md.
"""

from bot.handlers.discord.adapter import PERMISSIONS, DiscordAdapter, intents, invite_url
from bot.handlers.discord.commands import command_line
from bot.handlers.discord.poster import DiscordPoster

__all__ = [
    "PERMISSIONS",
    "DiscordAdapter",
    "DiscordPoster",
    "command_line",
    "intents",
    "invite_url",
]
