"""A throwaway PostgreSQL server for the test run.

One server per test session, in a fresh temporary directory, listening only on
127.0.0.1 on a free port (and a unix socket inside that directory), with trust
authentication and durability switched off for speed. PostgreSQL refuses to
run as root, so under root (CI containers) ``initdb`` and ``pg_ctl`` run as the
``postgres`` user (or ``nobody``) and the directory is handed over to it.

Binaries are looked up in ``$PAPER_RADAR_PG_BINDIR``, then next to ``pg_ctl`` on
``PATH``, then in ``/usr/lib/postgresql/<version>/bin`` (15 preferred).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

BINDIR_ENV = "PAPER_RADAR_PG_BINDIR"
PREFERRED_MAJOR = 15
START_TIMEOUT_S = 60
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "max_connections": "200",
}


class PgStartError(RuntimeError):
    """The server binaries exist but the server could not be brought up."""


def _has_server_binaries(bindir: Path) -> bool:
    return all((bindir / name).is_file() for name in ("initdb", "pg_ctl", "postgres"))


def find_bindir() -> Path | None:
    """The directory holding ``initdb``/``pg_ctl``/``postgres``, or None if absent."""
    override = os.environ.get(BINDIR_ENV)
    if override:
        return Path(override) if _has_server_binaries(Path(override)) else None
    on_path = shutil.which("pg_ctl")
    if on_path:
        # /usr/local/bin/pg_ctl is often a symlink; initdb and postgres sit next
        # to the real file, and must be the same version.
        real = Path(on_path).resolve().parent
        if _has_server_binaries(real):
            return real
        if _has_server_binaries(Path(on_path).parent):
            return Path(on_path).parent
    candidates = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if _has_server_binaries(p)]

    def rank(p: Path) -> tuple[bool, float]:
        try:
            major = float(p.parent.name)
        except ValueError:
            major = 0.0
        return (major == PREFERRED_MAJOR, major)

    return max(candidates, key=rank) if candidates else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_account() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PgStartError("running as root and neither a 'postgres' nor a 'nobody' user exists")


def _world_searchable(path: Path) -> bool:
    """Can another (unprivileged) user reach entries below ``path``?"""
    path = path.resolve()
    for part in (path, *path.parents):
        try:
            if not part.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _make_base_dir(account: pwd.struct_passwd | None) -> Path:
    parent: str | None = None
    if account is not None:
        for candidate in (tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"):
            if Path(candidate).is_dir() and _world_searchable(Path(candidate)):
                parent = candidate
                break
        else:
            raise PgStartError("no temporary directory the server's user can reach")
    base = Path(tempfile.mkdtemp(prefix="radar-pg-", dir=parent))
    if account is not None:
        os.chown(base, account.pw_uid, account.pw_gid)
    return base


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class PgServer:
    bindir: Path
    base: Path
    port: int = 0
    account: pwd.struct_passwd | None = None
    superuser: str = "postgres"

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def logfile(self) -> Path:
        return self.base / "server.log"

    # -- process control ---------------------------------------------------

    def _run(self, args: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self.account is not None:
            kwargs.update(user=self.account.pw_uid, group=self.account.pw_gid, extra_groups=[])
        env = {
            "PATH": f"{self.bindir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.base),
            "LC_ALL": "C",
            "LANG": "C",
            "TZ": os.environ.get("TZ", "UTC"),
        }
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            [str(self.bindir / args[0]), *args[1:]],
            cwd=self.base,  # the server's user may not be able to read our cwd
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kwargs,
        )

    def _check(self, proc: subprocess.CompletedProcess[str], what: str) -> None:
        if proc.returncode != 0:
            raise PgStartError(
                f"{what} failed (exit {proc.returncode}) in {self.base}\n"
                f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}\n"
                f"--- server log ---\n{_tail(self.logfile)}"
            )

    def initdb(self) -> None:
        proc = self._run(
            [
                "initdb", "-D", str(self.datadir), "-U", self.superuser, "-A", "trust",
                "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions",
            ],
            timeout=120,
        )  # fmt: skip
        self._check(proc, "initdb")

    def start(self, attempts: int = 3) -> None:
        for attempt in range(attempts):
            self.port = free_port()
            settings = {
                **SERVER_SETTINGS,
                "port": str(self.port),
                "unix_socket_directories": str(self.base),
            }
            opts = " ".join(f"-c {shlex.quote(f'{k}={v}')}" for k, v in settings.items())
            proc = self._run(
                ["pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-o", opts,
                 "-w", "-t", str(START_TIMEOUT_S), "start"],
                timeout=START_TIMEOUT_S + 30,
            )  # fmt: skip
            if proc.returncode == 0:
                self._wait_ready()
                return
            # Someone grabbed the port between our probe and the server's bind.
            log = _tail(self.logfile)
            if attempt < attempts - 1 and ("could not bind" in log or "already in use" in log):
                self.logfile.write_text("")  # keeps the server user's ownership
                continue
            self._check(proc, "pg_ctl start")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=5):
                    return
            except psycopg.OperationalError as exc:
                last = exc
                time.sleep(0.05)
        raise PgStartError(
            f"server on port {self.port} not accepting connections: {last}\n"
            f"--- server log ---\n{_tail(self.logfile)}"
        )

    def stop(self) -> None:
        """Stop immediately and remove everything; safe to call twice."""
        if (self.datadir / "postmaster.pid").exists():
            try:
                proc = self._run(
                    ["pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop"],
                    timeout=60,
                )
                failed = proc.returncode != 0
            except (OSError, subprocess.SubprocessError):
                failed = True
            if failed:
                self._kill_postmaster()
        shutil.rmtree(self.base, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.datadir / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGQUIT)  # the postmaster we started: immediate shutdown
            time.sleep(0.5)

    # -- databases -----------------------------------------------------------

    def dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={self.superuser} dbname={database}"

    def url(self, database: str) -> str:
        """A SQLAlchemy URL for ``database`` on this server."""
        return f"postgresql+psycopg://{self.superuser}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (unique name unless given); return its URL."""
        name = name or f"radar_{uuid.uuid4().hex[:12]}"
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"unsafe database name {name!r}")
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def start_server(bindir: Path) -> PgServer:
    """initdb + start a server from ``bindir``; on any failure nothing is left behind."""
    account = _server_account()
    server = PgServer(bindir=bindir, base=_make_base_dir(account), account=account)
    atexit.register(server.stop)  # belt and braces if the session dies oddly
    try:
        server.initdb()
        server.start()
    except BaseException:
        server.stop()
        raise
    return server
