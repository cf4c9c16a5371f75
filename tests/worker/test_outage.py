"""The manager is unreachable for a while during a task: nothing is lost, nothing reordered."""
from __future__ import annotations

import asyncio

from flamenco_worker.config import WorkerConfig
from tests.worker.conftest import run, running_worker, until, with_stored_credentials
from tests.worker.fake_manager import FakeManager
from tests.worker.test_worker import echo, sleep

LINES = 12
"""Echo commands in the test task, with short sleeps between them so pushes happen during the outage."""


def outage_task() -> list[dict]:
    commands = []
    for index in range(LINES):
        commands += [echo(f"line {index}"), sleep(0.05)]
    return commands


def test_updates_survive_manager_outage_in_order(manager: FakeManager, worker_config: WorkerConfig) -> None:
    task_id = manager.add_task(*outage_task())

    async def body() -> None:
        async with running_worker(worker_config) as worker:
            await until(lambda: manager.updates(task_id), what="the first update")
            manager.stop()
            await until(lambda: worker.current_task_id is None, what="the task to finish while unreachable")
            size = await worker.queue.size()
            assert size.updates > 0, "updates wait in the queue while the manager is down"
            await asyncio.sleep(0.3)  # a few failed flush attempts
            manager.start()
            await until(lambda: "completed" in manager.statuses(task_id), what="delivery after the outage")

    run(body())
    expected = [f"line {index}" for index in range(LINES)]
    echoed = [line for line in manager.task_log(task_id) if line.startswith("line ")]
    assert echoed == expected, "every log line arrives exactly once, in order"
    assert manager.statuses(task_id) == ["active", "completed"]
    progress = [u["task_progress_percentage"] for u in manager.updates(task_id) if "task_progress_percentage" in u]
    assert progress == sorted(progress) and progress[-1] == 100


def test_queue_survives_worker_restart_during_outage(manager: FakeManager, worker_config: WorkerConfig) -> None:
    task_id = manager.add_task(echo("before"), sleep(0.3), echo("after"))

    async def first_life() -> None:
        async with running_worker(worker_config) as worker:
            await until(lambda: manager.updates(task_id), what="the first update")
            manager.stop()
            await until(lambda: worker.current_task_id is None, what="the task to finish while unreachable")

    async def second_life() -> None:
        async with running_worker(with_stored_credentials(worker_config)):
            await until(lambda: "completed" in manager.statuses(task_id), what="delivery by the restarted worker")

    run(first_life())
    assert "completed" not in manager.statuses(task_id)
    manager.start()
    run(second_life())
    assert [line for line in manager.task_log(task_id) if line in ("before", "after")] == ["before", "after"]
    assert len({r.worker_id for r in manager.requests("/tasks/")}) == 1, "the restarted worker keeps its credentials"
