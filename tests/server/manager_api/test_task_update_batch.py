"""POST .../task-update-batch: acknowledgements, status rules, fields, logs, cancellations."""
from __future__ import annotations

import datetime

import pytest
from bson import ObjectId

from flamenco import clock, eventbus, status
from flamenco.manager_api import task_updates
from tests.support.server import make_job
from tests.support.task_counts import force_tasks

TASKS = "flamenco_tasks"
JOBS = "flamenco_jobs"


@pytest.fixture
def job4(world, mgr_a) -> dict:
    """A 4-task sleep job whose tasks the Manager has claimed."""
    job = make_job(world.db, world.project_a, world.manager_a, world.alice,
                   settings={"frames": "1-4", "chunk_size": 1, "time_in_seconds": 1})
    assert mgr_a.get("/depsgraph").status_code == 200
    return job


def task_ids(db, job) -> list[ObjectId]:
    return [t["_id"] for t in db[TASKS].find({"job": job["_id"]}).sort("name", 1)]


def upd(task_id, **fields) -> dict:
    return {"_id": str(ObjectId()), "task_id": str(task_id), **fields}


def post_batch(mgr, updates):
    resp = mgr.post("/task-update-batch", json=updates)
    assert resp.status_code == 200, resp.json
    return resp.json


def job_status(db, job) -> str:
    return db[JOBS].find_one({"_id": job["_id"]})["status"]


