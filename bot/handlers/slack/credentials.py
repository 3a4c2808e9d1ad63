"""The three Slack secrets, from the environment variables ``[slack]`` names."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from bot.settings import SlackSettings


@dataclass(frozen=True, repr=False)
class SlackCredentials:
    """The three Slack secrets. ``repr`` never shows them."""

    bot_token: str
    app_token: str = ""
    signing_secret: str = ""

    @classmethod
    def from_env(
        cls, settings: SlackSettings, environ: Mapping[str, str] | None = None
    ) -> SlackCredentials:
        env = os.environ if environ is None else environ
        return cls(
            bot_token=env.get(settings.bot_token_env, "").strip(),
            app_token=env.get(settings.app_token_env, "").strip(),
            signing_secret=env.get(settings.signing_secret_env, "").strip(),
        )

    def missing(self, settings: SlackSettings) -> list[str]:
        """Names of the environment variables ``settings.mode`` needs and lacks."""
        out = [] if self.bot_token else [settings.bot_token_env]
        if settings.mode == "socket" and not self.app_token:
            out.append(settings.app_token_env)
        if settings.mode == "http" and not self.signing_secret:
            out.append(settings.signing_secret_env)
        return out

    def __repr__(self) -> str:
        return "SlackCredentials(<redacted>)"
