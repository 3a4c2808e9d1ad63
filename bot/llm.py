"""The language model: one OpenAI-compatible client, and the gateway that makes it cheap.

Two layers, on purpose:

``ChatClient``
    The ``openai`` package (v3) with a configurable ``base_url``, so OpenAI,
    Ollama, vLLM and LM Studio all work. It uses only what those servers
    share: ``POST /chat/completions`` with ``model``, ``messages`` and
    ``max_tokens``. Every failure (timeout, 429, 5xx, a closed connection, a
    body that is not a chat completion) becomes one ``LlmUnavailable`` with a
    short note written for people; callers then fall back to the extractive
    method, so a reply is never lost to the model.

``Gateway``
    What every call goes through: a cache keyed by the content hash of the
    request (kind, prompt version, model, messages), so the same briefing in
    ten channels costs one call; a single-flight lock so ten channels asking
    at the same moment still cost one; and a per-workspace daily token budget.

``client_from_settings`` builds no client at all when neither a key nor a
base URL is configured: the bot then runs extractive-only, by design. The
``openai`` package itself (about 45 MiB with what it imports) is imported on
the first request a configured client makes, never by importing this module:
most processes (an unconfigured bot, the daily run) never call a model.

Model output is untrusted text. ``clean_untrusted`` removes what could ping
people or smuggle formatting or links into a channel; the briefing and answer
code run every model text (and every quoted abstract sentence) through it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot.core.safety import defuse_links, defuse_mentions, strip_controls
from bot.errors import LimitError
from bot.settings import LlmSettings
from bot.store.repo import Store

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionMessageParam

log = logging.getLogger(__name__)

OPENAI_URL = "https://api.openai.com/v1"
#: Sent as the key to servers that need none (Ollama, vLLM, LM Studio without auth):
#: the SDK insists on some key, and a server that ignores it is unaffected.
NO_KEY = "no-key-configured"

Message = Mapping[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}


class LlmUnavailable(Exception):
    """The model could not serve this request. ``note`` is a short reason for people;
    ``budget`` is True when the workspace's daily budget is what stopped it."""

    def __init__(self, note: str, *, budget: bool = False) -> None:
        super().__init__(note)
        self.note = note
        self.budget = budget


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool = False

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ChatModel(Protocol):
    """What the gateway needs from a client (``ChatClient``, or a test double)."""

    model: str

    def complete(self, messages: Sequence[Message], max_tokens: int) -> Completion: ...

    def close(self) -> None: ...


def estimate_tokens(text: str) -> int:
    """A deliberately generous token estimate (4 characters per token), for budgets
    and for servers that report no usage."""
    return len(text) // 4 + 1


_THINK = re.compile(r"<think>.*?(</think>|$)", re.S | re.I)


