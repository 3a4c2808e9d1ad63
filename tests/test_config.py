"""Configuration: defaults, the documented example, strictness and where it is read from."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import get_type_hints

import pytest

from bot import settings as settings_module
from bot.config import Config, load
from bot.core import commands as c
from bot.errors import ConfigError, UsageError
from bot.settings import MAX_DIGEST_CAP, MAX_SHUFFLE

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"
ENV = "PAPER_RADAR_CONFIG"  # documented in config.example.toml and --help
SECTIONS = [f.name for f in fields(Config) if f.name != "source_file"]


@pytest.fixture(autouse=True)
def no_env_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


def bad(tmp_path: Path, text: str) -> str:
    """The error message a person gets for a config file holding ``text``."""
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, text))
    return str(info.value)


# -- defaults and the example --------------------------------------------------


def test_no_file_gives_working_defaults() -> None:
    config = load()
    assert config == Config()
    assert config.source_file is None
    assert config.database.url == "sqlite:///paper-radar.db"
    assert config.database.auto_upgrade is True
    assert config.radar.digest_cap == 10
    assert config.radar.pool_days == 30
    assert config.radar.default_timezone == "UTC"
    assert config.arxiv.api_url == "https://export.arxiv.org/api/query"
    assert config.arxiv.delay_seconds >= 3.0  # arXiv's terms
    assert config.harvest.categories == ()
    assert config.pinned_now() is None


def test_example_file_sets_every_setting_to_its_default() -> None:
    """config.example.toml documents the real defaults: every key, every value."""
    raw = tomllib.loads(EXAMPLE.read_text("utf-8"))
    assert sorted(raw) == sorted(SECTIONS), "the example has exactly the real sections"
    example = load(EXAMPLE)
    defaults = Config()
    for section in SECTIONS:
        cls_fields = fields(getattr(defaults, section))
        assert sorted(raw[section]) == sorted(f.name for f in cls_fields), (
            f"[{section}] in config.example.toml must list every setting"
        )
        for f in cls_fields:
            got = getattr(getattr(example, section), f.name)
            want = getattr(getattr(defaults, section), f.name)
            assert got == want, f"{section}.{f.name}: example says {got!r}, default is {want!r}"
            assert type(got) is type(want), f"{section}.{f.name}"
    assert example.source_file == str(EXAMPLE)


def test_a_partial_file_keeps_the_other_defaults(tmp_path: Path) -> None:
    config = load(
        write(
            tmp_path,
            '[radar]\ndigest_cap = 3\n[harvest]\ncategories = ["cs.CL", "cs.LG"]\n'
            '[arxiv]\ndelay_seconds = 0\n[clock]\nnow = "2026-04-30T18:00:00Z"\n',
        )
    )
    assert config.radar.digest_cap == 3
    assert config.radar.pool_days == 30
    assert config.harvest.categories == ("cs.CL", "cs.LG")
    assert config.arxiv.delay_seconds == 0.0 and isinstance(config.arxiv.delay_seconds, float)
    assert config.arxiv.api_url == Config().arxiv.api_url
    assert config.database == Config().database
    now = config.pinned_now()
    assert now is not None and now.isoformat() == "2026-04-30T18:00:00+00:00"


# -- strictness ----------------------------------------------------------------


def test_unknown_section_is_named(tmp_path: Path) -> None:
    message = bad(tmp_path, "[raddar]\ndigest_cap = 3\n")
    assert message == "Unknown config section [raddar] (did you mean [radar]?)"
    assert bad(tmp_path, "[zzz]\n") == "Unknown config section [zzz]"


def test_unknown_key_is_named(tmp_path: Path) -> None:
    # The reason for strictness: a misspelt api_url must not send tests to arXiv.
    message = bad(tmp_path, '[arxiv]\napi_ulr = "http://127.0.0.1:9/api/query"\n')
    assert message == "Unknown setting arxiv.api_ulr (did you mean arxiv.api_url?)"


def test_source_file_is_not_a_setting(tmp_path: Path) -> None:
    assert "source_file" in bad(tmp_path, 'source_file = "x"\n')


def test_a_section_must_be_a_table(tmp_path: Path) -> None:
    assert "[radar]" in bad(tmp_path, "radar = 5\n")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[radar]\ndigest_cap = "10"\n', "radar.digest_cap"),
        ("[radar]\ndigest_cap = 2.5\n", "radar.digest_cap"),
        ("[radar]\ndigest_cap = true\n", "radar.digest_cap"),
        ('[database]\nauto_upgrade = "yes"\n', "database.auto_upgrade"),
        ("[database]\nauto_upgrade = 1\n", "database.auto_upgrade"),
        ("[database]\nurl = 5\n", "database.url"),
        ("[arxiv]\ndelay_seconds = true\n", "arxiv.delay_seconds"),
        ('[arxiv]\ndelay_seconds = "3"\n', "arxiv.delay_seconds"),
        ('[harvest]\ncategories = "cs.CL"\n', "harvest.categories"),
        ("[harvest]\ncategories = [1, 2]\n", "harvest.categories"),
        ("[clock]\nnow = 2026-04-30T18:00:00Z\n", "clock.now"),  # a TOML datetime, not text
    ],
)
def test_wrong_types_are_refused_by_name(tmp_path: Path, text: str, where: str) -> None:
    assert where in bad(tmp_path, text)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../../etc/passwd", "utc+8"])
def test_bad_default_timezone(tmp_path: Path, zone: str) -> None:
    message = bad(tmp_path, f'[radar]\ndefault_timezone = "{zone}"\n')
    assert "radar.default_timezone" in message


def test_good_default_timezone(tmp_path: Path) -> None:
    path = write(tmp_path, '[radar]\ndefault_timezone = "Asia/Shanghai"\n')
    assert load(path).radar.default_timezone == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[radar]\ndigest_cap = 0\n", "radar.digest_cap"),
        ("[radar]\ndigest_cap = 101\n", "radar.digest_cap"),
        ("[arxiv]\ndelay_seconds = -1\n", "arxiv.delay_seconds"),
        ('[clock]\nnow = "yesterday"\n', "clock.now"),
        ('[clock]\nnow = "2026-04-30T18:00:00"\n', "clock.now"),  # no zone
        ("[openalex]\nper_page = 500\n", "openalex.per_page"),
        ("[openalex]\ndelay_seconds = -0.1\n", "openalex.delay_seconds"),
        ('[openalex]\napi_url = "ftp://api.openalex.org"\n', "openalex.api_url"),
        ('[openalex]\nharvest_sources = ["S1|S2"]\n', "openalex.harvest_sources"),
        ('[openalex]\nharvest_sources = ["A5017898742"]\n', "openalex.harvest_sources"),
    ],
)
def test_out_of_range_values_are_refused(tmp_path: Path, text: str, where: str) -> None:
    assert where in bad(tmp_path, text)


def numeric_settings() -> list[tuple[str, str, type, dict[str, float | None]]]:
    """(section, name, int|float, {"min", "max"}) for every number in every section."""
    out = []
    for section in SECTIONS:
        cls = type(getattr(Config(), section))
        hints = get_type_hints(cls)
        for f in fields(cls):
            if hints[f.name] in (int, float):
                out.append((section, f.name, hints[f.name], dict(f.metadata)))
    return out


def test_every_number_setting_declares_its_range() -> None:
    """A setting cannot be added without its limits: declare it with
    ``bounded(default, lo, hi)`` in bot/settings.py and the loader checks it."""
    found = numeric_settings()
    assert len(found) > 30  # every section is walked, not an empty list
    missing = [f"{s}.{n}" for s, n, _, meta in found if meta.get("min") is None]
    # Settings classes not (yet) in Config are held to it too.
    for cls in vars(settings_module).values():
        if isinstance(cls, type) and is_dataclass(cls) and cls.__module__ == "bot.settings":
            hints = get_type_hints(cls)
            missing += [
                f"{cls.__name__}.{f.name}"
                for f in fields(cls)
                if hints[f.name] in (int, float) and f.metadata.get("min") is None
            ]
    assert not missing, f"declare these with bounded(default, lo, hi): {missing}"
    defaults = Config()
    for section, name, kind, meta in found:
        value = getattr(getattr(defaults, section), name)
        assert type(value) is kind, f"{section}.{name} default {value!r} is not a {kind.__name__}"
        assert meta["min"] <= value, f"{section}.{name}"
        assert meta["max"] is None or value <= meta["max"], f"{section}.{name}"


@pytest.mark.parametrize(
    ("section", "line", "must_be"),
    [
        ("radar", "pool_days = -3", "a whole number from 1 to 3650, got -3"),
        ("radar", "max_chips = 0", "a whole number from 1 to 1000, got 0"),
        ("llm", 'max_retries = "two"', 'a whole number from 0 to 10, got "two"'),
        ("arxiv", "max_retries = -1", "a whole number from 0 to 10, got -1"),
        ("openalex", "max_retries = 2.5", "a whole number from 0 to 10, got 2.5"),
        ("llm", "daily_token_budget = -5", "a whole number of at least 0, got -5"),
        ("arxiv", "timeout_seconds = 0", "a number from 0.1 to 600, got 0"),
        ("arxiv", "delay_seconds = nan", "a number from 0 to 60, got nan"),
        ("schedule", "grace_hours = inf", "a number from 0 to 168, got inf"),
        ("slack", "port = 70000", "a whole number from 1 to 65535, got 70000"),
        ("harvest", "lookback_hours = true", "a whole number from 1 to 720, got true"),
        ("database", 'auto_upgrade = "yes"', 'true or false, got "yes"'),
        ("harvest", 'categories = "cs.CL"', 'a list of strings (["a", "b"]), got "cs.CL"'),
    ],
)
def test_bad_values_name_the_setting_the_type_and_the_range(
    tmp_path: Path, section: str, line: str, must_be: str
) -> None:
    name = line.split(" = ")[0]
    assert bad(tmp_path, f"[{section}]\n{line}\n") == f"{section}.{name} must be {must_be}"


def test_every_bound_is_enforced_at_its_edge(tmp_path: Path) -> None:
    """Each number's limits, from their declaration: the edges load, one step out does not."""
    for section, name, kind, meta in numeric_settings():
        step = 1 if kind is int else 0.001
        edges = [meta["min"]] + ([meta["max"]] if meta["max"] is not None else [])
        for edge in edges:
            value = load(write(tmp_path, f"[{section}]\n{name} = {edge!r}\n"))
            assert getattr(getattr(value, section), name) == edge
        below = meta["min"] - step
        assert f"{section}.{name} must be" in bad(tmp_path, f"[{section}]\n{name} = {below!r}\n")
        if meta["max"] is not None:
            above = meta["max"] + step
            message = bad(tmp_path, f"[{section}]\n{name} = {above!r}\n")
            assert f"{section}.{name} must be" in message


