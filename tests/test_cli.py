"""The `paper-radar` command, as a person runs it.

In-process through ``bot.cli.main`` (the console-script entry point) for most
cases, and as a real subprocess for the demo. Every arXiv request goes to a
local ``ReplayServer`` serving a captured real feed; the ``offline`` fixture
makes any other host name fail loudly.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from slack_sdk.models.blocks import Block

from bot.cli import main
from bot.sources.replay import AtomPager, ReplayServer
from bot.store import migrate

ROOT = Path(__file__).resolve().parent.parent
CAPTURE = ROOT / "tests" / "fixtures" / "arxiv" / "arxiv_api_query_cat-cs.LG-OR-cs.AI_max20.xml"
ENV = "PAPER_RADAR_CONFIG"
TABLES = {"channels", "chips", "papers", "seen", "digest_runs", "posts", "harvests"}
HEADING = re.compile(r"^01\.  arXiv \(CS\.[A-Z]{2}\)  2026-04-29$", re.M)
# In the capture; cs.CL, and not among the five newest a new cs.CL chip shows.
HALLUCITE = "https://arxiv.org/abs/2604.26835"


# -- fixtures --------------------------------------------------------------------


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No config from the developer's environment; cwd is an empty folder we watch."""
    monkeypatch.delenv(ENV, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only loopback addresses resolve: a request to the real arXiv would fail the test."""
    real = socket.getaddrinfo

    def loopback_only(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"test tried to reach the network: {name}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with ReplayServer(default=AtomPager(CAPTURE)) as server:
        yield server


def write_config(path: Path, api_url: str, db: Path, pool_days: int = 30) -> Path:
    path.write_text(
        f'[database]\nurl = "sqlite:///{db}"\n'
        f"[radar]\npool_days = {pool_days}\n"
        f'[arxiv]\napi_url = "{api_url}"\ndelay_seconds = 0\nmax_retries = 0\n'
        f'[clock]\nnow = "2026-04-30T18:00:00Z"\n',
        "utf-8",
    )
    return path


@pytest.fixture
def cfg(tmp_path: Path, replay: ReplayServer) -> Path:
    """A config file: database in tmp_path, arXiv at the replay server, clock pinned."""
    return write_config(tmp_path / "config.toml", f"{replay.url}/api/query", tmp_path / "radar.db")


def run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *argv: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    capsys.readouterr()
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return {
                t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in sorted(TABLES)
            }
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def head_revision() -> str:
    rev = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()
    assert rev
    return rev


@pytest.fixture
def seeded(cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """Channel #lab watching cs.CL and cs.LG, seeded through the console (no digest yet)."""
    rc, out, _ = run(
        capsys,
        monkeypatch,
        "--config",
        str(cfg),
        "console",
        "--channel",
        "lab",
        stdin="/radar category cs.CL\n/radar category cs.LG\n",
    )
    assert rc == 0
    assert "You added category chip cs.CL." in out and "You added category chip cs.LG." in out
    return cfg


def db_of(config: Path) -> str:
    return f"sqlite:///{config.parent / 'radar.db'}"


# -- the demo ------------------------------------------------------------------


def test_demo_runs_offline_as_a_real_process(clean_env: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env["PYTHONPATH"] = str(ROOT)
    # Any request that is not to this machine goes to a dead proxy and fails.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env[var] = "http://127.0.0.1:9"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo"],
        cwd=clean_env,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Traceback" not in proc.stderr
    assert "Turning the TIDE: Cross-Architecture Distillation for Diffusion Large" in out
    assert HEADING.search(out), "card heading `01.  arXiv (CS.CL)  2026-04-29`"
    assert "01.  arXiv (CS.CL)  2026-04-29" in out
    assert "Jörg Frochte" in out  # the author chip typed without the umlaut found him
    # The hostile author line is refused with a specific message, not run as a query.
    assert "radar> /radar author au:x OR cat:*" in out
    assert "! An author name holds letters" in out
    assert "Paper Radar digest, 2026-04-30" in out
    assert "already on this radar" not in out
    match = re.search(r"arXiv requests served locally: (\d+); papers stored: (\d+)", out)
    assert match is not None and int(match.group(1)) >= 1 and int(match.group(2)) == 20
    assert list(clean_env.iterdir()) == [], "the demo must not write into the current folder"


def test_demo_keep_leaves_a_real_database(
    tmp_path: Path,
    clean_env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "kept").mkdir()  # the bot creates no folders
    url = f"sqlite:///{tmp_path / 'kept' / 'demo.db'}"
    rc, out, _ = run(capsys, monkeypatch, "demo", "--keep", url)
    assert rc == 0
    assert "Turning the TIDE" in out
    assert counts(url)["papers"] == 20
    # cs.CL, a like chip, Jorg Frochte, distillation, -survey
    assert counts(url)["chips"] == 5
    # The like chip re-ranks what follows and says why.
    assert 'why: similar to "Turning the TIDE' in out
    assert list(clean_env.iterdir()) == []


# -- console with global options ------------------------------------------------


def test_db_option_before_the_subcommand_and_chips_persist(
    tmp_path: Path,
    clean_env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "data").mkdir()  # the bot creates no folders
    url = f"sqlite:///{tmp_path / 'data' / 'radar.db'}"
    # Chips that need no upstream query: this runs on the default config.
    rc, out, err = run(
        capsys,
        monkeypatch,
        "--db",
        url,
        "console",
        "--channel",
        "lab",
        stdin="/radar keyword -survey\n\n/radar source arxiv\n/radar keyword -survey\n"
        "/radar bogus\n",
    )
    assert rc == 1, err  # a scripted line was refused: scripts must see it
    assert "You added exclusion -survey." in out
    assert "You added source chip arxiv." in out
    assert "exclusion -survey is already on this radar; nothing changed." in out
    assert "! Unknown command `bogus`." in out
    assert "Traceback" not in out + err

    rc, out, _ = run(
        capsys, monkeypatch, "--db", url, "console", "--channel", "lab", stdin="/radar\n"
    )
    assert rc == 0
    assert "This channel's radar" in out
    assert "[1] not: survey ×" in out and "[2] source: arxiv ×" in out

    # Another channel, and the same channel in another workspace, are other radars.
    for extra in ([], ["--workspace", "other"]):
        channel = "lab" if extra else "reading-group"
        rc, out, _ = run(
            capsys,
            monkeypatch,
            "--db",
            url,
            "console",
            "--channel",
            channel,
            *extra,
            stdin="/radar\n",
        )
        assert rc == 0 and "No chips yet." in out and "survey" not in out

    assert (tmp_path / "data" / "radar.db").exists()
    assert list(clean_env.iterdir()) == [], "no default paper-radar.db in the current folder"


def test_config_option_is_used(
    tmp_path: Path,
    cfg: Path,
    replay: ReplayServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_config(cfg, f"{replay.url}/api/query", tmp_path / "radar.db", pool_days=14)
    rc, out, _ = run(
        capsys,
        monkeypatch,
        "--config",
        str(cfg),
        "console",
        "--channel",
        "lab",
        stdin="/radar category cs.CL\n/radar\n",
    )
    assert rc == 0
    assert "You added category chip cs.CL." in out
    assert "6 recent papers match this chip; the newest 5:" in out
    assert "Turning the TIDE" in out
    assert HEADING.search(out)
    assert "Matching now: 6 papers in the last 14 days" in out  # [radar] pool_days
    assert replay.params and replay.params[0]["search_query"] == "cat:cs.CL"  # [arxiv] api_url
    assert counts(db_of(cfg))["chips"] == 1  # [database] url


def test_env_names_the_config(
    tmp_path: Path,
    cfg: Path,
    replay: ReplayServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_config(cfg, f"{replay.url}/api/query", tmp_path / "radar.db", pool_days=21)
    monkeypatch.setenv(ENV, str(cfg))
    rc, out, _ = run(
        capsys, monkeypatch, "console", "--channel", "lab", stdin="/radar category cs.CL\n/radar\n"
    )
    assert rc == 0
    assert "Turning the TIDE" in out
    assert "in the last 21 days" in out
    assert len(replay.requests) == 1
    assert counts(db_of(cfg))["chips"] == 1


def test_config_option_wins_over_env(
    tmp_path: Path,
    cfg: Path,
    replay: ReplayServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    env_cfg = write_config(
        other / "env.toml", "http://127.0.0.1:9/dead", other / "env.db", pool_days=21
    )
    write_config(cfg, f"{replay.url}/api/query", tmp_path / "radar.db", pool_days=14)
    monkeypatch.setenv(ENV, str(env_cfg))
    rc, out, _ = run(
        capsys,
        monkeypatch,
        "--config",
        str(cfg),
        "console",
        "--channel",
        "lab",
        stdin="/radar source arxiv\n/radar\n",
    )
    assert rc == 0
    assert "Matching now: 0 papers in the last 14 days" in out
    assert (tmp_path / "radar.db").exists()
    assert not (other / "env.db").exists()


def test_db_option_wins_over_the_config_url(
    tmp_path: Path, cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    rc, _, _ = run(
        capsys,
        monkeypatch,
        "--config",
        str(cfg),
        "--db",
        url,
        "console",
        "--channel",
        "lab",
        stdin="/radar source arxiv\n",
    )
    assert rc == 0
    assert counts(url)["chips"] == 1
    assert not (tmp_path / "radar.db").exists()


def test_config_digest_cap_applies_to_new_channels(
    tmp_path: Path,
    cfg: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = cfg.read_text("utf-8").replace("[radar]\n", "[radar]\ndigest_cap = 3\n")
    cfg.write_text(text, "utf-8")
    rc, out, _ = run(
        capsys,
        monkeypatch,
        "--config",
        str(cfg),
        "console",
        "--channel",
        "lab",
        stdin="/radar keyword -survey\n/radar\n",
    )
    assert rc == 0
    assert "Digest size: up to 3 cards" in out


BAD_CONFIGS = [
    pytest.param("[radar]\ndigest_capp = 3\n", "radar.digest_capp", id="unknown-key"),
    pytest.param("[raddar]\n", "[raddar]", id="unknown-section"),
    pytest.param('[radar]\ndigest_cap = "3"\n', "radar.digest_cap", id="wrong-type"),
    pytest.param('[radar]\ndefault_timezone = "Mars/Base"\n', "Mars/Base", id="bad-zone"),
    pytest.param("[radar\n", "not valid TOML", id="invalid-toml"),
    pytest.param('[logging]\nlevel = "LOUD"\n', "logging.level must be one of", id="log-level"),
    pytest.param('[slack]\nbot_token = "xoxb-secret"\n', "slack.bot_token", id="secret-in-file"),
    pytest.param(None, "not found", id="missing-file"),
    pytest.param(
        b"\xff\xfe[radar]\n",
        "config.toml",
        id="not-utf8",
    ),
    pytest.param(
        "DIRECTORY",
        "config.toml",
        id="directory",
    ),
]


def test_an_unknown_log_level_is_refused_in_one_line_and_any_case_of_a_real_one_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--log-level", "LOUD", "db", "current"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "argument --log-level: invalid choice: 'LOUD'" in err and "Traceback" not in err
    url = f"sqlite:///{tmp_path / 'radar.db'}"
    rc, _, err = run(capsys, monkeypatch, "--log-level", "warning", "--db", url, "db", "upgrade")
    assert rc == 0 and "Traceback" not in err


@pytest.mark.parametrize("via_env", [False, True], ids=["--config", "env"])
@pytest.mark.parametrize(("content", "expected"), BAD_CONFIGS)
def test_a_bad_config_exits_2_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    content: str | bytes | None,
    expected: str,
    via_env: bool,
) -> None:
    path = tmp_path / "config.toml"
    if content == "DIRECTORY":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, "utf-8")
    argv = ["db", "current"]
    if via_env:
        monkeypatch.setenv(ENV, str(path))
    else:
        argv = ["--config", str(path), *argv]
    rc, out, err = run(capsys, monkeypatch, *argv)
    assert rc == 2
    assert out == ""
    assert err.startswith("paper-radar: ") and err.endswith("\n")
    assert err.count("\n") == 1, err
    assert expected in err
    assert "Traceback" not in err
    assert "xoxb-secret" not in err


def test_schema_behind_with_auto_upgrade_off_says_what_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "radar.db"
    config = tmp_path / "strict.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{db}"\nauto_upgrade = false\n', "utf-8")
    rc, out, err = run(
        capsys,
        monkeypatch,
        "--config",
        str(config),
        "console",
        "--channel",
        "lab",
        stdin="/radar\n",
    )
    assert rc == 1
    assert "run `paper-radar db upgrade`" in err and "Traceback" not in err
    assert err.count("\n") == 1
    rc, out, _ = run(capsys, monkeypatch, "--config", str(config), "db", "upgrade")
    assert rc == 0
    rc, out, _ = run(
        capsys,
        monkeypatch,
        "--config",
        str(config),
        "console",
        "--channel",
        "lab",
        stdin="/radar\n",
    )
    assert rc == 0 and "This channel's radar" in out


# -- db ------------------------------------------------------------------------


def test_db_upgrade_then_current(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rev = head_revision()
    rc, out, _ = run(capsys, monkeypatch, "--db", db_url, "db", "current")
    assert (rc, out) == (0, "(no schema yet)\n")

    rc, out, _ = run(capsys, monkeypatch, "--db", db_url, "db", "upgrade")
    assert rc == 0
    assert out.startswith("Database at ") and out.endswith(f"is up to date ({rev}).\n")
    assert table_names(db_url) >= TABLES

    rc, out, _ = run(capsys, monkeypatch, "--db", db_url, "db", "current")
    assert (rc, out) == (0, f"{rev}\n")
    # Upgrading again is harmless.
    rc, out, _ = run(capsys, monkeypatch, "--db", db_url, "db", "upgrade")
    assert rc == 0 and f"({rev})" in out


def test_db_upgrade_creates_a_fresh_sqlite_file_but_no_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "new" / "folder" / "radar.db"
    url = f"sqlite:///{path}"
    rc, out, _ = run(capsys, monkeypatch, "--db", url, "db", "current")
    assert out == "(no schema yet)\n"
    assert not path.exists(), "looking at a database must not create it"
    # A typo in --db must not grow a tree of folders and an empty radar.
    rc, out, err = run(capsys, monkeypatch, "--db", url, "db", "upgrade")
    assert (rc, out) == (1, "")
    assert err == (
        f"paper-radar: The folder of the database {url} ({path.parent}) does not exist: "
        "create it first, or pass another --db.\n"
    )
    assert not (tmp_path / "new").exists()
    path.parent.mkdir(parents=True)
    rc, out, _ = run(capsys, monkeypatch, "--db", url, "db", "upgrade")
    assert rc == 0 and str(path) in out
    assert path.is_file()
    assert TABLES | {"alembic_version"} <= table_names(url)
    assert counts(url) == dict.fromkeys(sorted(TABLES), 0)


def test_a_bad_database_url_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rc, out, err = run(capsys, monkeypatch, "--db", "not a url", "db", "upgrade")
    assert out == ""
    assert rc == 1
    assert err.startswith("paper-radar: ") and "not a url" in err
    assert "Traceback" not in err


# -- preview ---------------------------------------------------------------------


def preview(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    config: Path,
    platform: str,
    *extra: str,
) -> str:
    rc, out, err = run(
        capsys,
        monkeypatch,
        "--config",
        str(config),
        "preview",
        "--platform",
        platform,
        "--channel",
        "lab",
        *extra,
    )
    assert rc == 0, err
    return out


def test_preview_console(
    seeded: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = preview(capsys, monkeypatch, seeded, "console")
    assert out.startswith("Preview: 9 cards\n")
    assert "[1] category: cs.CL ×" in out and "[2] category: cs.LG ×" in out
    assert HEADING.search(out)
    assert re.search(r"^09\.  arXiv \(CS\.[A-Z]{2}\)  2026-04-\d\d$", out, re.M)
    assert HALLUCITE in out
    # The five papers the cs.CL chip reply already showed are not "new" again.
    assert "https://arxiv.org/abs/2604.26951" not in out  # Turning the TIDE


@pytest.mark.parametrize("command", ["preview", "digest"])
def test_a_channel_with_no_radar_is_named_as_such_not_shown_empty(
    seeded: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    # "labb" for "lab": an empty preview would read as "no new papers".
    before = counts(db_of(seeded))
    rc, out, err = run(capsys, monkeypatch, "--config", str(seeded), command, "--channel", "labb")
    assert rc != 0 and out == ""
    assert err == "paper-radar: No radar for labb: nothing has been set up there yet.\n"
    rc, _, err = run(capsys, monkeypatch, "--config", str(seeded), command, "--channel", "a:b")
    assert rc != 0 and "`a:b` is not a channel: use platform:workspace:channel" in err
    assert counts(db_of(seeded)) == before


def test_preview_slack_is_valid_block_kit(
    seeded: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = json.loads(preview(capsys, monkeypatch, seeded, "slack"))
    assert isinstance(messages, list) and messages
    cards = []
    for message in messages:
        assert set(message) >= {"blocks", "text"}
        assert isinstance(message["text"], str) and message["text"].strip()
        assert 0 < len(message["blocks"]) <= 50
        block_ids = [b["block_id"] for b in message["blocks"] if "block_id" in b]
        assert len(block_ids) == len(set(block_ids)), "block_id must be unique per message"
        for raw in message["blocks"]:
            block = Block.parse(raw)
            assert block is not None, f"not a Block Kit block: {raw}"
            block.validate_json()
            assert block.to_dict() == raw
            if raw.get("block_id", "").startswith("card:"):
                cards.append(raw["text"]["text"])
    assert messages[0]["text"] == "Preview: 9 cards"
    assert messages[0]["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Preview: 9 cards"},
    }
    assert len(cards) == 9
    assert cards[0].startswith("*01.*  arXiv (CS.")
    assert any(f"<{HALLUCITE}|HalluCiteChecker" in text for text in cards)


def test_preview_slack_names_the_chip_kinds(
    seeded: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = json.loads(preview(capsys, monkeypatch, seeded, "slack"))
    summary = messages[0]["blocks"][1]["text"]["text"]
    assert "cs.CL" in summary
    assert "*Categories:*" in summary


def test_preview_discord_has_embeds(
    seeded: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = json.loads(preview(capsys, monkeypatch, seeded, "discord"))
    assert isinstance(messages, list) and messages
    embeds = []
    for message in messages:
        assert isinstance(message["embeds"], list) and len(message["embeds"]) <= 10
        assert len(message["content"]) <= 2000
        total = sum(
            len(e["title"]) + len(e["description"]) + len(e["author"]["name"])
            for e in message["embeds"]
        )
        assert total <= 6000
        embeds.extend(message["embeds"])
    assert messages[0]["content"].startswith("**Preview: 9 cards**")
    assert len(embeds) == 9
    for embed in embeds:
        assert embed["title"] and embed["description"]
        assert embed["url"].startswith("https://arxiv.org/abs/2604.")
        assert len(embed["title"]) <= 256 and len(embed["description"]) <= 4096
    assert embeds[0]["author"]["name"].startswith("01.  arXiv (CS.")
    assert any(e["url"] == HALLUCITE and e["title"].startswith("HalluCiteChecker") for e in embeds)


def test_preview_changes_nothing_and_the_digest_still_shows_it(
    seeded: Path,
    replay: ReplayServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = db_of(seeded)
    before, requests_before = counts(url), len(replay.requests)
    # Each chip reply showed its 5 newest; one paper is in both categories.
    assert before["seen"] == 9 and before["digest_runs"] == 0

    shown = {}
    for platform in ("console", "slack", "discord", "console"):
        out = preview(capsys, monkeypatch, seeded, platform)
        shown[platform] = set(re.findall(r"https://arxiv\.org/abs/[\d.]+", out))
    assert counts(url) == before
    assert len(replay.requests) == requests_before, "preview must not fetch anything"
    assert len(shown["console"]) == 9
    assert shown["slack"] == shown["discord"] == shown["console"]

    rc, out, _ = run(
        capsys,
        monkeypatch,
        "--config",
        str(seeded),
        "console",
        "--channel",
        "lab",
        stdin="/radar digest\n",
    )
    assert rc == 0
    assert "Paper Radar digest, 2026-04-30: 9 new" in out
    assert set(re.findall(r"https://arxiv\.org/abs/[\d.]+", out)) == shown["console"]
    after = counts(url)
    assert after["digest_runs"] == 1 and after["seen"] == before["seen"] + 9

    # And now the preview is empty: the digest did change things.
    assert preview(capsys, monkeypatch, seeded, "console").startswith("Preview: 0 cards")


def test_preview_of_another_workspace_is_not_this_ones_radar(
    seeded: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ("--config", str(seeded), "preview", "--channel", "lab", "--workspace", "elsewhere")
    rc, out, err = run(capsys, monkeypatch, *args)
    assert rc != 0 and "arxiv.org" not in out
    assert "No radar for lab" in err


def test_harvest_command(
    cfg: Path,
    replay: ReplayServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rc, out, _ = run(capsys, monkeypatch, "--config", str(cfg), "harvest")
    assert rc == 0
    assert out == "Harvested 20 papers (20 new).\n"
    assert counts(db_of(cfg))["papers"] == 20
    assert counts(db_of(cfg))["harvests"] == 1
    assert replay.requests