class ChatClient:
    """Chat completions through the ``openai`` package, any OpenAI-compatible server.

    The API key is handed to the SDK and kept nowhere else; nothing here logs
    it, and errors are reported by class and status code, never with request
    headers or bodies.
    """

    def __init__(self, settings: LlmSettings, api_key: str) -> None:
        self.model = settings.model
        self.settings = settings
        self._api_key = api_key or NO_KEY
        self._sdk: openai.OpenAI | None = None
        self._sdk_lock = threading.Lock()
        # Adapted on the first refusal and kept: OpenAI's reasoning models want
        # ``max_completion_tokens`` and refuse ``max_tokens``; everything else
        # (Ollama, vLLM, LM Studio, older OpenAI models) takes ``max_tokens``.
        self._limit_param = "max_tokens"

    @property
    def _client(self) -> openai.OpenAI:
        """The SDK client, made (and ``openai`` imported) on first use."""
        with self._sdk_lock:
            if self._sdk is None:
                import openai

                self._sdk = openai.OpenAI(
                    api_key=self._api_key,
                    base_url=self.settings.base_url or OPENAI_URL,
                    timeout=self.settings.timeout_seconds,
                    max_retries=self.settings.max_retries,
                )
            return self._sdk

    def close(self) -> None:
        if self._sdk is not None:
            self._sdk.close()

    def complete(self, messages: Sequence[Message], max_tokens: int) -> Completion:
        """One chat completion. Raises ``LlmUnavailable`` on any failure."""
        import openai

        payload: list[ChatCompletionMessageParam] = [
            {"role": m["role"], "content": m["content"]}  # type: ignore[misc]
            for m in messages
        ]
        for attempt in range(2):
            try:
                response = self._create(payload, max_tokens)
            except openai.BadRequestError as err:
                if (
                    attempt == 0
                    and self._limit_param == "max_tokens"
                    and _mentions(err, "max_tokens")
                ):
                    self._limit_param = "max_completion_tokens"
                    continue
                raise self._unavailable(err) from None
            except Exception as err:  # every failure must become a fallback
                raise self._unavailable(err) from None
            return self._completion(response, payload)
        raise LlmUnavailable("the language model refused the request (HTTP 400)")

    def _create(self, payload: list[ChatCompletionMessageParam], max_tokens: int) -> Any:
        if self._limit_param == "max_completion_tokens":
            return self._client.chat.completions.create(
                model=self.model, messages=payload, max_completion_tokens=max_tokens
            )
        return self._client.chat.completions.create(
            model=self.model, messages=payload, max_tokens=max_tokens
        )

    def _completion(
        self, response: Any, payload: Sequence[ChatCompletionMessageParam]
    ) -> Completion:
        """Read a response defensively: the SDK returns a plain ``str`` for a non-JSON
        body and builds models without validation, so nothing can be assumed."""
        from openai.types.chat import ChatCompletion

        malformed = LlmUnavailable("the language model sent a malformed response")
        if not isinstance(response, ChatCompletion):
            log.warning("llm: response is not a chat completion (%s)", type(response).__name__)
            raise malformed
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list) or not choices:
            log.warning("llm: chat completion without choices")
            raise malformed
        message = getattr(choices[0], "message", None)
        content = getattr(message, "content", None)
        if not isinstance(content, str):
            log.warning("llm: chat completion without text content")
            raise malformed
        text = _THINK.sub("", content).strip()  # reasoning models served raw (Ollama, vLLM)
        if not text:
            if getattr(choices[0], "finish_reason", None) == "content_filter":
                raise LlmUnavailable("the language model declined to answer")
            raise LlmUnavailable("the language model sent an empty answer")
        usage = getattr(response, "usage", None)
        prompt = _int(getattr(usage, "prompt_tokens", None))
        output = _int(getattr(usage, "completion_tokens", None))
        if prompt is None or output is None:  # some servers report no usage
            prompt = sum(estimate_tokens(str(m.get("content", ""))) for m in payload)
            output = estimate_tokens(content)
        model = getattr(response, "model", None)
        return Completion(text, model if isinstance(model, str) else self.model, prompt, output)

    def _unavailable(self, err: Exception) -> LlmUnavailable:
        note = describe_failure(err)
        log.warning("llm: %s (%s, model=%s)", note, type(err).__name__, self.model)
        return LlmUnavailable(note)


def describe_failure(err: Exception) -> str:
    """A short reason for people, from an SDK exception (never its body or headers)."""
    import openai  # imported already: only `ChatClient.complete` calls this

    if isinstance(err, openai.APITimeoutError):
        return "the language model timed out"
    if isinstance(err, openai.APIConnectionError):
        return "the language model could not be reached"
    if isinstance(err, openai.RateLimitError):
        return "the language model is rate-limited (HTTP 429)"
    if isinstance(err, openai.AuthenticationError | openai.PermissionDeniedError):
        return f"the language model refused the API key (HTTP {err.status_code})"
    if isinstance(err, openai.NotFoundError):
        return "the language model server does not know this model (HTTP 404)"
    if isinstance(err, openai.APIStatusError):
        if err.status_code >= 500:
            return f"the language model server failed (HTTP {err.status_code})"
        return f"the language model refused the request (HTTP {err.status_code})"
    return "the language model sent a malformed response"


