"""A paper's full text, fetched once, politely, and kept in the database.

Thread answers are much better grounded in the paper than in its abstract, so
a question first looks for the full text: arXiv's HTML rendering (LaTeXML,
clean sections and real headings) and, when a paper has none, its PDF read
with ``pypdf``. Both URLs are configurable (``[fulltext]``), so tests and
mirrors point elsewhere.

Cost and manners:

* every request goes through the process-wide throttle for its host (the
  one ``bot.sources.http`` gives the arXiv API), so questions from any
  number of channels never hammer arxiv.org;
* a fetched text is stored (``full_texts``) and reused by every channel and
  every later question; a paper with no HTML and no PDF is remembered as
  missing for ``retry_days``; transient failures (timeouts, 5xx) are not
  stored, so the next question tries again;
* bodies are read up to ``max_megabytes``, PDFs up to ``max_pages``.

Hostile or broken upstreams (the configured host is trusted with a URL, not
with the bot's time or memory):

* a download has a total deadline (``total_seconds``) as well as a per-read
  timeout, enforced even inside a blocking read: a watchdog shuts the socket
  down when it passes, so a server trickling a byte a second (in the body or
  in the headers) cannot keep a question waiting;
* redirects are followed by hand, at most ``max_redirects`` hops, each
  through the host's throttle, and only to the configured URL's own host over
  http(s): a redirect elsewhere counts as "not here";
* a PDF is parsed in a child process (``bot.digest.pdftext``) with CPU-time,
  address-space and wall-clock limits. A PDF past them is stored as
  ``missing`` with source ``pdf`` ("there is a PDF, but it is unusable"), so
  it is not parsed again for ``retry_days``, and the answer comes from the
  abstract with a note saying why.

Text format: plain paragraphs separated by blank lines; a section heading is
its own line starting with ``## `` (HTML only; a PDF has no reliable
headings). ``bot.digest.qa.passages`` chunks it into passages.
"""

from __future__ import annotations

import logging
import math
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests
from lxml import etree
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager, ProxyManager

from bot.clock import Clock
from bot.core.paper import Paper
from bot.digest import pdftext
from bot.errors import RadarError
from bot.settings import FullTextSettings
from bot.sources.http import Throttle, ThrottleTimeout, throttle_for
from bot.store.repo import Store

log = logging.getLogger(__name__)

USER_AGENT = "paper-radar/0.1 (full text for thread questions; one request at a time)"
#: Texts shorter than this are not a paper (an error page, a stub): try the next source.
MIN_CHARS = 1500
MAX_CHARS = 400_000

#: The notes a question's answer carries when it has no full text.
NOTE_NONE = "arXiv has none for this paper"
NOTE_TRANSIENT = "it could not be fetched just now"
NOTE_UNUSABLE = "its PDF could not be read within the bot's limits"

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class FullText:
    source: str  # "html" | "pdf"
    url: str
    text: str


@dataclass(frozen=True)
class Outcome:
    """What a question gets: the text, or None and a short note saying why not."""

    text: FullText | None
    note: str | None = None


class PdfTooCostly(RadarError):
    """A PDF that could not be read within the sandbox's CPU, memory or time limits."""


class _Transient(Exception):
    """A failure worth trying again later (timeout, connection, 429, 5xx, deadline)."""


