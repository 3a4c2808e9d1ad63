"""The replay server itself: routing, scripts, paging of captures, recording."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import requests

from bot.sources.replay import AtomPager, ReplayServer, Reply, Request, Rule, Script

FIXTURES = Path(__file__).parent / "fixtures" / "arxiv"
TESTING_100 = FIXTURES / "arxiv_api_query_all-testing_max100.xml"
EMPTY = FIXTURES / "arxiv_api_empty_result.xml"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def _opensearch(body: bytes, tag: str) -> int:
    match = re.search(rb"<opensearch:" + tag.encode() + rb">(\d+)<", body)
    assert match is not None
    return int(match.group(1))


def test_routes_record_and_default_404() -> None:
    rules = [
        Rule("/api/query", Reply(200, b"cats"), when=lambda q: q.get("search_query") == "cat"),
        Rule("/api/query", Reply(200, EMPTY)),
    ]
    with ReplayServer(rules) as server:
        assert server.url.startswith("http://127.0.0.1:")
        first = requests.get(server.url + "/api/query", params={"search_query": "cat"}, timeout=5)
        second = requests.get(server.url + "/api/query?search_query=dog&x=", timeout=5)
        missing = requests.get(server.url + "/elsewhere", timeout=5)
    assert first.status_code == 200 and first.content == b"cats"
    assert second.content == EMPTY.read_bytes()  # a Path body is served from the file
    assert second.headers["Content-Type"].startswith("application/atom+xml")
    assert missing.status_code == 404
    assert server.requests == [
        "/api/query?search_query=cat",
        "/api/query?search_query=dog&x=",
        "/elsewhere",
    ]
    assert server.params[1] == {"search_query": "dog", "x": ""}


def test_default_reply_and_post_body() -> None:
    seen: list[Request] = []

    def echo(request: Request) -> Reply:
        seen.append(request)
        return Reply(201, request.body, headers={"X-Echo": "1"}, content_type="text/plain")

    with ReplayServer(default=echo) as server:
        resp = requests.post(server.url + "/api/chat.postMessage", data=b"hello", timeout=5)
    assert resp.status_code == 201 and resp.content == b"hello"
    assert resp.headers["X-Echo"] == "1"
    assert seen[0].method == "POST" and seen[0].path == "/api/chat.postMessage"


def test_script_plays_in_order_then_repeats_last() -> None:
    script = Script(Reply(503), Reply(200, b"ok"))
    with ReplayServer().add("/", script) as server:
        codes = [requests.get(server.url + "/", timeout=5).status_code for _ in range(4)]
    assert codes == [503, 200, 200, 200]
    with pytest.raises(ValueError):
        Script()


def test_sequence_in_a_rule_is_a_script() -> None:
    with ReplayServer([Rule("/", [Reply(429), Reply(200)])]) as server:
        codes = [requests.get(server.url + "/", timeout=5).status_code for _ in range(3)]
    assert codes == [429, 200, 200]


def test_atom_pager_slices_entries_byte_for_byte() -> None:
    original = TESTING_100.read_bytes()
    pager = AtomPager(TESTING_100)
    assert len(pager.entries) == 100
    pages = [pager.page(start, 30) for start in (0, 30, 60, 90)]
    # Every entry served exactly once, unchanged, in the captured order.
    served = b"".join(entry for page in pages for entry in AtomPager(page).entries)
    assert served == b"".join(pager.entries)
    assert b"".join(pager.entries) in original
    second = pages[1]
    assert _opensearch(second, "startIndex") == 30
    assert _opensearch(second, "itemsPerPage") == 30
    assert _opensearch(second, "totalResults") == 100  # the capture said 214881
    assert second.rstrip().endswith(b"</feed>")
    assert len(AtomPager(pages[3]).entries) == 10
    assert AtomPager(pager.page(500, 30)).entries == []
    assert _opensearch(AtomPager(TESTING_100, total=7).page(0, 5), "totalResults") == 7


def test_atom_pager_over_http_defaults() -> None:
    with ReplayServer([Rule("/api/query", AtomPager(TESTING_100))]) as server:
        body = requests.get(server.url + "/api/query", timeout=5).content
        bad = requests.get(server.url + "/api/query?start=x", timeout=5)
    assert len(AtomPager(body).entries) == 10  # arXiv's default max_results
    assert bad.status_code == 400


def test_atom_pager_on_a_feed_without_entries() -> None:
    page = AtomPager(EMPTY, total=3).page(0, 10)
    assert page.rstrip().endswith(b"</feed>")
    assert _opensearch(page, "totalResults") == 3


def test_close_cuts_a_delayed_reply_short() -> None:
    server = ReplayServer([Rule("/", Reply(200, b"late", delay=30.0))]).start()
    with pytest.raises(requests.Timeout):
        requests.get(server.url + "/", timeout=0.1)
    began = time.monotonic()
    server.close()
    assert time.monotonic() - began < 2.0
    with pytest.raises(RuntimeError):
        _ = server.url
