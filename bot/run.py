"""`paper-radar run` and `paper-radar digest`: the bot as a long-running service.

One asyncio process: the platform adapters that have credentials (Slack when
its bot token's variable is set, Discord when ``DISCORD_TOKEN`` is), plus any
``--adapter MODULE:FACTORY`` (``console`` is built in), then the scheduler,
all on one loop. SIGTERM or SIGINT stops it gracefully: the scheduler takes no
new work and lets in-flight deliveries finish for a while, then abandons them
between two posts; the outbox (``bot.digest.deliver``) makes any interruption
safe, so the next start resumes exactly where this one stopped. A second
signal exits at once, which is just as safe, only less tidy. A signal while
the platforms are still connecting (a Slack or Discord API that does not
answer) stops the start-up at once and closes what was opened.

With no platform at all ``run`` refuses to start (exit status 2) rather than
idle: a service that silently posts nothing is worse than one that says why.

Logs: one line per event (``event=digest.delivered channel=12 run=345 ...``),
tracebacks folded into their line, and the values of every secret the config
names (tokens, API keys) masked wherever they might appear, third-party
libraries' debug output included.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from typing import Any, TextIO, cast
from zoneinfo import ZoneInfo

from bot.app import App
from bot.config import Config
from bot.core.channel import ChannelRef, ChannelState
from bot.core.outgoing import Outgoing
from bot.digest.deliver import Poster
from bot.digest.runner import Due, Outcome
from bot.digest.schedule import Occurrence, parse_hhmm, run_key
from bot.digest.triggers import ChannelSchedule
from bot.errors import ConfigError, NotFoundError, RadarError, UsageError
from bot.handlers import render_text
from bot.platform import PlatformAdapter
from bot.scheduler import DigestScheduler

log = logging.getLogger("bot.run")

NO_PLATFORM = (
    "no platform to serve: set {slack} (and {slack_app} for Socket Mode, or "
    '{slack_secret} with [slack] mode = "http") for Slack, or {discord} for Discord; '
    "or pass --adapter console to print console channels' digests."
)


# -- logging -------------------------------------------------------------------------


def secret_values(config: Config, environ: Mapping[str, str]) -> list[str]:
    """The values of every secret the config names, to mask in logs."""
    names = (
        config.slack.bot_token_env,
        config.slack.app_token_env,
        config.slack.signing_secret_env,
        config.discord.token_env,
        config.llm.api_key_env,
        config.openalex.api_key_env,  # travels in OpenAlex URLs, which urllib3 logs at DEBUG
    )
    return [v for v in (environ.get(n, "").strip() for n in names) if len(v) >= 6]


class OneLineFormatter(logging.Formatter):
    """``time level logger message`` on one line, with any traceback folded in
    (``exc="..."`` with escaped newlines) and secrets masked, so every event is
    one line a log pipeline can split on."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        exc_text = ""
        if record.exc_info:
            exc_text = self.formatException(record.exc_info)
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            line = super().format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved
        if exc_text:
            line += f' exc="{exc_text}"'
        for secret in self.secrets:
            line = line.replace(secret, "***")
        return line.replace("\r", "\\r").replace("\n", "\\n")