class _Unusable(Exception):
    """The paper has a PDF, but reading it breached the sandbox's limits."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class FullTextFetcher:
    def __init__(
        self,
        store: Store,
        settings: FullTextSettings,
        clock: Clock,
        *,
        throttle_of: Callable[[str], Throttle] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._throttle_of = throttle_of or (lambda host: throttle_for(host, settings.delay_seconds))
        self._session = requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        adapter = _WatchedAdapter()
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.fetches = 0  # HTTP requests made, for tests and the benchmark

    def close(self) -> None:
        self._session.close()

    def get(self, paper: Paper) -> Outcome:
        """The paper's full text: stored, else fetched (and stored). Never raises for
        network trouble or a hostile file; the outcome's note says why there is no text."""
        # Any paper keyed by arXiv (also one OpenAlex reported) has arXiv's texts.
        if not self.settings.enabled or not paper.key.startswith("arxiv:"):
            return Outcome(None)
        with self._one_fetch(paper.key):
            stored = self.store.full_text(paper.key)
            now = self.clock.now()
            if stored is not None:
                if stored.status == "ok":
                    return Outcome(FullText(stored.source, stored.url, stored.text))
                if now - stored.fetched_at < timedelta(days=self.settings.retry_days):
                    return Outcome(None, NOTE_UNUSABLE if stored.source == "pdf" else NOTE_NONE)
            try:
                found = self._fetch(paper)
            except _Transient as err:
                log.warning("full text of %s not fetched: %s", paper.key, err)
                return Outcome(None, NOTE_TRANSIENT)
            except _Unusable as err:
                # Remembered like a missing text (not parsed again for retry_days);
                # source "pdf" records that a PDF exists but is not usable.
                self.store.save_full_text(paper.key, "missing", "pdf", err.url, "", now)
                return Outcome(None, NOTE_UNUSABLE)
            if found is None:
                self.store.save_full_text(paper.key, "missing", "", "", "", now)
                return Outcome(None, NOTE_NONE)
            self.store.save_full_text(paper.key, "ok", found.source, found.url, found.text, now)
            return Outcome(found)

    @contextmanager
    def _one_fetch(self, key: str) -> Iterator[None]:
        """Two questions about one paper at once fetch it once."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield

    def _fetch(self, paper: Paper) -> FullText | None:
        arxiv_id = quote(paper.source_id)  # a path segment, whatever the record says
        transient: _Transient | None = None
        unusable: str | None = None
        for source, template in (("html", self.settings.html_url), ("pdf", self.settings.pdf_url)):
            if not template:
                continue
            url = template.replace("{id}", arxiv_id)
            try:
                body, content_type = self._download(url, origin=template)
            except _Transient as err:
                transient = err
                continue
            if body is None:
                continue
            if body.startswith(b"%PDF"):
                try:
                    text = pdf_text(body, self.settings)
                except PdfTooCostly as err:
                    log.warning("pdf of %s not read: %s", paper.key, err)
                    unusable = url
                    continue
                except OSError as err:  # no process to read it in: not the PDF's fault
                    transient = _Transient(f"pdf reader did not start ({type(err).__name__})")
                    continue
                source = "pdf"
            elif "html" in content_type or body.lstrip()[:1] == b"<":
                text = html_text(body.decode("utf-8", "replace"))
                source = "html"
            else:
                continue
            if len(text) >= MIN_CHARS:
                return FullText(source, url, text[:MAX_CHARS])
        if transient is not None:
            raise transient
        if unusable is not None:
            raise _Unusable(unusable)
        return None

    def _download(self, url: str, *, origin: str) -> tuple[bytes | None, str]:
        """The body at ``url`` (None for a definite "not here": 404, 410, 4xx, a
        redirect off ``origin``'s host, too many redirects, too large).

        Raises ``_Transient`` for timeouts, connection errors, 429, 5xx and a
        passed total deadline.
        """
        deadline = _Deadline(self.settings.total_seconds)
        try:
            for _hop in range(self.settings.max_redirects + 1):
                if not _same_host(url, origin):
                    # %r and a clip: the URL is the upstream's, not ours to print raw.
                    log.warning("full text: not following %r off %s", url[:200], _host(origin))
                    return None, ""
                result = self._request(url, deadline)
                if isinstance(result, tuple):
                    return result
                url = result  # a redirect, checked at the top of the loop
            log.warning("full text: more than %d redirects", self.settings.max_redirects)
            return None, ""
        finally:
            deadline.close()

    def _request(self, url: str, deadline: _Deadline) -> tuple[bytes | None, str] | str:
        """One request in the host's throttle slot: the body and content type, or
        the URL a redirect points to. Waiting for the slot counts against the deadline."""
        host = urlsplit(url).netloc
        try:
            with self._throttle_of(host).slot(timeout=max(0.0, deadline.remaining())):
                return self._exchange(url, host, deadline)
        except ThrottleTimeout:
            raise _Transient(f"no turn at {host} within {deadline.seconds:g} s") from None

    def _exchange(self, url: str, host: str, deadline: _Deadline) -> tuple[bytes | None, str] | str:
        left = deadline.remaining()
        if left <= 0:
            raise _Transient(f"took over {deadline.seconds:g} s ({host})")
        limit = int(self.settings.max_megabytes * 1_000_000)
        self.fetches += 1
        try:
            with (
                deadline.watching(),
                self._session.get(
                    url,
                    timeout=min(self.settings.timeout_seconds, left),
                    stream=True,
                    allow_redirects=False,
                ) as resp,
            ):
                status = resp.status_code
                if status == 429 or status >= 500:
                    raise _Transient(f"HTTP {status} from {host}")
                if status in _REDIRECTS:
                    location = resp.headers.get("Location")
                    return urljoin(url, location) if location else (None, "")
                if status != 200:
                    return None, ""
                declared = resp.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > limit:
                    log.warning("full text at %s is over %d bytes; skipped", url, limit)
                    return None, ""
                chunks, size = [], 0
                for chunk in resp.iter_content(65536):
                    size += len(chunk)
                    if size > limit:
                        log.warning("full text at %s is over %d bytes; skipped", url, limit)
                        return None, ""
                    if deadline.expired:
                        break
                    chunks.append(chunk)
                if deadline.expired:  # the body may look complete after a cut
                    raise _Transient(f"took over {deadline.seconds:g} s ({host})")
                return b"".join(chunks), resp.headers.get("Content-Type", "").lower()
        except OSError as err:  # requests' errors too; a cut socket may surface raw
            if deadline.expired:
                raise _Transient(f"took over {deadline.seconds:g} s ({host})") from None
            if isinstance(err, requests.Timeout):
                raise _Transient(f"timed out ({host})") from None
            raise _Transient(f"{type(err).__name__} ({host})") from None


def _host(url: str) -> str:
    return urlsplit(url).netloc


def _same_host(url: str, origin: str) -> bool:
    """Whether ``url`` is http(s) on ``origin``'s host and port (http->https allowed)."""
    try:
        a, b = urlsplit(url), urlsplit(origin)
        a_port, b_port = a.port, b.port
    except ValueError:  # a port that is not a number
        return False
    if a.scheme not in _DEFAULT_PORTS or b.scheme not in _DEFAULT_PORTS:
        return False
    if not a.hostname or a.hostname != b.hostname or a.username is not None:
        return False
    if a_port is None and b_port is None:
        return True  # the scheme's own port on both sides, e.g. an upgrade to https
    return (a_port or _DEFAULT_PORTS[a.scheme]) == (b_port or _DEFAULT_PORTS[b.scheme])


# -- the total deadline ---------------------------------------------------------------
#
# ``requests`` has only per-read timeouts, and ``iter_content`` blocks until a whole
# chunk arrived, so a server sending a byte every second never trips either. The
# deadline therefore has a watchdog: a timer that, when the deadline passes, shuts
# down the sockets the download opened. A blocked read then returns at once (as a
# connection error), wherever it is: TLS handshake, headers or body. The sockets
# reach the watchdog through connection classes that report them to the deadline
# that is active in the calling thread.

_active = threading.local()


class _Deadline:
    """A download's total time limit, enforced even inside a blocking read."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._expired = False
        self._closed = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    @property
    def expired(self) -> bool:
        return self._expired or time.monotonic() >= self._ends

    def remaining(self) -> float:
        return self._ends - time.monotonic()

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Report sockets opened or used by this thread's requests to this deadline."""
        _active.deadline = self
        try:
            yield
        finally:
            _active.deadline = None

    def watch(self, sock: socket.socket) -> None:
        """Cut ``sock``'s connection when the deadline passes.

        A duplicate descriptor is kept: shutting it down ends the one TCP
        connection both refer to, even after TLS wrapped (and detached) the
        original socket object, and closing it never closes the caller's.
        """
        try:
            dup = socket.fromfd(sock.fileno(), sock.family, sock.type)
        except OSError:
            return
        with self._lock:
            if not self._closed:
                self._socks.append(dup)
                if self._expired:
                    _cut(dup)
                return
        dup.close()

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            for sock in self._socks:
                _cut(sock)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._closed = True
            socks, self._socks = self._socks, []
        for sock in socks:
            sock.close()


def _cut(sock: socket.socket) -> None:
    with suppress(OSError):  # already closed by the peer
        sock.shutdown(socket.SHUT_RDWR)


def _report(sock: Any) -> None:
    deadline: _Deadline | None = getattr(_active, "deadline", None)
    if deadline is not None and isinstance(sock, socket.socket):
        deadline.watch(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _report(sock)  # from before the TLS handshake
        return sock

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _report(self.sock)  # a kept-alive connection opened by an earlier request
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _report(sock)
        return sock

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _report(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedTlsPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedPool, "https": _WatchedTlsPool}


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter with connections that report their sockets to the deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is ProxyManager:  # SOCKS managers bring their own pools
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


# -- HTML (arXiv's LaTeXML rendering) -----------------------------------------------

_SKIP_TAGS = frozenset(
    "script style nav header footer noscript svg button form head template".split()  # noqa: SIM905
)
_SKIP_CLASSES = frozenset(
    {
        "ltx_bibliography",
        "ltx_page_header",
        "ltx_page_footer",
        "ltx_authors",
        "ltx_dates",
        "ltx_TOC",
        "ltx_role_affiliation",
        "package-alerts",
        "ltx_pagination",
    }
)
_BLOCKS = frozenset(
    "p div section article li ul ol table tr figcaption figure blockquote dd dt".split()  # noqa: SIM905
)
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})


