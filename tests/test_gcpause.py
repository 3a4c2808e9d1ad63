"""The planner pauses the cyclic collector, and always gives it back.

A pause that leaked (an exception, two threads, a nested pause) would leave a
long-running bot without cycle detection for good: memory that only grows.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest
from test_matching import paper

from bot.core.chips import Chip, ChipKind
from bot.digest.daily import plan_radars
from bot.gcpause import collector_paused


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_off_inside_and_on_after_even_when_the_block_raises() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("planning failed")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_overlapping_pauses_in_two_threads_resume_only_when_the_last_ends() -> None:
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with collector_paused():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    with collector_paused():
        thread.start()
        assert inside.wait(5)
    assert not gc.isenabled()  # the other thread's pause still runs
    release.set()
    thread.join(5)
    assert gc.isenabled()
    with collector_paused(), collector_paused():  # nested in one thread
        pass
    assert gc.isenabled()


def test_planning_runs_with_the_collector_paused_and_resumes_it() -> None:
    seen_inside: list[bool] = []

    class Ranking:
        def reorder(self, channel_id, chips):  # type: ignore[no-untyped-def]
            raise AssertionError("a daily plan ranks all channels at once")

        def orders(self, radars, pool, ranked):  # type: ignore[no-untyped-def]
            seen_inside.append(gc.isenabled())
            return {}

    papers = [paper("Sparse attention for long documents")]
    radars = {1: [Chip(ChipKind.KEYWORD, "sparse attention")]}
    plans = plan_radars(radars, papers, {}, {}, Ranking())
    assert [m.paper.key for m in plans[1].matches] == [papers[0].key]
    assert seen_inside == [False]
    assert gc.isenabled()
