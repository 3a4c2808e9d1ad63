"""OpenAlexSource against a local replay server: real HTTP, real captures, no sleeping.

Every request goes through ``requests`` and a socket to ``ReplayServer``
serving OpenAlex responses captured from the live API
(``tests/fixtures/openalex``, origins in its README). Lists are re-sliced into
cursor pages by ``CursorPager``. Only the waiting is faked: retry backoff goes
to a recording ``sleep`` and the throttle interval is 0.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config
from bot.errors import NotFoundError, UpstreamError
from bot.run import OneLineFormatter, secret_values
from bot.settings import OpenAlexSettings
from bot.sources.openalex import (
    OpenAlexSource,
    abstract_from_inverted_index,
    clean_markup,
    paper_from_work,
    search_text,
)
from bot.sources.replay import ReplayServer, Reply, Request
from tests.test_retry import FakeTime

FIXTURES = Path(__file__).parent / "fixtures" / "openalex"
AUTHORS_MEARMAN = FIXTURES / "openalex_authors_search-mearman_8results.json"
AUTHOR_JOSEPH = FIXTURES / "openalex_author_A5017898742_Joseph-Mearman.json"
WORKS_JOSEPH = FIXTURES / "openalex_works_filter-author.id-A5017898742_9results.json"
WORKS_CHEMCROW = FIXTURES / "openalex_works_title.search-chemcrow_preprint+journal_2results.json"
WORK_OA = FIXTURES / "openalex_work_W2741809807.json"
WORKS_PAGE1 = FIXTURES / "openalex_works_page1_per50.json"

JSON = "application/json"
KEY_ENV = "PAPER_RADAR_TEST_OPENALEX_KEY"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def work(path: Path, work_id: str) -> dict[str, Any]:
    for item in load(path)["results"]:
        if item["id"].endswith("/" + work_id):
            return dict(item)
    raise KeyError(work_id)


class CursorPager:
    """Serve a captured OpenAlex list response in cursor pages, as the API would.

    ``cursor=*`` starts at the first result; each page's ``meta.next_cursor``
    names the next offset (``offset-50``), and is null once a page comes back
    empty, which is how OpenAlex ends a cursor walk. ``meta.count`` becomes
    the number of results in the capture (a capture of page 1 of 271 million
    must not promise more). The result objects are served as captured.
    """

    def __init__(self, capture: Path) -> None:
        data = load(capture)
        self.meta: dict[str, Any] = data["meta"]
        self.results: list[Any] = data["results"]

    def __call__(self, request: Request) -> Reply:
        per_page = int(request.params.get("per_page") or 25)
        cursor = request.params.get("cursor", "*")
        if cursor == "*":
            offset = 0
        elif cursor.startswith("offset-") and cursor[7:].isdigit():
            offset = int(cursor[7:])
        else:
            return Reply(400, b'{"error": "bad cursor"}', content_type=JSON)
        chunk = self.results[offset : offset + per_page]
        meta = {
            **self.meta,
            "count": len(self.results),
            "per_page": per_page,
            "next_cursor": f"offset-{offset + per_page}" if chunk else None,
        }
        body = json.dumps({"meta": meta, "results": chunk}).encode()
        return Reply(200, body, content_type=JSON)


@pytest.fixture(autouse=True)
def _no_proxy_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy configured in the environment must never see test traffic.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as srv:
        yield srv


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_source(server: ReplayServer, sleeps: list[float], **overrides: Any) -> OpenAlexSource:
    fields: dict[str, Any] = {
        "api_url": server.url,
        "api_key_env": KEY_ENV,
        "delay_seconds": 0.0,
        "timeout_seconds": 2.0,
        "backoff_seconds": 1.0,
        **overrides,
    }
    return OpenAlexSource(OpenAlexSettings(**fields), sleep=sleeps.append)


# -- author search -------------------------------------------------------------------


def test_search_authors_parses_real_candidates(server: ReplayServer, sleeps: list[float]) -> None:
    server.add("/authors", Reply(200, AUTHORS_MEARMAN, content_type=JSON))
    source = make_source(server, sleeps)

    candidates = source.search_authors("J. Mearman")

    # Initials are checked locally; OpenAlex is asked for the surname only.
    params = server.params[0]
    assert server.received[0].path == "/authors"
    assert params["search"] == "Mearman"
    assert params["per_page"] == "25"
    assert "display_name_alternatives" in params["select"].split(",")
    assert "filter" not in params and "cursor" not in params
    assert [c.display_name for c in candidates][:2] == ["Andrew Mearman", "Joseph Mearman"]
    assert len(candidates) == 8
    andrew, joseph = candidates[0], candidates[1]
    assert andrew.id == "A5019952124"
    assert andrew.orcid == "0000-0003-0601-8060"
    assert andrew.works_count == 106
    assert andrew.institutions == ("University of Leeds",)
    assert andrew.topics[0] == "Economic Theory and Institutions"
    assert andrew.last_active == 2025
    assert joseph.id == "A5017898742"
    assert joseph.orcid is None
    assert joseph.institutions == ("Bangor University",)
    assert joseph.alternatives == ("Joseph W. Mearman", "J. W. Mearman")
    assert joseph.last_active == 2021  # no works counted since; latest affiliation year
    assert sleeps == []


def test_search_authors_full_name_is_sent_given_name_first(
    server: ReplayServer, sleeps: list[float]
) -> None:
    server.add("/authors", Reply(200, AUTHORS_MEARMAN, content_type=JSON))
    make_source(server, sleeps).search_authors("Mearman, Joseph")
    assert server.params[0]["search"] == "Joseph Mearman"


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("Mearman,type:book|x", "type book x Mearman"),  # "Surname, Given" reordered
        ('Yehui Tang" OR display_name:*', "Yehui Tang or display name"),
        ("Tang AND NOT Yehui", "Tang and not Yehui"),
        ("!Joseph (Mearman)", "Joseph Mearman"),
        ("Joseph Mearman&filter=x", "Joseph Mearman filter x"),
    ],
)
def test_hostile_names_reach_openalex_as_plain_words(
    server: ReplayServer, sleeps: list[float], typed: str, sent: str
) -> None:
    server.add("/authors", Reply(200, AUTHORS_MEARMAN, content_type=JSON))
    make_source(server, sleeps).search_authors(typed)
    [request] = server.received
    # Exactly the three parameters we set: nothing smuggled in through "&" or "=".
    assert set(request.params) == {"search", "per_page", "select"}
    assert request.params["search"] == sent


def test_author_by_id(server: ReplayServer, sleeps: list[float]) -> None:
    server.add("/authors/A5017898742", Reply(200, AUTHOR_JOSEPH, content_type=JSON))
    joseph = make_source(server, sleeps).author("https://openalex.org/A5017898742")
    assert server.received[0].path == "/authors/A5017898742"
    assert joseph.display_name == "Joseph Mearman"
    assert joseph.institutions == ("Bangor University",)
    assert joseph.works_count == 9


# -- works, paging ---------------------------------------------------------------------


def test_works_by_author_pages_with_cursor(server: ReplayServer, sleeps: list[float]) -> None:
    server.add("/works", CursorPager(WORKS_JOSEPH))
    source = make_source(server, sleeps, per_page=4)

    papers = source.works_by_author("A5017898742", date(2014, 1, 1))

    cursors = [p["cursor"] for p in server.params]
    assert cursors == ["*", "offset-4", "offset-8"]  # 4 + 4 + 1; no empty fourth page
    first = server.params[0]
    assert first["filter"] == (
        "from_publication_date:2014-01-01,authorships.author.id:A5017898742,is_paratext:false"
    )
    assert first["sort"] == "publication_date:desc"
    assert first["per_page"] == "4"
    assert "abstract_inverted_index" in first["select"].split(",")
    assert len(papers) == 9
    keys = {p.key for p in papers}
    assert "arxiv:2108.04680" in keys and "openalex:W3187234764" in keys
    assert all(p.source == "openalex" for p in papers)
    assert all("Joseph Mearman" in p.authors for p in papers)


def test_listing_stops_at_max_results(server: ReplayServer, sleeps: list[float]) -> None:
    server.add("/works", CursorPager(WORKS_PAGE1))
    papers = make_source(server, sleeps, per_page=10, max_results=15).works_since(date(1900, 1, 1))
    assert [p["per_page"] for p in server.params] == ["10", "10"]
    first_15 = load(WORKS_PAGE1)["results"][:15]
    expected = [p.key for w in first_15 if (p := paper_from_work(w)) is not None]
    assert [p.key for p in papers] == expected


def test_listing_ends_when_cursor_is_null(server: ReplayServer, sleeps: list[float]) -> None:
    body = load(WORKS_CHEMCROW)
    body["meta"]["next_cursor"] = None
    server.add("/works", Reply(200, json.dumps(body).encode(), content_type=JSON))
    papers = make_source(server, sleeps).works_since(date(2023, 1, 1))
    assert len(server.requests) == 1
    assert {p.key for p in papers} == {"openalex:W4396723768", "arxiv:2304.05376"}


def test_works_since_filters_are_built_safely(server: ReplayServer, sleeps: list[float]) -> None:
    server.add("/works", CursorPager(WORKS_CHEMCROW))
    make_source(server, sleeps).works_since(
        date(2024, 1, 1),
        until=date(2024, 12, 31),
        source_ids=["https://openalex.org/S2912241403"],
        types=["preprint", "article"],
        text='agents,type:book|!x OR "chemistry" (tools)',
    )
    assert server.params[0]["filter"] == (
        "from_publication_date:2024-01-01,to_publication_date:2024-12-31,"
        "primary_location.source.id:S2912241403,type:article|preprint,"
        "title_and_abstract.search:agents type book x or chemistry tools,"
        "is_paratext:false"
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.works_by_author("A1,type:book", date(2024, 1, 1)),
        lambda s: s.works_by_author("A1|A2", date(2024, 1, 1)),
        lambda s: s.works_since(date(2024, 1, 1), source_ids=["S1:x"]),
        lambda s: s.works_since(date(2024, 1, 1), types=["article,is_oa:true"]),
        lambda s: s.works_since(date(2024, 1, 1), text=",|:!"),
        lambda s: s.works_since(date(2024, 1, 2), until=date(2024, 1, 1)),
        lambda s: s.work("W1,doi:x"),
        lambda s: s.work("arxiv:not an id"),
    ],
)
def test_invalid_values_are_refused_before_any_request(
    server: ReplayServer, sleeps: list[float], call: Any
) -> None:
    with pytest.raises(ValueError):
        call(make_source(server, sleeps))
    assert server.requests == []


def test_works_since_takes_dates_not_datetimes(server: ReplayServer, sleeps: list[float]) -> None:
    with pytest.raises(TypeError):
        make_source(server, sleeps).works_since(datetime(2024, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("asked", "path"),
    [
        ("W2741809807", "/works/W2741809807"),
        ("https://openalex.org/W2741809807", "/works/W2741809807"),
        ("https://doi.org/10.7717/PEERJ.4375", "/works/doi:10.7717/peerj.4375"),
        ("doi:10.7717/peerj.4375", "/works/doi:10.7717/peerj.4375"),
        ("arxiv:2304.05376", "/works/doi:10.48550/arxiv.2304.05376"),
    ],
)
def test_single_work_by_id_doi_or_arxiv_id(
    server: ReplayServer, sleeps: list[float], asked: str, path: str
) -> None:
    server.add("/works/", Reply(200, WORK_OA, content_type=JSON))
    paper = make_source(server, sleeps).work(asked)
    assert server.received[0].path == path
    assert "cursor" not in server.params[0]
    assert paper.key == "openalex:W2741809807"
    assert paper.doi == "10.7717/peerj.4375"


def test_unknown_work_is_not_found(server: ReplayServer, sleeps: list[float]) -> None:
    server.add("/works/", Reply(404, b'{"error": "not found"}', content_type=JSON))
    with pytest.raises(NotFoundError, match="OpenAlex has no work W1"):
        make_source(server, sleeps).work("W1")
    assert len(server.requests) == 1 and sleeps == []


# -- failures ----------------------------------------------------------------------------


def test_503_then_success_is_retried_with_backoff(
    server: ReplayServer, sleeps: list[float]
) -> None:
    server.add(
        "/works",
        [Reply(503), Reply(503), Reply(200, WORKS_CHEMCROW, content_type=JSON)],
    )
    papers = make_source(server, sleeps).works_since(date(2023, 1, 1))
    assert len(papers) == 2
    assert sleeps == [1.0, 2.0]
    assert len(server.requests) == 3


def test_429_honours_retry_after(server: ReplayServer, sleeps: list[float]) -> None:
    server.add(
        "/authors",
        [Reply(429, headers={"Retry-After": "7"}), Reply(200, AUTHORS_MEARMAN, content_type=JSON)],
    )
    assert len(make_source(server, sleeps).search_authors("Mearman")) == 8
    assert sleeps == [7.0]


def test_429_with_a_day_long_wait_gives_up_at_once(
    server: ReplayServer, sleeps: list[float]
) -> None:
    server.add("/authors", Reply(429, headers={"Retry-After": "40000"}))
    with pytest.raises(UpstreamError, match="asked us to wait 40000 s"):
        make_source(server, sleeps).search_authors("Mearman")
    assert len(server.requests) == 1 and sleeps == []


def test_400_is_final_and_the_body_is_not_shown(server: ReplayServer, sleeps: list[float]) -> None:
    body = b'{"error": "Invalid query parameters error.", "message": "secret internals"}'
    server.add("/works", Reply(400, body, content_type=JSON))
    with pytest.raises(UpstreamError) as info:
        make_source(server, sleeps).works_since(date(2024, 1, 1))
    assert "HTTP 400" in str(info.value)
    assert "secret internals" not in str(info.value)
    assert len(server.requests) == 1 and sleeps == []


def test_401_names_the_key_variable(server: ReplayServer, sleeps: list[float]) -> None:
    server.add("/works", Reply(401, b"{}", content_type=JSON))
    with pytest.raises(UpstreamError, match=KEY_ENV):
        make_source(server, sleeps).works_since(date(2024, 1, 1))


def test_persistent_5xx_gives_one_user_facing_error(
    server: ReplayServer, sleeps: list[float]
) -> None:
    server.add("/works", Reply(502, b"<html>bad gateway</html>", content_type="text/html"))
    with pytest.raises(UpstreamError, match=r"did not answer after 4 tries \(HTTP 502\)"):
        make_source(server, sleeps).works_since(date(2024, 1, 1))
    assert len(server.requests) == 4
    assert sleeps == [1.0, 2.0, 4.0]


def test_interactive_view_answers_within_its_deadline(server: ReplayServer) -> None:
    """`/radar author` asks through the interactive view: a few seconds, not a minute."""
    server.add("/authors", Reply(500, b"{}", content_type=JSON))
    clock = FakeTime()
    settings = OpenAlexSettings(
        api_url=server.url,
        api_key_env=KEY_ENV,
        delay_seconds=0.0,
        interactive_deadline_seconds=4.0,
        interactive_backoff_seconds=1.0,
    )
    source = OpenAlexSource(settings, sleep=clock.sleep, monotonic=clock.monotonic)
    with pytest.raises(UpstreamError) as caught:
        source.interactive().search_authors("Joseph Mearman")
    assert str(caught.value) == (
        "OpenAlex did not answer within 4 s (HTTP 500). Nothing was changed; try again later."
    )
    assert clock.sleeps == [1.0, 2.0] and len(server.requests) == 3
    # The harvest's source keeps every retry and its own backoff.
    clock.sleeps.clear()
    with pytest.raises(UpstreamError, match="after 4 tries"):
        source.search_authors("Joseph Mearman")
    assert clock.sleeps == [2.0, 4.0, 8.0] and len(server.requests) == 3 + 4


def test_interactive_view_shares_the_session_and_throttle(server: ReplayServer) -> None:
    server.add("/authors", Reply(200, AUTHORS_MEARMAN, content_type=JSON))
    source = make_source(server, [])
    view = source.interactive()
    assert view.throttle is source.throttle and view._session is source._session
    assert view.policy.deadline_seconds == source.settings.interactive_deadline_seconds
    assert source.policy.deadline_seconds is None
    assert len(view.search_authors("J. Mearman")) == 8


def test_malformed_json_is_retried(server: ReplayServer, sleeps: list[float]) -> None:
    server.add(
        "/works",
        [
            Reply(200, b'{"meta": {"count": 2}, "results": [', content_type=JSON),
            Reply(200, WORKS_CHEMCROW, content_type=JSON),
        ],
    )
    assert len(make_source(server, sleeps).works_since(date(2023, 1, 1))) == 2
    assert sleeps == [1.0]


def test_timeouts_are_retried(server: ReplayServer, sleeps: list[float]) -> None:
    server.add(
        "/works",
        [
            Reply(200, WORKS_CHEMCROW, content_type=JSON, delay=1.0),
            Reply(200, WORKS_CHEMCROW, content_type=JSON),
        ],
    )
    source = make_source(server, sleeps, timeout_seconds=0.2)
    assert len(source.works_since(date(2023, 1, 1))) == 2
    assert sleeps == [1.0]


def test_a_failing_later_page_returns_nothing(server: ReplayServer, sleeps: list[float]) -> None:
    pager = CursorPager(WORKS_JOSEPH)
    server.add("/works", Reply(500), when=lambda p: p.get("cursor") == "offset-4")
    server.add("/works", pager)
    with pytest.raises(UpstreamError):
        make_source(server, sleeps, per_page=4).works_by_author("A5017898742", date(2014, 1, 1))
    assert [p["cursor"] for p in server.params] == ["*"] + ["offset-4"] * 4


# -- politeness and secrets ------------------------------------------------------------------


def test_mailto_and_api_key_are_sent_and_the_key_never_logged(
    server: ReplayServer,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "sekrit-key-0123456789"
    monkeypatch.setenv(KEY_ENV, secret)
    server.add("/authors", Reply(200, AUTHORS_MEARMAN, content_type=JSON))
    server.add("/works", [Reply(503), Reply(400, b'{"error": "x"}', content_type=JSON)])
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")  # whatever an earlier test set
    source = make_source(server, sleeps, mailto="radar@example.org")

    source.search_authors("Mearman")
    with pytest.raises(UpstreamError) as info:
        source.works_since(date(2024, 1, 1))

    first = server.received[0]
    assert first.params["api_key"] == secret
    assert first.params["mailto"] == "radar@example.org"
    assert "mailto:radar@example.org" in first.headers["user-agent"]
    assert all(r.params.get("api_key") == secret for r in server.received)
    # The bot's own lines never hold the key; urllib3 writes every request
    # line (query included) at DEBUG, and the application's log format masks
    # the key there, without any filter installed on a library's logger.
    ours = [r for r in caplog.records if r.name.startswith("bot.")]
    assert ours and all(secret not in r.getMessage() for r in ours)
    assert any(secret in r.getMessage() for r in caplog.records)  # urllib3's line, raw
    config = Config(openalex=OpenAlexSettings(api_key_env=KEY_ENV))
    formatter = OneLineFormatter(secret_values(config, {KEY_ENV: secret}))
    assert all(secret not in formatter.format(r) for r in caplog.records)
    assert secret not in str(info.value)
    assert secret not in repr(source) and secret not in repr(source.settings)


def test_without_key_or_mailto_neither_is_sent(server: ReplayServer, sleeps: list[float]) -> None:
    server.add("/authors", Reply(200, AUTHORS_MEARMAN, content_type=JSON))
    make_source(server, sleeps).search_authors("Mearman")
    assert "api_key" not in server.params[0] and "mailto" not in server.params[0]


def test_one_throttle_per_host_at_the_configured_rate(
    server: ReplayServer, sleeps: list[float]
) -> None:
    a = make_source(server, sleeps, delay_seconds=0.1)
    b = make_source(server, sleeps, delay_seconds=0.0)
    assert a.throttle is b.throttle
    assert a.throttle.min_interval == pytest.approx(0.1)


def test_per_page_is_bounded() -> None:
    with pytest.raises(ValueError):
        OpenAlexSource(OpenAlexSettings(per_page=500))


# -- conversion ------------------------------------------------------------------------------


def test_abstract_is_rebuilt_exactly() -> None:
    oa = paper_from_work(load(WORK_OA))
    assert oa is not None
    # Hand-checked against the published abstract of PeerJ 6:e4375.
    assert oa.abstract.startswith(
        "Despite growing interest in Open Access (OA) to scholarly literature, there is an "
        "unmet need for large-scale, up-to-date, and reproducible studies assessing the "
        "prevalence and characteristics of OA. We address this need using oaDOI, an open "
        "online service that determines OA status for 67 million articles."
    )
    assert oa.abstract.endswith(
        "We encourage further research using the free oaDOI service, as a way to inform OA "
        "policy and practice."
    )
    assert len(oa.abstract.split()) == 258

    journal = paper_from_work(work(WORKS_CHEMCROW, "W4396723768"))
    assert journal is not None
    # The JATS "Abstract" heading word is dropped.
    assert journal.abstract.startswith(
        "Large language models (LLMs) have shown strong performance in tasks across domains "
        "but struggle with chemistry-related problems. These models also lack access to "
        "external knowledge sources"
    )


def test_inverted_index_edge_cases() -> None:
    assert abstract_from_inverted_index(None) == ""
    assert abstract_from_inverted_index({}) == ""
    assert abstract_from_inverted_index({"b": [1], "a": [0], "c": [3]}) == "a b c"  # gap at 2
    assert abstract_from_inverted_index({"x": [0], "y": "nope", "z": [-1, 1]}) == "x z"  # type: ignore[dict-item]
    assert (
        abstract_from_inverted_index({"the": [0, 2], "cat": [1], "end.": [3]}) == "the cat the end."
    )


def test_markup_is_cleaned() -> None:
    assert clean_markup("Fitting Linear Mixed-Effects Models Using<b>lme4</b>") == (
        "Fitting Linear Mixed-Effects Models Using lme4"
    )
    assert clean_markup("schemes for<i>ab initio</i>total-energy") == (
        "schemes for ab initio total-energy"
    )
    assert clean_markup("H<sub>2</sub>O and x<sup>2</sup>") == "H2O and x2"
    assert clean_markup("<jats:p>One.</jats:p><jats:p>Two.</jats:p>") == "One. Two."
    assert clean_markup("a &lt;2‐fold rise, 1 < 2 > 0") == "a <2‐fold rise, 1 < 2 > 0"
    real = work(WORKS_PAGE1, "W1995875735")
    assert "xmlns" not in abstract_from_inverted_index(real["abstract_inverted_index"])


def test_journal_article_conversion() -> None:
    paper = paper_from_work(work(WORKS_CHEMCROW, "W4396723768"))
    assert paper is not None
    assert paper.key == "openalex:W4396723768"
    assert paper.source == "openalex"
    assert paper.title == "Augmenting large language models with chemistry tools"
    assert paper.authors == (
        "Andres M. Bran",
        "Sam Cox",
        "Oliver Schilter",
        "Carlo Baldassari",
        "Andrew Dickson White",
        "Philippe Schwaller",
    )
    assert paper.venue == "Nature Machine Intelligence"
    assert paper.journal_ref == "Nature Machine Intelligence 6(5), 525–535 (2024)"
    assert paper.doi == "10.1038/s42256-024-00832-8"
    assert paper.url == "https://doi.org/10.1038/s42256-024-00832-8"
    assert paper.pdf_url == "https://www.nature.com/articles/s42256-024-00832-8.pdf"
    assert paper.published == datetime(2024, 5, 8, tzinfo=UTC)
    assert paper.updated == datetime(2025, 9, 9, 19, 3, 40, 363384, tzinfo=UTC)
    assert paper.primary_category == "Materials Chemistry"
    assert paper.categories[:2] == ("Materials Chemistry", "Artificial Intelligence")
    assert paper.extra["openalex"] == "W4396723768"
    assert "Topic Modeling" in paper.extra["topics"]


def test_arxiv_preprint_gets_the_arxiv_key() -> None:
    paper = paper_from_work(work(WORKS_CHEMCROW, "W4365597205"))
    assert paper is not None
    assert paper.key == "arxiv:2304.05376"
    assert paper.source == "openalex"
    assert paper.venue == "arXiv (Materials Chemistry)"
    assert paper.journal_ref is None
    assert paper.url == "https://arxiv.org/abs/2304.05376"
    assert paper.pdf_url == "https://arxiv.org/pdf/2304.05376"
    assert paper.doi == "10.48550/arxiv.2304.05376"
    # OpenAlex says 2023-01-01 (year only); the record was created 2023-04-15.
    assert paper.published == datetime(2023, 4, 15, tzinfo=UTC)
    assert paper.extra["openalex"] == "W4365597205"


def test_journal_record_with_an_arxiv_copy() -> None:
    lme4 = paper_from_work(work(WORKS_PAGE1, "W1951724000"))
    assert lme4 is not None
    assert lme4.key == "arxiv:1406.5823"
    assert lme4.title == "Fitting Linear Mixed-Effects Models Using lme4"
    assert lme4.venue == "Journal of Statistical Software"
    assert lme4.url == "https://doi.org/10.18637/jss.v067.i01"
    assert lme4.links == ("https://arxiv.org/abs/1406.5823",)

    resnet = paper_from_work(work(WORKS_PAGE1, "W2194775991"))
    assert resnet is not None
    assert resnet.key == "arxiv:1512.03385"
    assert resnet.venue is None  # a CVPR paper with an arXiv copy is not "on arXiv"
    assert resnet.url == "https://doi.org/10.1109/cvpr.2016.90"

    deseq2 = paper_from_work(work(WORKS_PAGE1, "W2179438025"))
    assert deseq2 is not None
    assert deseq2.venue == "Genome biology"
    assert "https://doi.org/10.1101/002832" in deseq2.links  # its bioRxiv preprint


def test_biorxiv_preprint_is_named_with_its_subfield() -> None:
    # Derived from the real DESeq2 record: its own bioRxiv location made primary
    # and the type set to preprint, as OpenAlex holds bioRxiv preprints.
    record = copy.deepcopy(work(WORKS_PAGE1, "W2179438025"))
    biorxiv = next(
        loc
        for loc in record["locations"]
        if "bioRxiv" in (loc.get("source") or {}).get("display_name", "")
    )
    record.update(
        type="preprint",
        doi="https://doi.org/10.1101/002832",
        primary_location=biorxiv,
        locations=[biorxiv],
    )
    paper = paper_from_work(record)
    assert paper is not None
    assert paper.venue == "bioRxiv (Molecular Biology)"
    assert paper.journal_ref is None
    assert paper.doi == "10.1101/002832"
    assert paper.key.startswith("openalex:W")


def test_untitled_works_are_skipped_and_dates_are_utc() -> None:
    papers = [paper_from_work(w) for w in load(WORKS_PAGE1)["results"]]
    assert sum(p is None for p in papers) == 1  # W2911964244 has a null title
    for p in papers:
        if p is not None:
            assert p.published.tzinfo is UTC and p.updated >= p.published
            assert p.title == " ".join(p.title.split())
            assert "<" not in p.title


def test_search_text() -> None:
    assert search_text("Jörg Frochte") == "Jörg Frochte"
    assert search_text("a,b|c:d!e") == "a b c d e"
    assert search_text("x OR y AND NOT z") == "x or y and not z"
    assert search_text("O'Brien") == "O'Brien"
    with pytest.raises(ValueError):
        search_text(",|:!")