def test_a_long_string_in_a_number_setting_is_not_echoed(tmp_path: Path) -> None:
    secret = "sk-live-0123456789abcdefghijklmnop"
    message = bad(tmp_path, f'[llm]\nmax_output_tokens = "{secret}"\n')
    assert message.startswith("llm.max_output_tokens must be a whole number")
    assert secret not in message and "sk-" not in message


def test_digest_cap_has_one_limit_stated_once(tmp_path: Path) -> None:
    """The config, `/radar cap` and the example file agree on the most cards a digest holds."""
    assert load(write(tmp_path, f"[radar]\ndigest_cap = {MAX_DIGEST_CAP}\n")).radar.digest_cap == (
        MAX_DIGEST_CAP
    )
    over = MAX_DIGEST_CAP + 1
    assert bad(tmp_path, f"[radar]\ndigest_cap = {over}\n") == (
        f"radar.digest_cap must be a whole number from 1 to {MAX_DIGEST_CAP}, got {over}"
    )
    assert c.parse(f"cap {MAX_DIGEST_CAP}") == c.SetCap(MAX_DIGEST_CAP)
    with pytest.raises(UsageError, match=f"from 1 to {MAX_DIGEST_CAP}"):
        c.parse(f"cap {over}")
    assert f"1 to {MAX_DIGEST_CAP}" in c.USAGE["cap"]
    example = EXAMPLE.read_text("utf-8")
    stated = re.search(r"# Cards per digest \((\d+)-(\d+)", example)
    assert stated is not None and int(stated[2]) == MAX_DIGEST_CAP
    # The same for the default shuffle size and `/radar shuffle N`.
    assert c.MAX_SHUFFLE == MAX_SHUFFLE
    assert f"radar.shuffle_size must be a whole number from 1 to {MAX_SHUFFLE}" in bad(
        tmp_path, f"[radar]\nshuffle_size = {MAX_SHUFFLE + 1}\n"
    )


