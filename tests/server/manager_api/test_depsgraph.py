"""GET .../depsgraph: clean slate, incremental, claim on delivery, headers, BSON."""
from __future__ import annotations

import datetime

import bson
import pymongo
import pytest
from pymongo import monitoring

from flamenco import eventbus, status
from flamenco.manager_api import depsgraph, wire
from flamenco.store.collections import JOBS, TASKS
from tests.support.server import make_job


def test_no_runnable_jobs_is_204(mgr_a):
    assert mgr_a.get("/depsgraph").status_code == 204


def test_clean_slate_delivers_and_claims_without_touching_updated(world, mgr_a, job):
    before = {t["_id"]: t for t in world.db[TASKS].find({"job": job["_id"]})}
    assert {t["status"] for t in before.values()} == {"queued"}
    resp = mgr_a.get("/depsgraph")
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    graph = resp.json["depsgraph"]
    assert {t["_id"] for t in graph} == {str(i) for i in before}
    assert {t["status"] for t in graph} == {"claimed-by-manager"}
    first = graph[0]
    assert first["commands"] and first["job"] == str(job["_id"]) and "job_priority" in first
    # Dates travel as RFC 1123, as Eve renders them.
    assert first["_updated"].endswith(" GMT")
    after = {t["_id"]: t for t in world.db[TASKS].find({"job": job["_id"]})}
    for task_id, task in after.items():
        assert task["status"] == "claimed-by-manager"
        assert task["_updated"] == before[task_id]["_updated"]
        assert task["_etag"] == before[task_id]["_etag"]
    last = max(t["_updated"] for t in before.values())
    assert resp.headers["X-Flamenco-Last-Updated-Format"] == "ISO-8601"
    assert wire.parse_timestamp(resp.headers["X-Flamenco-Last-Updated"]) == last


def test_incremental_is_304_until_something_changes(world, mgr_a, job):
    last = mgr_a.get("/depsgraph").headers["X-Flamenco-Last-Updated"]
    resp = mgr_a.get("/depsgraph", headers={"X-Flamenco-If-Updated-Since": last})
    assert resp.status_code == 304
    task = world.db[TASKS].find_one({"job": job["_id"]})
    later = task["_updated"] + datetime.timedelta(seconds=5)
    world.db[TASKS].update_one({"_id": task["_id"]}, {"$set": {"_updated": later, "priority": 99}})
    resp = mgr_a.get("/depsgraph", headers={"X-Flamenco-If-Updated-Since": last})
    assert resp.status_code == 200
    assert [t["_id"] for t in resp.json["depsgraph"]] == [str(task["_id"])]
    assert wire.parse_timestamp(resp.headers["X-Flamenco-Last-Updated"]) == later


def test_incremental_skips_cancel_requested_clean_slate_includes_it(world, mgr_a, job):
    last = mgr_a.get("/depsgraph").headers["X-Flamenco-Last-Updated"]
    task = world.db[TASKS].find_one({"job": job["_id"]})
    world.db[TASKS].update_one({"_id": task["_id"]}, {"$set": {
        "status": "cancel-requested", "_updated": task["_updated"] + datetime.timedelta(seconds=5)}})
    resp = mgr_a.get("/depsgraph", headers={"X-Flamenco-If-Updated-Since": last})
    assert resp.status_code == 304
    statuses = {t["_id"]: t["status"] for t in mgr_a.get("/depsgraph").json["depsgraph"]}
    assert statuses[str(task["_id"])] == "cancel-requested"


def test_other_managers_tasks_and_paused_jobs_are_not_sent(world, mgr_a, mgr_b, job):
    assert mgr_b.get("/depsgraph").status_code == 204
    status.set_job_status(world.db, job["_id"], "paused", actor=status.Actor.USER)
    assert mgr_a.get("/depsgraph").status_code == 204


def test_claim_drops_stale_log_file(world, mgr_a, job):
    world.db[TASKS].update_many({"job": job["_id"]}, {"$set": {"log_file": {"backend": "local", "file_path": "x"}}})
    mgr_a.get("/depsgraph")
    assert world.db[TASKS].count_documents({"job": job["_id"], "log_file": {"$exists": True}}) == 0


def test_bson_when_asked(world, mgr_a, job):
    resp = mgr_a.get("/depsgraph", headers={"Accept": "application/bson"})
    assert resp.status_code == 200
    assert resp.mimetype == "application/bson"
    graph = bson.decode(resp.data)["depsgraph"]
    assert len(graph) == world.db[TASKS].count_documents({"job": job["_id"]})
    assert isinstance(graph[0]["_updated"], datetime.datetime)