class _Blocks:
    """Text collected into paragraphs and ``## `` headings."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self._buf: list[str] = []
        self.heading = False

    def add(self, text: str) -> None:
        self._buf.append(text)

    def flush(self) -> None:
        text = " ".join("".join(self._buf).split())
        self._buf = []
        if self.heading:
            self.heading = False
            if text:
                self.blocks.append("## " + text)
            return
        if len(text) > 1:
            self.blocks.append(text)


def _math_source(el: Any) -> str:
    """A formula as its LaTeX source: ``alttext``, else its TeX annotation."""
    alt = el.get("alttext")
    if alt:
        return str(alt)
    for note in el.iter("annotation"):
        if "tex" in (note.get("encoding") or "") and note.text:
            return str(note.text)
    return ""


def html_text(html: str) -> str:
    """The readable text of an HTML paper: paragraphs and ``## `` headings.

    Parsed by lxml (libxml2's HTML parser), so missing end tags are closed
    where a browser would close them; then page chrome (navigation, headers,
    footers, scripts, the bibliography...) is dropped, and a formula becomes
    its LaTeX source.
    """
    # huge_tree lifts libxml2's nesting limit from 256 to 2048 levels (past it the
    # rest of the page is lost); the body is already capped at max_megabytes, and
    # the HTML parser expands no entities, so nothing can blow up from it.
    parser = etree.HTMLParser(
        encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True, huge_tree=True
    )
    root = etree.fromstring(html.encode("utf-8", "replace"), parser)
    if root is None:
        return ""
    out = _Blocks()
    # An explicit stack, not recursion: nesting depth is the page's to choose.
    # ("open", el) visits an element; ("close", el) ends it and emits its tail,
    # which belongs to the parent's text; ("skipped", el) emits only the tail,
    # so the text after a dropped element is kept.
    stack: list[tuple[str, Any]] = [("open", root)]
    while stack:
        action, el = stack.pop()
        tag = el.tag if isinstance(el.tag, str) else ""
        if action != "open":  # "close", or "skipped": no block ends, the tail stays
            if action == "close" and (tag in _HEADINGS or tag in _BLOCKS):
                out.flush()
            if el.tail:
                out.add(el.tail)
            continue
        classes = set((el.get("class") or "").split())
        if not tag or tag in _SKIP_TAGS or classes & _SKIP_CLASSES:
            stack.append(("skipped", el))
            continue
        if tag == "math":
            out.add(f" {_math_source(el)} ")
            stack.append(("skipped", el))
            continue
        if tag == "br":
            out.add(" ")
        if tag in _HEADINGS:
            out.flush()
            out.heading = True
        elif tag in _BLOCKS:
            out.flush()
        stack.append(("close", el))
        if el.text:
            out.add(el.text)
        stack.extend(("open", child) for child in reversed(el))
    out.flush()
    return "\n\n".join(out.blocks)


# -- PDF ------------------------------------------------------------------------

_CHILD = Path(pdftext.__file__).resolve()


def pdf_text(data: bytes, settings: FullTextSettings | None = None) -> str:
    """The text of a PDF, read by ``pypdf`` in a sandboxed child process.

    ``settings`` gives ``max_pages`` and the child's limits (``pdf_cpu_seconds``,
    ``pdf_memory_megabytes``, ``pdf_wall_seconds``). A PDF pypdf cannot read
    yields an empty string (no full text, not an error); one that breaches a
    limit raises ``PdfTooCostly``; ``OSError`` means no process could be
    started (the machine's trouble, not the file's). The bot's own memory
    holds only the bytes and the text, whatever the file makes pypdf do.
    """
    s = settings or FullTextSettings()
    command = [
        sys.executable,
        "-I",  # isolated: no PYTHON* variables, nothing from the working directory
        str(_CHILD),
        str(s.max_pages),
        str(MAX_CHARS),
        str(max(1, math.ceil(s.pdf_cpu_seconds))),
        str(s.pdf_memory_megabytes * 1024 * 1024),
    ]
    started = time.monotonic()
    try:
        done = subprocess.run(
            command,
            input=data,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={},  # a parser of hostile files sees no tokens
            timeout=s.pdf_wall_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:  # run() has killed and reaped the child
        raise PdfTooCostly(f"still reading after {s.pdf_wall_seconds:g} s; stopped") from None
    took = time.monotonic() - started
    if done.returncode == 0:
        return done.stdout.decode("utf-8", "replace")
    if done.returncode == pdftext.EXIT_MEMORY:
        reason = f"needed over {s.pdf_memory_megabytes} MB"
    elif done.returncode < 0:  # a signal: SIGXCPU/SIGKILL from the CPU limit
        reason = f"stopped by signal {-done.returncode} after {took:.1f} s"
    else:
        reason = f"reader exited with status {done.returncode}"
    raise PdfTooCostly(reason)
