"""Engines and sessions, with the settings each backend needs to behave.

SQLite is the embedded default, so it gets WAL (readers never block the
writer), a busy timeout (a second writer waits instead of failing at once) and
foreign keys (off by default in SQLite, and our cascades rely on them).

Also here, because every entry point needs them the same way:

- ``insert_for``: an ``INSERT … ON CONFLICT`` for the session's backend, so rows
  that concurrent commands may both write (papers, aliases, seen marks, chips)
  are stored idempotently instead of failing one of the writers;
- ``chunked``: long ``IN (...)`` lists cut to a size every backend accepts;
- ``explain``: one line for a person when the database itself fails (disk
  full, read-only, missing, server unreachable), with the password masked.
"""

from __future__ import annotations

import errno
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import ConfigError, StoreError

SQLITE_BUSY_TIMEOUT_MS = 10_000
#: The backends the schema, the migrations and ``insert_for`` are written for.
BACKENDS = ("sqlite", "postgresql")
EXAMPLE_URLS = "sqlite:///path/to/radar.db or postgresql+psycopg://user@host/dbname"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``.

    Refuses, with a message for people, what cannot work: a URL that does not
    parse, a backend other than SQLite or PostgreSQL, a missing driver, and a
    SQLite file whose folder does not exist (a typo in ``--db`` must not
    silently create a tree of folders and an empty radar somewhere else).
    """
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        folder = sqlite_folder(parsed)
        if folder is not None and not folder.is_dir():
            what = "is not a folder" if folder.exists() else "does not exist"
            raise ConfigError(
                f"The folder of the database {safe_url(url)} ({folder}) {what}: "
                "create it first, or pass another --db."
            )
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        engine = _create(url, parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return _create(url, parsed, **kwargs)


def parse_url(url: str | URL) -> URL:
    """``url`` parsed, if it names a backend Paper Radar supports; else ``ConfigError``."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError and friends
        raise ConfigError(f"Not a database URL: {safe_url(url)!r}; use {EXAMPLE_URLS}.") from exc
    if parsed.get_backend_name() not in BACKENDS:
        raise ConfigError(
            f"Paper Radar stores its data in SQLite or PostgreSQL, not in "
            f"{safe_url(url)!r}; use {EXAMPLE_URLS}."
        )
    return parsed


