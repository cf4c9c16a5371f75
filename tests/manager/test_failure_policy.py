"""Soft-fail, fail and blocklist scenarios (reference A.5.6), through the worker API."""
from __future__ import annotations

import datetime as dt

from bson import ObjectId

from flamenco_manager import store as dbmod
from flamenco_manager import tasks
from tests.manager.support import server_task, set_worker_fields


def download(ctx, *docs):
    tasks.store_downloaded(ctx, docs)


def status_of(ctx, doc) -> str:
    return tasks.find_task(ctx, ObjectId(doc["_id"]))["status"]


def test_failed_task_is_soft_failed_and_goes_to_another_worker(ctx, new_worker):
    a, b = new_worker(nickname="a"), new_worker(nickname="b")
    doc = server_task()
    download(ctx, doc)
    task = a.get_task().json()
    assert a.update(task["_id"], task_status="failed", log="boom").status_code == 204
    cached = tasks.find_task(ctx, ObjectId(doc["_id"]))
    assert cached["status"] == "soft-failed"
    assert [f["id"] for f in cached["failed_by_workers"]] == [ObjectId(a.worker_id)]
    queued = ctx.store.db[dbmod.UPDATE_QUEUE].find_one({"task_id": ObjectId(doc["_id"]), "task_status": "soft-failed"})
    assert queued["failed_by_workers"][0]["identifier"].endswith("(a)")
    # The worker that failed it never gets it again; the other one does.
    assert a.get_task().status_code == 204
    assert b.get_task().json()["_id"] == doc["_id"]


def test_task_fails_for_good_after_softfail_count(ctx, new_worker, manager_settings):
    workers = [new_worker(nickname=f"w{i}") for i in range(4)]
    doc = server_task()
    download(ctx, doc)
    for worker in workers[:3]:
        task = worker.get_task().json()
        assert task["_id"] == doc["_id"]
        worker.update(task["_id"], task_status="failed")
    assert status_of(ctx, doc) == "failed"
    assert workers[3].get_task().status_code == 204


def test_task_fails_when_no_other_worker_is_left(ctx, new_worker):
    only = new_worker()
    doc = server_task()
    download(ctx, doc)
    only.update(only.get_task().json()["_id"], task_status="failed")
    assert status_of(ctx, doc) == "failed"


def test_blocklist_after_threshold_failures_on_one_job(ctx, new_worker):
    bad, good = new_worker(nickname="bad"), new_worker(nickname="good", task_types=["blender-render"])
    job, other_job = ObjectId(), ObjectId()
    docs = [server_task(job, name=f"t{i}") for i in range(4)]
    elsewhere = server_task(other_job, priority=0, name="elsewhere")
    download(ctx, *docs, elsewhere)
    # "helper" keeps the soft-fail path open: someone else can still run them.
    helper = new_worker(nickname="helper")
    for _ in range(3):
        task = bad.get_task().json()
        bad.update(task["_id"], task_status="failed")
    entry = ctx.store.db[dbmod.BLACKLIST].find_one({"worker_id": ObjectId(bad.worker_id)})
    assert entry["job_id"] == job and entry["task_type"] == "sleep"
    # Blocklisted for (job, sleep): it only gets the task of the other job now.
    assert bad.get_task().json()["_id"] == elsewhere["_id"]
    assert helper.get_task().json()["name"].startswith("t")
    assert good.get_task().status_code == 204


def test_blocklisted_worker_with_nobody_left_hard_fails_its_soft_failed_tasks(ctx, new_worker, clock):
    bad, other = new_worker(nickname="bad"), new_worker(nickname="other")
    job = ObjectId()
    docs = [server_task(job, name=f"t{i}") for i in range(3)]
    download(ctx, *docs)
    # "other" fails one task first, so it is no candidate for that one.
    first = other.get_task().json()
    other.update(first["_id"], task_status="failed")
    # "other" disappears: not seen for longer than the fail-over age.
    set_worker_fields(ctx, other.worker_id, last_activity=clock() - dt.timedelta(days=2))
    while (resp := bad.get_task()).status_code == 200:
        bad.update(resp.json()["_id"], task_status="failed")
    assert ctx.store.db[dbmod.BLACKLIST].count_documents({"worker_id": ObjectId(bad.worker_id)}) == 1
    assert all(status_of(ctx, d) == "failed" for d in docs)
