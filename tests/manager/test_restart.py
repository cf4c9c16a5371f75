"""A restart rebuilds the state from the buffer: task documents, then the queued updates replayed."""
from __future__ import annotations

import pymongo
from bson import ObjectId

from flamenco_manager import store, tasks, update_queue
from flamenco_manager.config import build_config
from flamenco_manager.context import ManagerContext
from tests.manager.conftest import serving
from tests.manager.support import TestWorker, server_task


def test_restart_rebuilds_queue_and_running_tasks_and_acknowledged_updates_are_checkpointed(ctx, manager_settings):
    done, running, waiting = (server_task(name=n, priority=p) for n, p in (("done", 90), ("running", 80),
                                                                          ("waiting", 10)))
    tasks.store_downloaded(ctx, [done, running, waiting])
    with serving(ctx) as url:
        first, second = TestWorker(url, nickname="first").ready(), TestWorker(url, nickname="second").ready()
        assert first.get_task().json()["_id"] == done["_id"]
        assert first.update(done["_id"], task_status="completed").status_code == 204
        assert second.get_task().json()["_id"] == running["_id"]
    ctx.close()

    again = ManagerContext.create(build_config(manager_settings))
    try:
        assert tasks.find_task(again, ObjectId(done["_id"]))["status"] == "completed", "replayed from the queue"
        assert tasks.find_task(again, ObjectId(running["_id"]))["status"] == "active"
        with serving(again) as url:
            second.base_url = url
            third = TestWorker(url, nickname="third").ready()
            assert second.get_task().json()["_id"] == running["_id"], "a running task stays its worker's"
            assert third.get_task().json()["_id"] == waiting["_id"], "the claim queue was rebuilt"
            assert third.get_task().status_code == 200  # its own, handed back
        ids = [u["_id"] for u in update_queue.pending_batch(again, 100)]
        assert update_queue.acknowledge(again, ids) == len(ids)
    finally:
        again.close()
    with pymongo.MongoClient(manager_settings["database_url"]) as client:
        db = client.get_default_database()
        finished = {str(t["_id"]): t["status"] for t in db[store.TASKS_DONE].find()}
        retained = {str(u["task_id"]) for u in db[store.UPDATE_QUEUE].find()}
    assert finished == {done["_id"]: "completed"}, "a finished task the Server knows about moved to tasks_done"
    assert retained == {running["_id"], waiting["_id"]}, \
        "acknowledged updates of unfinished tasks stay in the buffer until their task's checkpoint"
    third_start = ManagerContext.create(build_config(manager_settings))
    try:
        assert {tasks.find_task(third_start, ObjectId(t["_id"]))["status"] for t in (running, waiting)} == {"active"}
        assert update_queue.queue_size(third_start) == 2, "the retained ones (one per running task) are sent again"
    finally:
        third_start.close()
