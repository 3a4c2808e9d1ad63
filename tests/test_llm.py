"""The language-model client and gateway, against a local OpenAI-compatible server.

Real HTTP through the real ``openai`` SDK (``tests/fakellm.py``): what the bot
sends, how every failure becomes one short note, the cache, single flight, the
per-workspace daily budget, and the cleaning of untrusted model text.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from arxiv import _feed

from bot.config import LlmSettings
from bot.core.channel import ChannelRef
from bot.llm import (
    NO_KEY,
    ChatClient,
    Gateway,
    LlmUnavailable,
    cache_key,
    clean_untrusted,
    client_from_settings,
)
from bot.sources.arxiv import paper_from_result
from bot.store import migrate
from bot.store.repo import Store, Turn
from tests.fakellm import FakeLLM, HangUp, Raw, Slow, Status, Text
from tests.flowkit import CAPTURE

NOW = datetime(2026, 4, 30, 18, 0, tzinfo=UTC)
SECRET = "sk-test-DO-NOT-LOG-4242"
HI = [{"role": "user", "content": "Say hi."}]


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'llm.db'}"
    migrate.upgrade(url)
    s = Store.from_url(url)
    yield s
    s.close()


def settings(llm: FakeLLM, **kw: object) -> LlmSettings:
    base = LlmSettings(base_url=llm.url, model="fake-model", timeout_seconds=5.0, max_retries=0)
    return replace(base, **kw)  # type: ignore[arg-type]


def client(llm: FakeLLM, **kw: object) -> ChatClient:
    return ChatClient(settings(llm, **kw), SECRET)


# -- building the client -------------------------------------------------------------


def test_no_key_and_no_base_url_means_no_client() -> None:
    assert client_from_settings(LlmSettings(), environ={}) is None
    assert client_from_settings(LlmSettings(api_key_env="MY_KEY"), environ={"MY_KEY": " "}) is None


def test_key_from_the_named_variable_or_a_local_server_without_one(llm: FakeLLM) -> None:
    named = client_from_settings(
        LlmSettings(base_url=llm.url, api_key_env="RADAR_LLM_KEY"),
        environ={"RADAR_LLM_KEY": SECRET, "OPENAI_API_KEY": "other"},
    )
    assert named is not None
    named.complete(HI, 20)
    assert llm.headers[-1]["authorization"] == f"Bearer {SECRET}"
    local = client_from_settings(LlmSettings(base_url=llm.url), environ={})
    assert local is not None  # Ollama, vLLM, LM Studio: a base URL and no key
    local.complete(HI, 20)
    assert llm.headers[-1]["authorization"] == f"Bearer {NO_KEY}"
    openai_default = client_from_settings(LlmSettings(), environ={"OPENAI_API_KEY": SECRET})
    assert openai_default is not None
    assert str(openai_default._client.base_url).startswith("https://api.openai.com/v1")


def test_sends_only_what_every_compatible_server_shares(llm: FakeLLM) -> None:
    result = client(llm).complete(HI, 77)
    assert result.text.startswith("The paper does not say") or result.text
    body = llm.requests[0]
    assert set(body) == {"model", "messages", "max_tokens"}
    assert body["model"] == "fake-model" and body["max_tokens"] == 77
    assert body["messages"] == HI


def test_usage_is_read_or_estimated(llm: FakeLLM) -> None:
    llm.push(Text("hello", prompt_tokens=11, completion_tokens=3), Text("hello", usage=False))
    c = client(llm)
    first = c.complete(HI, 20)
    assert (first.prompt_tokens, first.completion_tokens, first.tokens) == (11, 3, 14)
    second = c.complete(HI, 20)
    assert second.prompt_tokens > 0 and second.completion_tokens > 0  # estimated


def test_reasoning_blocks_are_stripped(llm: FakeLLM) -> None:
    llm.push(Text("<think>long private musing</think>\nThe answer. [P1]"))
    assert client(llm).complete(HI, 20).text == "The answer. [P1]"


def test_max_tokens_refusal_switches_to_max_completion_tokens(llm: FakeLLM) -> None:
    llm.push(
        Status(
            400,
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
        ),
        Text("ok"),
        Text("ok again"),
    )
    c = client(llm)
    assert c.complete(HI, 50).text == "ok"
    assert c.complete(HI, 50).text == "ok again"
    assert "max_tokens" in llm.requests[0]
    assert (
        llm.requests[1].get("max_completion_tokens") == 50 and "max_tokens" not in llm.requests[1]
    )
    assert llm.requests[2].get("max_completion_tokens") == 50  # remembered


# -- failures: one short note each -----------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "note"),
    [
        (Status(429, headers={"retry-after": "1"}), "rate-limited (HTTP 429)"),
        (Status(500), "server failed (HTTP 500)"),
        (Status(503), "server failed (HTTP 503)"),
        (Status(401), "refused the API key (HTTP 401)"),
        (Status(404), "does not know this model"),
        (Status(400, "context length exceeded"), "refused the request (HTTP 400)"),
        (Raw(b"<html>Bad gateway</html>", "text/html"), "malformed response"),
        (Raw(b'{"choices": [', "application/json"), "malformed response"),
        (Raw(b'{"object": "list", "data": []}', "application/json"), "malformed response"),
        (Raw(b"\x00\xff\xfe garbage", "application/octet-stream"), "malformed response"),
        (Text(None), "malformed response"),
        (Text("   "), "empty answer"),
        (Text("", finish_reason="content_filter"), "declined"),
        (HangUp(), "could not be reached"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else v[:20],
)
def test_every_failure_is_one_short_note(llm: FakeLLM, action: object, note: str) -> None:
    llm.push(action)  # type: ignore[arg-type]
    with pytest.raises(LlmUnavailable) as info:
        client(llm).complete(HI, 20)
    assert note in info.value.note
    assert not info.value.budget
    assert "Traceback" not in info.value.note and "{" not in info.value.note


def test_a_slow_server_times_out(llm: FakeLLM) -> None:
    llm.push(Slow(3.0, Text("too late")))
    with pytest.raises(LlmUnavailable, match="timed out"):
        client(llm, timeout_seconds=0.3).complete(HI, 20)


def test_retries_use_the_configured_count(llm: FakeLLM) -> None:
    llm.push(Status(503, headers={"retry-after-ms": "5"}), Text("second try"))
    assert client(llm, max_retries=1).complete(HI, 20).text == "second try"
    assert llm.calls == 2


def test_the_key_is_never_logged(llm: FakeLLM, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    llm.push(Status(500), Status(401), HangUp(), Text("fine"))
    c = client(llm)
    for _ in range(3):
        with pytest.raises(LlmUnavailable):
            c.complete(HI, 20)
    c.complete(HI, 20)
    assert caplog.records, "the SDK and the bot log at DEBUG"
    assert SECRET not in caplog.text
    assert SECRET not in repr(c) and SECRET not in repr(c.settings)


# -- the gateway: cache, single flight, budget ------------------------------------------


def test_the_same_request_is_one_call(store: Store, llm: FakeLLM) -> None:
    gateway = Gateway(store, client(llm), settings(llm))
    kw = {"kind": "brief", "prompt_version": "v1", "messages": HI, "now": NOW}
    first = gateway.complete(workspace="slack:T1", **kw)  # type: ignore[arg-type]
    again = gateway.complete(workspace="discord:G9", **kw)  # type: ignore[arg-type]
    assert llm.calls == 1 and gateway.calls == 1
    assert not first.cached and again.cached and again.text == first.text
    other = gateway.complete(workspace="slack:T1", **{**kw, "prompt_version": "v2"})  # type: ignore[arg-type]
    assert not other.cached and llm.calls == 2


def test_the_cache_key_covers_model_prompt_and_content() -> None:
    base = cache_key("brief", "v1", "m", HI)
    assert base == cache_key("brief", "v1", "m", [dict(HI[0])])
    assert base != cache_key("brief", "v1", "m2", HI)
    assert base != cache_key("brief", "v2", "m", HI)
    assert base != cache_key("answer", "v1", "m", HI)
    assert base != cache_key("brief", "v1", "m", [{"role": "user", "content": "Say hi!"}])


def test_a_new_model_is_a_new_call(store: Store, llm: FakeLLM) -> None:
    kw = {"kind": "brief", "prompt_version": "v1", "messages": HI, "workspace": "w", "now": NOW}
    Gateway(store, client(llm), settings(llm)).complete(**kw)  # type: ignore[arg-type]
    Gateway(store, client(llm, model="other"), settings(llm)).complete(**kw)  # type: ignore[arg-type]
    assert llm.calls == 2


def test_concurrent_askers_share_one_call(store: Store) -> None:
    with FakeLLM(default=Slow(0.3, Text("shared"))) as llm:
        gateway = Gateway(store, client(llm), settings(llm))
        results: list[str] = []

        def ask(i: int) -> None:
            r = gateway.complete(
                kind="brief", prompt_version="v1", messages=HI, workspace=f"w{i}", now=NOW
            )
            results.append(r.text)

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == ["shared"] * 6
        assert llm.calls == 1


def test_failures_are_not_cached(store: Store, llm: FakeLLM) -> None:
    llm.push(Status(500), Text("recovered"))
    gateway = Gateway(store, client(llm), settings(llm))
    kw = {"kind": "brief", "prompt_version": "v1", "messages": HI, "workspace": "w", "now": NOW}
    with pytest.raises(LlmUnavailable):
        gateway.complete(**kw)  # type: ignore[arg-type]
    assert gateway.complete(**kw).text == "recovered"  # type: ignore[arg-type]


def test_daily_budget_per_workspace(store: Store, llm: FakeLLM) -> None:
    budget = settings(llm, daily_token_budget=400, max_output_tokens=100)
    llm.default = Text("ok", prompt_tokens=150, completion_tokens=50)
    gateway = Gateway(store, client(llm), budget)

    def ask(workspace: str, text: str, now: datetime = NOW) -> str:
        messages = [{"role": "user", "content": text}]
        return gateway.complete(
            kind="answer", prompt_version="v1", messages=messages, workspace=workspace, now=now
        ).text

    assert ask("slack:T1", "one") == "ok"  # 200 spent
    with pytest.raises(LlmUnavailable) as info:
        ask("slack:T1", "two" * 200)  # 200 + ~150 + 100 > 400
    assert info.value.budget
    assert "daily language-model budget (400 tokens" in info.value.note
    assert "renews at 00:00 UTC" in info.value.note
    assert store.llm_spent("slack:T1", "2026-04-30") == 200
    assert ask("slack:T1", "one") == "ok"  # a cached answer costs nothing: still served
    assert ask("slack:T2", "two" * 200) == "ok"  # another workspace has its own budget
    assert ask("slack:T1", "two" * 200) == "ok"  # the cache is shared across workspaces
    assert ask("slack:T1", "three" * 100, NOW + timedelta(days=1)) == "ok"  # a new day
    assert llm.calls == 3


def test_unlimited_budget(store: Store, llm: FakeLLM) -> None:
    gateway = Gateway(store, client(llm), settings(llm, daily_token_budget=0))
    for i in range(3):
        gateway.complete(
            kind="answer",
            prompt_version="v1",
            messages=[{"role": "user", "content": f"q{i}" * 5000}],
            workspace="w",
            now=NOW,
        )
    assert llm.calls == 3


def test_no_client_is_unavailable_without_a_request(store: Store) -> None:
    gateway = Gateway(store, None, LlmSettings())
    assert not gateway.available
    with pytest.raises(LlmUnavailable, match="no language model"):
        gateway.complete(kind="brief", prompt_version="v1", messages=HI, workspace="w", now=NOW)


# -- the store's side, on SQLite and PostgreSQL -------------------------------------------


def test_store_keeps_results_usage_texts_turns_and_claims(db_url: str) -> None:
    migrate.upgrade(db_url)
    store = Store.from_url(db_url)
    try:
        paper = paper_from_result(_feed.parse(CAPTURE.read_bytes()).results[0])
        store.upsert_papers([paper], NOW)
        channel = store.channel(ChannelRef("slack", "T1", "C1"))

        assert store.llm_result("k" * 64) is None
        store.save_llm_result("k" * 64, "brief", "m", "v1", "text", 10, 5, NOW)
        store.save_llm_result("k" * 64, "brief", "m", "v1", "text", 10, 5, NOW)  # a racing twin
        cached = store.llm_result("k" * 64)
        assert cached is not None and (cached.text, cached.prompt_tokens) == ("text", 10)

        assert store.llm_spent("slack:T1", "2026-04-30") == 0
        assert store.settle_llm("slack:T1", "2026-04-30", 0, 120) == 120
        assert store.settle_llm("slack:T1", "2026-04-30", 0, 30) == 150
        assert store.llm_spent("slack:T2", "2026-04-30") == 0

        store.save_full_text(paper.key, "missing", "", "", "", NOW)
        store.save_full_text(paper.key, "ok", "html", "https://x/html/1", "body", NOW)
        stored = store.full_text(paper.key)
        assert stored is not None and (stored.status, stored.text) == ("ok", "body")
        store.save_full_text("arxiv:0000.00000", "ok", "html", "u", "t", NOW)  # unknown: ignored
        assert store.full_text("arxiv:0000.00000") is None

        turns = [Turn("user", f"q{i}") for i in range(10)]
        store.add_thread_turns(channel.id, "M1", paper.key, turns, NOW)
        assert [t.text for t in store.thread_turns(channel.id, "M1", limit=3)] == [
            "q7",
            "q8",
            "q9",
        ]
        assert store.thread_turns(channel.id, "M2") == []

        assert store.claim_auto_brief(channel.id, "day:2026-04-30", NOW)
        assert not store.claim_auto_brief(channel.id, "day:2026-04-30", NOW)
        assert store.claim_auto_brief(channel.id, "day:2026-05-01", NOW)
    finally:
        store.close()


# -- untrusted text ------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<@U024BE7LH>",
        "<@&123456789>",
        "<#C024BE7LH|general>",
        "<!subteam^S123|@team>",
    ],
)
def test_mention_syntax_is_removed(bad: str) -> None:
    assert clean_untrusted(f"Results {bad} are strong.") == "Results  are strong."


def test_mass_mentions_links_and_markup_are_defused() -> None:
    text = (
        "# Ignore the rules\n> quoted\n@channel look @here and @everyone! ＠channel\n"
        "See https://evil.example/x?a=1 and [click](http://evil.example) or www.evil.example\n"
        "```python\nrm -rf /\n```\x07\u202e"
    )
    out = clean_untrusted(text)
    for gone in ("@channel", "@here", "@everyone", "＠channel", "evil.example", "http", "```"):
        assert gone not in out
    assert "\x07" not in out and "\u202e" not in out
    assert out.splitlines()[0] == "Ignore the rules"
    assert "click" in out and "channel look here and everyone" in out
