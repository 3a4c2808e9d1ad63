"""Shared pytest fixtures.

Databases
- ``pg_server``  (session)  the one real PostgreSQL server of the run (tests/pg.py);
                            ``pg_server.create_database()`` -> URL of a new empty DB.
- ``pg_url``     (session)  URL of the session's database ``radar_test`` on it.
- ``pg_db_url``  (function) URL of a fresh, empty PostgreSQL database, dropped after.
- ``sqlite_url`` (function) URL of a fresh SQLite file in ``tmp_path``.
- ``db_url``     (function) parametrized [sqlite, postgresql]: run a store test on both.
- ``store``      (function) a ``Store`` on ``db_url``, schema at head.

PostgreSQL tests are skipped only when no server binaries are installed; a server
that exists but fails to start is an error. ``-m "not postgres"`` deselects them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# A fresh clone runs the tests without installing the package: make the repo
# root (``bot``, ``tests``) importable whatever pytest's rootdir/import mode.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.store import migrate  # noqa: E402
from bot.store.repo import Store  # noqa: E402
from tests import pg  # noqa: E402

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _is_local(host: object) -> bool:
    if not isinstance(host, str):
        return True  # unix sockets and the like
    host = host.strip("[]").split("%", 1)[0].lower()
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the internet: a connection or a name lookup for anything
    but this machine fails at once, so a default URL left pointing at a live
    service shows up as a failing test instead of a request."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def refuse(host: object) -> None:
        raise OSError(f"tests may not reach the internet (tried {host!r})")

    def check(sock: socket.socket, address: object) -> None:
        inet = sock.family in (socket.AF_INET, socket.AF_INET6)
        if inet and isinstance(address, tuple) and not _is_local(address[0]):
            refuse(address[0])

    def connect(self: socket.socket, address: object) -> None:
        check(self, address)
        return real_connect(self, address)  # type: ignore[arg-type]

    def connect_ex(self: socket.socket, address: object) -> int:
        check(self, address)
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host is not None and not _is_local(host):
            refuse(host)
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(autouse=True)
def _posts_unpaced(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's post limiter (``bot.digest.limiter.LIMITER``) starts each
    test empty and reserves every slot as it does in production, but does not
    wait for it: a test about something else must not spend real seconds
    pacing a chat platform. Pacing itself is tested with an injected clock
    (tests/test_delivery_batching.py)."""
    from bot.digest.limiter import LIMITER

    async def no_wait(_seconds: float) -> None:
        await asyncio.sleep(0)

    LIMITER.reset()
    monkeypatch.setattr(LIMITER, "sleep", no_wait)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs the test run's PostgreSQL server")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "pg_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pg.PgServer]:
    bindir = pg.find_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH, "
            f"in /usr/lib/postgresql/*/bin or ${pg.BINDIR_ENV}; install postgresql-15"
        )
    server = pg.start_server(bindir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_url(pg_server: pg.PgServer) -> str:
    return pg_server.create_database("radar_test")


@pytest.fixture
def pg_db_url(pg_server: pg.PgServer) -> Iterator[str]:
    url = pg_server.create_database()
    yield url
    pg_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'radar.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh empty database on each backend; PostgreSQL starts only if asked for."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_db_url"))
    return str(request.getfixturevalue("sqlite_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A ``Store`` on a fresh database of each backend, migrated to head."""
    migrate.upgrade(db_url)
    s = Store.from_url(db_url)
    yield s
    s.close()