def _mentions(err: openai.APIStatusError, word: str) -> bool:
    return word in f"{err.message} {err.body!r}"


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def client_from_settings(
    settings: LlmSettings, environ: Mapping[str, str] | None = None
) -> ChatClient | None:
    """The configured client, or None (extractive fallbacks) with no key and no base URL.

    The key is read from the environment variable the config names, never
    from the config file. A base URL without a key is a local server
    (Ollama, vLLM, LM Studio) that needs none.
    """
    env = os.environ if environ is None else environ
    key = (env.get(settings.api_key_env) or "").strip() if settings.api_key_env else ""
    if not key and not settings.base_url:
        return None
    return ChatClient(settings, key)


# -- the gateway: cache, single flight, budget ------------------------------------------


def cache_key(kind: str, prompt_version: str, model: str, messages: Sequence[Message]) -> str:
    """SHA-256 of everything that shapes a result; the same request is the same key."""
    blob = json.dumps(
        {"kind": kind, "v": prompt_version, "model": model, "messages": list(map(dict, messages))},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class Gateway:
    """Every model call goes through here: cache, single flight, budget, usage.

    ``calls`` and ``tokens`` count what this process actually sent to the model
    (cache hits excluded), for the benchmark and for logs.

    The workspace's daily token budget is kept in the database (reserve before
    a call, settle after), so it holds across threads and processes. On top of
    it, ``admit`` caps how many briefings and questions one person and one
    channel may ask a day, so one person cannot spend a workspace's whole day
    in a minute.
    """

    def __init__(self, store: Store, client: ChatModel | None, settings: LlmSettings) -> None:
        self.store = store
        self.client = client
        self.settings = settings
        self.calls = 0
        self.tokens = 0
        self._locks: dict[str, list[Any]] = {}  # key -> [lock, users]
        self._locks_guard = threading.Lock()

    @property
    def available(self) -> bool:
        return self.client is not None

    @property
    def model(self) -> str:
        return self.client.model if self.client is not None else ""

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def complete(
        self,
        *,
        kind: str,
        prompt_version: str,
        messages: Sequence[Message],
        workspace: str,
        now: datetime,
        max_tokens: int | None = None,
        check: Callable[[str], object] | None = None,
    ) -> Completion:
        """The model's answer to ``messages``, from the cache when it was asked before.

        ``check`` validates a fresh answer before it is cached (it raises
        ``LlmUnavailable`` to refuse it): an answer the caller cannot use must
        not be served from the cache to every later asker. Its tokens are
        still charged, since they were spent.

        Raises ``LlmUnavailable`` when there is no model, the workspace's daily
        budget is spent, the call fails or ``check`` refuses the answer.
        """
        if self.client is None:
            raise LlmUnavailable("no language model is configured")
        limit = max_tokens or self.settings.max_output_tokens
        key = cache_key(kind, prompt_version, self.client.model, messages)
        with self._flight(key):
            hit = self.store.llm_result(key)
            if hit is not None:
                return Completion(
                    hit.text, hit.model, hit.prompt_tokens, hit.completion_tokens, cached=True
                )
            day = now.strftime("%Y-%m-%d")
            # Reserve the most this call can cost before making it, settle to
            # what it really cost after: concurrent calls (threads, processes)
            # each hold their share of the budget while in flight, so together
            # they cannot start more than it allows.
            budget = self.settings.daily_token_budget
            needed = sum(estimate_tokens(m["content"]) for m in messages) + limit
            reserved = needed if budget > 0 else 0
            if reserved:
                ok, spent = self.store.reserve_llm(workspace, day, reserved, budget)
                if not ok:
                    raise LlmUnavailable(
                        f"this workspace has used its daily language-model budget "
                        f"({budget:,} tokens; {spent:,} spent today); it renews at 00:00 UTC",
                        budget=True,
                    )
            try:
                result = self.client.complete(messages, limit)
            except BaseException:
                if reserved:
                    self.store.release_llm(workspace, day, reserved)
                raise
            with self._locks_guard:
                self.calls += 1
                self.tokens += result.tokens
            self.store.settle_llm(workspace, day, reserved, result.tokens)
            if check is not None:
                check(result.text)
            self.store.save_llm_result(
                key,
                kind,
                result.model,
                prompt_version,
                result.text,
                result.prompt_tokens,
                result.completion_tokens,
                now,
            )
            log.info(
                "llm call kind=%s workspace=%s tokens=%d model=%s",
                kind,
                workspace,
                result.tokens,
                result.model,
            )
            return result

    def admit(self, *, workspace: str, channel: str, user: str | None, now: datetime) -> None:
        """Count one briefing or question against today's caps of the person
        ``user`` (None: not known, e.g. a scheduled briefing) and of ``channel``
        in ``workspace`` (``[llm] user_daily_calls`` / ``channel_daily_calls``;
        0: no cap).

        What counts: every briefing and question asked while a model is
        configured, whether or not it is then served from the cache or ends in
        the extractive fallback. Counting only real model calls would make the
        cap depend on what others asked before (a cache hit is free), which
        nobody can predict; a person sees a plain daily allowance instead. With
        no model configured nothing is counted: extractive answers cost nothing.

        Raises ``LimitError`` (nothing counted) when either cap is reached.
        """
        if self.client is None:
            return
        day = now.strftime("%Y-%m-%d")
        per_user, per_channel = self.settings.user_daily_calls, self.settings.channel_daily_calls
        limits: list[tuple[str, int]] = []
        if user and per_user > 0:
            limits.append((_tally("user", workspace, user), per_user))
        if per_channel > 0:
            limits.append((_tally("channel", workspace, channel), per_channel))
        if not limits:
            return
        full = self.store.count_request(day, limits)
        if full is None:
            return
        if limits[0][0] == full and user and per_user > 0:
            raise LimitError(
                f"You have asked for {per_user} briefings and answers today, the most one "
                "person can; it renews at 00:00 UTC."
            )
        raise LimitError(
            f"This channel has asked for {per_channel} briefings and answers today, the "
            "most one channel can; it renews at 00:00 UTC."
        )

    @contextmanager
    def _flight(self, key: str) -> Iterator[None]:
        """One call per key at a time in this process: the others wait, then hit the cache."""
        with self._locks_guard:
            entry = self._locks.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._locks_guard:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[key]


def workspace_of(platform: str, workspace: str) -> str:
    """The budget's unit: a Slack team or a Discord guild (or the console)."""
    return f"{platform}:{workspace}"


def _tally(*parts: str) -> str:
    """The name of a daily request tally (``quota:user:slack:T1:U7``), at most 200
    characters (the column's size): a longer one is named by its hash."""
    name = "quota:" + ":".join(parts)
    if len(name) <= 200:
        return name
    return "quota:#" + hashlib.sha256(name.encode("utf-8")).hexdigest()


# -- untrusted text ------------------------------------------------------------------

_ANGLE_TOKEN = re.compile(r"<[!@#][^<>\n]{0,200}>|<a?:\w+:\d+>")  # Slack/Discord mention syntax
_MASS = re.compile(r"[@＠]+\s*(?=(everyone|here|channel)\b)", re.I)
_FENCE = re.compile(r"`{3,}[a-z]*")
_LINE_PREFIX = re.compile(r"^\s*(?:#{1,6}\s*|>+\s*|-#\s+)")


def clean_untrusted(text: str, keep_urls: Sequence[str] = ()) -> str:
    """Model output (or a quoted abstract) made safe for any channel.

    Removes Slack/Discord mention syntax (``<!channel>``, ``<@U1>``, ``<#C1>``,
    ``<@&role>``), turns ``@everyone``/``@here``/``@channel`` into plain words,
    drops links but to ``keep_urls`` (the cited papers' own; cards carry the
    real ones) and defuses bare domains Slack would link
    (``bot.core.safety.defuse_links``), drops code fences, strips heading and
    quote markers at line starts, and removes control and bidi characters
    (``bot.core.safety.strip_controls``, line by line to keep the lines).
    Renderers escape again for their platform; this is the first of two locks.
    """
    text = "\n".join(strip_controls(line) for line in text.splitlines())
    text = _ANGLE_TOKEN.sub("", text)
    text = defuse_links(text, keep_urls)
    text = _MASS.sub("", text)
    text = _FENCE.sub("", text)
    lines = [_LINE_PREFIX.sub("", line) for line in text.splitlines()]
    return defuse_mentions("\n".join(lines)).strip()
