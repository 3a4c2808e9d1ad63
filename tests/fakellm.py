"""A local OpenAI-compatible server, scripted, for tests and the benchmark.

It speaks the part of the API every OpenAI-compatible server shares,
``POST /v1/chat/completions``, over real HTTP on 127.0.0.1, so the bot's
client goes through the real ``openai`` SDK and its HTTP stack. What it says
is scripted per request:

    with FakeLLM() as llm:                      # default: a grounded, well-formed answer
        llm.push(Status(503), Text("hi"))       # the next two requests
        settings = LlmSettings(base_url=llm.url, max_retries=0)

``POST /v1/embeddings`` answers too (issue 12's embedder): by default each
input gets a deterministic bag-of-words vector (``embedding_vector``), so texts
sharing words point the same way; ``Status``, ``Raw`` and ``HangUp`` script
its failures as for chat.

Actions: ``Text`` (a chat completion), ``Status`` (an HTTP error with a JSON
error body), ``Raw`` (any body and content type: garbage), ``Slow`` (wait,
then act), ``HangUp`` (close the connection without answering), ``Smart``
(a grounded answer built from the prompt itself: it cites the papers or
passages it was given, by the numbers it was given). Any callable taking the
request's JSON and returning an action works too.

``requests`` holds every request's JSON body and ``headers`` its headers, so
tests can assert what the bot sent (model, messages, max_tokens, the key).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from bot.config import LlmSettings
from bot.digest.fulltext import FullTextSettings
from bot.sources.replay import LocalServer, LoopbackHTTPServer

if TYPE_CHECKING:
    from tests.flowkit import Radar


@dataclass(frozen=True)
class Text:
    content: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"
    usage: bool = True


@dataclass(frozen=True)
class Status:
    code: int
    message: str = "scripted failure"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Raw:
    body: bytes
    content_type: str = "text/plain"
    code: int = 200


@dataclass(frozen=True)
class Slow:
    seconds: float
    then: Action


@dataclass(frozen=True)
class HangUp:
    pass


@dataclass(frozen=True)
class Smart:
    """Answer like a well-behaved model, from the prompt's own content."""


Action = Text | Status | Raw | Slow | HangUp | Smart | Callable[[dict[str, Any]], Any]

_PAPER = re.compile(r"^\[(\d{2})\] (.+)$", re.M)
_PASSAGE = re.compile(r"^\[P(\d+)\] \(([^)]*)\)\n(.+)$", re.M)


def smart_text(request: dict[str, Any]) -> str:
    """A grounded answer to a briefing or thread prompt, citing what it was given."""
    prompt = "\n".join(str(m.get("content", "")) for m in request.get("messages", []))
    papers = _PAPER.findall(prompt)
    if papers:
        nums = [n for n, _ in papers]
        first, second = nums[0], nums[min(1, len(nums) - 1)]
        last = nums[-1]
        return "\n".join(
            [
                "THEMES",
                f"- Both [{first}] ({papers[0][1][:40]}) and [{second}] study learning "
                f"systems. [{first}][{second}]",
                "LINKS BETWEEN FIELDS",
                f"- Methods from [{first}] could inform the setting of [{last}]. [{first}][{last}]",
                "NOTABLE RESULTS",
                f"- [{second}] reports a concrete result. [{second}]",
                "OPEN QUESTIONS",
                "- Whether these results transfer across domains remains open.",
                "WHAT TO READ FIRST",
                f"- Start with [{first}]: it frames the others. [{first}]",
            ]
        )
    passages = _PASSAGE.findall(prompt)
    question = prompt.rsplit("Question:", 1)[-1].lower()
    words = {w for w in re.findall(r"[a-z]{4,}", question)}
    for number, _section, text in passages:
        if number != "1" and words & set(re.findall(r"[a-z]{4,}", text.lower())):
            return f"According to the paper, {text[:160].rstrip()} [P{number}]"
    if passages and words & set(re.findall(r"[a-z]{4,}", passages[0][2].lower())):
        return f"The abstract says: {passages[0][2][:160].rstrip()} [P1]"
    return "The paper does not say."


#: Size of the fake embeddings (small: tests compare directions, not quality).
EMBEDDING_DIM = 32


def embedding_vector(text: str, dim: int = EMBEDDING_DIM) -> list[float]:
    """A deterministic bag-of-words vector: word counts hashed into ``dim`` slots."""
    vector = [0.0] * dim
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        slot = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little") % dim
        vector[slot] += 1.0
    return vector


