"""The dashboard's Redis read model of each job's tasks (flamenco.web.task_index)."""
from __future__ import annotations

import redis
from bson import ObjectId

from flamenco.web import live_feed
from flamenco.farm.services import free_port
from flamenco.web import task_index


def set_status(db, task_id, new_status: str) -> dict:
    db["flamenco_tasks"].update_one({"_id": task_id}, {"$set": {"status": new_status}})
    return db["flamenco_tasks"].find_one({"_id": task_id})


def test_seeds_from_the_database_then_follows_task_events(mongo_db, redis_url, jobs_of):
    client = redis.Redis.from_url(redis_url)
    job = jobs_of(name="render", task_statuses=("queued", "queued", "completed"))
    assert task_index.INDEX.counts(mongo_db, client, [job["_id"]]) == {job["_id"]: {"queued": 2, "completed": 1}}

    # The database changes, and the change is published: the index follows
    # without reading the database again.
    first = job["tasks"][0]
    task = set_status(mongo_db, first["_id"], "active")
    task["activity"] = "rendering frame 3"
    live_feed.publish("task", task, url=redis_url)
    assert task_index.INDEX.counts(mongo_db, client, [job["_id"]])[job["_id"]] == {
        "queued": 1, "active": 1, "completed": 1}
    rows = task_index.rows_for_job(mongo_db, client, job["_id"])
    assert [r["_id"] for r in rows] == [t["_id"] for t in job["tasks"]]
    assert rows[0]["status"] == "active" and rows[0]["activity"] == "rendering frame 3"
    assert rows[0]["name"] == first["name"]


def test_unpublished_changes_stay_invisible_until_a_bulk_change_is_announced(mongo_db, redis_url, jobs_of):
    client = redis.Redis.from_url(redis_url)
    job = jobs_of(name="render", task_statuses=("queued", "queued"))
    task_index.INDEX.counts(mongo_db, client, [job["_id"]])
    mongo_db["flamenco_tasks"].update_many({"job": job["_id"]}, {"$set": {"status": "canceled"}})
    # A job event without task changes keeps the index...
    live_feed.publish("job", {"_id": job["_id"], "project": job["project"], "status": "active"},
                   url=redis_url, tasks_changed=False)
    assert task_index.INDEX.counts(mongo_db, client, [job["_id"]])[job["_id"]] == {"queued": 2}
    # ...one that announces task changes makes it read the database again.
    live_feed.publish("job", {"_id": job["_id"], "project": job["project"], "status": "canceled"}, url=redis_url)
    assert task_index.INDEX.counts(mongo_db, client, [job["_id"]])[job["_id"]] == {"canceled": 2}


def test_event_newer_than_the_seeding_query_wins(mongo_db, redis_url, jobs_of):
    client = redis.Redis.from_url(redis_url)
    job = jobs_of(name="render", task_statuses=("queued", "queued"))
    task = dict(job["tasks"][0], status="completed")
    live_feed.publish("task", task, url=redis_url)  # the database still says queued
    rows = task_index.rows_for_job(mongo_db, client, job["_id"])
    assert [r["status"] for r in rows] == ["completed", "queued"]
    assert rows[0]["name"] == task["name"] and rows[0]["task_type"] == "sleep"
    assert task_index.INDEX.counts(mongo_db, client, [job["_id"]])[job["_id"]] == {"completed": 1, "queued": 1}


def test_parents_survive_the_round_trip(mongo_db, redis_url, jobs_of):
    client = redis.Redis.from_url(redis_url)
    job = jobs_of(name="render", task_statuses=("queued", "queued"))
    parent, child = job["tasks"]
    mongo_db["flamenco_tasks"].update_one({"_id": child["_id"]}, {"$set": {"parents": [parent["_id"]]}})
    rows = {r["_id"]: r for r in task_index.rows_for_job(mongo_db, client, job["_id"])}
    assert rows[child["_id"]]["parents"] == [parent["_id"]]
    assert rows[parent["_id"]]["parents"] == []


