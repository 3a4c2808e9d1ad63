"""Every settings model, in one leaf module.

Settings flow down: ``bot.config`` loads and validates them, and the modules
that use them (sources, digest, adapters) import their class from here. This
module imports nothing of the bot's, so reading the configuration never loads
SQLAlchemy, requests or arxiv.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

DEFAULT_DB_URL = "sqlite:///paper-radar.db"

#: Most cards one digest may hold. One limit for ``radar.digest_cap`` and
#: ``/radar cap`` (and Discord's option range), stated once, here.
MAX_DIGEST_CAP = 50
#: Most cards one ``/radar shuffle`` draws; ``radar.shuffle_size`` shares it.
MAX_SHUFFLE = 20

_N = TypeVar("_N", int, float)


def bounded(default: _N, lo: _N, hi: _N | None = None) -> _N:
    """A numeric setting: its default and the values the loader accepts.

    ``lo <= value <= hi`` (``hi`` None: no upper limit). Every ``int`` and
    ``float`` setting is declared with this (tests/test_config.py checks), so
    none can be added without its limits, and ``bot.config`` checks them all
    the same way, naming the expected type: ``radar.pool_days must be a whole
    number from 1 to 3650, got -3``.
    """
    return field(default=default, metadata={"min": lo, "max": hi})


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = DEFAULT_DB_URL
    auto_upgrade: bool = True


@dataclass(frozen=True)
class RadarSettings:
    digest_cap: int = bounded(10, 1, MAX_DIGEST_CAP)
    pool_days: int = bounded(30, 1, 3650)
    digest_window_days: int = bounded(7, 1, 3650)
    abstract_chars: int = bounded(500, 20, 2000)  # a Slack section holds 3000 characters
    shuffle_size: int = bounded(5, 1, MAX_SHUFFLE)
    max_chips: int = bounded(50, 1, 1000)
    default_timezone: str = "UTC"


@dataclass(frozen=True)
class ArxivSettings:
    """How to talk to the arXiv API. Every field has a production default."""

    api_url: str = "https://export.arxiv.org/api/query"
    delay_seconds: float = bounded(3.0, 0.0, 60.0)  # arXiv: one request every 3 s at most
    timeout_seconds: float = bounded(30.0, 0.1, 600.0)  # per request (connect and each read)
    max_retries: int = bounded(3, 0, 10)  # so 1 + 3 = 4 tries per page
    backoff_seconds: float = bounded(5.0, 0.0, 300.0)  # first retry wait; doubles each retry
    page_size: int = bounded(200, 1, 2000)  # results per page while harvesting (arXiv: <= 2000)
    max_harvest: int = bounded(5000, 1, 30000)  # safety cap on one harvest (arXiv: <= 30000)
    backfill_size: int = bounded(50, 1, 2000)  # results of one backfill (one request)
    #: A person waiting on a command (a chip's backfill, `/radar digest`'s
    #: harvest, a paper fetched by id) gets this much time per request,
    #: retries included, then a clear message; the scheduled harvest keeps
    #: the patient max_retries/backoff_seconds above.
    interactive_deadline_seconds: float = bounded(5.0, 0.5, 120.0)
    interactive_backoff_seconds: float = bounded(1.0, 0.0, 60.0)  # first wait within it


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
    delay_seconds: float = bounded(0.1, 0.0, 60.0)  # at most 10 requests/s for the process
    timeout_seconds: float = bounded(30.0, 0.1, 600.0)  # per request (connect and each read)
    max_retries: int = bounded(3, 0, 10)  # so 1 + 3 = 4 tries per request
    backoff_seconds: float = bounded(2.0, 0.0, 300.0)  # first retry wait; doubles each retry
    per_page: int = bounded(50, 1, 200)  # list page size (OpenAlex allows 1..200)
    max_results: int = bounded(2000, 1, 100_000)  # safety cap on one paged listing
    author_results: int = bounded(25, 1, 200)  # candidates asked for per name (one request)
    #: Per request for a person waiting on a command (`/radar author`'s look-up
    #: and backfill), retries included; the harvest keeps the patient policy.
    interactive_deadline_seconds: float = bounded(5.0, 0.5, 120.0)
    interactive_backoff_seconds: float = bounded(1.0, 0.0, 60.0)  # first wait within it
    #: OpenAlex sources (venues, ``S…``) whose new works every harvest fetches.
    harvest_sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class HarvestSettings:
    # 96 covers Friday-afternoon submissions announced Monday night
    lookback_hours: int = bounded(96, 1, 24 * 30)
    fresh_minutes: int = bounded(60, 0, 24 * 60)  # a pass this recent is reused, not repeated
    categories: tuple[str, ...] = ()  # empty: all of arXiv


@dataclass(frozen=True)
class SlackSettings:
    """Slack app settings. Tokens come from the environment variables named here."""

    mode: str = "socket"  # "socket" (Socket Mode, no public URL) or "http"
    port: int = bounded(3000, 1, 65535)  # HTTP mode: where Slack's requests arrive
    path: str = "/slack/events"
    api_url: str = "https://slack.com/api/"
    bot_token_env: str = "SLACK_BOT_TOKEN"
    app_token_env: str = "SLACK_APP_TOKEN"
    signing_secret_env: str = "SLACK_SIGNING_SECRET"
    #: HTTP mode: a request's body must arrive within this many seconds, or it
    #: gets 408 and the connection is closed (a slow client cannot hold it open).
    body_timeout_seconds: float = bounded(5.0, 0.1, 60.0)


@dataclass(frozen=True)
class DiscordSettings:
    """Discord bot settings. The token comes from the environment variable named here."""

    token_env: str = "DISCORD_TOKEN"
    api_url: str = ""  # empty: discord.py's default (https://discord.com/api/v10)
    guilds: tuple[str, ...] = ()  # guild ids to sync commands to at start; empty: all joined
    global_sync: bool = False
    manage_permission: str = "manage_channels"  # needed to change chips or schedule


#: Who may change a channel's radar under ``[permissions] change``.
PERMISSION_MODES = ("members", "admins", "listed")


@dataclass(frozen=True)
class PermissionsSettings:
    """Who may change a channel's radar: its chips, schedule, digest size and
    briefing cadence (``bot.core.permissions`` applies it on every platform).

    Reading, views (show, help, digest, shuffle, filter, preview), briefings and
    questions are open to everyone in the channel, whatever this says.
    """

    #: "members": anyone who can use the channel; "admins": workspace admins and
    #: owners (Slack) or holders of ``discord.manage_permission`` (Discord);
    #: "listed": admins plus the user ids in ``users``.
    change: str = "members"
    users: tuple[str, ...] = ()  # platform user ids (Slack "U…", Discord snowflakes)


@dataclass(frozen=True)
class ScheduleSettings:
    default_time: str = ""  # "HH:MM" for channels that never set one; empty: no digest
    grace_hours: float = bounded(6.0, 0.0, 168.0)  # missed while down: posted on start if this new
    harvest_lead_minutes: int = bounded(15, 0, 12 * 60)  # harvest this long before a digest time
    quiet_days_note: bool = False  # post a one-line note when a day has nothing new


@dataclass(frozen=True)
class LlmSettings:
    """Any OpenAI-compatible server. No key and no base URL: extractive fallbacks."""

    base_url: str = ""  # empty: OpenAI's default when a key is set
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    timeout_seconds: float = bounded(60.0, 0.1, 3600.0)
    max_retries: int = bounded(2, 0, 10)
    max_output_tokens: int = bounded(1200, 1, 200_000)
    daily_token_budget: int = bounded(200_000, 0)  # per workspace; 0 = unlimited
    #: Briefings and questions one person, and one channel, may ask per UTC day
    #: while a model is configured (``bot.llm.Gateway.admit``); 0 = no cap.
    user_daily_calls: int = bounded(30, 0)
    channel_daily_calls: int = bounded(100, 0)


@dataclass(frozen=True)
class RelevanceSettings:
    """How papers are represented (once, at harvest) and each channel's taste learned.

    ``embedder``: "wordllama" (bundled in its wheel, offline, CPU) or "openai"
    (any OpenAI-compatible ``/v1/embeddings`` server at ``embedding_base_url``;
    its key, if it needs one, from the variable ``embedding_api_key_env``).
    The weights below were chosen on bench/bench_relevance.py's real-data tasks.
    """

    enabled: bool = True
    embedder: str = "wordllama"
    embedding_base_url: str = ""
    embedding_model: str = ""
    embedding_api_key_env: str = "OPENAI_API_KEY"
    embedding_batch: int = bounded(64, 1, 2048)  # texts per embedder call
    embedding_timeout_seconds: float = bounded(30.0, 0.1, 600.0)
    embedding_max_retries: int = bounded(2, 0, 10)
    #: Weight of embedding similarity next to TF-IDF similarity in every score.
    embedding_weight: float = bounded(0.05, 0.0, 10.0)
    #: Rocchio weights: liked centroid minus these times the centroids of
    #: disliked papers and of a background: the radar's recent papers (its
    #: pool), or when no pool is given, the cards shown and ignored.
    disliked_weight: float = bounded(1.0, 0.0, 10.0)
    pool_weight: float = bounded(1.0, 0.0, 10.0)
    ignored_weight: float = bounded(1.0, 0.0, 10.0)
    background_size: int = bounded(300, 0, 100_000)  # newest background papers used
    #: From this many likes and as many negatives on, a linear SVM (arxiv-sanity
    #: style) replaces the Rocchio centroid; 0 = never. Off: it tied Rocchio at
    #: 1 to 30 likes on the benchmark and costs more to fit.
    svm_min_labels: int = bounded(0, 0, 100_000)
    #: TF-IDF terms kept per channel model (largest weights), so 10,000 channels
    #: stack into one sparse matrix scored in one product.
    max_terms: int = bounded(1000, 10, 1_000_000)
    #: A like chip also watches: a paper this similar (TF-IDF cosine plus
    #: embedding_weight x embedding cosine) to a liked paper is on the radar
    #: with no other chip. 0.08: about 0.4 papers per like chip per 1,000
    #: listed on real days; 0.05 admits 4.5, most only loosely related.
    like_threshold: float = bounded(0.08, 0.0, 2.0)
    #: A card says `similar to "<liked title>"` only at this similarity or more
    #: (random pairs of papers reach 0.03 about once in a hundred).
    reason_floor: float = bounded(0.03, 0.0, 2.0)


@dataclass(frozen=True)
class FullTextSettings:
    """Where full texts come from. ``{id}`` is the arXiv id without version."""

    enabled: bool = True
    html_url: str = "https://arxiv.org/html/{id}"
    pdf_url: str = "https://arxiv.org/pdf/{id}"
    timeout_seconds: float = bounded(30.0, 0.1, 600.0)
    delay_seconds: float = bounded(3.0, 0.0, 60.0)  # at least this long between requests to a host
    max_megabytes: float = bounded(20.0, 0.1, 1000.0)
    max_pages: int = bounded(60, 1, 10_000)
    retry_days: int = bounded(7, 1, 3650)  # no full text: ask again after this
    # timeout_seconds bounds each read; this bounds the whole download, redirects
    # included, so a server trickling bytes cannot hold a question for minutes.
    total_seconds: float = bounded(60.0, 0.5, 3600.0)
    max_redirects: int = bounded(3, 0, 10)  # each to the configured URL's own host only
    # A PDF is parsed in a child process with these limits; past any of them the
    # paper counts as having no usable full text (the child needs ~40 MB to start).
    pdf_cpu_seconds: int = bounded(5, 1, 600)
    pdf_wall_seconds: float = bounded(10.0, 0.5, 1200.0)
    pdf_memory_megabytes: int = bounded(512, 64, 65_536)


@dataclass(frozen=True)
class ClockSettings:
    now: str = ""  # ISO 8601; empty means the real clock


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "INFO"
