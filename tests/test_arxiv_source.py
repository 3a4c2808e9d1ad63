"""ArxivSource against a local replay server: real HTTP, real captures, no sleeping.

Every test drives the real stack (``ArxivSource`` -> ``arxiv.Client`` paging ->
``requests`` -> a socket) against ``ReplayServer`` serving captured arXiv
responses from ``tests/fixtures/arxiv``. Only the waiting is faked: retry
backoff goes to a recording ``sleep``, and the throttle interval is 0 except
in the throttle tests, which use a fake clock.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import UpstreamError
from bot.sources.arxiv import (
    ArxivSettings,
    ArxivSource,
    harvest_query,
    quote_term,
    split_version,
)
from bot.sources.http import Throttle, throttle_for
from bot.sources.replay import AtomPager, ReplayServer, Reply, Request

FIXTURES = Path(__file__).parent / "fixtures" / "arxiv"
CS_LG = FIXTURES / "arxiv_api_query_cat-cs.LG-OR-cs.AI_max20.xml"
TESTING_100 = FIXTURES / "arxiv_api_query_all-testing_max100.xml"
EMPTY = FIXTURES / "arxiv_api_empty_result.xml"
ERROR_400 = FIXTURES / "arxiv_api_error_http400_incorrect_id.xml"
OLD_ID = FIXTURES / "arxiv_api_idlist_astro-ph_0601001.xml"
ID_LIST = FIXTURES / "arxiv_api_idlist_0808.05394_1707.08567.xml"

API = "/api/query"
DAY = datetime(2026, 4, 29, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy configured in the environment must never see test traffic.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as srv:
        yield srv


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_source(server: ReplayServer, sleeps: list[float], **overrides: float | int) -> ArxivSource:
    fields: dict[str, float | int] = {
        "delay_seconds": 0.0,  # real throttle, zero interval: nothing waits
        "timeout_seconds": 2.0,
        **overrides,
    }
    settings = ArxivSettings(api_url=server.url + API, **fields)  # type: ignore[arg-type]
    return ArxivSource(settings, sleep=sleeps.append)


def at_start(value: str) -> Callable[[Mapping[str, str]], bool]:
    return lambda params: params.get("start") == value


# -- conversion ------------------------------------------------------------------


def test_converts_cs_lg_capture(server: ReplayServer, sleeps: list[float]) -> None:
    server.add(API, AtomPager(CS_LG))
    papers = make_source(server, sleeps).backfill_category("cs.LG")

    assert len(papers) == 20
    assert len({p.key for p in papers}) == 20
    assert all(p.key.startswith("arxiv:") and "v" not in p.source_id for p in papers)
    first = papers[0]
    assert first.key == "arxiv:2604.26951"
    assert first.source == "arxiv"
    assert first.version == 1
    assert first.title == (
        "Turning the TIDE: Cross-Architecture Distillation for Diffusion Large Language Models"
    )
    assert first.abstract.startswith("Diffusion large language models (dLLMs) offer")
    assert first.authors == ("Gongbo Zhang", "Wen Wang", "Ye Tian", "Li Yuan")
    assert first.categories == ("cs.CL", "cs.AI", "cs.LG")
    assert first.primary_category == "cs.CL"
    assert first.published == datetime(2026, 4, 29, 17, 59, 1, tzinfo=UTC)
    assert first.published.utcoffset() == timedelta(0)
    assert first.url == "https://arxiv.org/abs/2604.26951"
    assert first.pdf_url == "https://arxiv.org/pdf/2604.26951v1"
    assert first.comment == "15 pages, 3 figures. Code: https://github.com/PKU-YuanGroup/TIDE"

    by_key = {p.key: p for p in papers}
    frochte = by_key["arxiv:2604.26888"]
    assert "Jörg Frochte" in frochte.authors
    assert frochte.doi == "10.1007/978-3-031-85252-7_10"
    assert frochte.journal_ref is not None and frochte.journal_ref.startswith("In: Bäck, T.")
    assert by_key["arxiv:2604.26851"].doi == "10.1145/3805689.3806498"
    assert "Adrienn Éva Borsy" in by_key["arxiv:2604.26869"].authors
    assert sum(p.doi is not None for p in papers) == 2
    assert sum(p.journal_ref is not None for p in papers) == 1
    assert sum(p.comment is not None for p in papers) == 12
    # Titles and abstracts are whitespace-folded.
    assert all("  " not in p.title and "\n" not in p.abstract for p in papers)


def test_later_versions_keep_a_versionless_key(server: ReplayServer, sleeps: list[float]) -> None:
    server.add(API, AtomPager(TESTING_100))
    papers = make_source(server, sleeps, page_size=100).harvest(DAY, DAY + timedelta(days=1))
    by_key = {p.key: p for p in papers}
    assert by_key["arxiv:2005.14124"].version == 2
    assert by_key["arxiv:2204.08348"].version == 3
    assert by_key["arxiv:2204.08348"].url == "https://arxiv.org/abs/2204.08348"


def test_split_version() -> None:
    assert split_version("2604.26951v2") == ("2604.26951", 2)
    assert split_version("astro-ph/0601001v1") == ("astro-ph/0601001", 1)
    assert split_version("2604.26951") == ("2604.26951", 1)


def test_old_style_id(server: ReplayServer, sleeps: list[float]) -> None:
    server.add(API, Reply(200, OLD_ID))
    (paper,) = make_source(server, sleeps).fetch_ids(["astro-ph/0601001v1"])
    assert server.params[0]["id_list"] == "astro-ph/0601001v1"
    assert paper.key == "arxiv:astro-ph/0601001"
    assert paper.source_id == "astro-ph/0601001"
    assert paper.version == 1
    assert paper.url == "https://arxiv.org/abs/astro-ph/0601001"
    assert paper.categories == ("astro-ph",)
    assert paper.primary_category == "astro-ph"
    assert paper.journal_ref == "ActaAstron.56:1-50,2006"
    assert paper.authors[0] == "Andrew Gould"
    assert paper.abstract.startswith("We derive the frequencies")  # leading spaces folded


def test_fetch_ids(server: ReplayServer, sleeps: list[float]) -> None:
    server.add(API, Reply(200, ID_LIST))
    source = make_source(server, sleeps)
    papers = source.fetch_ids(["0808.05394", "arxiv:1707.08567", "1707.08567"])
    assert server.params[0]["id_list"] == "0808.05394,1707.08567"
    assert [p.key for p in papers] == ["arxiv:1707.08567"]
    assert source.fetch_ids([]) == []
    with pytest.raises(ValueError):
        source.fetch_ids(["abc"])
    with pytest.raises(ValueError):
        source.fetch_ids(["1707.08567 OR cat:*"])
    assert len(server.requests) == 1


# -- paging ----------------------------------------------------------------------


def test_paging_over_100_entry_capture(server: ReplayServer, sleeps: list[float]) -> None:
    server.add(API, AtomPager(TESTING_100))
    papers = make_source(server, sleeps, page_size=30).harvest(DAY, DAY + timedelta(days=1))
    assert len(papers) == 100
    assert [p["start"] for p in server.params] == ["0", "30", "60", "90"]
    assert {p["max_results"] for p in server.params} == {"30"}
    assert papers[0].key == "arxiv:2202.12139"
    assert sleeps == []


def test_harvest_stops_at_max_harvest(server: ReplayServer, sleeps: list[float]) -> None:
    server.add(API, AtomPager(TESTING_100))
    source = make_source(server, sleeps, page_size=30, max_harvest=50)
    papers = source.harvest(DAY, DAY + timedelta(days=1))
    assert len(papers) == 50
    assert len(server.requests) == 2


def test_empty_result(server: ReplayServer, sleeps: list[float]) -> None:
    server.add(API, Reply(200, EMPTY))
    assert make_source(server, sleeps).harvest(DAY, DAY + timedelta(days=1)) == []
    assert len(server.requests) == 1
    assert sleeps == []


def test_backfill_is_one_request_even_when_the_page_is_short(
    server: ReplayServer, sleeps: list[float]
) -> None:
    # The capture says 364,218 results exist but holds 20: still one request.
    server.add(API, Reply(200, CS_LG))
    papers = make_source(server, sleeps).backfill_author("Jörg Frochte")
    assert len(papers) == 20
    assert len(server.requests) == 1
    assert server.params[0]["max_results"] == "50"


# -- failures and retries --------------------------------------------------------


def test_http_400_is_final(server: ReplayServer, sleeps: list[float]) -> None:
    server.add(API, Reply(400, ERROR_400))
    with pytest.raises(UpstreamError) as caught:
        make_source(server, sleeps).fetch_ids(["0000.0001"])
    assert len(server.requests) == 1
    assert sleeps == []
    message = str(caught.value)
    assert "HTTP 400" in message
    assert "incorrect id" not in message and "<" not in message  # never the raw body


def test_error_entry_in_a_200_is_final(server: ReplayServer, sleeps: list[float]) -> None:
    server.add(API, Reply(200, ERROR_400))
    with pytest.raises(UpstreamError):
        make_source(server, sleeps).backfill_category("cs.CL")
    assert len(server.requests) == 1


def test_503_twice_then_success(server: ReplayServer, sleeps: list[float]) -> None:
    server.add(API, [Reply(503, b"busy"), Reply(503, b"busy"), Reply(200, CS_LG)])
    papers = make_source(server, sleeps).backfill_category("cs.LG")
    assert len(papers) == 20
    assert len(server.requests) == 3
    assert sleeps == [5.0, 10.0]  # exponential backoff from backoff_seconds


def test_503_forever_gives_a_short_message(server: ReplayServer, sleeps: list[float]) -> None:
    server.add(API, Reply(503, b"<html>Service Unavailable</html>"))
    with pytest.raises(UpstreamError) as caught:
        make_source(server, sleeps).backfill_category("cs.LG")
    assert str(caught.value) == (
        "arXiv did not answer after 4 tries (HTTP 503). Nothing was changed; try again later."
    )
    assert len(server.requests) == 4
    assert sleeps == [5.0, 10.0, 20.0]


def test_429_retry_after_is_honoured(server: ReplayServer, sleeps: list[float]) -> None:
    server.add(
        API,
        [
            Reply(429, b"slow down", headers={"Retry-After": "17"}),
            Reply(503, b"", headers={"Retry-After": "1"}),  # shorter than backoff: backoff wins
            Reply(200, CS_LG),
        ],
    )
    assert len(make_source(server, sleeps).backfill_category("cs.LG")) == 20
    assert sleeps == [17.0, 10.0]


def test_retry_after_beyond_reason_ends_the_attempt(
    server: ReplayServer, sleeps: list[float]
) -> None:
    server.add(API, Reply(429, b"", headers={"Retry-After": "3600"}))
    with pytest.raises(UpstreamError, match="asked us to wait"):
        make_source(server, sleeps).backfill_category("cs.LG")
    assert len(server.requests) == 1
    assert sleeps == []


def test_timeout_is_retried_then_reported(server: ReplayServer, sleeps: list[float]) -> None:
    server.add(API, Reply(200, CS_LG, delay=5.0))
    source = make_source(server, sleeps, max_retries=1, timeout_seconds=0.2)
    began = time.monotonic()
    with pytest.raises(UpstreamError, match=r"after 2 tries \(timed out\)"):
        source.backfill_category("cs.LG")
    assert time.monotonic() - began < 2.0
    assert len(server.requests) == 2
    assert sleeps == [5.0]


def test_connection_refused_is_retried(sleeps: list[float]) -> None:
    with ReplayServer() as srv:
        dead_url = srv.url + API
    source = ArxivSource(
        ArxivSettings(api_url=dead_url, delay_seconds=0.0, max_retries=2), sleep=sleeps.append
    )
    with pytest.raises(UpstreamError, match=r"after 3 tries \(connection failed\)"):
        source.backfill_category("cs.LG")
    assert sleeps == [5.0, 10.0]


def test_malformed_body_is_retried_then_reported(server: ReplayServer, sleeps: list[float]) -> None:
    server.add(API, Reply(200, b"<html><body>Oops, not a feed</body></html>"))
    with pytest.raises(UpstreamError, match=r"after 3 tries \(malformed response\)"):
        make_source(server, sleeps, max_retries=2).backfill_category("cs.LG")
    assert len(server.requests) == 3


def test_truncated_feed_is_retried(server: ReplayServer, sleeps: list[float]) -> None:
    # Synthetic: the real capture cut mid-way, as a dropped connection leaves it.
    data = CS_LG.read_bytes()
    server.add(API, [Reply(200, data[: len(data) // 2]), Reply(200, data)])
    assert len(make_source(server, sleeps).backfill_category("cs.LG")) == 20
    assert len(server.requests) == 2
    assert sleeps == [5.0]


def test_spuriously_empty_later_page_is_retried(server: ReplayServer, sleeps: list[float]) -> None:
    pager = AtomPager(TESTING_100)
    empty_page = AtomPager(EMPTY, total=100).page(30, 30)
    server.add(API, [Reply(200, empty_page), Reply(200, pager.page(30, 30))], when=at_start("30"))
    server.add(API, pager)
    papers = make_source(server, sleeps, page_size=30).harvest(DAY, DAY + timedelta(days=1))
    assert len(papers) == 100
    assert [p["start"] for p in server.params] == ["0", "30", "30", "60", "90"]


def test_harvest_with_a_failing_page_returns_nothing(
    server: ReplayServer, sleeps: list[float]
) -> None:
    pager = AtomPager(TESTING_100)
    server.add(API, Reply(503, b""), when=at_start("30"))
    server.add(API, pager)
    source = make_source(server, sleeps, page_size=30)
    collected: list[object] = []
    with pytest.raises(UpstreamError, match="after 4 tries"):
        collected.extend(source.harvest(DAY, DAY + timedelta(days=1)))
    assert collected == []  # page 1 arrived, yet nothing was handed out
    assert [p["start"] for p in server.params] == ["0", "30", "30", "30", "30"]

    # Nothing half-done lingers: once arXiv recovers, a new pass gets everything.
    server.rules.pop(0)
    assert len(source.harvest(DAY, DAY + timedelta(days=1))) == 100


# -- a person waiting: the interactive view ------------------------------------


def interactive_source(
    server_url: str, clock: FakeClock | None = None, **overrides: float
) -> ArxivSource:
    fields: dict[str, float] = {
        "delay_seconds": 0.0,
        "interactive_deadline_seconds": 5.0,
        "interactive_backoff_seconds": 1.0,
        **overrides,
    }
    settings = ArxivSettings(api_url=server_url + API, **fields)  # type: ignore[arg-type]
    if clock is None:
        return ArxivSource(settings, throttle=Throttle(0.0))
    return ArxivSource(
        settings, sleep=clock.sleep, monotonic=clock.monotonic, throttle=Throttle(0.0)
    )


def test_interactive_view_gives_up_within_its_deadline(server: ReplayServer) -> None:
    server.add(API, Reply(503, b"busy"))
    clock = FakeClock()
    source = interactive_source(server.url, clock)
    with pytest.raises(UpstreamError) as caught:
        source.interactive().backfill_category("cs.LG")
    assert str(caught.value) == (
        "arXiv did not answer within 5 s (HTTP 503). Nothing was changed; try again later."
    )
    assert clock.sleeps == [1.0, 2.0]  # the next wait (4 s) would end past 5 s
    assert len(server.requests) == 3
    # The source itself (the scheduled harvest's) is as patient as before.
    clock.sleeps.clear()
    with pytest.raises(UpstreamError, match="after 4 tries"):
        source.backfill_category("cs.LG")
    assert len(server.requests) == 3 + 4
    assert clock.sleeps == [5.0, 10.0, 20.0]


def test_interactive_harvest_pages_each_get_the_short_deadline(server: ReplayServer) -> None:
    pager = AtomPager(TESTING_100)
    server.add(API, Reply(503, b""), when=at_start("30"))
    server.add(API, pager)
    clock = FakeClock()
    source = interactive_source(server.url, clock, page_size=30)
    with pytest.raises(UpstreamError, match="within 5 s"):
        source.interactive().harvest(DAY, DAY + timedelta(days=1))
    assert [p["start"] for p in server.params] == ["0", "30", "30", "30"]
    assert clock.sleeps == [1.0, 2.0]


def test_interactive_request_to_a_silent_server_ends_at_the_deadline(
    server: ReplayServer,
) -> None:
    server.add(API, Reply(200, CS_LG, delay=30.0))  # accepts, then says nothing
    source = interactive_source(server.url, interactive_deadline_seconds=0.5)
    assert source.settings.timeout_seconds == 30.0
    began = time.monotonic()
    with pytest.raises(UpstreamError, match=r"within 0.5 s \(timed out\)"):
        source.interactive().backfill_category("cs.LG")
    assert time.monotonic() - began < 2.0
    assert len(server.requests) == 1


@contextmanager
def trickling_server(body: bytes, every: float) -> Iterator[str]:
    """A server that answers 200 at once, then sends its body one byte every ``every`` s."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            head = "HTTP/1.1 200 OK\r\nContent-Type: application/atom+xml\r\n"
            conn.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode())
            for byte in body:
                if stop.wait(every):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
        thread.join(5)


