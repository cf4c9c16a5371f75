"""Worker and task timeouts (reference A.5.7) with the manager's clock moved forward."""
from __future__ import annotations

from bson import ObjectId

from flamenco_manager import store as dbmod
from flamenco_manager import tasks, timeouts
from flamenco_manager.cancellation import handle_cancel_requests
from tests.manager.support import server_task, set_worker_fields


def worker_doc(ctx, worker):
    return ctx.store.db[dbmod.WORKERS].find_one({"_id": ObjectId(worker.worker_id)})


def test_silent_worker_times_out_and_its_task_is_requeued(ctx, new_worker, clock):
    silent, other = new_worker(nickname="silent"), new_worker(nickname="other")
    tasks.store_downloaded(ctx, [server_task()])
    task = silent.get_task().json()
    clock.advance(ctx.config.active_worker_timeout_interval + 1)
    other.status_change()  # "other" is still around
    set_worker_fields(ctx, other.worker_id, status="asleep")
    assert timeouts.check_worker_timeouts(ctx) == 1
    stored = worker_doc(ctx, silent)
    assert stored["status"] == "timeout" and stored["status_requested"] == "awake"
    assert tasks.find_task(ctx, ObjectId(task["_id"]))["status"] == "claimed-by-manager"
    # Coming back, the worker is told to return to its previous status.
    assert silent.get_task().status_code == 423
    set_worker_fields(ctx, other.worker_id, status="awake")
    assert other.get_task().json()["_id"] == task["_id"]


def test_task_without_pings_fails_and_logs_it(ctx, new_worker, clock):
    worker = new_worker()
    doc = server_task()
    tasks.store_downloaded(ctx, [doc])
    task = worker.get_task().json()
    clock.advance(ctx.config.active_task_timeout_interval + 1)
    worker.status_change()  # the worker process is alive, the task is not progressing
    assert timeouts.check_task_timeouts(ctx) == 1
    cached = tasks.find_task(ctx, ObjectId(task["_id"]))
    assert cached["status"] == "failed"
    statuses = [u.get("task_status") for u in ctx.store.db[dbmod.UPDATE_QUEUE].find({"task_id": cached["_id"]}).sort("queued_at_ns", 1)]
    assert statuses == ["active", "failed"], "one failed update, no re-queue in between"
    from flamenco_manager import task_logs
    text = task_logs.log_path(ctx.config.task_logs_path, doc["job"], doc["_id"]).read_text()
    assert "Task timed out on worker" in text
    assert worker_doc(ctx, worker)["status"] == "timeout"


def test_pinged_task_does_not_time_out(ctx, new_worker, clock):
    worker = new_worker()
    tasks.store_downloaded(ctx, [server_task()])
    task = worker.get_task().json()
    clock.advance(ctx.config.active_task_timeout_interval - 5)
    assert worker.may_i_run(task["_id"])["may_keep_running"] is True
    clock.advance(10)
    assert timeouts.check_task_timeouts(ctx) == 0
    assert timeouts.check_worker_timeouts(ctx) == 0


def test_cancel_requested_task_of_silent_worker_is_canceled(ctx, new_worker, clock):
    worker = new_worker()
    tasks.store_downloaded(ctx, [server_task()])
    task = worker.get_task().json()
    handle_cancel_requests(ctx, [task["_id"]])
    assert tasks.find_task(ctx, ObjectId(task["_id"]))["status"] == "cancel-requested"
    clock.advance(ctx.config.active_task_timeout_interval + 1)
    timeouts.check_task_timeouts(ctx)
    assert tasks.find_task(ctx, ObjectId(task["_id"]))["status"] == "canceled"