def test_openalex_section(tmp_path: Path) -> None:
    defaults = load().openalex
    assert defaults.enabled is True
    assert defaults.api_url == "https://api.openalex.org"
    assert defaults.api_key_env == "OPENALEX_API_KEY" and defaults.mailto == ""
    assert defaults.delay_seconds == 0.1 and defaults.harvest_sources == ()
    config = load(
        write(
            tmp_path,
            '[openalex]\nenabled = false\nmailto = "radar@example.org"\n'
            'harvest_sources = ["S2912241403", "https://openalex.org/S137773608"]\n',
        )
    )
    assert config.openalex.enabled is False and config.openalex.mailto == "radar@example.org"
    assert config.openalex.harvest_sources == ("S2912241403", "https://openalex.org/S137773608")
    assert "openalex.api_key" in bad(tmp_path, '[openalex]\napi_key = "sk-123"\n')


def test_secrets_cannot_live_in_the_file(tmp_path: Path) -> None:
    secret = "xoxb-1234-should-never-be-read"
    message = bad(tmp_path, f'[slack]\nbot_token = "{secret}"\n')
    assert "slack.bot_token" in message
    assert secret not in message
    for text in (
        f'[database]\npassword = "{secret}"\n',
        f'[arxiv]\napi_key = "{secret}"\n',
    ):
        message = bad(tmp_path, text)
        assert "Unknown setting" in message and secret not in message
    # No dataclass field anywhere holds a secret: only the *names* of the
    # environment variables that do (``bot_token_env``).
    for section in SECTIONS:
        section_cls = type(getattr(Config(), section))
        assert is_dataclass(section_cls)
        for f in fields(section_cls):
            if f.name.endswith("_env") or f.name in ("max_output_tokens", "daily_token_budget"):
                continue
            assert not any(w in f.name for w in ("token", "secret", "password", "key")), f.name