def test_malformed_if_updated_since_is_400(mgr_a, job):
    resp = mgr_a.get("/depsgraph", headers={"X-Flamenco-If-Updated-Since": "yesterday-ish"})
    assert resp.status_code == 400
    assert "X-Flamenco-If-Updated-Since" in resp.json["_issues"]


def test_rfc1123_if_updated_since_is_accepted(mgr_a, job):
    resp = mgr_a.get("/depsgraph", headers={"X-Flamenco-If-Updated-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert resp.status_code == 200


def test_incremental_delivers_a_job_built_while_other_tasks_changed(world, mgr_a, job):
    """A job whose tasks are stamped before the Manager's marker (it was still being
    built when another task changed) is delivered once it becomes runnable."""
    last = mgr_a.get("/depsgraph").headers["X-Flamenco-Last-Updated"]
    marker = wire.parse_timestamp(last)
    late = make_job(world.db, world.project_a, world.manager_a, world.alice)
    older = marker - datetime.timedelta(seconds=30)
    world.db[TASKS].update_many({"job": late["_id"]}, {"$set": {"_updated": older}})
    world.db["flamenco_jobs"].update_one({"_id": late["_id"]},
                                         {"$set": {"_updated": marker + datetime.timedelta(seconds=1)}})
    resp = mgr_a.get("/depsgraph", headers={"X-Flamenco-If-Updated-Since": last})
    assert resp.status_code == 200
    delivered = {t["_id"] for t in resp.json["depsgraph"]}
    assert delivered == {str(t["_id"]) for t in world.db[TASKS].find({"job": late["_id"]})}
    assert wire.parse_timestamp(resp.headers["X-Flamenco-Last-Updated"]) >= marker
    again = mgr_a.get("/depsgraph", headers={"X-Flamenco-If-Updated-Since": resp.headers["X-Flamenco-Last-Updated"]})
    assert again.status_code == 304


# Paging (issue 12): an answer claims at most DEPSGRAPH_CLAIM_PAGE_TASKS queued
# tasks, says when more wait, and the incremental pulls that follow deliver the
# rest exactly once, the most urgent job first.


def _pull_all(mgr, since: str | None = None) -> tuple[list[list[dict]], list[bool], str | None]:
    """Pull with the returned Last-Updated until an answer is not 200; the pages, their More flags, the marker."""
    pages, more = [], []
    for _ in range(20):
        resp = mgr.get("/depsgraph", headers={"X-Flamenco-If-Updated-Since": since} if since else {})
        if resp.status_code != 200:
            break
        pages.append(resp.json["depsgraph"])
        more.append(resp.headers.get("X-Flamenco-More-Tasks") == "true")
        since = resp.headers["X-Flamenco-Last-Updated"]
    return pages, more, since


def test_a_page_claims_at_most_the_page_size_and_the_rest_follows_once(world, mgr_a, app):
    app.config["DEPSGRAPH_CLAIM_PAGE_TASKS"] = 2
    low = make_job(world.db, world.project_a, world.manager_a, world.alice, priority=10)  # 3 tasks
    high = make_job(world.db, world.project_a, world.manager_a, world.alice, priority=90)  # 3 tasks
    pages, more, since = _pull_all(mgr_a)
    assert [len(page) for page in pages] == [2, 2, 2]
    assert more == [True, True, False]
    # The urgent job's tasks come first.
    assert {t["job"] for t in pages[0]} == {str(high["_id"])}
    delivered = [t["_id"] for page in pages for t in page]
    assert len(delivered) == len(set(delivered)) == 6
    assert world.db[TASKS].count_documents({"job": {"$in": [low["_id"], high["_id"]]},
                                           "status": "claimed-by-manager"}) == 6
    # Nothing is resent afterwards, and nothing changed is lost.
    assert mgr_a.get("/depsgraph", headers={"X-Flamenco-If-Updated-Since": since}).status_code == 304
    task = world.db[TASKS].find_one({"job": low["_id"]})
    later = task["_updated"] + datetime.timedelta(seconds=30)
    world.db[TASKS].update_one({"_id": task["_id"]}, {"$set": {"_updated": later, "priority": 7}})
    resp = mgr_a.get("/depsgraph", headers={"X-Flamenco-If-Updated-Since": since})
    assert [t["_id"] for t in resp.json["depsgraph"]] == [str(task["_id"])]


def test_a_clean_slate_lists_every_claimed_task_and_pages_only_the_queued(world, mgr_a, app, job):
    mgr_a.get("/depsgraph")  # claims the 3 tasks of `job`
    app.config["DEPSGRAPH_CLAIM_PAGE_TASKS"] = 1
    other = make_job(world.db, world.project_a, world.manager_a, world.alice)
    resp = mgr_a.get("/depsgraph")
    graph = resp.json["depsgraph"]
    assert resp.headers["X-Flamenco-More-Tasks"] == "true"
    assert sorted(t["job"] for t in graph) == sorted([str(job["_id"])] * 3 + [str(other["_id"])])
    pages, more, _ = _pull_all(mgr_a, resp.headers["X-Flamenco-Last-Updated"])
    assert [len(page) for page in pages] == [1, 1] and more == [True, False]
    assert world.db[TASKS].count_documents({"job": other["_id"], "status": "claimed-by-manager"}) == 3


def test_a_full_page_without_more_queued_tasks_says_no_more(world, mgr_a, app, job):
    app.config["DEPSGRAPH_CLAIM_PAGE_TASKS"] = 3
    resp = mgr_a.get("/depsgraph")
    assert len(resp.json["depsgraph"]) == 3
    assert "X-Flamenco-More-Tasks" not in resp.headers


def test_a_page_announces_its_claims_and_the_jobs_it_carries_over_in_one_delivery(world, mgr_a, app):
    """Listeners (the dashboard's job rows) see a job after its carry-over touched its ``_updated``."""
    deliveries: list[list] = []

    def record(db, changes) -> None:
        deliveries.append([(c.kind, c.doc_id, db[JOBS].find_one({"_id": c.job_id})["_updated"]) for c in changes])

    app.config["DEPSGRAPH_CLAIM_PAGE_TASKS"] = 2
    job = make_job(world.db, world.project_a, world.manager_a, world.alice)  # 3 tasks
    eventbus.subscribe(record)
    try:
        resp = mgr_a.get("/depsgraph")
    finally:
        eventbus.unsubscribe(record)
    assert resp.headers["X-Flamenco-More-Tasks"] == "true"
    [delivery] = deliveries
    touched = world.db[JOBS].find_one({"_id": job["_id"]})["_updated"]
    assert touched > wire.parse_timestamp(resp.headers["X-Flamenco-Last-Updated"])
    assert sorted(kind for kind, _, _ in delivery) == ["job", "task", "task"]
    assert ("job", job["_id"], touched) in delivery
    assert {seen for _, _, seen in delivery} == {touched}


class _TaskFinds(monitoring.CommandListener):
    """The filters of the finds on the tasks collection."""

    def __init__(self) -> None:
        self.filters: list[dict] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find" and event.command.get("find") == TASKS:
            self.filters.append(event.command.get("filter", {}))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_a_pull_selects_tasks_by_their_jobs_not_by_everything_the_manager_ran(world, mgr_a, app, mongo_uri, job):
    """An idle Manager pulls every few seconds: the store must read the runnable jobs' tasks, not
    the Manager's whole history (with ``manager`` in the filter, FerretDB's SQLite picked that index)."""
    finished = make_job(world.db, world.project_a, world.manager_a, world.alice, job_type="sleep",
                        settings={"frames": "1-40", "chunk_size": 1, "time_in_seconds": 0})
    world.db[TASKS].update_many({"job": finished["_id"]}, {"$set": {"status": "completed"}})
    world.db[JOBS].update_one({"_id": finished["_id"]}, {"$set": {"status": "completed"}})
    finds = _TaskFinds()
    client = pymongo.MongoClient(mongo_uri, tz_aware=True, event_listeners=[finds])
    try:
        db = client.get_default_database()
        with app.app_context():
            first = depsgraph.pull_depsgraph(db, world.manager_a["_id"], None)
            depsgraph.pull_depsgraph(db, world.manager_a["_id"], first.last_updated)
        assert {t["job"] for t in first.tasks or []} == {job["_id"]}
        if "ferretdbVersion" not in db.client.admin.command("buildInfo"):
            pytest.skip("the SQL plan is a property of our FerretDB build")
        for query in finds.filters:
            steps = db.command("explain", {"find": TASKS, "filter": query})["queryPlanner"]["Plan"]
            used = [s for s in steps if "USING INDEX" in s]
            assert used and all("_manager" not in s for s in used), (query, steps)
    finally:
        client.close()
