"""The job list's Redis read model (flamenco.web.job_index) and the query run over it."""
from __future__ import annotations

import datetime
import itertools

import pytest
import redis
from bson import ObjectId
from werkzeug.datastructures import MultiDict

from flamenco.web import live_feed
from flamenco.web import actions, defaults, job_index, joblist


def test_follows_job_events_without_reading_the_jobs_again(mongo_db, redis_url, jobs_of):
    client = redis.Redis.from_url(redis_url)
    job = jobs_of(name="render", status="queued")
    project = job["project"]
    assert [r["status"] for r in job_index.INDEX.rows(mongo_db, client, project)] == ["queued"]

    mongo_db["flamenco_jobs"].delete_many({})  # later reads must come from Redis
    live_feed.publish("job", {**job, "status": "active", "priority": 80}, url=redis_url)
    later = {**job, "_id": ObjectId(), "name": "later", "_created": job["_created"] + datetime.timedelta(hours=1)}
    live_feed.publish("job", later, url=redis_url)

    rows = {r["_id"]: r for r in job_index.INDEX.rows(mongo_db, client, project)}
    assert rows[job["_id"]]["status"] == "active" and rows[job["_id"]]["priority"] == 80
    assert rows[later["_id"]]["name"] == "later"
    assert rows[later["_id"]]["_created"] == later["_created"]  # back to a datetime
    assert rows[later["_id"]]["user"] == job["user"]  # back to an ObjectId
    assert job_index.status_counts(mongo_db, client, [project]) == {project: {"active": 1, "queued": 1}}


def test_a_deleted_job_leaves_the_list(mongo_db, redis_url, jobs_of):
    client = redis.Redis.from_url(redis_url)
    kept, gone = jobs_of(name="kept"), jobs_of(name="gone", status="archived")
    assert len(job_index.INDEX.rows(mongo_db, client, kept["project"])) == 2
    live_feed.publish("job", {**gone, "status": "deleted"}, url=redis_url)
    assert [r["_id"] for r in job_index.INDEX.rows(mongo_db, client, kept["project"])] == [kept["_id"]]
    assert job_index.status_counts(mongo_db, client, [kept["project"]])[kept["project"]] == {"queued": 1}


def test_a_deletion_during_seeding_is_not_undone(mongo_db, redis_url, jobs_of):
    """A seeding that read the job before it was deleted must not bring its row back."""
    client = redis.Redis.from_url(redis_url)
    job = jobs_of(name="doomed", status="archived")
    seeding = job_index.row_index._Seeding(job_index.INDEX, client, [job["project"]])
    rows_read_before_deletion = list(mongo_db["flamenco_jobs"].find({"project": job["project"]}))
    mongo_db["flamenco_jobs"].delete_one({"_id": job["_id"]})
    live_feed.publish("job", {**job, "status": "deleted"}, url=redis_url)
    for doc in rows_read_before_deletion:
        seeding.add(doc)
    seeding.finish()
    assert job_index.INDEX.rows(mongo_db, client, job["project"]) == []


def test_redis_down_reads_the_database(mongo_db, jobs_of):
    from flamenco.farm.services import free_port
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    job = jobs_of(name="render", status="failed")
    assert [r["_id"] for r in job_index.INDEX.rows(mongo_db, dead, job["project"])] == [job["_id"]]
    assert job_index.status_counts(mongo_db, dead, [job["project"]]) == {job["project"]: {"failed": 1}}


@pytest.fixture
def varied_jobs(jobs_of, farm):
    """Jobs differing in every sortable field, some fields missing, ties included."""
    t0 = datetime.datetime(2026, 3, 1, tzinfo=datetime.timezone.utc)
    other_manager = ObjectId()
    made = []
    for i, (status, job_type) in enumerate(itertools.product(("queued", "active", "archived", "failed"),
                                                              ("sleep", "blender-render"))):
        fields = {"priority": (i * 7) % 5, "updated": t0 + datetime.timedelta(seconds=(i * 13) % 4,
                                                                              milliseconds=i % 3)}
        if i % 3 == 0:
            fields["manager"] = other_manager
        if i % 4 == 1:
            fields["user"] = farm["vic"]["_id"]
        made.append(jobs_of(name=["b", "a", "B", "ä", "a"][i % 5], status=status, job_type=job_type, **fields))
    return {"other_manager": other_manager, "jobs": made}


def mongo_order(db, project_id, query: joblist.JobQuery) -> list[ObjectId]:
    """What MongoDB itself answers for the same query (the semantics the Python side must keep)."""
    mongo_filter: dict = {"project": project_id}
    mongo_filter["status"] = ({"$in": list(query.statuses)} if query.statuses
                              else {"$nin": list(defaults.HIDDEN_BY_DEFAULT_STATUSES)})
    for field, values in (("job_type", query.job_types), ("manager", query.managers), ("user", query.users)):
        if values:
            mongo_filter[field] = {"$in": list(values)}
    field = query.sort.lstrip("-")
    direction = -1 if query.sort.startswith("-") else 1
    return [d["_id"] for d in db["flamenco_jobs"].find(mongo_filter, {"_id": 1}).sort([(field, direction),
                                                                                      ("_id", direction)])]


def test_filters_and_sorts_as_mongodb_would(mongo_db, redis_url, varied_jobs, farm):
    client = redis.Redis.from_url(redis_url)
    mongo_db["flamenco_jobs"].update_one({"_id": varied_jobs["jobs"][-1]["_id"]}, {"$unset": {"priority": ""}})
    project_id = farm["project"]["_id"]
    queries = [MultiDict({"sort": sort}) for sort in
               [f"{sign}{field}" for field in defaults.JOB_SORT_FIELDS for sign in ("", "-")]]
    queries += [MultiDict([("status", "archived"), ("status", "failed"), ("sort", "priority")]),
                MultiDict([("job_type", "sleep"), ("manager", str(varied_jobs["other_manager"]))]),
                MultiDict([("user", str(farm["vic"]["_id"])), ("sort", "-name")])]
    for args in queries:
        query = joblist.parse_query(args, actions.JOB_STATUSES)
        page = joblist.fetch_page(mongo_db, client, project_id, query, page_size=100)
        assert [j["_id"] for j in page.jobs] == mongo_order(mongo_db, project_id, query), args
        assert page.total == len(page.jobs)