def test_without_redis_pages_read_the_database(mongo_db, jobs_of):
    dead = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    job = jobs_of(name="render", task_statuses=("failed", "queued"))
    assert task_index.INDEX.counts(mongo_db, dead, [job["_id"]]) == {job["_id"]: {"failed": 1, "queued": 1}}
    assert [r["status"] for r in task_index.rows_for_job(mongo_db, dead, job["_id"])] == ["failed", "queued"]


def test_jobs_without_tasks_have_empty_counts(mongo_db, redis_url, jobs_of):
    client = redis.Redis.from_url(redis_url)
    job = jobs_of(name="empty", task_statuses=())
    assert task_index.INDEX.counts(mongo_db, client, [job["_id"], job["_id"]]) == {job["_id"]: {}}
    assert task_index.INDEX.counts(mongo_db, client, []) == {}
    assert task_index.rows_for_job(mongo_db, client, ObjectId()) == []


def test_one_visit_indexes_the_jobs_of_the_page_and_no_others(mongo_db, redis_url, jobs_of):
    client = redis.Redis.from_url(redis_url)
    shown = [jobs_of(name=f"on screen {i}", task_statuses=("queued", "completed")) for i in range(3)]
    other = jobs_of(name="elsewhere", task_statuses=("failed", "failed"))
    task_index.INDEX.counts(mongo_db, client, [j["_id"] for j in shown])
    assert not client.exists(task_index.INDEX.keys(other["_id"])[0])
    mongo_db["flamenco_tasks"].delete_many({"job": {"$in": [j["_id"] for j in shown]}})  # later views need no query
    assert task_index.INDEX.counts(mongo_db, client, [j["_id"] for j in shown]) == {
        j["_id"]: {"queued": 1, "completed": 1} for j in shown}
    assert task_index.INDEX.counts(mongo_db, client, [other["_id"]]) == {other["_id"]: {"failed": 2}}


def test_one_publish_of_many_events_applies_them_in_order(mongo_db, redis_url, jobs_of):
    """A task-update batch publishes all its changes at once; per task, the last one wins and
    the counts move through every step, as if they had come one by one."""
    client = redis.Redis.from_url(redis_url)
    job = jobs_of(name="render", task_statuses=("queued", "queued", "queued"))
    other = jobs_of(name="other", task_statuses=("queued",))
    task_index.INDEX.counts(mongo_db, client, [job["_id"], other["_id"]])
    first, second, third = job["tasks"]
    live_feed.publish_many("task", [
        dict(first, status="active", activity="starting"),
        dict(second, status="active"),
        dict(first, status="completed", activity="done"),
        dict(other["tasks"][0], status="failed"),
        dict(third, status="canceled"),
        dict(third, status="queued"),
    ], url=redis_url)
    counts = task_index.INDEX.counts(mongo_db, client, [job["_id"], other["_id"]])
    assert counts == {job["_id"]: {"completed": 1, "active": 1, "queued": 1}, other["_id"]: {"failed": 1}}
    rows = {r["_id"]: r for r in task_index.rows_for_job(mongo_db, client, job["_id"])}
    assert (rows[first["_id"]]["status"], rows[first["_id"]]["activity"]) == ("completed", "done")


def test_a_deletion_among_many_events_removes_its_row_and_stops_a_running_seeding(mongo_db, redis_url, jobs_of):
    client = redis.Redis.from_url(redis_url)
    job = jobs_of(name="render", task_statuses=("queued", "queued"))
    task_index.INDEX.counts(mongo_db, client, [job["_id"]])
    generation = task_index.INDEX.keys(job["_id"])[3]
    before = int(client.get(generation) or 0)
    first, second = job["tasks"]
    live_feed.publish_many("task", [dict(first, status="active"), dict(second, status="deleted")], url=redis_url)
    assert task_index.INDEX.counts(mongo_db, client, [job["_id"]])[job["_id"]] == {"active": 1}
    assert [r["_id"] for r in task_index.rows_for_job(mongo_db, client, job["_id"])] == [first["_id"]]
    assert int(client.get(generation)) == before + 1
