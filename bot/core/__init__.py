"""Platform-neutral core: commands and button presses, chips, matching, ranking,
cards, and what to post for an event (``outgoing``).

Nothing under ``bot.core`` imports a platform SDK or an HTTP framework.
"""
