"""One exception hierarchy for the whole bot.

Every error a person can cause or meet derives from ``RadarError`` and carries
a message written for them: adapters show ``str(err)`` in the channel as it is
(ephemeral where the platform allows), so no message here may hold a stack
trace, a secret or a raw upstream body.
"""

from __future__ import annotations


class RadarError(Exception):
    """Base of every error the bot reports to a person."""


class UsageError(RadarError):
    """A command line that does not parse; ``usage`` says what would have."""

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message)
        self.usage = usage

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\nUsage: {self.usage}" if self.usage else base


class NotFoundError(RadarError):
    """The thing named (a chip, a channel, a paper) does not exist."""


class ConfigError(RadarError):
    """The configuration file or environment is not usable."""


class UpstreamError(RadarError):
    """A paper source failed after polite retries; nothing was stored."""


class StoreError(RadarError):
    """The database refused an operation (e.g. schema not upgraded)."""


class LimitError(RadarError):
    """A daily allowance is used up (a person's or a channel's briefings and
    questions); the message says which, and when it renews."""
