"""The work pools every adapter runs its blocking work in (bot/workpools.py).

End to end (a stuck model, `/radar help` still answered at once) is in
tests/test_slack.py and tests/test_discord.py; here are the pieces: which
command goes to which pool, that a job's blocking calls run on its own pool's
threads, and that one pool full does not hold up another.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from bot import workpools
from bot.errors import ConfigError
from bot.workpools import WorkPools


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("brief", "brief"),
        ("brief diffusion models", "brief"),
        ("digest", "digest"),
        ("ask 2 what is distilled?", "ask"),
        ("brief every week", "command"),  # a setting, not a briefing
        ("help", "command"),
        ("", "command"),
        ("keyword agents", "command"),
        ("frobnicate", "command"),  # does not parse: the service says so, quickly
    ],
)
def test_each_command_goes_to_its_pool(line: str, kind: str) -> None:
    assert workpools.kind_of(workpools.parse_or_none(line)) == kind


def test_a_jobs_blocking_calls_run_on_its_own_pools_threads() -> None:
    pools = WorkPools()

    async def main() -> tuple[str, str]:
        async with pools.slot(workpools.BRIEF):
            inside = await pools.run(lambda: threading.current_thread().name)
        outside = await pools.run(lambda: threading.current_thread().name)
        return inside, outside

    try:
        inside, outside = asyncio.run(main())
    finally:
        pools.close()
    assert inside.startswith("radar-brief") and outside.startswith("radar-command")


def test_a_full_pool_holds_up_only_its_own_kind_on_every_event_loop() -> None:
    pools = WorkPools({"ask": 1})
    release = threading.Event()

    async def main() -> None:
        async def stuck() -> None:
            async with pools.slot(workpools.ASK):
                await pools.run(release.wait, 10)

        first, second = asyncio.create_task(stuck()), asyncio.create_task(stuck())
        while pools["ask"].waiting < 1:
            await asyncio.sleep(0.001)
        assert (pools["ask"].running, pools["ask"].waiting) == (1, 1)
        async with pools.slot(workpools.COMMAND):  # not behind the questions
            assert await pools.run(lambda: 42) == 42
        release.set()
        await asyncio.wait_for(asyncio.gather(first, second), 10)
        release.clear()

    try:
        asyncio.run(main())
        asyncio.run(main())  # an App used by a second event loop (`paper-radar digest`)
    finally:
        release.set()
        pools.close()


def test_pool_sizes_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="'ask'"):
        WorkPools({"ask": 0})
