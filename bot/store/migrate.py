"""Schema migrations, driven from code (no alembic.ini on disk).

    upgrade(url)          bring a database to the newest schema (idempotent)
    current(url)          its revision, or None if never migrated
    needs_upgrade(url)    is it behind this code's revisions?
    alembic_config(url)   an ``alembic.config.Config`` for any other alembic command;
                          set ``cfg.attributes["connection"]`` to run on a Connection
                          you own (you commit; on SQLite open it with
                          ``PRAGMA foreign_keys=OFF``, as batch migrations rebuild tables)

Developers, after changing ``bot/store/models.py``:

    python -m bot.store.migrate revision -m "what changed"   # autogenerate a revision
    python -m bot.store.migrate check                        # models == revisions?
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, pool

from bot.store.db import make_engine, parse_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _url_string(url: str | URL) -> str:
    if isinstance(url, URL):
        return url.render_as_string(hide_password=False)
    return url


def alembic_config(url: str | URL) -> Config:
    """An in-memory Alembic config for this package's migrations and ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    # ConfigParser interpolation: a literal % (e.g. URL-encoded password) is %%.
    cfg.set_main_option("sqlalchemy.url", _url_string(url).replace("%", "%%"))
    return cfg


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``; a no-op when already there."""
    command.upgrade(alembic_config(url), revision)


def _current_heads(url: str | URL) -> tuple[str, ...]:
    parsed = parse_url(_url_string(url))
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        is_file = database not in ("", ":memory:") and not database.startswith("file:")
        if is_file and not Path(database).expanduser().exists():
            return ()  # don't create an empty file just to look at it
    engine = make_engine(_url_string(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return tuple(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()


def current(url: str | URL) -> str | None:
    """The database's revision id (heads joined by ',' if branched), or None."""
    heads = _current_heads(url)
    return ",".join(sorted(heads)) if heads else None


def needs_upgrade(url: str | URL) -> bool:
    """True when the database is not at this code's head revision(s)."""
    script = ScriptDirectory.from_config(alembic_config(url))
    return set(_current_heads(url)) != set(script.get_heads())


# -- developer commands ---------------------------------------------------------


def _with_ruff_hooks(cfg: Config) -> Config:
    """Format generated revisions with ruff, when it is installed."""
    if importlib.util.find_spec("ruff") is None:
        return cfg
    hooks = {  # format first: it wraps the long lines check would complain about
        "ruff_format": "format --quiet REVISION_SCRIPT_FILENAME",
        "ruff_fix": "check --fix --quiet REVISION_SCRIPT_FILENAME",
    }
    cfg.set_section_option("post_write_hooks", "hooks", ", ".join(hooks))
    for name, options in hooks.items():
        cfg.set_section_option("post_write_hooks", f"{name}.type", "module")
        cfg.set_section_option("post_write_hooks", f"{name}.module", "ruff")
        cfg.set_section_option("post_write_hooks", f"{name}.options", options)
    return cfg


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.store.migrate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    rev = sub.add_parser("revision", help="autogenerate a revision from the models")
    rev.add_argument("-m", "--message", required=True)
    rev.add_argument("--empty", action="store_true", help="an empty revision to fill by hand")
    chk = sub.add_parser("check", help="fail if the models differ from the revisions")
    for p in (rev, chk):
        p.add_argument("--url", help="compare against this database (default: a scratch SQLite)")
    for name in ("upgrade", "current"):
        p = sub.add_parser(name, help=f"{name} the database at --url")
        p.add_argument("--url", required=True)
        if name == "upgrade":
            p.add_argument("revision", nargs="?", default="head")
    args = parser.parse_args(argv)

    if args.cmd == "upgrade":
        upgrade(args.url, args.revision)
        print(current(args.url))
        return 0
    if args.cmd == "current":
        print(current(args.url) or "(none)")
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        # Autogenerate compares the models with a database at head; by default a
        # scratch SQLite file, so this needs no server and never sees real data.
        url = args.url or f"sqlite:///{Path(tmp) / 'autogen.db'}"
        upgrade(url)
        cfg = alembic_config(url)
        if args.cmd == "check":
            command.check(cfg)  # raises AutogenerateDiffsDetected on drift
            print("models and migrations agree")
            return 0
        _with_ruff_hooks(cfg)
        command.revision(cfg, message=args.message, autogenerate=not args.empty)
    return 0


if __name__ == "__main__":
    sys.exit(main())
