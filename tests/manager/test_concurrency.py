"""One process owns dispatch: fifty workers at once never share a task, a second process is refused."""
from __future__ import annotations

import threading
from collections import Counter

from flamenco.farm.services import free_port
from flamenco_manager import tasks
from tests.manager.support import TestWorker, manager_process, server_task, wait_until_serving

THREADS = 50
TASKS = 30


def test_fifty_workers_at_once_never_share_a_task_and_a_second_process_is_refused(ctx, manager_settings, tmp_path):
    tasks.store_downloaded(ctx, [server_task(name=f"t{i}") for i in range(TASKS)])
    ctx.close()  # the test's own engine lets go of the database
    ports = [free_port(), free_port()]
    url = f"http://127.0.0.1:{ports[0]}"
    with manager_process("serve", {**manager_settings, "listen": f"127.0.0.1:{ports[0]}"}, tmp_path / "a.log") as a:
        wait_until_serving(url, a, tmp_path / "a.log")
        with manager_process("serve", {**manager_settings, "listen": f"127.0.0.1:{ports[1]}"},
                             tmp_path / "b.log") as b:
            assert b.wait(timeout=60) == 1, "a second process on the same buffer must not start"
        assert "already dispatches from this database" in (tmp_path / "b.log").read_text()
        workers = [TestWorker(url, nickname=f"w{i}").ready() for i in range(THREADS)]
        barrier = threading.Barrier(THREADS)
        results: list[tuple[int, str | None]] = []
        lock = threading.Lock()

        def ask(worker: TestWorker) -> None:
            barrier.wait()
            resp = worker.get_task()
            with lock:
                results.append((resp.status_code, resp.json()["_id"] if resp.status_code == 200 else None))

        threads = [threading.Thread(target=ask, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    given = Counter(task_id for code, task_id in results if code == 200)
    assert len(results) == THREADS
    assert all(code in (200, 204) for code, _ in results), Counter(code for code, _ in results)
    assert max(given.values()) == 1, f"tasks handed out twice: {[t for t, n in given.items() if n > 1]}"
    assert len(given) == TASKS, "every task went to exactly one worker"
