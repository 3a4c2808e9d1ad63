"""The model's daily budgets hold under concurrency, and one person cannot spend a day.

Real HTTP through the real ``openai`` SDK to the local fake model server
(``tests/fakellm.py``), a real SQLite file and the test run's PostgreSQL:
the workspace's token budget is reserved before a call and settled after it
in the database, so 40 threads asking at once cannot overshoot it; and the
per-person and per-channel caps on briefings and questions refuse with a
message that says so.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.actor import Actor
from bot.core.channel import ChannelRef
from bot.errors import LimitError
from bot.llm import ChatClient, Gateway, LlmUnavailable
from bot.settings import LlmSettings
from bot.store.repo import Store
from tests.fakellm import FakeLLM, Slow, Status, Text, llm_radar

NOW = datetime(2026, 4, 30, 18, 0, tzinfo=UTC)
DAY = "2026-04-30"
WORKSPACE = "slack:T1"


def gateway(store: Store, llm: FakeLLM, **kw: object) -> Gateway:
    settings = replace(
        LlmSettings(base_url=llm.url, model="fake-model", timeout_seconds=10.0, max_retries=0),
        **kw,  # type: ignore[arg-type]
    )
    return Gateway(store, ChatClient(settings, "no-key"), settings)


def ask(g: Gateway, text: str, workspace: str = WORKSPACE) -> str:
    return g.complete(
        kind="answer",
        prompt_version="v1",
        messages=[{"role": "user", "content": text}],
        workspace=workspace,
        now=NOW,
    ).text


def in_threads(n: int, work: object) -> list[object]:
    """``work(i)`` in ``n`` threads released together; each result or exception."""
    start = threading.Barrier(n)
    out: list[object] = [None] * n

    def run(i: int) -> None:
        start.wait()
        try:
            out[i] = work(i)  # type: ignore[operator]
        except Exception as exc:
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


# -- the workspace's token budget -----------------------------------------------------


def test_forty_threads_at_once_cannot_overshoot_the_daily_budget(store: Store) -> None:
    """Each call may cost up to ~108 tokens (prompt estimate + max_output_tokens)
    and really costs 100; 40 distinct questions at once against a 1,000-token
    budget: what was spent stays within it, and the refused ones say why."""
    budget = 1000
    with FakeLLM(default=Slow(0.05, Text("ok", prompt_tokens=50, completion_tokens=50))) as llm:
        g = gateway(store, llm, daily_token_budget=budget, max_output_tokens=100)
        results = in_threads(40, lambda i: ask(g, f"question {i:02d} " * 2))
        answered = [r for r in results if r == "ok"]
        refused = [r for r in results if isinstance(r, LlmUnavailable)]
        assert len(answered) + len(refused) == 40, results
        assert all(r.budget for r in refused)
        spent = store.llm_spent(WORKSPACE, DAY)
        assert spent == 100 * llm.calls == 100 * len(answered)
        assert spent <= budget
        assert len(answered) >= 5  # reservations are given back as calls settle


def test_a_failed_call_gives_its_reservation_back(store: Store) -> None:
    with FakeLLM() as llm:
        llm.push(Status(503), Text("ok", prompt_tokens=10, completion_tokens=5))
        g = gateway(store, llm, daily_token_budget=1000, max_output_tokens=100)
        with pytest.raises(LlmUnavailable) as info:
            ask(g, "first")
        assert not info.value.budget
        assert store.llm_spent(WORKSPACE, DAY) == 0
        assert ask(g, "second") == "ok"
        assert store.llm_spent(WORKSPACE, DAY) == 15


def test_reservations_are_atomic_in_the_store(store: Store) -> None:
    """The store's side alone, from many threads: never more reserved than the budget."""
    results = in_threads(30, lambda _i: store.reserve_llm(WORKSPACE, DAY, 70, 1000))
    granted = [r for r in results if isinstance(r, tuple) and r[0]]
    assert len(granted) == 14  # 14 * 70 = 980; a 15th would make 1,050
    assert store.llm_spent(WORKSPACE, DAY) == 980
    store.settle_llm(WORKSPACE, DAY, 70, 20)
    store.release_llm(WORKSPACE, DAY, 70)
    assert store.llm_spent(WORKSPACE, DAY) == 980 - 70 + 20 - 70


# -- per person and per channel -------------------------------------------------------


