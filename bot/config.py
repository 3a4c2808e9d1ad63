"""Configuration: ``config.toml`` for settings, the environment for secrets.

Defaults work with no file at all. A key the bot does not know is an error,
not a silent no-op, because a misspelt ``api_url`` would otherwise send a test
or a demo to the live service. Secrets (tokens, API keys) are never read from
the file: only their environment variable names are.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import tomllib
from dataclasses import Field, dataclass, field, fields, is_dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import ConfigError
from bot.settings import (
    PERMISSION_MODES,
    ArxivSettings,
    ClockSettings,
    DatabaseSettings,
    DiscordSettings,
    FullTextSettings,
    HarvestSettings,
    LlmSettings,
    LoggingSettings,
    OpenAlexSettings,
    PermissionsSettings,
    RadarSettings,
    RelevanceSettings,
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
    permissions: PermissionsSettings = field(default_factory=PermissionsSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    llm: LlmSettings = field(default_factory=LlmSettings)
    fulltext: FullTextSettings = field(default_factory=FullTextSettings)
    clock: ClockSettings = field(default_factory=ClockSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    relevance: RelevanceSettings = field(default_factory=RelevanceSettings)
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
            known = [h for h in hints if h != "source_file"]
            raise ConfigError(
                f"Unknown config section [{name}]{_did_you_mean(name, known, '[{}]')}"
            )
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] must be a table")
        sections[name] = _section(hints[name], name, value)
    config = Config(**sections)
    _validate(config)
    return config


def _section(cls: Any, name: str, values: dict[str, Any]) -> Any:
    assert is_dataclass(cls)
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            hint = _did_you_mean(key, list(known), f"{name}.{{}}")
            raise ConfigError(f"Unknown setting {name}.{key}{hint}")
        kwargs[key] = _coerce(f"{name}.{key}", hints[key], known[key], value)
    return cls(**kwargs)


def _did_you_mean(typed: str, known: list[str], form: str) -> str:
    """`` (did you mean [radar]?)`` for a close known name, else nothing."""
    close = difflib.get_close_matches(typed, known, n=1, cutoff=0.6)
    return f" (did you mean {form.format(close[0])}?)" if close else ""


def _coerce(where: str, expected: Any, spec: Field[Any], value: Any) -> Any:
    """``value`` as the setting's type, or a ``ConfigError`` saying which type.

    TOML has its own types, so nothing is parsed from text: ``"10"`` is not a
    number and ``1`` is not a boolean. An integer is accepted for a ``float``
    setting (``delay_seconds = 3``), never the other way round.
    """
    origin = getattr(expected, "__origin__", None)
    if expected in (int, float):
        whole = expected is int
        ok = isinstance(value, int) if whole else isinstance(value, int | float)
        if not ok or isinstance(value, bool):
            raise ConfigError(f"{where} must be {_expected(expected, spec)}, got {_shown(value)}")
        return value if whole else float(value)
    if expected is bool and isinstance(value, bool):
        return value
    if expected is str and isinstance(value, str):
        return value
    if (
        origin in (tuple, list)
        and isinstance(value, list)
        and all(isinstance(v, str) for v in value)
    ):
        return tuple(value)
    raise ConfigError(f"{where} must be {_expected(expected, spec)}, got {_shown(value)}")


def _expected(expected: Any, spec: Field[Any]) -> str:
    """What a setting takes, in words: ``a whole number from 1 to 50``."""
    if expected in (int, float):
        noun = "a whole number" if expected is int else "a number"
        lo, hi = spec.metadata.get("min"), spec.metadata.get("max")
        if lo is not None and hi is not None:
            return f"{noun} from {_number(lo)} to {_number(hi)}"
        if lo is not None:
            return f"{noun} of at least {_number(lo)}"
        return noun
    if expected is bool:
        return "true or false"
    if expected is str:
        return 'text in double quotes ("...")'
    return 'a list of strings (["a", "b"])'


def _number(x: float) -> str:
    """``3`` for 3 and 3.0, ``0.1`` for 0.1: a bound or a value as a person writes it."""
    if isinstance(x, int) or not x.is_integer():
        return repr(x)
    return str(int(x))


def _shown(value: Any) -> str:
    """``value`` as it was written in TOML, short; long text is only measured,
    because a secret pasted into the wrong setting must not be echoed."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if len(value) > 24:
            return f"text of {len(value)} characters"
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return _number(value) if math.isfinite(value) else repr(value)
    if isinstance(value, list):
        more = ", …" if len(value) > 5 else ""
        return "[" + ", ".join(_shown(v) for v in value[:5]) + more + "]"
    if isinstance(value, dict):
        return "a table"
    if hasattr(value, "isoformat"):
        return f"{value.isoformat()} (a TOML date, not text)"
    return type(value).__name__


