"""The manager is unreachable for a while during a task: nothing is lost, nothing reordered.

The worker runs on a :class:`FakeClock`: the task's sleep commands and the
queue's failed flush attempts happen when the test moves the clock.
"""
from __future__ import annotations

from flamenco_worker.config import WorkerConfig
from flamenco_worker.worker import FlamencoWorker
from tests.worker.conftest import end_sleep, run, running_worker, until, with_stored_credentials
from tests.worker.fake_clock import FakeClock
from tests.worker.fake_manager import FakeManager
from tests.worker.test_worker import echo, sleep

LINES = 12
"""Echo commands in the test task, with sleeps between them so pushes happen during the outage."""

COMMAND_SLEEP_SECONDS = 2.0
"""Clock time each sleep command of the test task takes."""

FAILED_FLUSHES = 3
"""Flush attempts of the queue while the manager is down, after the task ended."""


def outage_task() -> list[dict]:
    commands = []
    for index in range(LINES):
        commands += [echo(f"line {index}"), sleep(COMMAND_SLEEP_SECONDS)]
    return commands


async def finish_task(worker: FlamencoWorker, clock: FakeClock) -> int:
    """End the running task's sleep commands one by one until the task is over; returns how many there were."""
    ended = 0
    while True:
        await until(lambda: clock.pending("task-") or worker.current_task_id is None,
                    what="the task to sleep or to end")
        if worker.current_task_id is None:
            return ended
        clock.advance(clock.pending("task-")[0].remaining)
        ended += 1


def test_updates_survive_manager_outage_in_order(
    manager: FakeManager, clocked_config: WorkerConfig, clock: FakeClock,
) -> None:
    task_id = manager.add_task(*outage_task())
    backoff = clocked_config.queue_backoff_seconds

    async def body() -> None:
        async with running_worker(clocked_config, clock=clock) as worker:
            await until(lambda: manager.updates(task_id), what="the first update")
            manager.stop()
            assert await finish_task(worker, clock) == LINES
            size = await worker.queue.size()
            assert size.updates > 0, "updates wait in the queue while the manager is down"
            await end_sleep(clock, "update-queue", "the queue's back-off")
            for _ in range(FAILED_FLUSHES - 1):  # each back-off ends in a failed attempt and a new back-off
                assert await end_sleep(clock, "update-queue", "the queue's back-off") == backoff
            await until(lambda: clock.pending("update-queue"), what="the back-off after the last failed flush")
            assert (await worker.queue.size()).updates >= size.updates, "nothing is dropped while unreachable"
            manager.start()
            assert await end_sleep(clock, "update-queue", "the queue's back-off") == backoff
            await until(lambda: "completed" in manager.statuses(task_id), what="delivery after the outage")

    run(body())
    expected = [f"line {index}" for index in range(LINES)]
    echoed = [line for line in manager.task_log(task_id) if line.startswith("line ")]
    assert echoed == expected, "every log line arrives exactly once, in order"
    assert manager.statuses(task_id) == ["active", "completed"]
    progress = [u["task_progress_percentage"] for u in manager.updates(task_id) if "task_progress_percentage" in u]
    assert progress == sorted(progress) and progress[-1] == 100


def test_queue_survives_worker_restart_during_outage(
    manager: FakeManager, clocked_config: WorkerConfig, clock: FakeClock,
) -> None:
    task_id = manager.add_task(echo("before"), sleep(COMMAND_SLEEP_SECONDS), echo("after"))

    async def first_life() -> None:
        async with running_worker(clocked_config, clock=clock) as worker:
            await until(lambda: manager.updates(task_id), what="the first update")
            manager.stop()
            assert await finish_task(worker, clock) == 1

    async def second_life() -> None:
        async with running_worker(with_stored_credentials(clocked_config), clock=clock):
            await until(lambda: "completed" in manager.statuses(task_id), what="delivery by the restarted worker")

    run(first_life())
    assert "completed" not in manager.statuses(task_id)
    manager.start()
    run(second_life())
    assert [line for line in manager.task_log(task_id) if line in ("before", "after")] == ["before", "after"]
    assert len({r.worker_id for r in manager.requests("/tasks/")}) == 1, "the restarted worker keeps its credentials"
