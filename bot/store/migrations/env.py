"""Alembic environment for the store.

Driven by ``bot.store.migrate`` (no alembic.ini on disk). Runs on a Connection
handed in via ``config.attributes["connection"]`` (the caller owns it and its
transaction), or else on a fresh engine for ``sqlalchemy.url``.

- target metadata: ``bot.store.models.Base.metadata`` (tests may hand another in
  via ``config.attributes["target_metadata"]``);
- SQLite: batch mode (table rebuilds instead of unsupported ALTERs), with
  foreign keys off while tables are rebuilt, then checked;
- PostgreSQL: one transaction, serialised by an advisory lock, so several bot
  processes starting together upgrade once.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, MetaData, TypeDecorator, event, pool, text

from bot.store.db import make_engine

config = context.config

# Any fixed 64-bit number; the same in every process that migrates this schema.
MIGRATION_LOCK_ID = 0x7261646172  # "radar"


def target_metadata() -> MetaData:
    given = config.attributes.get("target_metadata")
    if given is not None:
        return given  # type: ignore[no-any-return]
    from bot.store.models import Base

    return Base.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Render our TypeDecorators as the plain column type they store.

    A revision must not import the models (they move on; revisions are frozen),
    and the database only ever sees the underlying type anyway.
    """
    if type_ == "type" and isinstance(obj, TypeDecorator):
        impl = obj.impl_instance
        if type(impl).__module__.startswith("sqlalchemy."):
            return f"sa.{impl!r}"
    return False


def configure_options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata(),
        "render_as_batch": dialect_name == "sqlite",
        "compare_type": True,
        "compare_server_default": True,
        "render_item": render_item,
    }


def run_migrations_offline() -> None:
    """``--sql`` mode: emit the SQL script instead of running it."""
    url = config.get_main_option("sqlalchemy.url")
    dialect_name = (url or "").split(":", 1)[0].split("+", 1)[0]
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **configure_options(dialect_name),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_on(connection: Connection) -> None:
    dialect_name = connection.dialect.name
    if dialect_name == "sqlite":
        # Before configure(): Alembic then sees a transaction it does not own
        # and runs every revision inside it, instead of committing each one.
        _sqlite_write_lock(connection)
    context.configure(connection=connection, **configure_options(dialect_name))
    with context.begin_transaction():
        if dialect_name == "postgresql":
            # Held to the end of the transaction; a second process waits here,
            # then finds the schema already at head and does nothing.
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        context.run_migrations()
        if dialect_name == "sqlite":
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration left foreign keys dangling: {broken[:10]}")


def _sqlite_write_lock(connection: Connection) -> None:
    """Take SQLite's write lock before reading the schema's revision.

    The sqlite3 module opens no transaction for SELECTs or DDL, so without this
    two processes starting on a fresh file both see no schema and both create
    it (the second fails: "table already exists"). ``BEGIN IMMEDIATE`` makes
    the second wait (busy timeout) and then find the schema at head; it also
    makes the whole upgrade one transaction, so a failure (a full disk)
    leaves the file as it was.
    """
    raw = connection.connection.dbapi_connection
    if raw is not None and not getattr(raw, "in_transaction", True):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_foreign_keys_off(dbapi_conn: Any, _record: Any) -> None:
    # With foreign keys on, batch mode's "DROP TABLE old" cascades into child
    # rows. The pragma is a no-op inside a transaction, so set it on connect.
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA foreign_keys=OFF")
    finally:
        cur.close()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: set sqlalchemy.url or attributes['connection']")
    engine = make_engine(url, poolclass=pool.NullPool)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_foreign_keys_off)  # after make_engine's pragmas
    try:
        with engine.connect() as conn:
            run_on(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
