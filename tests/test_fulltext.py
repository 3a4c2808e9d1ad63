"""Full texts from hostile or broken upstreams: PDF bombs, trickling servers,
redirects off the configured host, and HTML with missing end tags.

Everything runs for real: PDFs are built here byte by byte (a page whose
Flate-compressed content stream expands to millions of text operators: the
~10 KB kind that kept pypdf busy for minutes and grew the bot by hundreds of
MB) and read by the real sandbox process; downloads go through the real
``requests`` client to local servers, one of which sends a byte every half
second.
"""

from __future__ import annotations

import resource
import time
import zlib
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from bot.clock import FixedClock
from bot.digest.fulltext import (
    NOTE_TRANSIENT,
    NOTE_UNUSABLE,
    FullTextFetcher,
    FullTextSettings,
    PdfTooCostly,
    html_text,
    pdf_text,
)
from bot.sources.replay import LocalServer, LoopbackHTTPServer, ReplayServer
from bot.sources.replay import Reply as HttpReply
from bot.store.repo import Store
from tests.fakellm import llm_radar
from tests.flowkit import NOW
from tests.test_qa import PAGE, PAPERS, PDF, ask, pdf_file, post_card

BOMB_ID = "2604.26835"
BOMB = f"arxiv:{BOMB_ID}"
HTML = "text/html; charset=utf-8"
#: Generous wall time on a loaded 2-core machine for what takes well under a second.
SLACK = 2.0


# -- hostile PDFs ------------------------------------------------------------------------


def pdf_with_content(compressed: bytes) -> bytes:
    """A valid one-page PDF whose content stream is ``compressed`` (FlateDecode)."""
    objects = [
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream"
        % (len(compressed), compressed),
        b"<< /Type /Page /Parent 4 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 1 0 R >> >> /Contents 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Catalog /Pages 4 0 R >>",
    ]
    return pdf_file(objects, root=5)


