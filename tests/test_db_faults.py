"""When the database itself fails, `paper-radar` says so in one line and exits non-zero.

Real processes (``python -m bot.cli``), as an operator runs them: a full disk
(SQLite's own SQLITE_FULL, forced with ``PRAGMA max_page_count``), a read-only
database (a ``mode=ro`` URI: the tests run as root in CI, where file
permissions stop nothing), a missing folder, a folder that is a file, an
unreachable PostgreSQL, a URL that names no supported database. Each prints
exactly one line on stderr (what failed, where, what to do), no traceback,
never the URL's password, and leaves nothing half-written. Also: the lock
file beside a SQLite database does not outlive the processes that use it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.cli import main
from bot.sources.replay import AtomPager, ReplayServer
from bot.store import migrate
from bot.store.locks import Locks
from bot.store.repo import Store
from tests.flowkit import CAPTURE
from tests.pg import free_port

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "s3cret-Pa55"

#: The real CLI, with every new SQLite connection capped at the pages it
#: already has plus one: the next transaction that needs more gets SQLITE_FULL
#: ("database or disk is full"), exactly as on a full disk.
DISK_FULL = """
import sys
import bot.store.db as db

real = db._sqlite_pragmas

def full(conn, record):
    real(conn, record)
    cur = conn.cursor()
    pages = cur.execute("PRAGMA page_count").fetchone()[0]
    cur.execute(f"PRAGMA max_page_count={pages + 1}")
    cur.close()

db._sqlite_pragmas = full
from bot.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture
def arxiv() -> Iterator[ReplayServer]:
    with ReplayServer(default=AtomPager(CAPTURE)) as server:
        yield server


def config(tmp_path: Path, arxiv: ReplayServer, url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n'
        f'[arxiv]\napi_url = "{arxiv.url}/api/query"\ndelay_seconds = 0\nmax_retries = 0\n'
        '[openalex]\nenabled = false\n[clock]\nnow = "2026-04-30T18:00:00Z"\n',
        "utf-8",
    )
    return path


def cli(cwd: Path, *argv: str, script: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PAPER_RADAR_CONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    head = [sys.executable, "-c", script] if script else [sys.executable, "-m", "bot.cli"]
    return subprocess.run(
        [*head, *argv],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line(proc: subprocess.CompletedProcess[str], *expected: str) -> str:
    """The failure's single stderr line, checked for what every such line must be."""
    assert proc.returncode != 0, proc.stdout
    err = proc.stderr
    assert "Traceback" not in err, err
    assert PASSWORD not in err + proc.stdout
    assert err.startswith("paper-radar: ") and err.endswith("\n") and err.count("\n") == 1, err
    for part in expected:
        assert part in err, err
    return err


def counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return {
                t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in ("papers", "paper_aliases", "harvests", "chips", "channels")
            }
    finally:
        engine.dispose()


# -- SQLite -----------------------------------------------------------------------------


def test_a_full_disk_is_one_line_and_nothing_half_written(
    tmp_path: Path, arxiv: ReplayServer
) -> None:
    url = f"sqlite:///{tmp_path / 'radar.db'}"
    migrate.upgrade(url)
    proc = cli(tmp_path, "--config", str(config(tmp_path, arxiv, url)), "harvest", script=DISK_FULL)
    assert_one_line(proc, "The disk holding the database", str(tmp_path / "radar.db"), "is full")
    assert "Free some space" in proc.stderr and "nothing was saved" in proc.stderr
    assert arxiv.requests, "the harvest did fetch: it was the write that failed"
    assert counts(url) == dict.fromkeys(
        ("papers", "paper_aliases", "harvests", "chips", "channels"), 0
    )


def test_a_full_disk_during_the_first_migration_leaves_no_half_schema(tmp_path: Path) -> None:
    db = tmp_path / "radar.db"
    proc = cli(tmp_path, "--db", f"sqlite:///{db}", "db", "upgrade", script=DISK_FULL)
    assert_one_line(proc, "is full")
    assert migrate.current(f"sqlite:///{db}") is None
    engine = sa.create_engine(f"sqlite:///{db}", poolclass=sa.pool.NullPool)
    try:
        assert sa.inspect(engine).get_table_names() == []  # one transaction, rolled back
    finally:
        engine.dispose()


def test_a_read_only_database_is_one_line_and_unchanged(
    tmp_path: Path, arxiv: ReplayServer
) -> None:
    db = tmp_path / "radar.db"
    migrate.upgrade(f"sqlite:///{db}")
    url = f"sqlite:///file:{db}?mode=ro&uri=true"
    cfg = config(tmp_path, arxiv, url)
    proc = cli(tmp_path, "--config", str(cfg), "harvest")
    assert_one_line(
        proc, "The database", str(db), "is read-only", "Make the file and its folder writable"
    )
    assert counts(f"sqlite:///{db}")["papers"] == 0
    # Reading still works: the schema is there and at head.
    proc = cli(tmp_path, "--config", str(cfg), "db", "current")
    assert proc.returncode == 0 and proc.stdout.strip() == migrate.current(f"sqlite:///{db}")


def test_a_missing_read_only_database_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///file:{tmp_path / 'gone.db'}?mode=ro&uri=true"
    proc = cli(tmp_path, "--db", url, "db", "upgrade")
    assert_one_line(proc, "Cannot open the database", "gone.db", "pass another --db")


def test_a_missing_folder_is_refused_and_not_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nonexistent' / 'dir' / 'x.db'}"
    proc = cli(tmp_path, "--db", url, "harvest")
    assert_one_line(proc, f"({tmp_path / 'nonexistent' / 'dir'}) does not exist", "create it first")
    assert not (tmp_path / "nonexistent").exists()


def test_a_folder_that_is_a_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "plain").write_text("not a folder", "utf-8")
    proc = in_process(capsys, "--db", f"sqlite:///{tmp_path / 'plain' / 'x.db'}", "db", "upgrade")
    assert_one_line(proc, "is not a folder")


# -- PostgreSQL and URLs ------------------------------------------------------------------


@pytest.mark.parametrize("command", [["db", "current"], ["console", "--channel", "lab"]])
def test_an_unreachable_postgresql_is_one_line_without_the_password(
    tmp_path: Path, command: list[str]
) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql+psycopg://radar:{PASSWORD}@127.0.0.1:{port}/radar"
    proc = cli(tmp_path, "--db", url, *command)
    assert_one_line(
        proc,
        "Cannot connect to the database",
        f"postgresql+psycopg://radar:***@127.0.0.1:{port}/radar",
        "Check that the server is running",
    )


def in_process(capsys: pytest.CaptureFixture[str], *argv: str) -> subprocess.CompletedProcess[str]:
    """``bot.cli.main`` in this process (cheaper than a process), as a process result."""
    capsys.readouterr()
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(argv), rc, out, err)


