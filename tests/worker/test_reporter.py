"""Coalescing of activity, progress and log lines into pushes (reference B.4), on a fake clock."""
from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, Awaitable, Callable

from flamenco_worker.reporter import TaskReporter
from flamenco_worker.update_queue import UpdateQueue
from tests.worker.conftest import remaining, run, until
from tests.worker.fake_clock import FakeClock
from tests.worker.fake_manager import FakeManager
from tests.worker.test_update_queue import with_queue

LONG = 60.0
"""An interval the clock never reaches unless a test moves it: pushes that happen are due to the rule under test."""

ACT_INTERVAL = 15.0
"""The activity interval of the tests that move the clock (the worker's default)."""


def reporter_test(manager: FakeManager, tmp_path: Path, body: Callable[[TaskReporter, UpdateQueue], Awaitable[None]],
                  clock: FakeClock | None = None, **intervals: Any) -> list[dict]:
    """Run ``body`` with a reporter on ``clock``, flush what it queued, and return the payloads the manager got."""
    task_id = manager.add_task()
    settings = {"act_interval": LONG, "log_interval": LONG, "log_max_entries": 1000, **intervals}

    async def outer(queue: UpdateQueue) -> None:
        reporter = TaskReporter(queue, task_id, clock=clock or FakeClock(), **settings)
        try:
            await body(reporter, queue)
        finally:
            reporter.close()
        assert await queue.flush()

    run(with_queue(manager, tmp_path / "q.db", outer))
    return manager.updates(task_id)


async def queued(queue: UpdateQueue) -> int:
    return (await queue.size()).updates


async def _at_least(queue: UpdateQueue, count: int) -> bool:
    return await queued(queue) >= count


def test_status_change_pushes_at_once(manager: FakeManager, tmp_path: Path) -> None:
    async def body(reporter: TaskReporter, queue: UpdateQueue) -> None:
        await reporter.update(task_status="active", activity="starting")
        assert await queued(queue) == 1
        await reporter.update(activity="busy")
        assert await queued(queue) == 1, "activity alone waits for the interval"
        await reporter.update(task_status="completed", activity="done")
        assert await queued(queue) == 2

    payloads = reporter_test(manager, tmp_path, body)
    assert [(p["task_status"], p["activity"]) for p in payloads] == [("active", "starting"), ("completed", "done")]
    assert set(payloads[0]) >= {"current_command_idx", "task_progress_percentage", "command_progress_percentage"}


def test_activity_is_coalesced_into_one_delayed_push(manager: FakeManager, tmp_path: Path, clock: FakeClock) -> None:
    async def body(reporter: TaskReporter, queue: UpdateQueue) -> None:
        await reporter.update(task_status="active", activity="start")
        clock.advance(5)
        for percentage in (10, 20, 30):
            await reporter.update(activity=f"at {percentage}", command_progress_percentage=percentage)
        assert await queued(queue) == 1
        await until(lambda: clock.pending("push-"), what="the delayed push to wait")
        assert remaining(clock, "push-") == [ACT_INTERVAL - 5], "one delayed push, an interval after the last"
        clock.advance(ACT_INTERVAL - 5 - 0.001)
        assert await queued(queue) == 1, "not before the interval is over"
        clock.advance(0.001)
        await until(lambda: _at_least(queue, 2), what="the delayed push")
        await reporter.push_pending()
        assert await queued(queue) == 2, "nothing left to push"

    payloads = reporter_test(manager, tmp_path, body, clock, act_interval=ACT_INTERVAL)
    assert payloads[1]["activity"] == "at 30" and payloads[1]["command_progress_percentage"] == 30


def test_many_log_lines_push_at_once(manager: FakeManager, tmp_path: Path, clock: FakeClock) -> None:
    async def body(reporter: TaskReporter, queue: UpdateQueue) -> None:
        await reporter.update(task_status="active")
        for index in range(3):
            await reporter.log(f"line {index}")
        assert await queued(queue) == 1
        await reporter.log("line 3")
        assert await queued(queue) == 2, "more than log_max_entries lines push at once"

    payloads = reporter_test(manager, tmp_path, body, clock, log_max_entries=3)
    lines = payloads[1]["log"].splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == ["line 0", "line 1", "line 2", "line 3"]
    stamp = datetime.datetime.fromisoformat(lines[0].split(": ", 1)[0])
    assert stamp.utcoffset() == datetime.timedelta(0), "log lines carry UTC timestamps"
    assert stamp == clock.now(), "...of the clock's time"


def test_pending_lines_go_out_at_the_end(manager: FakeManager, tmp_path: Path) -> None:
    async def body(reporter: TaskReporter, queue: UpdateQueue) -> None:
        await reporter.update(task_status="active")
        await reporter.log("last words")
        assert await queued(queue) == 1
        await reporter.push_pending()

    payloads = reporter_test(manager, tmp_path, body)
    assert payloads[-1]["log"].endswith(": last words")


def test_silent_abort_sends_only_the_log(manager: FakeManager, tmp_path: Path) -> None:
    async def body(reporter: TaskReporter, queue: UpdateQueue) -> None:
        await reporter.update(task_status="active")
        reporter.silently_aborting = True
        await reporter.update(activity="should not be sent")
        await reporter.log("stopping")
        await reporter.push_pending()

    payloads = reporter_test(manager, tmp_path, body)
    assert list(payloads[-1]) == ["log"]


def test_nothing_pending_queues_nothing(manager: FakeManager, tmp_path: Path) -> None:
    async def body(reporter: TaskReporter, queue: UpdateQueue) -> None:
        await reporter.push_pending()
        await reporter.push()
        assert await queued(queue) == 0

    assert reporter_test(manager, tmp_path, body) == []


def test_timing_is_summed_per_name(manager: FakeManager, tmp_path: Path) -> None:
    async def body(reporter: TaskReporter, queue: UpdateQueue) -> None:
        reporter.add_timing("total", 1.5)
        reporter.add_timing("total", 2.0)
        await reporter.update(task_status="completed")

    payloads = reporter_test(manager, tmp_path, body)
    assert payloads[0]["metrics"] == {"timing": {"total": 3.5}}


def test_activity_is_not_held_back_by_a_later_log_push(manager: FakeManager, tmp_path: Path, clock: FakeClock) -> None:
    async def body(reporter: TaskReporter, queue: UpdateQueue) -> None:
        await reporter.update(task_status="active")
        await reporter.log("a line, due in a minute")
        await reporter.update(activity="due soon")
        await until(lambda: clock.pending("push-"), what="the delayed push to wait")
        assert remaining(clock, "push-") == [ACT_INTERVAL], "one delayed push, at the earlier due time"
        clock.advance(ACT_INTERVAL)
        await until(lambda: _at_least(queue, 2), what="the activity push")

    payloads = reporter_test(manager, tmp_path, body, clock, act_interval=ACT_INTERVAL)
    assert payloads[1]["activity"] == "due soon"
    assert payloads[1]["log"].endswith(": a line, due in a minute"), "the push carries everything pending"
