"""Platform-neutral core: commands, chips, matching, ranking and cards.

Nothing under ``bot.core`` imports a platform SDK or an HTTP framework.
"""
