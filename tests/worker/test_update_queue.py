"""The SQLite update queue against a fake manager over real HTTP."""
from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from flamenco_worker.clock import SYSTEM_CLOCK, Clock
from flamenco_worker.registration import generate_secret
from flamenco_worker.update_queue import UpdateQueue
from flamenco_worker.upstream import ManagerClient, ManagerUnreachable
from tests.worker.conftest import remaining, run, until
from tests.worker.fake_clock import FakeClock
from tests.worker.fake_manager import FakeManager


def registered_client(manager: FakeManager) -> ManagerClient:
    """A client with credentials the fake manager knows."""
    worker_id, secret = "a" * 24, generate_secret()
    manager.workers[worker_id] = secret
    client = ManagerClient(manager.url, timeout=2.0)
    client.set_credentials(worker_id, secret)
    return client


async def with_queue(manager: FakeManager, db: Path, body, backoff: float = 0.05,  # noqa: ANN001
                     clock: Clock = SYSTEM_CLOCK) -> None:
    client = registered_client(manager)
    queue = UpdateQueue(db, client, backoff_seconds=backoff, clock=clock)
    try:
        await body(queue)
    finally:
        queue.close()
        await client.aclose()


def test_flush_sends_in_order_and_empties(manager: FakeManager, tmp_path: Path) -> None:
    task_id = manager.add_task()

    async def body(queue: UpdateQueue) -> None:
        for index in range(5):
            await queue.queue(f"/tasks/{task_id}/update", {"activity": f"step {index}"})
        assert (await queue.size()).updates == 5
        assert await queue.flush() is True
        assert (await queue.size()) == (0, 0)

    run(with_queue(manager, tmp_path / "q.db", body))
    assert [u["activity"] for u in manager.updates(task_id)] == [f"step {i}" for i in range(5)]


def test_payloads_are_stored_as_json(manager: FakeManager, tmp_path: Path, clock: FakeClock) -> None:
    async def body(queue: UpdateQueue) -> None:
        await queue.queue("/tasks/x/update", {"log": "ünïcode line", "task_progress_percentage": 5})

    run(with_queue(manager, tmp_path / "q.db", body, clock=clock))
    with sqlite3.connect(tmp_path / "q.db") as conn:
        (payload, queued_at) = conn.execute("SELECT payload, queued_at FROM updates").fetchone()
    assert json.loads(payload) == {"log": "ünïcode line", "task_progress_percentage": 5}
    assert queued_at == clock.now().timestamp(), "rows are stamped with the clock's time"


def test_queue_survives_restart(manager: FakeManager, tmp_path: Path) -> None:
    task_id = manager.add_task()
    db = tmp_path / "q.db"

    async def fill(queue: UpdateQueue) -> None:
        await queue.queue(f"/tasks/{task_id}/update", {"activity": "from the first life"})

    async def drain(queue: UpdateQueue) -> None:
        assert (await queue.size()).updates == 1
        assert await queue.flush()

    run(with_queue(manager, db, fill))
    run(with_queue(manager, db, drain))
    assert manager.updates(task_id) == [{"activity": "from the first life"}]


@pytest.mark.parametrize("status", [404, 409])
def test_unknown_or_reassigned_task_drops_update(manager: FakeManager, tmp_path: Path, status: int) -> None:
    task_id = manager.add_task()

    async def body(queue: UpdateQueue) -> None:
        manager.update_status = status
        await queue.queue(f"/tasks/{task_id}/update", {"activity": "dropped"})
        await queue.flush()
        manager.update_status = None
        await queue.queue(f"/tasks/{task_id}/update", {"activity": "kept"})
        assert await queue.flush()
        assert await queue.dead_letters() == []

    run(with_queue(manager, tmp_path / "q.db", body))
    assert [u["activity"] for u in manager.updates(task_id, accepted=False)] == ["dropped", "kept"]