def check_bounds(config: Config) -> None:
    """Every numeric setting within the limits declared beside it in ``bot.settings``
    (``bounded(default, lo, hi)``); NaN and infinities never are."""
    for section in fields(config):
        settings = getattr(config, section.name)
        if not is_dataclass(settings):
            continue
        hints = get_type_hints(type(settings))
        for spec in fields(settings):
            kind = hints[spec.name]
            if kind not in (int, float):
                continue
            value = getattr(settings, spec.name)
            lo, hi = spec.metadata.get("min"), spec.metadata.get("max")
            if (
                not math.isfinite(value)
                or (lo is not None and value < lo)
                or (hi is not None and value > hi)
            ):
                raise ConfigError(
                    f"{section.name}.{spec.name} must be {_expected(kind, spec)}, "
                    f"got {_shown(value)}"
                )


def _validate(config: Config) -> None:
    check_bounds(config)
    try:
        ZoneInfo(config.radar.default_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"radar.default_timezone {config.radar.default_timezone!r} is not a time zone"
        ) from None
    _validate_openalex(config.openalex)
    _validate_permissions(config.permissions)
    if config.clock.now:
        _parse_now(config.clock.now)
    if config.slack.mode not in ("socket", "http"):
        raise ConfigError('slack.mode must be "socket" or "http"')
    if config.schedule.default_time and not _HHMM.match(config.schedule.default_time):
        raise ConfigError("schedule.default_time must be HH:MM (24-hour) or empty")
    if config.logging.level.upper() not in LOG_LEVELS:
        raise ConfigError(
            f"logging.level must be one of {', '.join(LOG_LEVELS)}, "
            f"got {_shown(config.logging.level)}"
        )


#: The levels ``logging.level`` and ``--log-level`` take (any case).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


_SOURCE_ID = re.compile(r"^(?:https://openalex\.org/)?S[0-9]{1,12}$", re.I)


def _validate_openalex(settings: OpenAlexSettings) -> None:
    if not settings.api_url.startswith(("http://", "https://")):
        raise ConfigError("openalex.api_url must be an http(s) URL")
    bad = [s for s in settings.harvest_sources if not _SOURCE_ID.match(s)]
    if bad:
        raise ConfigError(
            f"openalex.harvest_sources must be OpenAlex source ids like S137773608; not {bad[0]!r}"
        )


def _validate_permissions(settings: PermissionsSettings) -> None:
    if settings.change not in PERMISSION_MODES:
        raise ConfigError(
            "permissions.change must be "
            + ", ".join(f'"{mode}"' for mode in PERMISSION_MODES[:-1])
            + f' or "{PERMISSION_MODES[-1]}", got {_shown(settings.change)}'
        )
    bad = [u for u in settings.users if not u.strip() or len(u) > 64 or u != u.strip()]
    if bad:
        raise ConfigError(
            f"permissions.users holds platform user ids (Slack U…, Discord numbers); "
            f"not {_shown(bad[0])}"
        )
    if settings.change == "listed" and not settings.users:
        raise ConfigError(
            'permissions.change = "listed" needs permissions.users, e.g. users = ["U0123ABCD"]'
        )


def _parse_now(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"clock.now {text!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise ConfigError("clock.now needs a time zone, e.g. 2026-04-30T12:00:00Z")
    return at
