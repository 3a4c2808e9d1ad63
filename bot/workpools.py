"""Named, bounded pools for the blocking work the adapters start, so that slow
work never starves commands.

Every adapter turns platform events into calls that block: the database,
arXiv, full-text downloads, the language model. Run them all on one shared
thread pool (``asyncio.to_thread``) and behind one shared limit, and five
questions about a paper whose full text never arrives hold every thread and
every slot: a `/radar help` in another channel then waits minutes.

So work is sorted by kind, and each kind gets its own pool: a semaphore
that bounds how many jobs of that kind run at once, and its own threads for
the blocking calls those jobs make. A stuck model call holds a "brief"
thread and a "brief" slot, nothing that a command needs.

- ``command``: everything typed or clicked that is not one of the below
  (show, help, chips, filter, shuffle, schedule, cap, pick...);
- ``ask``: a question in a card's thread, or `/radar ask`, and a card's Brief
  (one paper: full text, then the model);
- ``brief``: `/radar brief` and a header's Brief button (the model, over many papers);
- ``digest``: `/radar digest` typed (a harvest, then the delivery).

A job enters its pool with ``async with pools.slot(kind):``; blocking calls
inside it go through ``await pools.run(fn, *args)``, which uses the threads of
the job's own pool (outside any job: the command pool's). The front door
every adapter calls (``bot.dispatch``) does both: the core's work for an
event is one job of its kind; posting what it returns is not (a slow
platform holds no slot). The scheduler's daily digests keep their own
bounded workers (``bot.digest.runner``) and the loop's default executor,
which no adapter uses any more.

Platform-neutral: it knows the core's command types, no SDK.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import ParamSpec, TypeVar

from bot.core import commands as c
from bot.errors import ConfigError, UsageError

P = ParamSpec("P")
T = TypeVar("T")

COMMAND = "command"
ASK = "ask"
BRIEF = "brief"
DIGEST = "digest"
#: Jobs of each kind that may run at once (each with as many threads). Commands
#: are many and short; questions and briefings wait on a model for up to its
#: timeout, so a few at a time is all a model server (or the budget) takes;
#: a typed digest harvests arXiv, which allows one connection anyway.
DEFAULT_SIZES: Mapping[str, int] = {COMMAND: 8, ASK: 4, BRIEF: 2, DIGEST: 2}


def kind_of(command: c.Command | None) -> str:
    """The pool a parsed command runs in (None, a line that does not parse: ``command``)."""
    if isinstance(command, c.Brief):
        return BRIEF
    if isinstance(command, c.Ask | c.BriefPaper):  # one paper: full text, then the model
        return ASK
    if isinstance(command, c.RunDigest):
        return DIGEST
    return COMMAND


def parse_or_none(line: str) -> c.Command | None:
    """``commands.parse(line)``, or None when it does not parse: the service
    then says what is wrong, the same way on every platform."""
    try:
        return c.parse(line)
    except UsageError:
        return None


class Pool:
    """One kind's pool: at most ``size`` jobs at once, on ``size`` threads of its own."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"radar-{name}")
        #: Jobs inside the pool now, and jobs waiting for a slot (for logs and tests).
        self.running = 0
        self.waiting = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        slots = self._semaphore()
        self.waiting += 1
        try:
            await slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        token = _current.set(self)
        try:
            yield
        finally:
            _current.reset(token)
            self.running -= 1
            slots.release()

    def _semaphore(self) -> asyncio.Semaphore:
        # A semaphore belongs to one event loop; an App used by one
        # ``asyncio.run`` after another (``paper-radar digest``, tests) gets a
        # fresh one per loop.
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.size))
        return self._slots[1]

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on this pool's threads (with the caller's context
        variables, as ``asyncio.to_thread`` does)."""
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await loop.run_in_executor(self._executor, call)

    def close(self) -> None:
        """No new calls; queued ones are dropped. Threads still running finish on
        their own (a thread cannot be stopped), without anyone waiting for them."""
        self._executor.shutdown(wait=False, cancel_futures=True)


#: The pool of the job the current task is running, set by ``Pool.slot``.
_current: contextvars.ContextVar[Pool | None] = contextvars.ContextVar("radar_pool", default=None)


class WorkPools:
    """The named pools (``DEFAULT_SIZES``, each overridable by ``sizes``).

    One set serves every adapter of a process (``App.pools``), so the bounds
    hold for the process, not per platform.
    """

    def __init__(self, sizes: Mapping[str, int] | None = None) -> None:
        merged = {**DEFAULT_SIZES, **(sizes or {})}
        for name, size in merged.items():
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ConfigError(f"work pool {name!r} needs a size of at least 1, not {size!r}")
        self._pools = {name: Pool(name, size) for name, size in merged.items()}

    def __getitem__(self, kind: str) -> Pool:
        return self._pools[kind]

    def slot(self, kind: str) -> AbstractAsyncContextManager[None]:
        """Enter ``kind``'s pool for one job (waits while it is full)."""
        return self._pools[kind].slot()

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """A blocking call, on the threads of the current job's pool."""
        pool = _current.get() or self._pools[COMMAND]
        return await pool.run(fn, *args, **kwargs)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
