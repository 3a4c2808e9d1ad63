"""A tiny local HTTP server that replays recorded upstream responses.

Every upstream URL in the bot is configurable, so tests and the offline demo
point a real client (``requests`` under the ``arxiv`` package, say) at this
server instead of the internet and exercise the very same code path: real
sockets, real HTTP status codes and headers, real captured bodies.

It is stdlib only on purpose: it ships inside the package, because the
offline demo serves its bundled captures through it.

Usage::

    with ReplayServer([Rule("/api/query", AtomPager(capture_path))]) as server:
        source = ArxivSource(ArxivSettings(api_url=server.url + "/api/query"))
        papers = source.backfill_category("cs.LG")
        assert server.params[0]["search_query"] == "cat:cs.LG"

Routing: ``rules`` are tried in order; the first whose path prefix matches
(and whose ``when`` predicate, if any, accepts the query parameters) answers.
A rule's reply is a fixed ``Reply``, a sequence of replies played in order
(the last one repeats: ``[Reply(503), Reply(503), Reply(200, path)]`` scripts
a flaky upstream), or any callable ``Request -> Reply`` (``AtomPager`` slices
a captured Atom feed into pages). Unmatched requests get ``default``, or 404.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlsplit

__all__ = ["AtomPager", "ReplayServer", "Reply", "Request", "Rule", "Script"]

ATOM = "application/atom+xml; charset=utf-8"


@dataclass(frozen=True)
class Reply:
    """One HTTP response. ``body`` is bytes, or a ``Path`` read at reply time.

    ``delay`` makes the server wait that many seconds before answering (to
    test client timeouts); closing the server cuts the wait short.
    """

    status: int = 200
    body: bytes | Path = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = ATOM
    delay: float = 0.0

    def read_body(self) -> bytes:
        return self.body.read_bytes() if isinstance(self.body, Path) else self.body


@dataclass(frozen=True)
class Request:
    """What the server received: method, path, raw query and parsed parameters."""

    method: str
    path: str
    query: str
    params: Mapping[str, str]  # first value of each parameter, blanks kept
    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def target(self) -> str:
        """Path plus query string, as sent on the request line."""
        return f"{self.path}?{self.query}" if self.query else self.path


Responder = Callable[[Request], Reply]


class Script:
    """Replies played in order, one per request; the last one then repeats."""

    def __init__(self, *replies: Reply) -> None:
        if not replies:
            raise ValueError("a Script needs at least one reply")
        self._replies = list(replies)
        self._next = 0
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        with self._lock:
            reply = self._replies[min(self._next, len(self._replies) - 1)]
            self._next += 1
            return reply


class AtomPager:
    """Serve a captured arXiv Atom feed in pages, as the API would.

    The capture is split into its header, its ``<entry>`` elements and its
    closing tag. A request for ``start``/``max_results`` gets the header with
    ``opensearch:startIndex`` and ``opensearch:itemsPerPage`` rewritten, the
    entries of that slice byte for byte, and the original closing tag.

    ``opensearch:totalResults`` is rewritten to ``total``, by default the
    number of entries in the capture: a capture of the first 100 results of a
    query that has 214,881 must say 100, or a client would page on forever.
    The feed's ``<title>``/``<link>``, which echo the captured query, are
    left as captured.
    """

    _ENTRY = re.compile(rb"<entry\b[^>]*>.*?</entry>\s*", re.S)

    def __init__(self, feed: bytes | Path, *, total: int | None = None) -> None:
        data = feed.read_bytes() if isinstance(feed, Path) else feed
        matches = list(self._ENTRY.finditer(data))
        if matches:
            self._head = data[: matches[0].start()]
            self._tail = data[matches[-1].end() :]
        else:
            end = data.rindex(b"</feed>")
            self._head, self._tail = data[:end], data[end:]
        self.entries: list[bytes] = [m.group(0) for m in matches]
        self.total = len(self.entries) if total is None else total

    def page(self, start: int, max_results: int) -> bytes:
        """The feed bytes for one page."""
        chunk = self.entries[start : start + max_results] if start >= 0 else []
        head = self._head
        for tag, value in (
            (b"startIndex", start),
            (b"itemsPerPage", max_results),
            (b"totalResults", self.total),
        ):
            head = re.sub(
                rb"(<opensearch:" + tag + rb">)\s*\d+\s*(</opensearch:" + tag + rb">)",
                rb"\g<1>" + str(value).encode() + rb"\g<2>",
                head,
            )
        return head + b"".join(chunk) + self._tail

    def __call__(self, request: Request) -> Reply:
        try:
            start = int(request.params.get("start") or 0)
            max_results = int(request.params.get("max_results") or 10)  # the API's default
        except ValueError:
            return Reply(400, b"bad start or max_results", content_type="text/plain")
        return Reply(200, self.page(start, max_results))


@dataclass
class Rule:
    """Answer requests whose path starts with ``prefix`` (and ``when`` accepts)."""

    prefix: str
    reply: Reply | Sequence[Reply] | Responder
    when: Callable[[Mapping[str, str]], bool] | None = None
    _responder: Responder = field(init=False, repr=False)

    def __post_init__(self) -> None:
        reply = self.reply
        if isinstance(reply, Reply):
            self._responder = lambda _request, _r=reply: _r
        elif callable(reply):
            self._responder = reply
        else:  # a sequence: a scripted upstream
            self._responder = Script(*reply)

    def matches(self, request: Request) -> bool:
        if not request.path.startswith(self.prefix):
            return False
        return self.when is None or bool(self.when(request.params))

    def respond(self, request: Request) -> Reply:
        return self._responder(request)


class LoopbackHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a handler stuck in a delay never blocks shutdown
    owner: Any  # the LocalServer whose handler answers

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that time out and hang up are expected; keep test output quiet.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackHTTPServer
    protocol_version = "HTTP/1.0"  # one request per connection, like a polite client

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        request = Request(
            method=self.command,
            path=parts.path,
            query=parts.query,
            params=params,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        replay: ReplayServer = self.server.owner
        reply = replay._dispatch(request)
        if reply.delay > 0 and replay._closing.wait(reply.delay):
            return  # server is closing: drop the connection unanswered
        payload = reply.read_body()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its timeout fired first)


class LocalServer:
    """A loopback HTTP server on a free port, served from a daemon thread.

    The lifecycle every local fake shares (this replay server, the tests'
    fake model server): ``start``/``close`` or a ``with`` block, ``url``, and a
    ``_closing`` event a slow handler waits on so shutdown never hangs.
    Subclasses name their request ``handler`` (which reaches the subclass as
    ``self.server.owner``) and the ``url_path`` clients are given.
    """

    handler: ClassVar[type[BaseHTTPRequestHandler]]
    url_path: ClassVar[str] = ""

    def __init__(self) -> None:
        self._closing = threading.Event()
        self._server: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.url_path}"

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._closing.clear()
        server = LoopbackHTTPServer(("127.0.0.1", 0), self.handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}-{server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is None:
            return
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ReplayServer(LocalServer):
    """A replay server on ``127.0.0.1`` (a free port), served from a daemon thread.

    ``requests`` lists every request's path plus query in arrival order, and
    ``params`` the same requests' parsed query parameters, so tests can assert
    on exactly what a client sent (``server.params[0]["search_query"]``).
    """

    handler = _Handler

    def __init__(
        self,
        rules: Sequence[Rule] = (),
        *,
        default: Reply | Responder | None = None,
    ) -> None:
        super().__init__()
        self.rules: list[Rule] = list(rules)
        self.default = default
        self.received: list[Request] = []
        self._lock = threading.Lock()

    # -- routing ---------------------------------------------------------

    def add(
        self,
        prefix: str,
        reply: Reply | Sequence[Reply] | Responder,
        when: Callable[[Mapping[str, str]], bool] | None = None,
    ) -> Self:
        """Append a rule (tried after the existing ones); returns the server."""
        self.rules.append(Rule(prefix, reply, when))
        return self

    def _dispatch(self, request: Request) -> Reply:
        with self._lock:
            self.received.append(request)
            rules = list(self.rules)
        for rule in rules:
            if rule.matches(request):
                return rule.respond(request)
        if isinstance(self.default, Reply):
            return self.default
        if self.default is not None:
            return self.default(request)
        return Reply(404, b"no replay rule matches this request", content_type="text/plain")

    # -- what was received -------------------------------------------------

    @property
    def requests(self) -> list[str]:
        """Every request's path and query string, in arrival order."""
        with self._lock:
            return [r.target for r in self.received]

    @property
    def params(self) -> list[Mapping[str, str]]:
        """Every request's parsed query parameters, in arrival order."""
        with self._lock:
            return [r.params for r in self.received]
