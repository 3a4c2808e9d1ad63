"""Cross-process locks on the database: who is delivering a run right now."""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
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

from bot.errors import StoreError

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
      every lock the process holds on the file). The file sits next to the
      database, like SQLite's own ``-wal`` and ``-shm``, so every process on
      that database agrees on it whatever its temp dir; the last process to
      close it removes it (see ``_LockFile``);
    - anything else (in-memory SQLite): this process only.

    A key is (``space``, ``n``): ``space`` separates runs from other uses.
    """

    RUN = 1
    HARVEST = 2

    _local: ClassVar[dict[str, set[tuple[int, int]]]] = {}
    _files: ClassVar[dict[str, _LockFile]] = {}
    _class_mutex: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, engine: Engine) -> None:
        # Unpooled: closing the lock connection must end its session (and so
        # its advisory locks), not park it in the pool still holding them.
        self._engine = create_engine(engine.url, poolclass=NullPool)
        self._mutex = threading.Lock()
        self._conn: Connection | None = None
        self._file = False  # a user of this process's ``_LockFile`` for the scope
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
                    shared = Locks._files.get(self._scope)
                    if shared is None:
                        shared = _LockFile.open(Path(f"{self._scope}-locks"))
                        Locks._files[self._scope] = shared
                    shared.users += 1
                self._file = True

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
            elif self._file and fcntl is not None:
                with Locks._class_mutex:
                    Locks._files[self._scope].unlock(_lock_offset(space, n))
        with Locks._class_mutex:
            self._mine.discard((space, n))
            Locks._local.get(self._scope, set()).discard((space, n))

    def _acquire(self, space: int, n: int) -> bool:
        with self._mutex:
            if self._postgres:
                return self._pg("SELECT pg_try_advisory_lock(:a, :b)", space, n)
            if self._file and fcntl is not None:
                with Locks._class_mutex:
                    return Locks._files[self._scope].lock(_lock_offset(space, n))
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
                # A session's advisory locks end with it, but the server ends a
                # session after the client has hung up: unlock first, so the
                # locks are free when close() returns, not a moment later.
                with contextlib.suppress(Exception):
                    self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None
            self._engine.dispose()
            if self._file:
                shared = Locks._files[self._scope]
                for space, n in self._mine:
                    shared.unlock(_lock_offset(space, n))
            Locks._local.get(self._scope, set()).difference_update(self._mine)
            self._mine.clear()
            if self._file:
                shared.users -= 1
                if shared.users <= 0:
                    del Locks._files[self._scope]
                    shared.close()
                self._file = False


def _lock_offset(space: int, n: int) -> int:
    return (space << 40) + n


@dataclass
class _LockFile:
    """This process's one handle on a SQLite database's ``-locks`` file.

    The file is removed when the last process using it closes it, so it does
    not linger beside the database. Removing a file that others lock needs a
    protocol, or two processes could each lock a different file of that name:

    - the remover first takes an exclusive lock on the *whole* file, which it
      gets only while no process holds any key, then unlinks it;
    - a locker, after taking its byte, checks that the path still names the
      file it locked; if not (removed meanwhile), it reopens and tries again.

    While any process holds a key, no one can take the whole-file lock, so a
    file with live locks is never removed. A crashed process leaves the file
    behind (its locks die with it); the next last closer removes it.
    """

    path: Path
    handle: BinaryIO
    users: int = 0

    @classmethod
    def open(cls, path: Path) -> _LockFile:
        return cls(path, _open(path))

    def lock(self, offset: int) -> bool:
        """Take the byte at ``offset`` without waiting; False when another process has it."""
        assert fcntl is not None
        for _ in range(3):
            try:
                fcntl.lockf(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
            except OSError:
                return False
            if self._current():
                return True
            # The file was removed after we opened it: this lock guards nothing.
            # No lock of ours can be on it (it could not have been removed), so
            # the old handle can go.
            with contextlib.suppress(OSError):
                self.handle.close()
            self.handle = _open(self.path)
        return False

    def unlock(self, offset: int) -> None:
        assert fcntl is not None
        with contextlib.suppress(OSError, ValueError):
            fcntl.lockf(self.handle, fcntl.LOCK_UN, 1, offset)

    def close(self) -> None:
        """Close the handle, removing the file if no other process uses its locks."""
        try:
            if fcntl is not None:
                fcntl.lockf(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB, 0, 0)
                if self._current():
                    self.path.unlink()
        except OSError:
            pass  # another process holds a key (or the folder is read-only): leave it
        finally:
            with contextlib.suppress(OSError):
                self.handle.close()

    def _current(self) -> bool:
        """Does the path still name the file this handle has open?"""
        try:
            on_disk = os.stat(self.path)
        except OSError:
            return False
        mine = os.fstat(self.handle.fileno())
        return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)


def _open(path: Path) -> BinaryIO:
    try:
        return open(path, "a+b")
    except OSError as err:
        raise StoreError(
            f"Cannot create the lock file {path} beside the database "
            f"({err.strerror or err.__class__.__name__}): make its folder writable."
        ) from None
