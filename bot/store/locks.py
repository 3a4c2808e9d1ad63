"""Cross-process locks on the database: who is delivering a run right now."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import BinaryIO, ClassVar

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    text,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

try:  # POSIX record locks for SQLite files; absent on Windows
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


class Locks:
    """Non-blocking locks shared by every process on one database, released
    when their holder releases them or dies.

    The claim row decides who *owns* a run; these decide who is *delivering*
    it right now, so a worker resuming unfinished runs never posts alongside
    the live worker that claimed it (two deliverers could both see a message
    as unsent). A crashed holder's locks vanish with it, so its runs can be
    resumed at once.

    - PostgreSQL: session advisory locks, all on one dedicated autocommit
      connection (so the pool is not drained however many runs are in flight);
      if that connection drops, its locks are gone: ``acquire`` then answers
      False once and reconnects;
    - SQLite: POSIX record locks on one byte per key of ``<database>-locks``
      (one shared file handle per process: closing any handle would drop
      every lock the process holds on the file);
    - anything else (in-memory SQLite): this process only.

    A key is (``space``, ``n``): ``space`` separates runs from other uses.
    """

    RUN = 1
    HARVEST = 2

    _local: ClassVar[dict[str, set[tuple[int, int]]]] = {}
    _files: ClassVar[dict[str, tuple[BinaryIO, int]]] = {}
    _class_mutex: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, engine: Engine) -> None:
        # Unpooled: closing the lock connection must end its session (and so
        # its advisory locks), not park it in the pool still holding them.
        self._engine = create_engine(engine.url, poolclass=NullPool)
        self._mutex = threading.Lock()
        self._conn: Connection | None = None
        self._file: BinaryIO | None = None
        self._mine: set[tuple[int, int]] = set()
        url = engine.url
        self._scope = url.render_as_string(hide_password=True)
        self._postgres = url.get_backend_name() == "postgresql"
        if self._postgres:
            self._conn = self._connect()
        elif url.get_backend_name() == "sqlite" and fcntl is not None:
            database = url.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                self._scope = str(Path(database).expanduser().resolve())
                with Locks._class_mutex:
                    handle, users = Locks._files.get(self._scope, (None, 0))
                    if handle is None:
                        handle = open(f"{self._scope}-locks", "a+b")  # noqa: SIM115
                    Locks._files[self._scope] = (handle, users + 1)
                self._file = handle

    def _connect(self) -> Connection:
        return self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def acquire(self, space: int, n: int) -> bool:
        """Take the lock ``(space, n)`` if nobody holds it; never waits."""
        key = (space, n)
        with Locks._class_mutex:
            held = Locks._local.setdefault(self._scope, set())
            if key in held:  # another holder in this process
                return False
            held.add(key)
        ok = False
        try:
            ok = self._acquire(space, n)
        finally:
            with Locks._class_mutex:
                if ok:
                    self._mine.add(key)
                else:
                    Locks._local[self._scope].discard(key)
        return ok

    def release(self, space: int, n: int) -> None:
        with self._mutex:
            if self._postgres:
                self._pg("SELECT pg_advisory_unlock(:a, :b)", space, n)
            elif self._file is not None and fcntl is not None:
                fcntl.lockf(self._file, fcntl.LOCK_UN, 1, _lock_offset(space, n))
        with Locks._class_mutex:
            self._mine.discard((space, n))
            Locks._local.get(self._scope, set()).discard((space, n))

    def _acquire(self, space: int, n: int) -> bool:
        with self._mutex:
            if self._postgres:
                return self._pg("SELECT pg_try_advisory_lock(:a, :b)", space, n)
            if self._file is not None and fcntl is not None:
                try:
                    fcntl.lockf(
                        self._file, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _lock_offset(space, n)
                    )
                except OSError:
                    return False
            return True

    def _pg(self, sql: str, space: int, n: int) -> bool:
        try:
            if self._conn is None:
                self._conn = self._connect()
                return False  # a new session: locks of the old one are gone, ask again later
            return bool(self._conn.execute(text(sql), {"a": space, "b": n}).scalar())
        except DBAPIError:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()
            self._conn = None
            return False

    def close(self) -> None:
        """Release every lock this object holds."""
        with self._mutex, Locks._class_mutex:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()  # a session's advisory locks end with it
                self._conn = None
            self._engine.dispose()
            if self._file is not None and fcntl is not None:
                for space, n in self._mine:
                    with contextlib.suppress(OSError):
                        fcntl.lockf(self._file, fcntl.LOCK_UN, 1, _lock_offset(space, n))
            Locks._local.get(self._scope, set()).difference_update(self._mine)
            self._mine.clear()
            if self._file is not None:
                handle, users = Locks._files[self._scope]
                if users <= 1:
                    del Locks._files[self._scope]
                    handle.close()
                else:
                    Locks._files[self._scope] = (handle, users - 1)
                self._file = None


def _lock_offset(space: int, n: int) -> int:
    return (space << 40) + n