def _embeddings(request: dict[str, Any]) -> bytes:
    texts = request.get("input", [])
    texts = [texts] if isinstance(texts, str) else texts
    data = [
        {"object": "embedding", "index": i, "embedding": embedding_vector(str(t))}
        for i, t in enumerate(texts)
    ]
    tokens = sum(len(str(t).split()) for t in texts)
    body = {
        "object": "list",
        "data": data,
        "model": request.get("model", "fake-embedder"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return json.dumps(body).encode()


def _completion(action: Text, request: dict[str, Any]) -> bytes:
    prompt = sum(len(str(m.get("content", ""))) for m in request.get("messages", []))
    content = action.content or ""
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "fake-model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": action.content},
                "finish_reason": action.finish_reason,
            }
        ],
    }
    if action.usage:
        p = action.prompt_tokens if action.prompt_tokens is not None else prompt // 4 + 1
        c = action.completion_tokens if action.completion_tokens is not None else len(content) // 4
        body["usage"] = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
    return json.dumps(body).encode()


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            request = {}
        fake = self.server.owner
        action = fake._next(request, {k.lower(): v for k, v in self.headers.items()})
        if self.path.rstrip("/").endswith("/embeddings") and isinstance(action, Smart | Text):
            self._send(200, _embeddings(request), "application/json")
            return
        self._act(action, request)

    def do_GET(self) -> None:
        self._send(404, b'{"error": {"message": "not found"}}', "application/json")

    def _act(self, action: Any, request: dict[str, Any]) -> None:
        fake = self.server.owner
        while True:
            if isinstance(action, Slow):
                if fake._closing.wait(action.seconds):
                    self.close_connection = True
                    return
                action = action.then
            elif isinstance(action, Smart):
                action = Text(smart_text(request))
            elif callable(action) and not isinstance(action, Text | Status | Raw | HangUp):
                action = action(request)
            else:
                break
        if isinstance(action, HangUp):
            self.close_connection = True
            return
        if isinstance(action, Status):
            body = json.dumps(
                {"error": {"message": action.message, "type": "server_error", "code": None}}
            ).encode()
            self._send(action.code, body, "application/json", action.headers)
        elif isinstance(action, Raw):
            self._send(action.code, action.body, action.content_type)
        else:
            assert isinstance(action, Text), action
            self._send(200, _completion(action, request), "application/json")

    def _send(
        self, code: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class FakeLLM(LocalServer):
    """The scripted server. ``url`` is the base URL to configure (``.../v1``)."""

    handler = _Handler
    url_path = "/v1"

    def __init__(self, default: Action | None = None) -> None:
        super().__init__()
        self.default: Action = default if default is not None else Smart()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._queue: list[Action] = []
        self._lock = threading.Lock()

    def push(self, *actions: Action) -> Self:
        """Answer the next requests with ``actions``, in order; then the default again."""
        with self._lock:
            self._queue.extend(actions)
        return self

    def _next(self, request: dict[str, Any], headers: dict[str, str]) -> Action:
        with self._lock:
            self.requests.append(request)
            self.headers.append(headers)
            return self._queue.pop(0) if self._queue else self.default

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.requests)


# -- the whole app with this server as its model -------------------------------------------


@contextmanager
def llm_radar(
    tmp_path: Path,
    llm: FakeLLM | None,
    *,
    channel: str = "lab",
    feed: Path | None = None,
    fulltext_url: str | None = None,
    **llm_settings: Any,
) -> Iterator[Radar]:
    """``tests.flowkit.radar`` with ``[llm]`` pointing at ``llm`` (None: no model).

    The key variable is one no environment sets, so the model is reached only
    through ``base_url``, as with Ollama or vLLM; full texts come from
    ``fulltext_url`` (``{base}/html/{id}``, ``{base}/pdf/{id}``) or are off.
    """
    from bot.app import build
    from bot.clock import FixedClock
    from bot.handlers.console import channel_ref
    from bot.sources.arxiv import ArxivSource
    from bot.sources.http import Throttle
    from bot.sources.replay import AtomPager, ReplayServer
    from tests.flowkit import CAPTURE, NOW, Radar, make_config

    with ReplayServer(default=AtomPager(feed or CAPTURE)) as server:
        config = make_config(tmp_path, f"{server.url}/api/query")
        model = LlmSettings(api_key_env="PAPER_RADAR_TEST_UNSET_KEY", max_retries=0)
        if llm is not None:
            model = replace(model, base_url=llm.url, model="fake-model", timeout_seconds=1.0)
        model = replace(model, **llm_settings)
        text = FullTextSettings(enabled=False)
        if fulltext_url is not None:
            text = FullTextSettings(
                html_url=f"{fulltext_url}/html/{{id}}",
                pdf_url=f"{fulltext_url}/pdf/{{id}}",
                delay_seconds=0.0,
                timeout_seconds=2.0,
            )
        config = replace(config, llm=model, fulltext=text)
        clock = FixedClock(NOW)
        source = ArxivSource(config.arxiv, throttle=Throttle(0.0))
        app = build(config, clock=clock, source=source, rng=random.Random(7))
        try:
            yield Radar(app, server, clock, channel_ref(channel))
        finally:
            app.close()
