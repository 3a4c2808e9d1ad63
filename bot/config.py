"""Configuration: ``config.toml`` for settings, the environment for secrets.

Defaults work with no file at all. A key the bot does not know is an error,
not a silent no-op, because a misspelt ``api_url`` would otherwise send a test
or a demo to the live service. Secrets (tokens, API keys) are never read from
the file: only their environment variable names are.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import ConfigError
from bot.settings import (
    ArxivSettings,
    ClockSettings,
    DatabaseSettings,
    DiscordSettings,
    FullTextSettings,
    HarvestSettings,
    LlmSettings,
    LoggingSettings,
    OpenAlexSettings,
    RadarSettings,
    ScheduleSettings,
    SlackSettings,
)

CONFIG_ENV = "PAPER_RADAR_CONFIG"
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@dataclass(frozen=True)
class Config:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    radar: RadarSettings = field(default_factory=RadarSettings)
    arxiv: ArxivSettings = field(default_factory=ArxivSettings)
    openalex: OpenAlexSettings = field(default_factory=OpenAlexSettings)
    harvest: HarvestSettings = field(default_factory=HarvestSettings)
    slack: SlackSettings = field(default_factory=SlackSettings)
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    llm: LlmSettings = field(default_factory=LlmSettings)
    fulltext: FullTextSettings = field(default_factory=FullTextSettings)
    clock: ClockSettings = field(default_factory=ClockSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    source_file: str | None = None

    def with_db(self, url: str | None) -> Config:
        return self if not url else replace(self, database=replace(self.database, url=url))

    def pinned_now(self) -> datetime | None:
        if not self.clock.now:
            return None
        return _parse_now(self.clock.now)


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """Load the config named by ``path``, else ``$PAPER_RADAR_CONFIG``, else defaults."""
    chosen = path if path is not None else os.environ.get(CONFIG_ENV) or None
    if chosen is None:
        return Config()
    file = Path(chosen).expanduser()
    try:
        raw = tomllib.loads(file.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"Config file not found: {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config file {file} cannot be read: {exc.__class__.__name__}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {file} is not valid TOML: {exc}") from None
    config = from_mapping(raw)
    return replace(config, source_file=str(file))


def from_mapping(raw: dict[str, Any]) -> Config:
    sections: dict[str, Any] = {}
    hints = get_type_hints(Config)
    for name, value in raw.items():
        if name not in hints or name == "source_file":
            raise ConfigError(f"Unknown config section [{name}]")
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] must be a table")
        sections[name] = _section(hints[name], name, value)
    config = Config(**sections)
    _validate(config)
    return config


def _section(cls: Any, name: str, values: dict[str, Any]) -> Any:
    assert is_dataclass(cls)
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"Unknown setting {name}.{key}")
        expected = hints[key]
        kwargs[key] = _coerce(f"{name}.{key}", expected, value)
    return cls(**kwargs)


def _coerce(where: str, expected: Any, value: Any) -> Any:
    origin = getattr(expected, "__origin__", None)
    if expected is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if expected in (int, str, bool) and type(value) is expected:
        return value
    if origin in (tuple, list) and isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings")
        return tuple(value)
    raise ConfigError(f"{where} has the wrong type: {value!r}")


def _validate(config: Config) -> None:
    try:
        ZoneInfo(config.radar.default_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"radar.default_timezone {config.radar.default_timezone!r} is not a time zone"
        ) from None
    if not 1 <= config.radar.digest_cap <= 100:
        raise ConfigError("radar.digest_cap must be between 1 and 100")
    if config.arxiv.delay_seconds < 0:
        raise ConfigError("arxiv.delay_seconds cannot be negative")
    _validate_openalex(config.openalex)
    if config.clock.now:
        _parse_now(config.clock.now)
    if config.slack.mode not in ("socket", "http"):
        raise ConfigError('slack.mode must be "socket" or "http"')
    if not 1 <= config.slack.port <= 65535:
        raise ConfigError("slack.port must be a TCP port (1-65535)")
    if config.schedule.default_time and not _HHMM.match(config.schedule.default_time):
        raise ConfigError("schedule.default_time must be HH:MM (24-hour) or empty")
    if config.schedule.grace_hours < 0:
        raise ConfigError("schedule.grace_hours cannot be negative")


_SOURCE_ID = re.compile(r"^(?:https://openalex\.org/)?S[0-9]{1,12}$", re.I)


def _validate_openalex(settings: OpenAlexSettings) -> None:
    if not settings.api_url.startswith(("http://", "https://")):
        raise ConfigError("openalex.api_url must be an http(s) URL")
    if settings.delay_seconds < 0 or settings.backoff_seconds < 0:
        raise ConfigError("openalex.delay_seconds and backoff_seconds cannot be negative")
    if settings.timeout_seconds <= 0:
        raise ConfigError("openalex.timeout_seconds must be positive")
    if settings.max_retries < 0:
        raise ConfigError("openalex.max_retries cannot be negative")
    if not 1 <= settings.per_page <= 200:
        raise ConfigError("openalex.per_page must be between 1 and 200")
    if not 1 <= settings.author_results <= 200:
        raise ConfigError("openalex.author_results must be between 1 and 200")
    if settings.max_results < 1:
        raise ConfigError("openalex.max_results must be at least 1")
    bad = [s for s in settings.harvest_sources if not _SOURCE_ID.match(s)]
    if bad:
        raise ConfigError(
            f"openalex.harvest_sources must be OpenAlex source ids like S137773608; not {bad[0]!r}"
        )


def _parse_now(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"clock.now {text!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise ConfigError("clock.now needs a time zone, e.g. 2026-04-30T12:00:00Z")
    return at