def test_completing_all_tasks_completes_the_job(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    first = [upd(t, task_status="completed") for t in ids[:3]]
    body = post_batch(mgr_a, first)
    assert body["handled_update_ids"] == [u["_id"] for u in first]
    assert body["modified_count"] == 3
    assert job_status(world.db, job4) == "active"
    post_batch(mgr_a, [upd(ids[3], task_status="completed")])
    assert job_status(world.db, job4) == "completed"


def test_one_failed_task_of_four_fails_job_and_cancels_the_rest(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    body = post_batch(mgr_a, [upd(ids[0], task_status="failed")])
    assert job_status(world.db, job4) == "failed"
    assert sorted(body["cancel_task_ids"]) == sorted(str(t) for t in ids[1:])
    # The Manager confirms; the cancel list empties.
    body = post_batch(mgr_a, [upd(t, task_status="canceled") for t in ids[1:]])
    assert "cancel_task_ids" not in body
    assert {t["status"] for t in world.db[TASKS].find({"_id": {"$in": ids[1:]}})} == {"canceled"}


def test_several_updates_of_one_task_fold_into_the_last(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    updates = [upd(ids[0], task_status="active", activity="rendering", task_progress_percentage=10),
               upd(ids[0], task_progress_percentage=60, command_progress_percentage=30),
               upd(ids[0], task_status="completed", activity="done")]
    body = post_batch(mgr_a, updates)
    assert len(body["handled_update_ids"]) == 3
    task = world.db[TASKS].find_one({"_id": ids[0]})
    assert task["status"] == "completed"
    assert task["activity"] == "done"
    assert task["task_progress_percentage"] == 60
    assert task["command_progress_percentage"] == 30
    assert job_status(world.db, job4) == "active"


def test_missing_progress_fields_keep_their_value(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    post_batch(mgr_a, [upd(ids[0], task_status="active", task_progress_percentage=40, current_command_idx=1)])
    post_batch(mgr_a, [upd(ids[0], activity="still going")])
    task = world.db[TASKS].find_one({"_id": ids[0]})
    assert task["task_progress_percentage"] == 40
    assert task["current_command_index"] == 1
    assert task["activity"] == "still going"


def test_updated_is_server_time_and_never_goes_back(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    before = clock.utcnow()
    post_batch(mgr_a, [upd(ids[0], task_status="active", received_on_manager="2001-01-01T00:00:00Z")])
    assert world.db[TASKS].find_one({"_id": ids[0]})["_updated"] >= before
    future = (clock.utcnow() + datetime.timedelta(days=1)).replace(microsecond=0)
    world.db[TASKS].update_one({"_id": ids[1]}, {"$set": {"_updated": future}})
    post_batch(mgr_a, [upd(ids[1], task_status="active")])
    assert world.db[TASKS].find_one({"_id": ids[1]})["_updated"] == future


def test_malformed_items_are_rejected_one_by_one(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    no_task = {"_id": str(ObjectId()), "task_status": "active"}
    bad_progress = upd(ids[1], task_progress_percentage="lots")
    good = upd(ids[0], task_status="active")
    body = post_batch(mgr_a, [{"_id": "not-an-id", "task_id": str(ids[2])}, no_task, bad_progress, good, 42])
    assert body["handled_update_ids"] == [no_task["_id"], bad_progress["_id"], good["_id"]]
    rejected = {(r["index"], r["field"]) for r in body["rejected_updates"]}
    assert rejected == {(0, "_id"), (1, "task_id"), (2, "task_progress_percentage"), (4, "")}
    assert world.db[TASKS].find_one({"_id": ids[0]})["status"] == "active"
    assert world.db[TASKS].find_one({"_id": ids[1]})["status"] == "claimed-by-manager"


def test_unknown_and_foreign_tasks_are_acknowledged_but_not_applied(world, mgr_a, mgr_b, job4):
    ids = task_ids(world.db, job4)
    gone = upd(ObjectId(), task_status="completed")
    foreign = upd(ids[0], task_status="completed")
    body = post_batch(mgr_b, [gone, foreign])
    assert body["handled_update_ids"] == [gone["_id"], foreign["_id"]]
    assert body["modified_count"] == 0
    assert world.db[TASKS].find_one({"_id": ids[0]})["status"] == "claimed-by-manager"


def test_cancel_requested_task_accepts_only_final_statuses(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    force_tasks(world.db, {"_id": ids[0]}, {"status": "cancel-requested"})
    post_batch(mgr_a, [upd(ids[0], task_status="active", activity="ignored status, kept activity")])
    task = world.db[TASKS].find_one({"_id": ids[0]})
    assert task["status"] == "cancel-requested"
    assert task["activity"] == "ignored status, kept activity"
    post_batch(mgr_a, [upd(ids[0], task_status="canceled")])
    assert world.db[TASKS].find_one({"_id": ids[0]})["status"] == "canceled"


def test_manager_cannot_set_server_owned_statuses(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    post_batch(mgr_a, [upd(ids[0], task_status="under-construction"), upd(ids[1], task_status="bogus")])
    assert {t["status"] for t in world.db[TASKS].find({"_id": {"$in": ids[:2]}})} == {"claimed-by-manager"}


def test_fail_requested_job_waits_for_cancellations(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    post_batch(mgr_a, [upd(t, task_status="active") for t in ids[:2]])
    status.set_job_status(world.db, job4["_id"], "fail-requested", actor=status.Actor.SYSTEM)
    assert job_status(world.db, job4) == "fail-requested"
    body = post_batch(mgr_a, [upd(ids[0], task_status="active")])
    assert job_status(world.db, job4) == "fail-requested"
    assert set(body["cancel_task_ids"]) == {str(t) for t in ids}
    post_batch(mgr_a, [upd(t, task_status="canceled") for t in ids])
    assert job_status(world.db, job4) == "failed"


def test_task_handed_back_requeues_active_job(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    post_batch(mgr_a, [upd(ids[0], task_status="active"), upd(ids[1], task_status="active")])
    assert job_status(world.db, job4) == "active"
    post_batch(mgr_a, [upd(ids[0], task_status="claimed-by-manager")])
    assert job_status(world.db, job4) == "active"
    post_batch(mgr_a, [upd(ids[1], task_status="claimed-by-manager")])
    assert job_status(world.db, job4) == "queued"


def test_log_chunks_are_stored_once_and_tail_kept(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    chunk = "\n".join(f"line {i}" for i in range(25))
    update = upd(ids[0], log=chunk, received_on_manager="2026-01-02T03:04:05.123456Z")
    post_batch(mgr_a, [update])
    body = post_batch(mgr_a, [update])  # a resend after a lost answer
    assert body["handled_update_ids"] == [update["_id"]]
    logs = list(world.db["flamenco_task_logs"].find({"task": ids[0]}))
    assert len(logs) == 1 and logs[0]["log"] == chunk
    assert world.db[TASKS].find_one({"_id": ids[0]})["log"].splitlines() == [f"line {i}" for i in range(15, 25)]
    post_batch(mgr_a, [upd(ids[0], log_tail="tail only")])
    assert world.db[TASKS].find_one({"_id": ids[0]})["log"] == "tail only"


def test_worker_metrics_and_failed_by_workers(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    worker_id = ObjectId()
    post_batch(mgr_a, [upd(ids[0], task_status="soft-failed", worker="w1 (10.0.0.1)",
                           metrics={"timing": {"total": 3.5}},
                           failed_by_workers=[{"id": str(worker_id), "identifier": "w1"}])])
    task = world.db[TASKS].find_one({"_id": ids[0]})
    assert task["worker"] == "w1 (10.0.0.1)"
    assert task["metrics"]["timing"] == {"total": 3.5}
    assert task["failed_by_workers"] == [{"id": worker_id, "identifier": "w1"}]
    assert job_status(world.db, job4) == "active"


def test_empty_batch_polls_for_cancels_and_log_uploads(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    world.db["flamenco_managers"].update_one({"_id": mgr_a.manager["_id"]}, {"$set": {
        "upload_task_file_queue": [{"job": job4["_id"], "task": ids[0]}]}})
    force_tasks(world.db, {"_id": ids[1]}, {"status": "cancel-requested"})
    status.mark_cancel_requested_tasks(world.db, job4["_id"])  # what the status rules do with such a write
    resp = mgr_a.post("/task-update-batch")
    assert resp.status_code == 200
    assert resp.json == {"modified_count": 0, "handled_update_ids": [], "cancel_task_ids": [str(ids[1])],
                         "upload_task_file_queue": [{"job": str(job4["_id"]), "task": str(ids[0])}]}


@pytest.mark.parametrize("body", [b"null", b"", b" null\n"], ids=["null", "empty", "null-with-spaces"])
def test_idle_go_manager_batch_polls_for_cancels_of_a_cancelled_job(world, mgr_a, job4, body):
    """Flamenco 2's Go Manager with nothing queued pushes its empty batch as ``null``."""
    ids = task_ids(world.db, job4)
    status.set_job_status(world.db, job4["_id"], "cancel-requested", actor=status.Actor.USER)
    resp = mgr_a.post("/task-update-batch", data=body, content_type="application/json")
    assert resp.status_code == 200, resp.json
    assert resp.json["modified_count"] == 0
    assert resp.json["handled_update_ids"] == []
    assert sorted(resp.json["cancel_task_ids"]) == sorted(str(t) for t in ids)


def test_body_must_be_a_list(mgr_a):
    resp = mgr_a.post("/task-update-batch", json={"task_id": "x"})
    assert resp.status_code == 400
    resp = mgr_a.post("/task-update-batch", data=b"{nope", content_type="application/json")
    assert resp.status_code == 400
    resp = mgr_a.post("/task-update-batch", data=b'"null"', content_type="application/json")
    assert resp.status_code == 400


def test_updates_for_archived_jobs_are_acknowledged(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    world.db[TASKS].delete_many({"job": job4["_id"]})
    world.db[JOBS].update_one({"_id": job4["_id"]}, {"$set": {"status": "archived"}})
    update = upd(ids[0], task_status="completed")
    assert post_batch(mgr_a, [update])["handled_update_ids"] == [update["_id"]]
    assert job_status(world.db, job4) == "archived"


def test_status_changed_meanwhile_is_decided_again(world, mgr_a, job4):
    """A user cancelled the job between reading the tasks and writing them."""
    from flamenco.manager_api import task_updates

    ids = task_ids(world.db, job4)
    tasks = {t["_id"]: t for t in world.db[TASKS].find({"_id": {"$in": ids[:3]}},
                                                      projection=task_updates.TASK_PROJECTION)}
    states = {
        ids[0]: task_updates.TaskState(task=tasks[ids[0]], status="active", reported=["active"]),
        ids[1]: task_updates.TaskState(task=tasks[ids[1]], status="completed", reported=["completed"]),
        ids[2]: task_updates.TaskState(task=tasks[ids[2]], status="active", reported=["active"]),
    }
    force_tasks(world.db, {"_id": {"$in": ids[:2]}}, {"status": "cancel-requested"})
    world.db[TASKS].delete_one({"_id": ids[2]})
    modified = task_updates.write_states(world.db, states, clock.utcnow())
    assert modified == 1
    assert world.db[TASKS].find_one({"_id": ids[0]})["status"] == "cancel-requested"
    assert world.db[TASKS].find_one({"_id": ids[1]})["status"] == "completed"
    assert ids[2] not in states


def test_metrics_with_unstorable_keys_reject_only_that_update(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    bad = upd(ids[0], task_status="active", metrics={"timing": {"render.total": 1.0}})
    good = upd(ids[1], task_status="active", metrics={"timing": {"total": 1.0}})
    body = post_batch(mgr_a, [bad, good])
    assert body["handled_update_ids"] == [bad["_id"], good["_id"]]
    assert [r["field"] for r in body["rejected_updates"]] == ["metrics"]
    assert world.db[TASKS].find_one({"_id": ids[1]})["metrics"]["timing"] == {"total": 1.0}


# --- Re-sent and out-of-order updates never undo newer state ------------------------


def at(second: int, micro: int = 0) -> str:
    """A Manager-side ``received_on_manager`` stamp: second ``second`` (and ``micro`` µs) of a fixed minute."""
    return f"2026-03-04T05:06:{second:02d}.{micro:06d}123Z"


def test_resent_batch_after_completion_leaves_task_and_job_completed(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    started = [upd(t, task_status="active", activity="rendering", task_progress_percentage=10,
                   received_on_manager=at(1)) for t in ids]
    post_batch(mgr_a, started)
    post_batch(mgr_a, [upd(t, task_status="completed", activity="done", task_progress_percentage=100,
                           received_on_manager=at(2)) for t in ids])
    assert job_status(world.db, job4) == "completed"
    body = post_batch(mgr_a, started)  # the Manager lost the first answer and sends it again
    assert body["handled_update_ids"] == [u["_id"] for u in started]
    assert body["modified_count"] == 0
    tasks = list(world.db[TASKS].find({"_id": {"$in": ids}}))
    assert {(t["status"], t["activity"], t["task_progress_percentage"]) for t in tasks} == {("completed", "done", 100)}
    assert job_status(world.db, job4) == "completed"


def test_older_update_within_a_batch_is_ignored_but_its_log_kept(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    late = upd(ids[0], task_status="active", activity="old news", log="older chunk", received_on_manager=at(1))
    body = post_batch(mgr_a, [upd(ids[0], task_status="completed", activity="done", received_on_manager=at(2)), late])
    assert late["_id"] in body["handled_update_ids"]
    task = world.db[TASKS].find_one({"_id": ids[0]})
    assert (task["status"], task["activity"]) == ("completed", "done")
    assert [c["log"] for c in world.db["flamenco_task_logs"].find({"task": ids[0]})] == ["older chunk"]


def test_older_update_in_a_later_batch_is_ignored(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    post_batch(mgr_a, [upd(ids[0], task_status="active", activity="frame 3", received_on_manager=at(5))])
    old = upd(ids[0], task_status="soft-failed", activity="frame 1", received_on_manager=at(4))
    body = post_batch(mgr_a, [old])
    assert body["handled_update_ids"] == [old["_id"]]
    assert body["modified_count"] == 0
    task = world.db[TASKS].find_one({"_id": ids[0]})
    assert (task["status"], task["activity"]) == ("active", "frame 3")


def test_updates_stamped_within_one_millisecond_all_apply_once(world, mgr_a, job4):
    """BSON keeps milliseconds; the update ids tell a new update from a re-sent one."""
    ids = task_ids(world.db, job4)
    first = upd(ids[0], task_status="active", activity="first", received_on_manager=at(7, 100))
    second = upd(ids[0], activity="second", received_on_manager=at(7, 500))
    post_batch(mgr_a, [first])
    post_batch(mgr_a, [second])
    assert world.db[TASKS].find_one({"_id": ids[0]})["activity"] == "second"
    body = post_batch(mgr_a, [first])
    assert body["handled_update_ids"] == [first["_id"]]
    assert world.db[TASKS].find_one({"_id": ids[0]})["activity"] == "second"


def test_updates_apply_again_after_requeue_and_reclaim(world, mgr_a, job4):
    """The re-claiming Manager may run on an earlier clock: its updates are not stale."""
    ids = task_ids(world.db, job4)
    post_batch(mgr_a, [upd(ids[0], task_status="completed", received_on_manager=at(50))])
    status.set_task_status(world.db, ids[0], "queued", actor=status.Actor.USER)
    assert mgr_a.get("/depsgraph").status_code == 200
    task = world.db[TASKS].find_one({"_id": ids[0]})
    assert task["status"] == "claimed-by-manager"
    assert task_updates.WATERMARK_FIELD not in task
    post_batch(mgr_a, [upd(ids[0], task_status="active", activity="again", received_on_manager=at(10))])
    task = world.db[TASKS].find_one({"_id": ids[0]})
    assert (task["status"], task["activity"]) == ("active", "again")


def test_in_order_stamped_updates_apply_and_complete_the_job(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    post_batch(mgr_a, [upd(t, task_status="active", received_on_manager=at(1)) for t in ids])
    post_batch(mgr_a, [upd(t, task_progress_percentage=50, received_on_manager=at(2)) for t in ids])
    body = post_batch(mgr_a, [upd(t, task_status="completed", received_on_manager=at(3)) for t in ids])
    assert body["modified_count"] == 4
    task = world.db[TASKS].find_one({"_id": ids[0]})
    assert (task["status"], task["task_progress_percentage"]) == ("completed", 50)
    assert task[task_updates.WATERMARK_FIELD]["update_ids"] == [ObjectId(body["handled_update_ids"][0])]
    assert job_status(world.db, job4) == "completed"


def test_eve_get_shows_the_watermark(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    update = upd(ids[0], task_status="active", received_on_manager=at(9))
    post_batch(mgr_a, [update])
    resp = world.api("alice").get(f"/api/flamenco/tasks/{ids[0]}")
    assert resp.status_code == 200, resp.json
    assert resp.json[task_updates.WATERMARK_FIELD]["update_ids"] == [update["_id"]]


def test_job_change_reaches_the_dashboard_job_rows_whole(world, mgr_a, job4, redis_url):
    """The job event of a batch carries what the job list shows: status, reason and the new _updated."""
    import redis

    from flamenco.web import job_index

    client = redis.Redis.from_url(redis_url)
    assert job_index.INDEX.rows(world.db, client, world.project_a["_id"])  # seeded before the batch
    post_batch(mgr_a, [upd(t, task_status="completed") for t in task_ids(world.db, job4)])
    stored = world.db[JOBS].find_one({"_id": job4["_id"]})
    row = next(r for r in job_index.INDEX.rows(world.db, client, world.project_a["_id"]) if r["_id"] == job4["_id"])
    assert (row["status"], row["status_reason"], row["_updated"]) == (
        "completed", stored["status_reason"], stored["_updated"])


# --- Field writes: one command for the whole batch ------------------------------------


def test_batch_for_more_tasks_than_ferretdb_has_connections(world, mgr_a):
    """One ``update`` command of 150 statements: FerretDB 1.24 wedged at 100 before our patch."""
    job = make_job(world.db, world.project_a, world.manager_a, world.alice,
                   settings={"frames": "1-150", "chunk_size": 1, "time_in_seconds": 1})
    assert mgr_a.get("/depsgraph").status_code == 200
    ids = task_ids(world.db, job)
    assert len(ids) == 150
    body = post_batch(mgr_a, [upd(t, activity=f"frame {i}", task_progress_percentage=50)
                              for i, t in enumerate(ids)])
    assert body["modified_count"] == 150
    assert world.db[TASKS].count_documents({"job": job["_id"], "task_progress_percentage": 50}) == 150
    assert world.db[TASKS].find_one({"_id": ids[149]})["activity"] == "frame 149"


def test_writes_count_only_tasks_still_stored(world, mgr_a, job4):
    ids = task_ids(world.db, job4)
    tasks = {t["_id"]: t for t in world.db[TASKS].find({"_id": {"$in": ids[:2]}},
                                                      projection=task_updates.TASK_PROJECTION)}
    states = {task_id: task_updates.TaskState(task=task, status=task["status"], fields={"activity": "busy"})
              for task_id, task in tasks.items()}
    world.db[TASKS].delete_one({"_id": ids[1]})
    assert task_updates.write_states(world.db, states, clock.utcnow()) == 1
    assert ids[1] not in states, "a task deleted meanwhile gets no job rule either"
    assert world.db[TASKS].find_one({"_id": ids[0]})["activity"] == "busy"
    assert world.db[TASKS].find_one({"_id": ids[1]}) is None


def test_an_update_that_changes_nothing_is_not_announced(world, mgr_a, job4):
    """Listeners (the dashboard, notifications) hear of the tasks a batch wrote, and only of those."""
    first, second = task_ids(world.db, job4)[:2]
    post_batch(mgr_a, [upd(first, task_status="active")])
    heard: list = []

    def record(db, changes) -> None:
        heard.extend((c.kind, c.doc_id) for c in changes if c.kind == "task")

    eventbus.subscribe(record)
    try:
        post_batch(mgr_a, [upd(first, task_status="active"), upd(second, task_status="active")])
    finally:
        eventbus.unsubscribe(record)
    assert heard == [("task", second)]
    assert world.db[TASKS].find_one({"_id": first})["status"] == "active"
