"""The worker's clock, the fake one the tests move, and waiting for an event or the clock."""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from flamenco_worker.clock import SYSTEM_CLOCK, wait_for_event
from tests.worker.conftest import remaining, run, until
from tests.worker.fake_clock import START, FakeClock


def test_system_clock_gives_utc_and_sleeps() -> None:
    before = SYSTEM_CLOCK.monotonic()
    assert SYSTEM_CLOCK.now().utcoffset() == dt.timedelta(0)
    assert abs(SYSTEM_CLOCK.now() - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(seconds=5)
    run(SYSTEM_CLOCK.sleep(0.01))
    assert SYSTEM_CLOCK.monotonic() >= before + 0.01


def test_fake_time_moves_only_when_advanced() -> None:
    clock = FakeClock()
    assert clock.now() == START and clock.now().utcoffset() == dt.timedelta(0)
    start = clock.monotonic()
    clock.advance(1.5)
    assert clock.now() == START + dt.timedelta(seconds=1.5)
    assert clock.monotonic() == start + 1.5
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_fake_sleeps_end_when_the_clock_reaches_them_earliest_first() -> None:
    clock = FakeClock()
    ended: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        ended.append(name)

    async def body() -> None:
        tasks = [asyncio.create_task(sleeper(name, seconds), name=name)
                 for name, seconds in (("late", 3.0), ("early", 1.0), ("middle", 2.0))]
        await until(lambda: len(clock.pending()) == 3, what="three sleepers")
        assert [s.task for s in clock.pending()] == ["early", "middle", "late"]
        clock.advance(0.05)
        clock.advance(0.05)
        await asyncio.sleep(0)
        assert ended == [] and remaining(clock, "early") == [0.9]
        clock.advance(2.9)  # 0.05 + 0.05 + 2.9 = 3.0 to the nanosecond: every sleep is due
        await asyncio.gather(*tasks)

    run(body())
    assert ended == ["early", "middle", "late"]


def test_cancelled_and_zero_sleeps() -> None:
    clock = FakeClock()

    async def body() -> None:
        await clock.sleep(0)  # returns without the clock moving
        sleeping = asyncio.create_task(clock.sleep(10), name="cancelled")
        await until(lambda: clock.pending("cancelled"), what="the sleep")
        sleeping.cancel()
        await asyncio.gather(sleeping, return_exceptions=True)
        assert clock.pending() == []
        clock.advance(10)  # ending a cancelled sleep is harmless

    run(body())


def test_wait_for_event_ends_early_when_the_event_is_set() -> None:
    clock = FakeClock()

    async def body() -> None:
        event = asyncio.Event()
        waiting = asyncio.create_task(wait_for_event(clock, event, 30.0, name="waiter"))
        await until(lambda: clock.pending("waiter"), what="the wait")
        event.set()
        assert await waiting is True
        assert clock.pending() == [], "the clock's sleep is cancelled with the wait"
        assert await wait_for_event(clock, event, 30.0) is True, "a set event does not wait at all"

    run(body())
    assert clock.elapsed == 0


def test_wait_for_event_times_out_on_the_clock() -> None:
    clock = FakeClock()

    async def body() -> None:
        event = asyncio.Event()
        waiting = asyncio.create_task(wait_for_event(clock, event, 30.0, name="waiter"))
        await until(lambda: clock.pending("waiter"), what="the wait")
        clock.advance(29.999)
        await asyncio.sleep(0)
        assert not waiting.done()
        clock.advance(0.001)
        assert await waiting is False

    run(body())


def test_cancelling_wait_for_event_leaves_nothing_behind() -> None:
    clock = FakeClock()

    async def body() -> None:
        waiting = asyncio.create_task(wait_for_event(clock, asyncio.Event(), 30.0, name="waiter"))
        await until(lambda: clock.pending("waiter"), what="the wait")
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert clock.pending() == []
        assert not [task for task in asyncio.all_tasks() if task.get_name().startswith("waiter")]

    run(body())
