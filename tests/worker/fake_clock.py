"""A worker clock for tests: time stands still until the test moves it.

:class:`FakeClock` implements :class:`flamenco_worker.clock.Clock`. Its
``sleep`` never returns by itself: it returns once :meth:`FakeClock.advance`
has moved the time to or past its deadline. A test therefore decides exactly
when each timed step of the worker happens, whatever the machine's speed:

* nothing due later can happen before the test moves the clock, so "not yet"
  is asserted without waiting real time;
* everything due by the new time happens when it moves, earliest deadline
  first, so "now it happens" needs no real interval either;
* :meth:`FakeClock.pending` says who sleeps and for how much longer (by asyncio
  task name), so a test can wait until, say, the may-i-run watcher sleeps
  before ending exactly that sleep, instead of guessing how long the worker
  needs to get there.

Advancing the clock from a background ticker instead (sleeps ending "soon" on
their own) would be faster to write tests with, but then a tick could land
while the worker is in the middle of real HTTP or SQLite work and end a sleep
the test meant to last (the 3600 s of a task that must still be running).

Time is kept in integer nanoseconds, so advancing 0.05 twice ends a 0.1 s sleep.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import heapq
import itertools

NANOS = 1_000_000_000

START = dt.datetime(2024, 3, 9, 12, 0, tzinfo=dt.timezone.utc)
"""The fake time at creation: a fixed moment, so timestamps in tests are predictable."""

MONOTONIC_START = 1000.0
"""``monotonic()`` at creation; not zero, so no code can mistake it for "never"."""


@dataclasses.dataclass(order=True)
class _Sleep:
    deadline: int
    order: int
    task: str = dataclasses.field(compare=False)
    future: asyncio.Future[None] = dataclasses.field(compare=False)


@dataclasses.dataclass(frozen=True)
class Sleeper:
    """A pending sleep: the task that sleeps, and the seconds it has left."""

    task: str
    remaining: float


class FakeClock:
    """Time that moves only by :meth:`advance`; see the module docstring."""

    def __init__(self, start: dt.datetime = START) -> None:
        if start.tzinfo is None:
            raise ValueError("the worker's clock gives timezone-aware UTC times")
        self._start = start
        self._elapsed = 0  # nanoseconds since creation
        self._sleeps: list[_Sleep] = []  # a heap, earliest deadline first
        self._order = itertools.count()  # equal deadlines end in the order they were started

    # ------------------------------------------------------------------ the Clock protocol

    def now(self) -> dt.datetime:
        return self._start + dt.timedelta(microseconds=self._elapsed // 1000)

    def monotonic(self) -> float:
        return MONOTONIC_START + self._elapsed / NANOS

    async def sleep(self, seconds: float) -> None:
        """Return once the clock has been advanced by ``seconds`` (at once, after yielding, for ``<= 0``)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        task = asyncio.current_task()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleeps, _Sleep(self._elapsed + _nanos(seconds), next(self._order),
                                            task.get_name() if task else "", future))
        await future  # a cancelled sleeper cancels the future; advance() skips it

    # ------------------------------------------------------------------ for the test

    @property
    def elapsed(self) -> float:
        """Seconds the clock has been advanced since it was made."""
        return self._elapsed / NANOS

    def advance(self, seconds: float) -> None:
        """Move the time ``seconds`` on; every sleep due by then ends, earliest deadline first.

        The sleepers resume when the test next yields to the event loop. A sleep
        started after this call counts from the new time.
        """
        if seconds < 0:
            raise ValueError("time does not run backwards")
        self._elapsed += _nanos(seconds)
        while self._sleeps and self._sleeps[0].deadline <= self._elapsed:
            ended = heapq.heappop(self._sleeps)
            if not ended.future.done():
                ended.future.set_result(None)

    def pending(self, task_prefix: str = "") -> list[Sleeper]:
        """Sleeps not yet over, of tasks whose name starts with ``task_prefix``; earliest deadline first."""
        return [Sleeper(s.task, (s.deadline - self._elapsed) / NANOS)
                for s in sorted(self._sleeps)
                if not s.future.done() and s.task.startswith(task_prefix)]


def _nanos(seconds: float) -> int:
    return round(seconds * NANOS)