def _create(url: str, parsed: URL, **kwargs: Any) -> Engine:
    try:
        return create_engine(url, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        postgres = parsed.get_backend_name() == "postgresql"
        extra = " (pip install -e '.[postgres]')" if postgres else ""
        raise ConfigError(
            f"The database driver for {parsed.drivername!r} is not installed{extra}; "
            f"nothing was opened."
        ) from exc


def sqlite_folder(parsed: URL) -> Path | None:
    """The folder of a SQLite database file, None for memory and ``file:`` URIs."""
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().absolute().parent


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    try:
        _switch_to_wal(cur)
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
    finally:
        cur.close()


def _switch_to_wal(cur: Any) -> None:
    """``PRAGMA journal_mode=WAL``, waiting (up to the busy timeout) while
    another process holds the file.

    WAL is kept in the file, so only a fresh file's first connections switch
    it, and the switch needs the file to itself. SQLite answers "database is
    locked" to it at once, without the busy timeout's wait, when another
    process is opening or writing the same fresh file at that moment: two
    ``paper-radar harvest`` started together on a new database failed so,
    now and then, before this waited.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    pause = 0.01
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(2 * pause, 0.2)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: objects read in a unit of work stay readable after
    # it commits, which the service layer relies on when building replies.
    return sessionmaker(engine, expire_on_commit=False)


# -- long IN lists ----------------------------------------------------------------

#: The most values one ``IN (...)`` list (or one multi-row INSERT) carries.
#: SQLite caps the bound parameters of one statement (32766 today, 999 in
#: older builds) and PostgreSQL plans huge lists slowly; 500 stays well
#: inside both while keeping the number of round trips small.
CHUNK = 500

_T = TypeVar("_T")


def chunked(items: Sequence[_T], size: int | None = None) -> Iterator[Sequence[_T]]:
    """``items`` in consecutive slices of at most ``size`` (default ``CHUNK``,
    read at call time): one statement each."""
    size = size or CHUNK
    for i in range(0, len(items), size):
        yield items[i : i + size]


# -- idempotent inserts ----------------------------------------------------------


def insert_for(s: Session, model: Any) -> sqlite.Insert | postgresql.Insert:
    """``INSERT`` into ``model`` with ``on_conflict_do_nothing`` / ``on_conflict_do_update``.

    Two commands may both decide a row is missing and both insert it (a paper
    two backfills bring at once, a chip typed twice, a seen mark); a plain
    INSERT then fails one of them with a unique violation. ``ON CONFLICT`` lets
    the database decide instead: the second insert does nothing (or updates),
    and ``RETURNING`` tells the caller which happened. Both dialects spell it
    the same way.
    """
    name = s.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(model)
    if name == "sqlite":
        return sqlite.insert(model)
    raise StoreError(f"Paper Radar supports SQLite and PostgreSQL, not {name}.")


# -- failures, told in one line ------------------------------------------------------


def safe_url(url: str | URL) -> str:
    """``url`` with its password masked, for messages and logs (never the secret)."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except Exception:
        text = str(url)
        # Not parseable: mask whatever sits between "://user:" and "@".
        head, sep, rest = text.partition("://")
        if sep and "@" in rest:
            cred, _, host = rest.rpartition("@")
            if ":" in cred:
                cred = cred.split(":", 1)[0] + ":***"
            return f"{head}://{cred}@{host}"
        return text
    if parsed.get_backend_name() == "sqlite":
        # As typed: render_as_string would percent-encode a ``file:`` URI's colon.
        query = "&".join(
            f"{k}={v}"
            for k, values in parsed.query.items()
            for v in ((values,) if isinstance(values, str) else values)
        )
        return f"{parsed.drivername}:///{parsed.database or ''}" + (f"?{query}" if query else "")
    return parsed.render_as_string(hide_password=True)


def _password(url: str | URL) -> str | None:
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except Exception:
        return None
    return parsed.password or None


def _detail(exc: BaseException, url: str | URL) -> str:
    """The driver's own first line, without SQL, parameters or the password."""
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    text = lines[0] if lines else type(orig).__name__
    secret = _password(url)
    if secret:
        text = text.replace(str(secret), "***")
    return text[:200]


def explain(exc: BaseException, url: str | URL) -> str:
    """One line for a person: what failed, where (password masked), what to do."""
    where = safe_url(url)
    detail = _detail(exc, url)
    low = detail.lower()
    orig = getattr(exc, "orig", None) or exc
    code = getattr(orig, "errno", None)
    if "disk is full" in low or code == errno.ENOSPC:
        return (
            f"The disk holding the database {where} is full ({detail}); nothing was saved. "
            "Free some space, then run the command again."
        )
    if "readonly" in low or "read-only" in low or code == errno.EROFS:
        return (
            f"The database {where} is read-only ({detail}); nothing was saved. Make the file "
            "and its folder writable, or pass another --db."
        )
    if "unable to open database" in low or isinstance(orig, OSError | PermissionError):
        return (
            f"Cannot open the database {where} ({detail}). Check that its folder exists and "
            "is writable, or pass another --db."
        )
    if "disk i/o error" in low:
        return (
            f"Could not write the database {where} ({detail}); nothing was saved. Check the "
            "disk (full, failing, or a file-size limit), then run the command again."
        )
    if "not a database" in low or "malformed" in low:
        return (
            f"The file of the database {where} is not a usable SQLite database ({detail}). "
            "Pass another --db, or restore it from a backup."
        )
    if "database is locked" in low:
        return (
            f"The database {where} stayed locked by another process ({detail}); nothing "
            "was saved. Try again in a moment."
        )
    if "authentication failed" in low or "password" in low:
        return (
            f"The database server of {where} refused the login ({detail}). Check the user "
            "and password in the URL."
        )
    if "does not exist" in low and "database" in low:
        return (
            f"The database {where} does not exist on its server ({detail}). Create it "
            "(e.g. createdb), then run `paper-radar db upgrade`."
        )
    if any(
        word in low
        for word in ("connect", "refused", "timeout", "timed out", "resolve", "unreachable")
    ):
        return (
            f"Cannot connect to the database {where} ({detail}). Check that the server is "
            "running and reachable, and the URL (--db or [database] url)."
        )
    return f"The database {where} failed ({detail}); nothing was saved."
