"""Every settings model, in one leaf module.

Settings flow down: ``bot.config`` loads and validates them, and the modules
that use them (sources, digest, adapters) import their class from here. This
module imports nothing of the bot's, so reading the configuration never loads
SQLAlchemy, requests or arxiv.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_DB_URL = "sqlite:///paper-radar.db"


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = DEFAULT_DB_URL
    auto_upgrade: bool = True


@dataclass(frozen=True)
class RadarSettings:
    digest_cap: int = 10
    pool_days: int = 30
    digest_window_days: int = 7
    abstract_chars: int = 500
    shuffle_size: int = 5
    max_chips: int = 50
    default_timezone: str = "UTC"


@dataclass(frozen=True)
class ArxivSettings:
    """How to talk to the arXiv API. Every field has a production default."""

    api_url: str = "https://export.arxiv.org/api/query"
    delay_seconds: float = 3.0  # arXiv: no more than one request every 3 s
    timeout_seconds: float = 30.0  # per request (connect and each read)
    max_retries: int = 3  # so 1 + 3 = 4 tries per page
    backoff_seconds: float = 5.0  # first retry wait; doubles each retry
    page_size: int = 200  # results per page while harvesting
    max_harvest: int = 5000  # safety cap on one harvest
    backfill_size: int = 50  # results of one backfill (one request)


@dataclass(frozen=True)
class OpenAlexSettings:
    """How to talk to OpenAlex. Every field has a production default.

    The API key itself is never a setting (settings get printed and logged):
    ``api_key_env`` names the environment variable that holds it.
    """

    enabled: bool = True  # author identities, OpenAlex backfills and harvests
    api_url: str = "https://api.openalex.org"
    mailto: str = ""  # joins the "polite pool"; OpenAlex can contact us
    api_key_env: str = "OPENALEX_API_KEY"
    delay_seconds: float = 0.1  # at most 10 requests/second for the whole process
    timeout_seconds: float = 30.0  # per request (connect and each read)
    max_retries: int = 3  # so 1 + 3 = 4 tries per request
    backoff_seconds: float = 2.0  # first retry wait; doubles each retry
    per_page: int = 50  # list page size (OpenAlex allows 1..200; 100 in newer docs)
    max_results: int = 2000  # safety cap on one paged listing
    author_results: int = 25  # candidates asked for per name (one request)
    #: OpenAlex sources (venues, ``S…``) whose new works every harvest fetches.
    harvest_sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class HarvestSettings:
    lookback_hours: int = 96  # covers Friday-afternoon submissions announced Monday night
    fresh_minutes: int = 60  # a pass this recent is reused, not repeated
    categories: tuple[str, ...] = ()  # empty: all of arXiv


@dataclass(frozen=True)
class SlackSettings:
    """Slack app settings. Tokens come from the environment variables named here."""

    mode: str = "socket"  # "socket" (Socket Mode, no public URL) or "http"
    port: int = 3000  # HTTP mode: where Slack's requests arrive
    path: str = "/slack/events"
    api_url: str = "https://slack.com/api/"
    bot_token_env: str = "SLACK_BOT_TOKEN"
    app_token_env: str = "SLACK_APP_TOKEN"
    signing_secret_env: str = "SLACK_SIGNING_SECRET"


@dataclass(frozen=True)
class DiscordSettings:
    """Discord bot settings. The token comes from the environment variable named here."""

    token_env: str = "DISCORD_TOKEN"
    api_url: str = ""  # empty: discord.py's default (https://discord.com/api/v10)
    guilds: tuple[str, ...] = ()  # guild ids to sync commands to at start; empty: all joined
    global_sync: bool = False
    manage_permission: str = "manage_channels"  # needed to change chips or schedule


@dataclass(frozen=True)
class ScheduleSettings:
    default_time: str = ""  # "HH:MM" for channels that never set one; empty: no digest
    grace_hours: float = 6.0  # a digest missed while down is posted on start within this
    harvest_lead_minutes: int = 15  # harvest this long before a digest time
    quiet_days_note: bool = False  # post a one-line note when a day has nothing new


@dataclass(frozen=True)
class LlmSettings:
    """Any OpenAI-compatible server. No key and no base URL: extractive fallbacks."""

    base_url: str = ""  # empty: OpenAI's default when a key is set
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    timeout_seconds: float = 60.0
    max_retries: int = 2
    max_output_tokens: int = 1200
    daily_token_budget: int = 200_000  # per workspace; 0 = unlimited


@dataclass(frozen=True)
class FullTextSettings:
    """Where full texts come from. ``{id}`` is the arXiv id without version."""

    enabled: bool = True
    html_url: str = "https://arxiv.org/html/{id}"
    pdf_url: str = "https://arxiv.org/pdf/{id}"
    timeout_seconds: float = 30.0
    delay_seconds: float = 3.0  # at least this long between requests to one host
    max_megabytes: float = 20.0
    max_pages: int = 60
    retry_days: int = 7  # a paper with no full text is asked for again after this


@dataclass(frozen=True)
class ClockSettings:
    now: str = ""  # ISO 8601; empty means the real clock


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "INFO"
