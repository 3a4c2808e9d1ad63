"""The planner's pause of the cyclic collector: no collection mid-plan, and the
collector left as it was found (on, or off if the host program turned it off)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest
from test_daily import REAL_CHIPS, real_day

from bot.core.collector import collector_paused
from bot.digest import daily


@pytest.fixture(autouse=True)
def restore_collector() -> Iterator[None]:
    was_on, thresholds = gc.isenabled(), gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    (gc.enable if was_on else gc.disable)()


def radars() -> dict[int, list]:
    return {
        n: [REAL_CHIPS[n % len(REAL_CHIPS)], REAL_CHIPS[(n * 7) % len(REAL_CHIPS)]]
        for n in range(40)
    }


def test_no_collection_runs_while_a_day_is_planned(monkeypatch) -> None:
    """With a threshold of 1 every allocation would set off a collection; the
    pause keeps them all out of planning and lets them run after it."""
    inside = False
    during: list[int] = []
    after: list[int] = []

    def plan(*args: object) -> dict:
        nonlocal inside
        inside = True
        try:
            return real_plan(*args)
        finally:
            inside = False

    def watch(phase: str, info: dict) -> None:
        if phase == "start":
            (during if inside else after).append(info["generation"])

    real_plan = daily._plan_radars
    monkeypatch.setattr(daily, "_plan_radars", plan)
    pool = real_day()
    gc.enable()
    gc.set_threshold(1)
    gc.callbacks.append(watch)
    try:
        plans = daily.plan_radars(radars(), pool, {}, {})
        [object() for _ in range(10)]  # allocations after the plan may collect again
    finally:
        gc.callbacks.remove(watch)
    assert any(p.matches for p in plans.values())
    assert during == []
    assert after, "the collector was not running again after the plan"
    assert gc.isenabled()


def test_a_collector_turned_off_by_the_host_stays_off() -> None:
    gc.disable()
    daily.plan_radars(radars(), real_day()[:20], {}, {})
    assert not gc.isenabled()


def test_the_collector_resumes_after_a_failed_plan() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("planning failed")
    assert gc.isenabled()


def test_nested_and_concurrent_pauses_resume_only_when_the_last_ends() -> None:
    gc.enable()
    entered, release = threading.Event(), threading.Event()

    def other_plan() -> None:
        with collector_paused():
            entered.set()
            release.wait(5)

    worker = threading.Thread(target=other_plan)
    with collector_paused():
        worker.start()
        assert entered.wait(5)
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert not gc.isenabled(), "resumed while another thread was still planning"
    release.set()
    worker.join(5)
    assert gc.isenabled()