def test_a_person_and_a_channel_have_daily_caps(store: Store) -> None:
    with FakeLLM() as llm:
        g = gateway(store, llm, user_daily_calls=2, channel_daily_calls=3)

        def admit(user: str | None, channel: str = "C1", now: datetime = NOW) -> None:
            g.admit(workspace=WORKSPACE, channel=channel, user=user, now=now)

        admit("U1")
        admit("U1")
        with pytest.raises(LimitError) as info:
            admit("U1")
        assert str(info.value) == (
            "You have asked for 2 briefings and answers today, the most one person can; "
            "it renews at 00:00 UTC."
        )
        admit("U2")  # the channel's third
        with pytest.raises(LimitError) as info:
            admit("U3")
        assert str(info.value).startswith("This channel has asked for 3 briefings and answers")
        assert "renews at 00:00 UTC" in str(info.value)
        admit("U3", channel="C2")  # another channel has its own allowance
        admit("U1", now=NOW + timedelta(days=1))  # a new day
        assert llm.calls == 0  # counting asks no model


def test_a_refused_request_counts_nothing(store: Store) -> None:
    """U1 is at their cap: their refused asks do not use up the channel's."""
    with FakeLLM() as llm:
        g = gateway(store, llm, user_daily_calls=1, channel_daily_calls=3)
        g.admit(workspace=WORKSPACE, channel="C1", user="U1", now=NOW)
        for _ in range(5):
            with pytest.raises(LimitError):
                g.admit(workspace=WORKSPACE, channel="C1", user="U1", now=NOW)
        g.admit(workspace=WORKSPACE, channel="C1", user="U2", now=NOW)
        g.admit(workspace=WORKSPACE, channel="C1", user="U3", now=NOW)


def test_a_cap_holds_under_concurrency(store: Store) -> None:
    with FakeLLM() as llm:
        g = gateway(store, llm, user_daily_calls=5, channel_daily_calls=0)
        results = in_threads(
            20, lambda _i: g.admit(workspace=WORKSPACE, channel="C1", user="U1", now=NOW)
        )
        assert sum(1 for r in results if r is None) == 5
        assert all(isinstance(r, LimitError) for r in results if r is not None)


def admitted(g: Gateway, times: int) -> int:
    """How many of ``times`` requests by one person the gateway lets through."""
    count = 0
    for _ in range(times):
        try:
            g.admit(workspace=WORKSPACE, channel="C1", user="U1", now=NOW)
        except LimitError:
            continue
        count += 1
    return count


def test_no_caps_when_zero_or_without_a_model(store: Store) -> None:
    with FakeLLM() as llm:
        assert admitted(gateway(store, llm, user_daily_calls=0, channel_daily_calls=0), 50) == 50
    assert admitted(Gateway(store, None, LlmSettings(user_daily_calls=1)), 5) == 5


def test_briefs_and_questions_count_per_person_end_to_end(tmp_path: Path) -> None:
    """Through the service, as Slack or Discord call it: the person's third
    briefing or question of the day is refused with the message; another
    person in the channel is still served; a cached briefing counts too."""
    ref = ChannelRef("slack", "T1", "C1", "lab")
    alice, bob = Actor("U1", "alice"), Actor("U2", "bob")
    with FakeLLM() as llm, llm_radar(tmp_path, llm, user_daily_calls=2) as r:
        assert r.app.service.handle(ref, "category cs.LG", alice).kind == "radar"
        first = r.app.service.handle(ref, "brief", alice)
        assert first.kind == "brief"
        assert r.app.service.handle(ref, "brief", alice).kind == "brief"  # cached, counted
        refused = r.app.service.handle(ref, "brief", alice)
        assert refused.kind == "error" and refused.ephemeral
        assert refused.title == (
            "You have asked for 2 briefings and answers today, the most one person can; "
            "it renews at 00:00 UTC."
        )
        assert r.app.service.handle(ref, "brief", bob).kind == "brief"
        assert llm.calls == 1
        # A thread question by alice is refused too, and stores no turn.
        state = r.app.store.find_channel(ref)
        assert state is not None
        key = first.cards[0].key
        r.app.store.record_card(state.id, key, 1, "M1", NOW)
        answer = r.app.service.ask(ref, "M1", "What is new here?", user="U1")
        assert answer is not None and answer.kind == "error"
        assert "You have asked for 2" in answer.title
        assert r.app.store.thread_turns(state.id, "M1") == []
        answer = r.app.service.ask(ref, "M1", "What is new here?", user=bob)
        assert answer is not None and answer.kind == "answer"
