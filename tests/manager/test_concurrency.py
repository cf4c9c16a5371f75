"""Claims are atomic across manager processes: no task is ever handed out twice."""
from __future__ import annotations

import threading
from collections import Counter

from flamenco.farm.services import free_port
from flamenco_manager import tasks
from tests.manager.support import TestWorker, manager_process, server_task, wait_until_serving

THREADS = 50
TASKS = 30


def test_fifty_threads_on_two_manager_processes_never_share_a_task(ctx, manager_settings, tmp_path):
    tasks.store_downloaded(ctx, [server_task(name=f"t{i}") for i in range(TASKS)])
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    with manager_process("serve", {**manager_settings, "listen": f"127.0.0.1:{ports[0]}"}, tmp_path / "a.log") as a, \
            manager_process("serve", {**manager_settings, "listen": f"127.0.0.1:{ports[1]}"}, tmp_path / "b.log") as b:
        wait_until_serving(urls[0], a, tmp_path / "a.log")
        wait_until_serving(urls[1], b, tmp_path / "b.log")
        workers = [TestWorker(urls[i % 2], nickname=f"w{i}").ready() for i in range(THREADS)]
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