# -- where the config comes from -----------------------------------------------


def test_env_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[radar]\ndigest_cap = 4\n")
    monkeypatch.setenv(ENV, str(path))
    config = load()
    assert config.radar.digest_cap == 4
    assert config.source_file == str(path)


def test_empty_env_means_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "")
    assert load() == Config()


def test_explicit_path_wins_over_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from_env = write(tmp_path, "[radar]\ndigest_cap = 4\n", "env.toml")
    explicit = write(tmp_path, "[radar]\ndigest_cap = 3\n", "explicit.toml")
    monkeypatch.setenv(ENV, str(from_env))
    config = load(explicit)
    assert config.radar.digest_cap == 3
    assert config.source_file == str(explicit)
    # Even a broken file in the environment is not read when a path is given.
    from_env.write_text("[nonsense\n", "utf-8")
    assert load(explicit).radar.digest_cap == 3


def test_home_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write(tmp_path, "[radar]\nshuffle_size = 7\n", "radar.toml")
    assert load("~/radar.toml").radar.shuffle_size == 7


def test_with_db_overrides_only_the_url(tmp_path: Path) -> None:
    config = load(write(tmp_path, '[database]\nurl = "sqlite:///a.db"\nauto_upgrade = false\n'))
    moved = config.with_db("postgresql+psycopg://radar@localhost/radar")
    assert moved.database.url == "postgresql+psycopg://radar@localhost/radar"
    assert moved.database.auto_upgrade is False
    assert moved.radar == config.radar and moved.source_file == config.source_file
    assert config.database.url == "sqlite:///a.db"  # the original is unchanged
    assert config.with_db(None) == config
    assert config.with_db("") == config


# -- unusable files ------------------------------------------------------------


def test_missing_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="not found") as info:
        load(missing)
    assert str(missing) in str(info.value)
    monkeypatch.setenv(ENV, str(missing))
    with pytest.raises(ConfigError, match="not found"):
        load()


def test_invalid_toml_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[radar\ndigest_cap = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load(path)
    assert str(path) in str(info.value)
    assert "line 1" in str(info.value)  # where to look


def test_duplicate_key_is_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(write(tmp_path, "[radar]\ndigest_cap = 3\ndigest_cap = 4\n"))


def test_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=str(tmp_path)):
        load(tmp_path)


def test_a_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[radar]\ndefault_timezone = "Europe/Zürich"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=str(path)):
        load(path)