def test_interactive_read_of_a_trickling_body_ends_at_the_deadline() -> None:
    # Each byte comes well within any per-read timeout; only a total deadline ends it.
    with trickling_server(CS_LG.read_bytes(), every=0.05) as url:
        source = interactive_source(url, interactive_deadline_seconds=0.5, max_retries=0)
        began = time.monotonic()
        with pytest.raises(UpstreamError, match=r"timed out"):
            source.interactive().backfill_category("cs.LG")
        assert time.monotonic() - began < 2.0


# -- the throttle --------------------------------------------------------------


class FakeClock:
    """monotonic() and sleep() over one fake timeline; sleep records and advances."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.t += seconds


def test_throttle_sleeps_the_remainder_of_the_interval() -> None:
    clock = FakeClock()
    throttle = Throttle(3.0, sleep=clock.sleep, monotonic=clock.monotonic)
    with throttle.slot():
        clock.t += 0.5  # the request itself takes 0.5 s
    clock.t += 1.0  # the caller works for 1 s
    with throttle.slot():
        pass
    assert clock.sleeps == [2.0]  # 3 s after the END of the previous request
    clock.t += 10.0
    with throttle.slot():
        pass
    assert clock.sleeps == [2.0]  # long gap: no wait


def test_throttle_counts_failed_requests() -> None:
    clock = FakeClock()
    throttle = Throttle(3.0, sleep=clock.sleep, monotonic=clock.monotonic)
    with pytest.raises(RuntimeError), throttle.slot():
        raise RuntimeError("request blew up")
    with throttle.slot():
        pass
    assert clock.sleeps == [3.0]


def test_two_sources_share_one_throttle(server: ReplayServer) -> None:
    server.add(API, AtomPager(CS_LG))
    clock = FakeClock()
    throttle = Throttle(3.0, sleep=clock.sleep, monotonic=clock.monotonic)
    settings = ArxivSettings(api_url=server.url + API)
    a = ArxivSource(settings, sleep=clock.sleep, throttle=throttle)
    b = ArxivSource(settings, sleep=clock.sleep, throttle=throttle)
    a.backfill_category("cs.LG")
    b.backfill_author("Li Yuan")
    a.backfill_keyword([["distillation"]])
    b.backfill_category("cs.AI")
    assert len(server.requests) == 4
    assert clock.sleeps == [3.0, 3.0, 3.0]


def test_throttle_registry_is_per_host_and_strictest_wins() -> None:
    first = throttle_for("export.arxiv.example:1", 3.0)
    assert throttle_for("EXPORT.arxiv.example:1", 1.0) is first
    assert first.min_interval == 3.0
    assert throttle_for("export.arxiv.example:1", 4.0).min_interval == 4.0
    assert throttle_for("other.example:1", 3.0) is not first
    one = ArxivSource(ArxivSettings(api_url="http://registry.example:9/api/query"))
    two = ArxivSource(ArxivSettings(api_url="http://registry.example:9/api/query"))
    assert one.throttle is two.throttle


def test_one_connection_at_a_time_across_threads(server: ReplayServer) -> None:
    pager = AtomPager(CS_LG)
    lock = threading.Lock()
    active = 0
    peak = 0

    def respond(request: Request) -> Reply:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.03)
        with lock:
            active -= 1
        return pager(request)

    server.add(API, respond)
    sources = [
        ArxivSource(ArxivSettings(api_url=server.url + API, delay_seconds=0.0)) for _ in range(2)
    ]
    threads = [
        threading.Thread(target=sources[i % 2].backfill_category, args=("cs.LG",)) for i in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(server.requests) == 6
    assert peak == 1


# -- query construction and safety ---------------------------------------------


def test_harvest_query_string(server: ReplayServer, sleeps: list[float]) -> None:
    server.add(API, Reply(200, EMPTY))
    source = make_source(server, sleeps)
    shanghai = timezone(timedelta(hours=8))
    start = datetime(2026, 4, 29, 8, 0, tzinfo=shanghai)  # 00:00 UTC
    source.harvest(start, start + timedelta(days=1), ["CS.cl", "stat.ml"])
    params = server.params[0]
    assert params["search_query"] == (
        "submittedDate:[202604290000 TO 202604292359] AND (cat:cs.CL OR cat:stat.ML)"
    )
    assert params["sortBy"] == "submittedDate"
    assert params["sortOrder"] == "descending"
    assert params["start"] == "0"
    assert params["max_results"] == "200"

    source.harvest(DAY, DAY + timedelta(hours=6))
    assert server.params[1]["search_query"] == "submittedDate:[202604290000 TO 202604290559]"


def test_harvest_rejects_bad_windows_and_categories() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        harvest_query(datetime(2026, 4, 29), datetime(2026, 4, 30))
    with pytest.raises(ValueError, match="empty"):
        harvest_query(DAY, DAY)
    with pytest.raises(ValueError, match="category"):
        harvest_query(DAY, DAY + timedelta(days=1), ["cs.CL) OR (au:x"])


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("Yehui Tang", 'au:"Yehui Tang"'),
        ("  Yehui\t\tTang ", 'au:"Yehui Tang"'),
        ("au:x OR cat:*", 'au:"au x OR cat"'),
        ('Tang") OR (cat:cs.*', 'au:"Tang OR cat cs."'),
        ('"quoted"', 'au:"quoted"'),
        ("Tang\x00\r\nANDNOT\x1b[31m", 'au:"Tang ANDNOT 31m"'),
        ("Jörg Frochte", 'au:"Jörg Frochte"'),
        ("Jo\u0308rg Frochte", 'au:"Jörg Frochte"'),  # decomposed umlaut -> NFC
        ("唐业辉", 'au:"唐业辉"'),
        ("अमित शर्मा", 'au:"अमित शर्मा"'),  # vowel signs are marks: kept
        ("O'Brien-Smith Jr.", 'au:"O\'Brien-Smith Jr."'),
    ],
)
def test_author_backfill_query(
    server: ReplayServer, sleeps: list[float], typed: str, sent: str
) -> None:
    server.add(API, Reply(200, EMPTY))
    make_source(server, sleeps).backfill_author(typed)
    params = server.params[0]
    assert params["search_query"] == sent
    assert params["max_results"] == "50"
    assert params["sortBy"] == "submittedDate"
    assert params["sortOrder"] == "descending"


def test_keyword_and_category_backfill_queries(server: ReplayServer, sleeps: list[float]) -> None:
    server.add(API, Reply(200, EMPTY))
    source = make_source(server, sleeps)
    source.backfill_keyword([["large", "language", "model"], ["agents"]])
    source.backfill_keyword([['x" OR all:*'], ["(", "survey", ")"]])
    source.backfill_keyword(["graph neural network"])  # a bare string is one phrase
    source.backfill_category("cs.lg")
    source.backfill_category("astro-ph")  # an old archive: well-formed, passed through
    assert [p["search_query"] for p in server.params] == [
        'all:"large language model" AND all:"agents"',
        'all:"x OR all" AND all:"survey"',
        'all:"graph neural network"',
        "cat:cs.LG",
        "cat:astro-ph",
    ]


def test_nothing_left_means_no_request(server: ReplayServer, sleeps: list[float]) -> None:
    source = make_source(server, sleeps)
    for call in (
        lambda: source.backfill_author('"():*'),
        lambda: source.backfill_author("\x00\x01"),
        lambda: source.backfill_keyword([]),
        lambda: source.backfill_keyword([["large"], ["*"]]),
        lambda: source.backfill_category("cs.CL OR au:x"),
        lambda: source.backfill_category("cat:*"),
    ):
        with pytest.raises(ValueError):
            call()
    assert server.requests == []


@given(st.text(max_size=60))
def test_quote_term_never_lets_syntax_through(text: str) -> None:
    try:
        term = quote_term(text)
    except ValueError:
        return
    inner = term[1:-1]
    assert term == f'"{inner}"' and inner == inner.strip() and inner
    assert not any(ch in inner for ch in '"():*[]{}\\+!^~?&|')
    assert all(ch.isprintable() for ch in inner)
    assert "  " not in inner
