"""The `paper-radar` command.

Global options come before the subcommand:
    paper-radar --config PATH --db URL console --channel lab
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot import __version__
from bot import config as config_mod
from bot.errors import RadarError, StoreError

if TYPE_CHECKING:
    from bot.app import App


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="paper-radar",
        description="A shared literature radar for research teams, in Slack, Discord or "
        "a terminal.",
    )
    p.add_argument(
        "--config",
        metavar="PATH",
        help=f"config file (default: ${config_mod.CONFIG_ENV}, else built-in defaults)",
    )
    p.add_argument("--db", metavar="URL", help="SQLAlchemy database URL; overrides the config")
    p.add_argument(
        "--log-level",
        metavar="LEVEL",
        type=str.upper,
        choices=config_mod.LOG_LEVELS,
        help="DEBUG, INFO, WARNING, ERROR (default: config)",
    )
    p.add_argument("--version", action="version", version=f"paper-radar {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    console = sub.add_parser("console", help="type /radar commands for one channel")
    console.add_argument("--channel", required=True, help="channel name, e.g. lab")
    console.add_argument("--workspace", default="local", help="workspace name (default: local)")
    console.add_argument(
        "--echo",
        action="store_true",
        help="print each command read from a pipe or file before its reply; a script "
        "exits 1 when any line was refused",
    )

    demo = sub.add_parser("demo", help="offline demo on bundled real arXiv data")
    demo.add_argument("--keep", metavar="URL", help="keep the demo database at this URL")
    demo.add_argument(
        "--interactive",
        "-i",
        action="store_true",
        help="after the scripted session, a console prompt on the same channel, data and "
        "pinned clock (reads lines from a pipe too)",
    )

    preview = sub.add_parser("preview", help="print a channel's current digest; changes nothing")
    preview.add_argument("--platform", choices=["console", "slack", "discord"], default="console")
    preview.add_argument(
        "--channel",
        required=True,
        help="a console channel name, or platform:workspace:channel (e.g. slack:T123:C456)",
    )
    preview.add_argument("--workspace", default="local")

    sub.add_parser("harvest", help="fetch newly announced papers now (one shared pass)")

    run = sub.add_parser(
        "run",
        help="the service: platforms with credentials plus the daily digest scheduler",
    )
    run.add_argument(
        "--adapter",
        action="append",
        default=[],
        metavar="SPEC",
        help="also serve this adapter: `console` (console channels' digests to stdout) "
        "or MODULE:FACTORY (called with the App); repeatable",
    )

    digest = sub.add_parser(
        "digest", help="post one channel's digest for today now (at most once a day)"
    )
    digest.add_argument(
        "--channel",
        required=True,
        help="platform:workspace:channel (e.g. slack:T123:C456), or a console channel name",
    )
    digest.add_argument("--workspace", default="local", help="console workspace (default: local)")
    digest.add_argument(
        "--dry-run", action="store_true", help="print what would be posted; change nothing"
    )

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="migrate the schema to this version")
    db_sub.add_parser("current", help="print the schema revision")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = config_mod.load(args.config).with_db(args.db)
    except RadarError as err:
        print(f"paper-radar: {err}", file=sys.stderr)
        return 2
    level = args.log_level or config.logging.level
    if args.command == "demo" and not args.log_level:
        level = "WARNING"  # the demo's output is the session itself
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    # Chatty third-party loggers would drown the console's own output.
    for name in ("arxiv", "urllib3", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return _run(args, config)
    except RadarError as err:
        print(f"paper-radar: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        # The database itself failed (disk full, read-only, server gone) where
        # no Store method could say so: one line, the password masked.
        url = args.keep if args.command == "demo" and args.keep else config.database.url
        message = _database_fault(err, url)
        if message is None:
            raise
        print(f"paper-radar: {message}", file=sys.stderr)
        return 1


def _database_fault(err: BaseException, url: str) -> str | None:
    """A one-line account of ``err`` when the database caused it, else None."""
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import DBAPIError

    from bot.store import db

    if isinstance(err, DBAPIError):
        return db.explain(err, url)
    if isinstance(err, CommandError):  # e.g. a revision this version does not know
        return (
            f"The schema of the database {db.safe_url(url)} is not one this version "
            f"knows ({str(err).splitlines()[0][:200]}); run the Paper Radar that "
            "upgraded it, or pass another --db."
        )
    return None


def _run(args: argparse.Namespace, config: config_mod.Config) -> int:
    from bot import app as app_mod

    if args.command == "demo":
        from bot import demo

        then = sys.stdin if args.interactive else None
        refused = demo.run(sys.stdout, config, db_url=args.keep, then=then)
        return 1 if refused else 0
    if args.command == "db":
        from bot.store import migrate
        from bot.store.db import safe_url

        if args.db_command == "upgrade":
            migrate.upgrade(config.database.url)
            print(
                f"Database at {safe_url(config.database.url)} is up to date "
                f"({migrate.current(config.database.url)})."
            )
        else:
            print(migrate.current(config.database.url) or "(no schema yet)")
        return 0

    from bot.handlers.console import ConsoleAdapter, channel_ref

    app = app_mod.build(config)
    try:
        if args.command == "console":
            adapter = ConsoleAdapter(app.service, channel_ref(args.channel, args.workspace))
            # A script fails when any of its lines was refused, as scripts expect.
            return 1 if adapter.repl(echo=args.echo) else 0
        elif args.command == "preview":
            from bot.run import find_radar

            ref, _ = find_radar(app, args.channel, args.workspace)
            reply = app.service.preview(ref)
            if args.platform == "console":
                from bot.handlers import render_text

                print(render_text.render(reply))
            elif args.platform == "slack":
                from bot.handlers import render_slack

                print(json.dumps(render_slack.render(reply), indent=2, ensure_ascii=False))
            else:
                from bot.handlers import render_discord

                print(json.dumps(render_discord.render(reply), indent=2, ensure_ascii=False))
        elif args.command == "harvest":
            print(_harvest(app))
        elif args.command == "run":
            from bot import run as run_mod

            return run_mod.run(app, args.adapter)
        elif args.command == "digest":
            from bot import run as run_mod

            return run_mod.digest(app, args.channel, args.dry_run, workspace=args.workspace)
        return 0
    finally:
        app.close()


#: How long `paper-radar harvest` waits for another process's harvest to end.
HARVEST_WAIT_SECONDS = 30 * 60


def _harvest(app: App) -> str:
    """``paper-radar harvest``: one pass now, under the harvest lock the
    scheduler takes too, so two harvests never run at once (arXiv allows one
    connection). One started while another runs waits for it and then reuses
    what it stored, instead of asking arXiv for the same window again."""
    from bot.store.locks import Locks

    store = app.store
    before = store.harvest_count()
    locks = store.locks()
    try:
        waited = False
        deadline = time.monotonic() + HARVEST_WAIT_SECONDS
        while not locks.acquire(Locks.HARVEST, 0):
            if not waited:
                print("Another harvest is running; waiting for it to finish.", file=sys.stderr)
                waited = True
            if time.monotonic() > deadline:
                raise StoreError(
                    f"Another harvest has run for over {HARVEST_WAIT_SECONDS // 60} minutes; "
                    "nothing was fetched. Try again later."
                )
            time.sleep(0.2)
        try:
            if waited and store.harvest_count() > before:
                return "Another process harvested just now; reused its pass (nothing fetched)."
            result = app.harvester.run(force=True)
        finally:
            locks.release(Locks.HARVEST, 0)
    finally:
        locks.close()
    return f"Harvested {result.fetched} papers ({result.new} new)."


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