class BoltTokenNotice(logging.Filter):
    """Drops Bolt's start-up notice that ``$SLACK_BOT_TOKEN`` is unused or ignored:
    Bolt reads that variable itself, but the bot's token comes from
    ``settings.bot_token_env`` through ``authorize``, on purpose. On the
    application's handlers, where logging is configured, not on a library's logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("`token`" in message and ("unused" in message or "ignored" in message))


def setup_logging(config: Config, environ: Mapping[str, str]) -> None:
    """Swap every root handler's formatter for ``OneLineFormatter`` (and drop
    Bolt's misleading token notice there)."""
    formatter = OneLineFormatter(secret_values(config, environ))
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(stream=sys.stderr)
    for handler in root.handlers:
        handler.setFormatter(formatter)
        if not any(isinstance(f, BoltTokenNotice) for f in handler.filters):
            handler.addFilter(BoltTokenNotice())
    # APScheduler logs every job run at INFO: thousands of lines at 09:00.
    for name in ("apscheduler", "slack_bolt", "slack_sdk", "discord"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


# -- platforms -------------------------------------------------------------------------


class StdoutPoster:
    """Posts console channels' digests to a text stream (``--adapter console``)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.count = 0

    async def send(self, ref: ChannelRef, out: Outgoing, thread: str | None = None) -> str:
        if out.card is not None and thread is None:
            text = "\n".join(render_text.render_card(out.card))
        else:
            text = render_text.render(out.reply)
        self.count += 1
        self.out.write(f"[#{ref.channel}]\n{text}\n\n")
        self.out.flush()
        return f"stdout:{ref.channel}:{self.count}"

    async def find(self, ref: ChannelRef, marker: str, since: datetime) -> str | None:
        return None  # a stream keeps no history


class StdoutAdapter:
    """The console platform for ``run``: no events, digests to standard output."""

    platform = "console"

    def __init__(self, out: TextIO | None = None) -> None:
        self.poster: Poster = StdoutPoster(out)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def load_adapter(spec: str, app: App) -> PlatformAdapter:
    """``console``, or ``package.module:factory`` called with the ``App``."""
    if spec == "console":
        return StdoutAdapter()
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"--adapter {spec!r}: use MODULE:FACTORY, or console")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"--adapter {spec!r} cannot be loaded: {err}") from None
    return cast(PlatformAdapter, factory(app))


def platform_adapters(
    app: App, environ: Mapping[str, str] | None = None, extra: Sequence[str] = ()
) -> list[PlatformAdapter]:
    """The adapters ``run`` starts: each platform whose credentials are set.

    A platform half-configured (a Slack bot token without the app token its
    mode needs) is an error, not a silent skip: the operator meant to run it.
    """
    env = os.environ if environ is None else environ
    config = app.config
    adapters: list[PlatformAdapter] = []
    if env.get(config.slack.bot_token_env, "").strip():
        from bot.handlers.slack import SlackAdapter, SlackCredentials

        credentials = SlackCredentials.from_env(config.slack, env)
        missing = credentials.missing(config.slack)
        if missing:
            raise ConfigError(
                f"{config.slack.bot_token_env} is set, but Slack in {config.slack.mode} mode "
                f"also needs {', '.join(missing)}."
            )
        adapters.append(SlackAdapter(app.service, config.slack, credentials, pools=app.pools))
    token = env.get(config.discord.token_env, "").strip()
    if token:
        from bot.handlers.discord import DiscordAdapter

        adapters.append(DiscordAdapter(app, config.discord, token))
    adapters += [load_adapter(spec, app) for spec in extra]
    platforms = [a.platform for a in adapters]
    if len(set(platforms)) != len(platforms):
        raise ConfigError(f"two adapters for one platform: {', '.join(platforms)}")
    return adapters


def no_platform_message(config: Config) -> str:
    return NO_PLATFORM.format(
        slack=config.slack.bot_token_env,
        slack_app=config.slack.app_token_env,
        slack_secret=config.slack.signing_secret_env,
        discord=config.discord.token_env,
    )


# -- run -----------------------------------------------------------------------------------


class StartError(RadarError):
    """A platform refused to start (bad token, unreachable API): exit, say which."""


async def serve(
    app: App,
    adapters: Sequence[PlatformAdapter],
    stop: asyncio.Event | None = None,
    **scheduler_options: Any,
) -> None:
    """Start ``adapters`` and the scheduler; run until ``stop`` is set (or a
    SIGTERM/SIGINT sets it); then shut down in order: the scheduler first (it
    drains deliveries through the adapters' posters), then the adapters."""
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    signals = 0

    def on_signal(signum: int) -> None:
        nonlocal signals
        signals += 1
        if signals > 1:
            log.warning("event=shutdown.forced signal=%s", signal.Signals(signum).name)
            os._exit(128 + signum)  # safe: the outbox and the claims hold the truth
        log.info("event=shutdown.requested signal=%s", signal.Signals(signum).name)
        stop.set()

    installed = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    started: list[PlatformAdapter] = []
    scheduler: DigestScheduler | None = None

    async def start_up() -> None:
        nonlocal scheduler
        for adapter in adapters:
            try:
                await adapter.start()
            except Exception as err:
                raise StartError(
                    f"{adapter.platform} did not start: {type(err).__name__}: {err}"
                ) from err
            started.append(adapter)
            log.info("event=platform.started platform=%s", adapter.platform)
        scheduler = DigestScheduler(
            app, {a.platform: a.poster for a in started}, **scheduler_options
        )
        await scheduler.start()
        # What start-up built (modules, the store, indexes) lives as long as the
        # process: out of the collector's sight, a full collection no longer
        # walks it, and no longer stalls every ack of a burst for ~100 ms.
        gc.freeze()
        log.info("event=run.ready platforms=%s", ",".join(a.platform for a in started))

    # Start-up races the stop signal: a platform still connecting (an API that
    # never answers) must not keep SIGTERM waiting. Cancelling an adapter's
    # start closes whatever it had opened.
    starting = asyncio.create_task(start_up())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            log.info("event=start.abandoned started=%s", ",".join(a.platform for a in started))
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            return
        starting.result()  # a platform that refused to start: StartError
        await stopping
    finally:
        for task in (starting, stopping):
            task.cancel()
        if scheduler is not None:
            await scheduler.stop()
        for adapter in reversed(started):
            try:
                await adapter.stop()
                log.info("event=platform.stopped platform=%s", adapter.platform)
            except Exception as err:
                log.warning(
                    "event=platform.stop_failed platform=%s error=%s",
                    adapter.platform,
                    type(err).__name__,
                )
        for signum in installed:
            loop.remove_signal_handler(signum)
        gc.unfreeze()  # collectable again (several serve() in one process: tests)
        log.info("event=run.stopped")


def run(
    app: App,
    extra_adapters: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    err: TextIO | None = None,
    configure_logging: bool = True,
) -> int:
    """The ``run`` subcommand: 0 after a clean shutdown, 1 when a platform does
    not start, 2 with nothing to serve."""
    env = os.environ if environ is None else environ
    if configure_logging:
        setup_logging(app.config, env)
    adapters = platform_adapters(app, env, extra_adapters)
    if not adapters:
        print(f"paper-radar run: {no_platform_message(app.config)}", file=err or sys.stderr)
        return 2
    try:
        asyncio.run(serve(app, adapters))
    except StartError as exc:
        message = str(exc)
        for secret in secret_values(app.config, env):
            message = message.replace(secret, "***")
        print(f"paper-radar run: {message}", file=err or sys.stderr)
        return 1
    return 0


# -- digest, by hand -------------------------------------------------------------------


def parse_channel(text: str, workspace: str = "local") -> ChannelRef:
    """``platform:workspace:channel``, or a console channel name."""
    parts = text.split(":")
    if len(parts) == 3 and all(parts):
        return ChannelRef(parts[0], parts[1], parts[2])
    if ":" in text:
        raise UsageError(
            f"`{text[:60]}` is not a channel: use platform:workspace:channel "
            "(e.g. slack:T123:C456) or a console channel name."
        )
    return ChannelRef("console", workspace, text, text)


def find_radar(app: App, channel: str, workspace: str = "local") -> tuple[ChannelRef, ChannelState]:
    """The radar a command line names (see :func:`parse_channel`); a name with
    none, a typo most likely, is an error rather than an empty radar."""
    ref = parse_channel(channel, workspace)
    state = app.store.find_channel(ref)
    if state is None:
        raise NotFoundError(f"No radar for {channel}: nothing has been set up there yet.")
    return ref, state


def _poster_for(
    app: App, ref: ChannelRef, environ: Mapping[str, str], out: TextIO
) -> tuple[Poster, PlatformAdapter | None]:
    """A poster for one hand-run digest (and what must be started/stopped with it)."""
    if ref.platform == "console":
        return StdoutPoster(out), None
    if ref.platform == "slack":
        token = environ.get(app.config.slack.bot_token_env, "").strip()
        if not token:
            raise ConfigError(f"posting to Slack needs {app.config.slack.bot_token_env}.")
        from bot.handlers.slack import SlackPoster, make_client

        return SlackPoster(make_client(app.config.slack, token)), None
    adapters = [a for a in platform_adapters(app, environ) if a.platform == ref.platform]
    if not adapters:
        raise ConfigError(f"no credentials for platform {ref.platform!r}.")
    return adapters[0].poster, adapters[0]


async def _digest_once(
    app: App,
    state: ChannelState,
    key_day: date,
    poster: Poster,
    adapter: PlatformAdapter | None,
) -> Outcome | None:
    """Claim and post ``state``'s digest for ``key_day`` through the scheduler's
    own path (harvest, plan, claim, locked delivery), without its alarms."""
    zone = ZoneInfo(state.schedule_tz or app.config.radar.default_timezone)
    at = parse_hhmm(state.schedule_time) if state.schedule_time else time(0, 0)
    sched = ChannelSchedule(state.id, state.ref, at, zone)
    scheduler = DigestScheduler(app, {state.ref.platform: poster}, concurrency=1)
    if adapter is not None:
        await adapter.start()
    await scheduler.open()
    try:
        outcomes = await scheduler.run_due([Due(sched, Occurrence(key_day, app.clock.now()))])
    finally:
        await scheduler.stop()
        if adapter is not None:
            await adapter.stop()
    return outcomes[0] if outcomes else None


def digest(
    app: App,
    channel: str,
    dry_run: bool = False,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    workspace: str = "local",
) -> int:
    """The ``digest --channel`` subcommand: today's scheduled digest for one
    channel, now (claimed like the schedule's, so it posts at most once a day)."""
    env = os.environ if environ is None else environ
    out = out or sys.stdout
    ref, state = find_radar(app, channel, workspace)
    # Today in the channel's zone: a hand-run digest takes the same claim as
    # the schedule's, so it, the schedule and a second cron run post once a day.
    zone = ZoneInfo(state.schedule_tz or app.config.radar.default_timezone)
    day = app.clock.now().astimezone(zone).date()
    key = run_key(day)
    if dry_run:
        claimed = (state.id, key) in app.store.claimed_runs([key])
        reply = app.service.preview(ref)
        if claimed:
            said = "today's digest is already claimed; nothing would be posted.\n"
        elif not reply.cards:
            said = (
                "no stored paper is new to this radar, so nothing would be posted "
                "(a real run harvests first, and may find some). Nothing was changed.\n"
            )
        else:
            said = (
                "would post the following (from papers already stored; "
                "a real run harvests first). Nothing was changed.\n\n"
            )
        out.write(f"Dry run for {ref.platform}:{ref.workspace}:{ref.channel} ({key}): {said}")
        if not claimed and reply.cards:
            out.write(render_text.render(reply) + "\n")
        return 0
    poster, adapter = _poster_for(app, ref, env, out)
    outcome = asyncio.run(_digest_once(app, state, day, poster, adapter))
    return _report(outcome, key, out)


def _report(outcome: Outcome | None, key: str, out: TextIO) -> int:
    if outcome is None or outcome.run is None:
        if outcome is None:
            out.write("Nothing was done.\n")
            return 1
        out.write(f"Nothing posted: {key} was already claimed, or the radar has no chips.\n")
        return 0
    if outcome.posted is None:
        out.write(
            f"Digest {key} (run {outcome.run.id}) is claimed but not fully posted; "
            "`paper-radar run` retries it (see the log).\n"
        )
        return 1
    if not outcome.run.planned:
        out.write(f"Nothing new for {key}; recorded, so the schedule will not repeat it.\n")
        return 0
    out.write(f"Posted digest {key} (run {outcome.run.id}): {outcome.posted} messages.\n")
    return 0