def flate_of(op: bytes, megabytes: int) -> bytes:
    """``op`` repeated to ``megabytes`` MB, compressed a megabyte at a time (so the
    test process itself never holds the expanded stream)."""
    packer = zlib.compressobj(6)
    block = op * (1_000_000 // len(op))
    return b"".join([packer.compress(block) for _ in range(megabytes)] + [packer.flush()])


#: ~10 KB: a million "show this string" operators; pypdf spends ~25 s of CPU and
#: ~300 MB on it in-process.
CPU_BOMB = pdf_with_content(zlib.compress(b"BT /F1 1 Tf " + b"(a) Tj " * 1_000_000 + b"ET", 9))
#: ~100 KB: a 60 MB content stream, whose decompression alone needs 60 MB at once.
MEMORY_BOMB = pdf_with_content(flate_of(b"0 0 Td ", 60))

TIGHT = FullTextSettings(pdf_cpu_seconds=1, pdf_wall_seconds=5.0)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def test_the_wall_clock_deadline_kills_a_reader_within_it() -> None:
    patient_cpu = replace(TIGHT, pdf_cpu_seconds=120, pdf_wall_seconds=1.0)
    started = time.monotonic()
    with pytest.raises(PdfTooCostly, match="after 1 s"):
        pdf_text(CPU_BOMB, patient_cpu)
    assert time.monotonic() - started < 1.0 + SLACK


def test_the_address_space_limit_stops_a_memory_bomb() -> None:
    small = replace(TIGHT, pdf_cpu_seconds=120, pdf_wall_seconds=30.0, pdf_memory_megabytes=96)
    started = time.monotonic()
    with pytest.raises(PdfTooCostly, match="over 96 MB"):
        pdf_text(MEMORY_BOMB, small)
    assert time.monotonic() - started < 1.0 + SLACK  # not the wall clock's 30 s


def test_a_normal_pdf_still_yields_its_text_under_the_limits() -> None:
    tight = replace(TIGHT, pdf_memory_megabytes=128)  # the child itself needs ~40 MB
    text = pdf_text(PDF, tight)
    assert "40 times fewer parameters" in text and "shape-constrained regression" in text
    assert pdf_text(b"%PDF-1.4 not a real pdf", tight) == ""  # unreadable: no text, no breach


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    from bot.store import migrate

    url = f"sqlite:///{tmp_path / 'fulltext.db'}"
    migrate.upgrade(url)
    s = Store.from_url(url)
    s.upsert_papers(list(PAPERS.values()), NOW)
    yield s
    s.close()


@pytest.fixture
def bomb_server() -> Iterator[ReplayServer]:
    with ReplayServer(default=HttpReply(404, b"not found", content_type=HTML)) as server:
        server.add(f"/pdf/{BOMB_ID}", HttpReply(200, CPU_BOMB, content_type="application/pdf"))
        yield server


def settings_for(server: LocalServer, **kw: object) -> FullTextSettings:
    base = replace(
        TIGHT,
        html_url=f"{server.url}/html/{{id}}",
        pdf_url=f"{server.url}/pdf/{{id}}",
        delay_seconds=0.0,
        timeout_seconds=2.0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_a_pdf_over_the_limits_is_remembered_as_no_usable_full_text(
    store: Store, bomb_server: ReplayServer
) -> None:
    assert len(CPU_BOMB) < 35_000
    clock = FixedClock(NOW)
    fetcher = FullTextFetcher(store, settings_for(bomb_server), clock)
    before, started = peak_rss_mb(), time.monotonic()
    got = fetcher.get(PAPERS[BOMB])
    # Stopped by the 1 s CPU limit, in a child: the bot's own memory does not grow
    # (pypdf in-process: ~25 s and ~300 MB more).
    assert time.monotonic() - started < TIGHT.pdf_wall_seconds + SLACK
    assert peak_rss_mb() - before < 40
    assert got.text is None and got.note == NOTE_UNUSABLE
    stored = store.full_text(BOMB)
    assert stored is not None and (stored.status, stored.source) == ("missing", "pdf")
    # The next question neither downloads nor parses it again, and says the same.
    again = fetcher.get(PAPERS[BOMB])
    assert again.note == NOTE_UNUSABLE and len(bomb_server.requests) == 2  # HTML 404, PDF


def test_the_thread_answer_comes_from_the_abstract_and_says_why(
    tmp_path: Path, bomb_server: ReplayServer
) -> None:
    with llm_radar(tmp_path, None, fulltext_url=bomb_server.url) as r:
        fetcher = r.app.service.fulltext
        assert fetcher is not None
        fetcher.settings = replace(fetcher.settings, pdf_cpu_seconds=1, pdf_wall_seconds=5.0)
        post_card(r, key=BOMB)
        started = time.monotonic()
        reply = ask(r, "What is the main result?")
        assert time.monotonic() - started < 5.0 + SLACK
        assert reply.footer is not None and "Source: the abstract." in reply.footer
        assert reply.footer.endswith(f"Full text: {NOTE_UNUSABLE}.")


# -- slow servers: a total deadline ----------------------------------------------------


def long_page(marker: str) -> bytes:
    para = f"<p>{marker} " + "A paragraph of the paper's own text. " * 60 + "</p>"
    return f"<html><body><article>{para}</article></body></html>".encode()


class _DripHandler(BaseHTTPRequestHandler):
    """Sends ``head``, then ``drip`` one byte every ``owner.interval`` s, then ``tail``."""

    server: LoopbackHTTPServer
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        owner: DripServer = self.server.owner
        head, drip, tail = owner.response()
        try:
            self.wfile.write(head)
            for i in range(len(drip)):
                if owner._closing.wait(owner.interval):
                    return
                self.wfile.write(drip[i : i + 1])
            self.wfile.write(tail)
        except OSError:
            pass  # the client hung up: what the deadline is for

    def log_message(self, format: str, *args: object) -> None:
        pass


class DripServer(LocalServer):
    """A server that takes ``count * interval`` seconds to answer anything."""

    handler = _DripHandler

    def __init__(self, where: str, *, interval: float = 0.5, count: int = 20) -> None:
        super().__init__()
        self.where, self.interval, self.count = where, interval, count

    def response(self) -> tuple[bytes, bytes, bytes]:
        page = long_page("TRICKLED")
        status = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n"
        if self.where == "headers":  # a header line trickles, then the page at once
            slow = b"X-Slow: " + b"s" * (self.count - 10) + b"\r\n\r\n"
            return status, slow, page
        length = b"Content-Length: %d\r\n\r\n" % (len(page) + self.count)
        return status + length + page, b" " * self.count, b""


@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_trickling_server_is_cut_off_at_the_total_deadline(store: Store, where: str) -> None:
    # 20 bytes at 0.5 s: 10 s to answer; each read gets a byte well within its 1 s.
    with DripServer(where) as server:
        settings = settings_for(server, pdf_url="", timeout_seconds=1.0, total_seconds=2.0)
        fetcher = FullTextFetcher(store, settings, FixedClock(NOW))
        started = time.monotonic()
        got = fetcher.get(PAPERS[BOMB])
        took = time.monotonic() - started
    assert got.text is None and got.note == NOTE_TRANSIENT  # not TRICKLED, ten seconds later
    assert 2.0 <= took < 2.0 + SLACK
    assert store.full_text(BOMB) is None  # transient: the next question tries again


# -- redirects stay on the configured host ----------------------------------------------


def test_redirects_on_the_configured_host_are_followed(store: Store) -> None:
    with ReplayServer() as server:
        server.add(
            f"/html/{BOMB_ID}v2", HttpReply(200, long_page("VERSION-TWO"), content_type=HTML)
        )
        server.add(f"/html/{BOMB_ID}", HttpReply(301, headers={"Location": f"{BOMB_ID}v2"}))
        got = FullTextFetcher(store, settings_for(server), FixedClock(NOW)).get(PAPERS[BOMB])
        assert got.text is not None and "VERSION-TWO" in got.text.text
        assert server.requests == [f"/html/{BOMB_ID}", f"/html/{BOMB_ID}v2"]


@pytest.mark.parametrize("kind", ["other host", "other port", "not http", "credentials"])
def test_a_redirect_may_not_leave_the_configured_host(store: Store, kind: str) -> None:
    with ReplayServer() as elsewhere, ReplayServer() as server:
        elsewhere.add("/", HttpReply(200, long_page("ELSEWHERE"), content_type=HTML))
        port = elsewhere.url.rsplit(":", 1)[1]
        own_port = server.url.rsplit(":", 1)[1]
        target = {
            "other host": f"http://localhost:{own_port}/html/x",  # same port, other name
            "other port": f"http://127.0.0.1:{port}/html/x",
            "not http": "file:///etc/passwd",
            "credentials": f"http://user@127.0.0.1:{own_port}/html/x",
        }[kind]
        server.add("/html/", HttpReply(302, headers={"Location": target}))
        server.add("/pdf/", HttpReply(307, headers={"Location": target}))
        got = FullTextFetcher(store, settings_for(server), FixedClock(NOW)).get(PAPERS[BOMB])
        assert got.text is None
        assert elsewhere.requests == []
        assert server.requests == [f"/html/{BOMB_ID}", f"/pdf/{BOMB_ID}"]  # no hop followed


def test_redirects_stop_after_max_redirects(store: Store) -> None:
    with ReplayServer() as server:
        server.add("/html/", HttpReply(302, headers={"Location": f"/html/{BOMB_ID}"}))
        settings = settings_for(server, pdf_url="", max_redirects=3)
        got = FullTextFetcher(store, settings, FixedClock(NOW)).get(PAPERS[BOMB])
        assert got.text is None and len(server.requests) == 4  # the first try and 3 hops


# -- HTML parsed by a real parser ----------------------------------------------------------


def test_a_missing_end_tag_in_skipped_chrome_keeps_the_rest_of_the_page() -> None:
    page = "<nav><ul><li>a<li>b</ul></nav><p>Real text of the paper.</p><p>More of it.</p>"
    assert html_text(page) == "Real text of the paper.\n\nMore of it."


def test_text_after_dropped_elements_and_deep_nesting_is_kept() -> None:
    assert html_text("<p>before <button>Report</button> after</p>") == "before after"
    assert html_text("<p>x <!-- note --> y<script>s()</script> z</p>") == "x y z"
    deep = "<div>" * 1000 + "<p>deep</p>" + "</div>" * 1000
    assert html_text(f"<p>start</p>{deep}<p>end</p>") == "start\n\ndeep\n\nend"
    assert html_text("") == "" and html_text("   ") == ""


def test_math_without_alttext_falls_back_to_its_tex_annotation() -> None:
    page = (
        "<p>cost <math><semantics><mi>n</mi><annotation encoding='application/x-tex'>"
        "\\mathcal{O}(n)</annotation></semantics></math> steps</p>"
    )
    assert html_text(page) == "cost \\mathcal{O}(n) steps"


def test_the_arxiv_shaped_page_reads_as_before() -> None:
    text = html_text(PAGE)
    assert text.startswith("## Turning the TIDE")
    assert "## Abstract\n\nDiffusion large language models offer parallel decoding." in text
    assert "Peking University" not in text and "BIBLIOGRAPHY-ENTRY" not in text