def test_the_db_command_with_a_bad_password_url_masks_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    proc = in_process(capsys, "--db", f"postgresql://u:{PASSWORD}@127.0.0.1:1/x", "db", "upgrade")
    assert_one_line(proc, "Cannot connect", "postgresql://u:***@127.0.0.1:1/x")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nonsense://x", "stores its data in SQLite or PostgreSQL, not in 'nonsense://x'"),
        ("mysql://u@h/db", "stores its data in SQLite or PostgreSQL"),
        ("not a url", "Not a database URL: 'not a url'"),
    ],
)
@pytest.mark.parametrize("command", ["upgrade", "current"])
def test_an_unsupported_url_is_one_line(
    capsys: pytest.CaptureFixture[str], url: str, expected: str, command: str
) -> None:
    proc = in_process(capsys, "--db", url, "db", command)
    assert_one_line(proc, expected)


# -- the lock file --------------------------------------------------------------------------


def test_the_lock_file_goes_with_its_last_user(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'radar.db'}"
    migrate.upgrade(url)
    lock_file = tmp_path / "radar.db-locks"
    store = Store.from_url(url)
    try:
        first, second = store.locks(), store.locks()
        assert first.acquire(Locks.RUN, 1)
        assert lock_file.exists()
        first.close()
        assert lock_file.exists(), "still in use by the second"
        assert second.acquire(Locks.RUN, 1)  # the first let go of it
        second.close()
        assert not lock_file.exists()
        again = store.locks()  # a new user makes it anew, and the locks still work
        assert again.acquire(Locks.RUN, 1)
        other = store.locks()
        assert not other.acquire(Locks.RUN, 1)
        other.close()
        assert lock_file.exists(), "still in use by again"
        again.close()
    finally:
        store.close()
    assert not lock_file.exists()


def test_a_lock_file_removed_under_a_waiting_process_is_made_anew(tmp_path: Path) -> None:
    """A process holding the file open (but no lock) while the last user
    removes it must not lock a file nobody else sees: it notices and reopens."""
    url = f"sqlite:///{tmp_path / 'radar.db'}"
    migrate.upgrade(url)
    store = Store.from_url(url)
    locks = store.locks()
    try:
        lock_file = tmp_path / "radar.db-locks"
        lock_file.unlink()  # as another process's last close would
        assert locks.acquire(Locks.RUN, 3)
        assert lock_file.exists()
        holder = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from bot.store.repo import Locks, Store; "
                "print(Store.from_url(sys.argv[1]).locks().acquire(Locks.RUN, 3))",
                url,
            ],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert holder.stdout.strip() == "False", holder.stderr  # it sees our lock
    finally:
        locks.close()
        store.close()


def test_lock_files_are_ignored_by_git() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "paper-radar.db-locks"], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0
