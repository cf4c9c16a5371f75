"""kill -9 of the dispatching manager mid-run: nothing acknowledged is lost, no task runs twice.

A real ``flamenco-manager serve`` process on FerretDB, 50 worker threads
speaking the Flamenco 2 protocol (``/task``, update ``active``, update
``completed``), a kill -9 while they are busy, a restart on the same
database: the new process rebuilds its queue from the buffer and the
workers finish. Every task ends completed, was handed to exactly one
worker, and every update a worker had acknowledged is in the buffer.
"""
from __future__ import annotations

import signal
import threading
import time
from collections import defaultdict

import requests

from flamenco.farm.services import free_port
from flamenco_manager import tasks, update_queue
from flamenco_manager.config import build_config
from flamenco_manager.context import ManagerContext
from tests.manager.support import TestWorker, manager_process, server_task, wait_until_serving

WORKERS = 50
TASKS = 300
# The kill comes once this many tasks are completed; the longest the whole run may take.
KILL_AFTER_COMPLETED = TASKS // 4
RUN_DEADLINE_SECONDS = 180


class Ledger:
    """What the workers were told, shared by their threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.given: dict[str, set[str]] = defaultdict(set)      # task -> workers that got it from /task
        self.acknowledged: dict[str, list[str]] = defaultdict(list)  # task -> statuses answered 204
        self.completed_by: dict[str, list[str]] = defaultdict(list)

    def done(self) -> int:
        with self.lock:
            return sum(1 for statuses in self.acknowledged.values() if "completed" in statuses)

    def record(self, mapping: dict, task_id: str, value: str) -> None:
        with self.lock:
            target = mapping[task_id]
            target.add(value) if isinstance(target, set) else target.append(value)


def _retrying(call, stop_at: float):
    """Call until the manager answers (it is down between the kill and the restart)."""
    while time.monotonic() < stop_at:
        try:
            resp = call()
        except requests.RequestException:
            time.sleep(0.05)
            continue
        if resp.status_code == 503:
            time.sleep(0.05)
            continue
        return resp
    raise TimeoutError("the manager did not answer in time")


def work(worker: TestWorker, ledger: Ledger, stop_at: float, all_done: threading.Event) -> None:
    while not all_done.is_set() and time.monotonic() < stop_at:
        resp = _retrying(worker.get_task, stop_at)
        if resp.status_code == 204:
            time.sleep(0.05)
            continue
        assert resp.status_code == 200, resp.text
        task_id = resp.json()["_id"]
        ledger.record(ledger.given, task_id, worker.worker_id)
        for status in ("active", "completed"):
            answer = _retrying(lambda: worker.update(task_id, task_status=status), stop_at)
            assert answer.status_code == 204, (status, answer.status_code, answer.text)
            ledger.record(ledger.acknowledged, task_id, status)
        ledger.record(ledger.completed_by, task_id, worker.worker_id)


def test_kill_9_mid_run_loses_no_acknowledged_update_and_runs_every_task_once(ctx, manager_settings, tmp_path):
    docs = [server_task(name=f"t{i}") for i in range(TASKS)]
    tasks.store_downloaded(ctx, docs)
    ctx.close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = {**manager_settings, "listen": f"127.0.0.1:{port}"}
    log_path = tmp_path / "manager.log"
    ledger = Ledger()
    all_done = threading.Event()
    stop_at = time.monotonic() + RUN_DEADLINE_SECONDS
    with manager_process("serve", settings, log_path) as first:
        wait_until_serving(url, first, log_path)
        workers = [TestWorker(url, nickname=f"w{i}", task_types=["sleep"]).ready() for i in range(WORKERS)]
        threads = [threading.Thread(target=work, args=(w, ledger, stop_at, all_done), daemon=True) for w in workers]
        for thread in threads:
            thread.start()
        while ledger.done() < KILL_AFTER_COMPLETED and time.monotonic() < stop_at:
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        done_before_kill = ledger.done()
    assert 0 < done_before_kill < TASKS, "the kill came mid-run"
    with manager_process("serve", settings, log_path) as second:
        wait_until_serving(url, second, log_path)
        while time.monotonic() < stop_at and len(ledger.completed_by) < TASKS:
            time.sleep(0.2)
        all_done.set()
        for thread in threads:
            thread.join(timeout=30)

    assert len(ledger.completed_by) == TASKS, "every task completed"
    twice = {t: w for t, w in ledger.given.items() if len(w) > 1}
    assert not twice, f"tasks handed to more than one worker: {twice}"
    assert all(len(w) == 1 for w in ledger.completed_by.values()), "each task completed exactly once"
    # The durable record, as the next start rebuilds it: task documents plus the queued updates.
    rebuilt = ManagerContext.create(build_config(manager_settings))
    try:
        stored = {str(t["_id"]): t["status"] for t in rebuilt.state.tasks.values()}
        queued = defaultdict(list)
        for update in update_queue.pending_batch(rebuilt, 100_000):
            queued[str(update["task_id"])].append(update.get("task_status"))
    finally:
        rebuilt.close()
    assert len(stored) == TASKS and set(stored.values()) == {"completed"}, "every task is completed in the buffer"
    for task_id, statuses in ledger.acknowledged.items():
        for status in statuses:
            assert status in queued[task_id], f"acknowledged {status} of {task_id} is waiting for the Server"
