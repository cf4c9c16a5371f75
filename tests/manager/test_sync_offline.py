"""The sync daemon's behaviour that needs no Server: an unreachable Server, cancels, notifications."""
from __future__ import annotations

import pytest
from bson import ObjectId

from flamenco.farm.services import free_port
from flamenco_manager import store as dbmod
from flamenco_manager import tasks, update_queue
from flamenco_manager.cancellation import handle_cancel_requests
from flamenco_manager.notifications import build_notification
from flamenco_manager.sync import SyncDaemon
from flamenco_manager.upstream import UpstreamError
from tests.manager.support import server_task


def unreachable(ctx):
    """The manager pointed at a port where nothing listens."""
    return ctx.config.replace(flamenco=f"http://127.0.0.1:{free_port()}/", upstream_connect_timeout=1)


def test_unreachable_server_keeps_updates_and_backs_off(ctx, new_worker):
    ctx.config = unreachable(ctx)
    worker = new_worker()
    tasks.store_downloaded(ctx, [server_task()])
    task = worker.get_task().json()
    worker.update(task["_id"], task_status="completed")
    daemon = SyncDaemon(ctx)
    assert daemon.push_all() == 0
    first_backoff = daemon.push_backoff
    daemon.next_push_allowed = ctx.now()
    daemon.push_all()
    assert daemon.push_backoff == 2 * first_backoff > 0
    assert update_queue.queue_size(ctx) == 2, "nothing is lost while the Server is away"
    # The scheduler keeps working from the cache meanwhile.
    tasks.store_downloaded(ctx, [server_task()])
    assert worker.get_task().status_code == 200


def test_run_once_survives_an_unreachable_server(ctx):
    ctx.config = unreachable(ctx)
    daemon = SyncDaemon(ctx)
    daemon.run_once()
    assert daemon.startup_sent is False
    assert daemon.next_notification_try > ctx.now()


def test_cancel_of_running_task_waits_for_the_worker(ctx, new_worker):
    worker = new_worker()
    running, waiting = server_task(), server_task()
    tasks.store_downloaded(ctx, [running, waiting])
    task = worker.get_task().json()
    unknown = str(ObjectId())
    assert handle_cancel_requests(ctx, [running["_id"], waiting["_id"], unknown, "garbage"]) == 3
    assert tasks.find_task(ctx, ObjectId(waiting["_id"]))["status"] == "canceled"
    assert tasks.find_task(ctx, ObjectId(task["_id"]))["status"] == "cancel-requested"
    unknown_update = ctx.store.db[dbmod.UPDATE_QUEUE].find_one({"task_id": ObjectId(unknown)})
    assert unknown_update["task_status"] == "canceled"
    # The worker hears it on its next may-i-run, stops and gives the task back.
    answer = worker.may_i_run(task["_id"])
    assert answer["may_keep_running"] is False
    assert worker.return_task(task["_id"]).status_code == 204
    assert tasks.find_task(ctx, ObjectId(task["_id"]))["status"] == "canceled"


def test_worker_completing_during_cancel_is_recorded_as_completed(ctx, new_worker):
    worker = new_worker()
    tasks.store_downloaded(ctx, [server_task()])
    task = worker.get_task().json()
    handle_cancel_requests(ctx, [task["_id"]])
    assert worker.update(task["_id"], task_status="completed").status_code == 204
    assert tasks.find_task(ctx, ObjectId(task["_id"]))["status"] == "completed"


def test_notification_lists_workers_and_task_types(ctx, new_worker):
    new_worker(task_types=["sleep"])
    new_worker(task_types=["blender-render", "sleep"])
    doc = build_notification(ctx)
    assert doc["_meta"] == {"version": 2}
    assert doc["nr_of_workers"] == 2
    assert doc["worker_task_types"] == ["blender-render", "sleep"]
    assert "blender" in doc["variables"] and doc["manager_url"] == ctx.config.own_url


def test_updates_go_up_in_the_order_they_happened(ctx, new_worker):
    worker = new_worker()
    tasks.store_downloaded(ctx, [server_task()])
    task = worker.get_task().json()
    for i in range(20):
        worker.update(task["_id"], activity=f"step {i}")
    batch = [update_queue.to_wire(d) for d in update_queue.pending_batch(ctx, 100)]
    assert [u.get("activity") for u in batch[1:]] == [f"step {i}" for i in range(20)]
    stamps = [u["received_on_manager"] for u in batch]
    assert stamps == sorted(stamps) and stamps[0].endswith("Z") and len(stamps[0].split(".")[1]) == 10


def test_worker_without_task_kicks_the_downloader_throttled(ctx, new_worker, clock):
    from flamenco_manager import sync_requests
    ctx.config = unreachable(ctx).replace(download_task_recheck_throttle=30)
    daemon = SyncDaemon(ctx)
    with pytest.raises(UpstreamError):
        daemon.maybe_download()  # the first download is due at once (and fails: no server)
    attempted = daemon.last_download
    assert attempted is not None
    clock.advance(1)
    daemon.maybe_download()
    assert daemon.last_download == attempted, "no kick, not yet periodic: no download"
    worker = new_worker()
    assert worker.get_task().status_code == 204
    assert sync_requests.kicked_since(ctx, attempted)
    clock.advance(1)
    kicked_before = ctx.now()
    assert worker.get_task().status_code == 204
    assert not sync_requests.kicked_since(ctx, kicked_before), "throttled"
    with pytest.raises(UpstreamError):
        daemon.maybe_download()
    assert daemon.last_download > attempted, "the kick made the daemon download"


def test_redownload_keeps_local_bookkeeping_and_newer_local_status(ctx, new_worker):
    worker = new_worker()
    doc = server_task()
    tasks.store_downloaded(ctx, [doc])
    task = worker.get_task().json()
    # The Server re-sends the task (e.g. its priority changed) before hearing it is active.
    tasks.store_downloaded(ctx, [{**doc, "priority": 99}])
    cached = tasks.find_task(ctx, ObjectId(task["_id"]))
    assert cached["status"] == "active" and cached["priority"] == 99
    assert cached["worker_id"] == ObjectId(worker.worker_id), "local bookkeeping survives (reference D.1.4)"
    # Once the Server has heard everything, its word counts: a re-queue there frees the task here.
    update_queue.purge(ctx)
    tasks.store_downloaded(ctx, [{**doc, "status": "queued"}])
    assert tasks.find_task(ctx, ObjectId(task["_id"]))["status"] == "queued"
    assert worker.may_i_run(task["_id"])["may_keep_running"] is False
    assert worker.get_task().json()["_id"] == task["_id"], "the claim was released"


def test_updates_never_acknowledged_are_set_aside_not_retried_forever(ctx, new_worker):
    worker = new_worker()
    tasks.store_downloaded(ctx, [server_task()])
    task = worker.get_task().json()
    worker.update(task["_id"], activity="x")
    batch = update_queue.pending_batch(ctx, 10)
    acked = {batch[0]["_id"]}
    update_queue.acknowledge(ctx, list(acked))
    assert update_queue.set_aside_unacknowledged(ctx, batch, acked, max_attempts=2) == 0
    batch = update_queue.pending_batch(ctx, 10)
    assert [d["push_attempts"] for d in batch] == [1]
    assert update_queue.set_aside_unacknowledged(ctx, batch, set(), max_attempts=2) == 1
    assert update_queue.queue_size(ctx) == 0
    assert ctx.store.db[dbmod.UPDATE_REJECTS].count_documents({}) == 1
