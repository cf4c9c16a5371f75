"""The Manager sends each log chunk a worker reports up to the Server (issue 14: live task log).

Flamenco 2's TaskUpdate has both ``log`` (the chunk) and ``log_tail`` (its
last lines); a Flamenco 2.2 Manager sent only the tail, so the Server never
saw the whole log until someone asked for the file. The chunk now goes up
in the same update, which the Server stores for the task page's live tail.
"""
from __future__ import annotations

from typing import Iterator

import pytest
from bson import ObjectId

from flamenco_manager import store as dbmod
from flamenco_manager import task_logs, tasks, update_queue
from tests.manager.conftest import serving
from tests.manager.support import TestWorker, server_task
from tests.manager.test_through_server import Farm
from tests.support.server import running_server

CHUNK = "\n".join(f"Fra:1 Mem:12M | Rendering {n}/16 samples" for n in range(1, 17))


def test_the_whole_chunk_goes_up_with_its_tail(ctx, new_worker):
    worker = new_worker()
    (doc,) = [server_task()]
    tasks.store_downloaded(ctx, [doc])
    task = worker.get_task().json()
    assert worker.update(task["_id"], activity="rendering", log=CHUNK).status_code == 204

    queued = ctx.store.db[dbmod.UPDATE_QUEUE].find_one({"task_id": ObjectId(doc["_id"]), "activity": "rendering"})
    wire = update_queue.to_wire(queued)
    assert wire["log"] == CHUNK
    assert wire["log_tail"] == "\n".join(CHUNK.splitlines()[-10:])
    assert wire["task_id"] == doc["_id"] and wire["received_on_manager"]


@pytest.fixture
def linked(mongo_db, manager_settings, clock) -> Iterator[Farm]:
    farm = Farm(mongo_db, manager_settings, clock)
    yield farm
    if farm.ctx is not None:
        farm.ctx.close()


def test_a_real_server_stores_the_chunks_in_order(linked, mongo_uri, redis_url):
    """Manager -> real server process: every chunk the worker sent is in the server's task log, in order."""
    job = linked.job(settings={"frames": "1", "chunk_size": 1, "time_in_seconds": 0})
    with running_server(mongo_uri, redis_url) as server_url:
        daemon = linked.downloaded(server_url)
        with serving(daemon.ctx) as manager_url:
            worker = TestWorker(manager_url, task_types=["sleep", "file-management", "exec"]).ready()
            task = worker.get_task().json()
            for n in range(1, 4):
                assert worker.update(task["_id"], activity=f"step {n}", log=f"step {n} line a\nstep {n} line b") \
                    .status_code == 204
            daemon.push_all()
    chunks = linked.server_db["flamenco_task_logs"].find({"task": ObjectId(task["_id"])}).sort(
        [("received_on_manager", 1), ("_id", 1)])
    worker_lines = [line for c in chunks for line in c["log"].splitlines() if line.startswith("step")]
    assert worker_lines == [f"step {n} line {x}" for n in range(1, 4) for x in "ab"]
    assert linked.server_db["flamenco_tasks"].find_one({"_id": ObjectId(task["_id"])})["job"] == job["_id"]


def test_downloaded_tasks_have_their_log_files_before_they_run(linked, mongo_uri, redis_url):
    """The sync thread creates each downloaded task's log file, so handing a task out only appends to it."""
    job = linked.job(settings={"frames": "1-3", "chunk_size": 1, "time_in_seconds": 0})
    with running_server(mongo_uri, redis_url) as server_url:
        daemon = linked.downloaded(server_url)
        root = daemon.ctx.config.task_logs_path
        queued = [t for t in daemon.ctx.state.tasks.values() if t.get("job") == job["_id"]]
        assert len(queued) == 3
        for task in queued:
            assert task_logs.log_path(root, str(job["_id"]), str(task["_id"])).read_bytes() == b""
        with serving(daemon.ctx) as manager_url:
            worker = TestWorker(manager_url, task_types=["sleep", "file-management", "exec"]).ready()
            task = worker.get_task().json()
            assert worker.update(task["_id"], task_status="active", log="first line").status_code == 204
    path = task_logs.log_path(root, str(job["_id"]), task["_id"])
    lines = path.read_text().splitlines()
    assert "Manager assigned task" in lines[0] and lines[-1] == "first line"
    assert not path.with_name(path.name + ".1").exists()