def test_permanent_error_moves_update_to_dead_letters(manager: FakeManager, tmp_path: Path) -> None:
    task_id = manager.add_task()

    async def body(queue: UpdateQueue) -> None:
        manager.update_status = 400
        await queue.queue(f"/tasks/{task_id}/update", {"activity": "refused"})
        await queue.flush()
        manager.update_status = None
        await queue.queue(f"/tasks/{task_id}/update", {"activity": "after"})
        assert await queue.flush(), "a refused update does not block the ones behind it"
        ((url, payload, status, reason),) = await queue.dead_letters()
        assert (url, payload, status) == (f"/tasks/{task_id}/update", {"activity": "refused"}, 400)
        assert "refused by the test" in reason

    run(with_queue(manager, tmp_path / "q.db", body))


def test_server_error_keeps_head_and_order(manager: FakeManager, tmp_path: Path) -> None:
    task_id = manager.add_task()

    async def body(queue: UpdateQueue) -> None:
        manager.update_status = 500
        await queue.queue(f"/tasks/{task_id}/update", {"activity": "one"})
        await queue.queue(f"/tasks/{task_id}/update", {"activity": "two"})
        assert await queue.flush() is False
        assert (await queue.size()).updates == 2
        manager.update_status = None
        worker = asyncio.create_task(queue.work())
        await until(lambda: len(manager.updates(task_id)) >= 2, what="delivery")
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)

    run(with_queue(manager, tmp_path / "q.db", body))
    assert [u["activity"] for u in manager.updates(task_id, accepted=False)] == ["one", "one", "two"]
    assert [u["activity"] for u in manager.updates(task_id)] == ["one", "two"]


def test_work_retries_the_head_after_the_backoff(manager: FakeManager, tmp_path: Path, clock: FakeClock) -> None:
    task_id = manager.add_task()
    backoff = 5.0

    def attempts() -> int:
        return len(manager.updates(task_id, accepted=False))

    async def body(queue: UpdateQueue) -> None:
        manager.update_status = 500
        await queue.queue(f"/tasks/{task_id}/update", {"activity": "one"})
        worker = asyncio.create_task(queue.work(), name="update-queue")
        await until(lambda: remaining(clock, "update-queue") == [backoff], what="the back-off after a refusal")
        assert attempts() == 1
        manager.update_status = None
        clock.advance(backoff - 0.001)
        await asyncio.sleep(0.05)
        assert attempts() == 1, "no retry before the back-off is over"
        clock.advance(0.001)
        await until(lambda: manager.updates(task_id), what="the retry")
        await queue.queue(f"/tasks/{task_id}/update", {"activity": "two"})
        await until(lambda: len(manager.updates(task_id)) == 2, what="the next update, sent at once")
        assert clock.pending() == [], "an emptied queue waits for new rows, not for the clock"
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)

    run(with_queue(manager, tmp_path / "q.db", body, backoff=backoff, clock=clock))
    assert [u["activity"] for u in manager.updates(task_id, accepted=False)] == ["one", "one", "two"]
    assert clock.elapsed == backoff


def test_unreachable_manager_raises_and_keeps_rows(manager: FakeManager, tmp_path: Path) -> None:
    manager.stop()

    async def body(queue: UpdateQueue) -> None:
        await queue.queue("/tasks/x/update", {"activity": "waiting"})
        with pytest.raises(ManagerUnreachable):
            await queue.flush()
        assert await queue.flush_once() is False
        assert (await queue.size()).updates == 1

    run(with_queue(manager, tmp_path / "q.db", body))


def test_size_counts_bytes(manager: FakeManager, tmp_path: Path) -> None:
    async def body(queue: UpdateQueue) -> None:
        await queue.queue("/tasks/x/update", {"log": "x" * 1000})
        size = await queue.size()
        assert size.updates == 1 and size.bytes > 1000

    run(with_queue(manager, tmp_path / "q.db", body))
