"""Per-job task counts in the job document (flamenco.task_counts): every writer keeps them equal to a real count.

Each test seeds the counts (or lets construction store them), runs one writer
path of the status rules, and compares the stored counts with an aggregation
over the tasks (``assert_task_counts``).
"""
from __future__ import annotations

import datetime
import threading

import pymongo
import pytest
from bson import ObjectId
from pymongo.database import Database

from flamenco import status, task_counts
from flamenco.store.collections import TASKS
from flamenco.jobs import construction_runs
from tests.server.status.conftest import SCENARIO_TASK_STATUSES, MakeJob, job_status, task_statuses
from tests.server.status.test_construction_runs import insert_job
from tests.support.task_counts import assert_task_counts, stored_task_counts

SLEEP = {"frames": "1-12", "chunk_size": 4, "time_in_seconds": 1}


def counted_job(make_job: MakeJob, db: Database, statuses, job_status_: str = "active"):
    """A job with one task per status whose counts are stored (as after any first read)."""
    job_id, ids = make_job(statuses, job_status=job_status_)
    assert stored_task_counts(db, job_id) is None  # stored before the counters existed
    task_counts.recount(db, job_id)
    assert_task_counts(db, job_id)
    return job_id, ids


# --- reading and the fallback --------------------------------------------------------------


def test_job_without_counts_is_counted_once_and_stored(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, _ = make_job(SCENARIO_TASK_STATUSES)
    assert stored_task_counts(mongo_db, job_id) is None
    counts = status.count_task_statuses(mongo_db, job_id)
    assert counts == {s: 1 for s in SCENARIO_TASK_STATUSES}
    assert stored_task_counts(mongo_db, job_id) == counts
    assert_task_counts(mongo_db, job_id)


def test_reading_stored_counts_does_not_touch_the_tasks(mongo_db: Database, make_job: MakeJob,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    job_id, _ = counted_job(make_job, mongo_db, ["queued", "queued", "completed"])
    monkeypatch.setattr(task_counts, "aggregate", lambda *a: pytest.fail("counted the tasks"))
    assert status.count_task_statuses(mongo_db, job_id) == {"queued": 2, "completed": 1}
    assert dict(status.LazyTaskCounts(mongo_db, job_id)) == {"queued": 2, "completed": 1}


def test_statuses_without_tasks_are_absent(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, ids = counted_job(make_job, mongo_db, ["queued", "active"])
    status.set_task_status(mongo_db, ids[1], "completed", actor=status.Actor.MANAGER)
    assert status.count_task_statuses(mongo_db, job_id) == {"queued": 1, "completed": 1}


def test_missing_job_has_no_counts(mongo_db: Database) -> None:
    assert status.count_task_statuses(mongo_db, ObjectId()) == {}


def test_counts_of_several_jobs_in_one_read(mongo_db: Database, make_job: MakeJob) -> None:
    """A page of the job list: counted jobs as stored, an uncounted one counted, a missing one empty."""
    counted, _ = counted_job(make_job, mongo_db, ["queued", "completed"])
    uncounted, _ = make_job(["failed", "failed"])
    missing = ObjectId()
    assert task_counts.read_many(mongo_db, [counted, uncounted, missing, counted]) == {
        counted: {"queued": 1, "completed": 1}, uncounted: {"failed": 2}, missing: {}}
    assert stored_task_counts(mongo_db, uncounted) == {"failed": 2}
    assert task_counts.read_many(mongo_db, []) == {}


# --- construction ----------------------------------------------------------------------------


@pytest.mark.parametrize("start_paused, expected", [(False, "queued"), (True, "paused")])
def test_construction_stores_the_counts_with_the_published_job(mongo_db: Database, start_paused: bool,
                                                               expected: str) -> None:
    job_id = insert_job(mongo_db, SLEEP, start_paused=start_paused)
    construction_runs.run_construction(mongo_db, job_id, reason="submitted")
    assert assert_task_counts(mongo_db, job_id) == {expected: 3}


def test_failed_construction_has_no_tasks_and_empty_counts(mongo_db: Database) -> None:
    job_id = insert_job(mongo_db, {"frames": "1-4"}, job_type="no-such-type")
    assert construction_runs.run_construction(mongo_db, job_id, reason="submitted").status == "construction-failed"
    assert assert_task_counts(mongo_db, job_id) == {}


def test_job_under_construction_is_counted_from_its_tasks(mongo_db: Database) -> None:
    """A run inserts tasks in batches outside the writer protocol: nothing is stored meanwhile."""
    job_id = insert_job(mongo_db, SLEEP)
    construction_runs.run_construction(mongo_db, job_id, reason="submitted", defer=True)
    assert job_status(mongo_db, job_id) == "under-construction"
    mongo_db[TASKS].insert_one({"job": job_id, "status": "queued", "name": "half-built"})
    assert status.count_task_statuses(mongo_db, job_id) == {"queued": 1}
    mongo_db[TASKS].insert_one({"job": job_id, "status": "queued", "name": "more"})
    assert status.count_task_statuses(mongo_db, job_id) == {"queued": 2}
    mongo_db[TASKS].delete_many({"job": job_id})
    change = construction_runs.resume_construction(mongo_db, job_id, reason="resumed",
                                        stale_after=datetime.timedelta(seconds=0))
    assert change is not None and change.status == "queued"
    assert assert_task_counts(mongo_db, job_id) == {"queued": 3}


def test_recreate_counts_the_new_tasks_only(mongo_db: Database) -> None:
    job_id = insert_job(mongo_db, SLEEP)
    construction_runs.run_construction(mongo_db, job_id, reason="submitted")
    status.set_job_status(mongo_db, job_id, "cancel-requested", actor=status.Actor.USER)
    assert assert_task_counts(mongo_db, job_id) == {"canceled": 3}
    assert construction_runs.recreate_job(mongo_db, job_id, reason="again").status == "queued"
    assert assert_task_counts(mongo_db, job_id) == {"queued": 3}


def test_delete_job_tasks_empties_the_counts(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, _ = counted_job(make_job, mongo_db, ["completed", "failed"])
    assert construction_runs.delete_job_tasks(mongo_db, job_id) == 2
    assert assert_task_counts(mongo_db, job_id) == {}


# --- job status changes ----------------------------------------------------------------------


@pytest.mark.parametrize("new_status", ["cancel-requested", "fail-requested", "requeued", "paused"])
def test_job_status_changes_keep_the_counts(mongo_db: Database, make_job: MakeJob, new_status: str) -> None:
    job_id, _ = counted_job(make_job, mongo_db, [*SCENARIO_TASK_STATUSES, "queued", "active"],
                            job_status_="active" if new_status != "requeued" else "failed")
    status.set_job_status(mongo_db, job_id, new_status)
    assert_task_counts(mongo_db, job_id)


def test_pause_then_queue_moves_the_queued_tasks_both_ways(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, _ = counted_job(make_job, mongo_db, ["queued", "queued", "completed"], job_status_="queued")
    status.set_job_status(mongo_db, job_id, "paused", actor=status.Actor.USER)
    assert assert_task_counts(mongo_db, job_id) == {"paused": 2, "completed": 1}
    status.set_job_status(mongo_db, job_id, "queued", actor=status.Actor.USER)
    assert assert_task_counts(mongo_db, job_id) == {"queued": 2, "completed": 1}


def test_requeue_of_a_completed_job_queues_everything(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, _ = counted_job(make_job, mongo_db, ["completed"] * 4, job_status_="completed")
    change = status.set_job_status(mongo_db, job_id, "requeued", actor=status.Actor.USER)
    assert change.status == "queued" and change.tasks_modified == 4
    assert assert_task_counts(mongo_db, job_id) == {"queued": 4}


def test_cancel_finishes_from_the_counts(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, ids = counted_job(make_job, mongo_db, ["queued", "active", "completed"])
    change = status.set_job_status(mongo_db, job_id, "cancel-requested", actor=status.Actor.USER)
    assert change.status == "cancel-requested"
    assert assert_task_counts(mongo_db, job_id) == {"canceled": 1, "cancel-requested": 1, "completed": 1}
    task_change = status.set_task_status(mongo_db, ids[1], "canceled", actor=status.Actor.MANAGER)
    assert task_change.job_change is not None and task_change.job_change.status == "canceled"
    assert assert_task_counts(mongo_db, job_id) == {"canceled": 2, "completed": 1}


# --- task status changes ---------------------------------------------------------------------


def test_user_task_operations_keep_the_counts(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, ids = counted_job(make_job, mongo_db, ["queued", "active", "failed", "completed", "failed"])
    status.set_task_status(mongo_db, ids[0], "cancel-requested")  # queued: cancelled at once
    status.set_task_status(mongo_db, ids[1], "cancel-requested")
    status.set_task_status(mongo_db, ids[3], "queued")
    assert assert_task_counts(mongo_db, job_id) == {"canceled": 1, "cancel-requested": 1, "failed": 2,
                                                    "queued": 1}
    assert status.requeue_failed_tasks(mongo_db, job_id).tasks_modified == 2
    assert assert_task_counts(mongo_db, job_id) == {"canceled": 1, "cancel-requested": 1, "queued": 3}


def test_conflicting_task_write_changes_no_count(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, ids = counted_job(make_job, mongo_db, ["active"])
    mongo_db[TASKS].update_one({"_id": ids[0]}, {"$set": {"status": "active"}})
    original = status.load

    def stale_read(db, collection, doc_id, projection):  # the task as read before someone changed it
        doc = original(db, collection, doc_id, projection)
        return {**doc, "status": "queued"} if collection == TASKS else doc

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(status, "load", stale_read)
        with pytest.raises(status.StatusConflict):
            status.set_task_status(mongo_db, ids[0], "cancel-requested")
    assert assert_task_counts(mongo_db, job_id) == {"active": 1}


def test_requeue_with_successors_counts_each_old_status(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, ids = counted_job(make_job, mongo_db, ["failed", "completed", "canceled", "active", "queued"])
    for child, parent in zip(ids[1:], ids):
        mongo_db[TASKS].update_one({"_id": child}, {"$set": {"parents": [parent]}})
    result = status.requeue_task_with_successors(mongo_db, ids[0])
    assert result.tasks_modified == 4  # the active one is left alone (it is in flight)
    assert task_statuses(mongo_db, ids) == ["queued", "queued", "queued", "active", "queued"]
    assert assert_task_counts(mongo_db, job_id) == {"queued": 4, "active": 1}


def test_depsgraph_claim_moves_each_jobs_counts(mongo_db: Database, make_job: MakeJob) -> None:
    manager = ObjectId()
    job_a, ids_a = counted_job(make_job, mongo_db, ["queued", "queued", "completed"])
    job_b, ids_b = counted_job(make_job, mongo_db, ["queued"])
    mongo_db[TASKS].update_many({}, {"$set": {"manager": manager}})
    assert status.mark_tasks_claimed(mongo_db, manager, [*ids_a, *ids_b]) == 3
    assert assert_task_counts(mongo_db, job_a) == {"claimed-by-manager": 2, "completed": 1}
    assert assert_task_counts(mongo_db, job_b) == {"claimed-by-manager": 1}
    assert status.mark_tasks_claimed(mongo_db, manager, ids_a) == 0
    assert_task_counts(mongo_db, job_a)


# --- crashes, stale counts and concurrent recounts ---------------------------------------------


def test_writer_that_failed_marks_the_counts_stale(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, ids = counted_job(make_job, mongo_db, ["queued", "queued"])
    with pytest.raises(RuntimeError):
        with task_counts.changing(mongo_db, job_id) as counts:
            mongo_db[TASKS].update_one({"_id": ids[0]}, {"$set": {"status": "active"}})
            raise RuntimeError("the connection broke before the result came back")
    assert counts.stale
    assert_task_counts(mongo_db, job_id, maintained=False)  # the read recounts ...
    assert_task_counts(mongo_db, job_id)  # ... and stores the result


def test_dead_writer_is_recounted_after_a_while(mongo_db: Database, make_job: MakeJob) -> None:
    """A process killed between its task writes and its commit leaves its registration behind."""
    job_id, ids = counted_job(make_job, mongo_db, ["queued", "queued"])
    started = datetime.datetime.now(datetime.timezone.utc)
    task_counts._begin(mongo_db, [job_id], started)
    mongo_db[TASKS].update_one({"_id": ids[0]}, {"$set": {"status": "active"}})
    # While it may still be alive, its change is not in the counts yet (nor stored by a recount).
    assert status.count_task_statuses(mongo_db, job_id) == {"queued": 2}
    assert task_counts.recount(mongo_db, job_id) == {"queued": 1, "active": 1}
    assert stored_task_counts(mongo_db, job_id) == {"queued": 2}
    later = started + task_counts.WRITER_DEAD_AFTER + datetime.timedelta(seconds=1)
    assert task_counts.read(mongo_db, job_id, now=later) == {"queued": 1, "active": 1}
    assert_task_counts(mongo_db, job_id)


def test_writer_deemed_dead_but_alive_marks_the_counts_stale(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, ids = counted_job(make_job, mongo_db, ["queued", "queued"])
    long_ago = datetime.datetime.now(datetime.timezone.utc) - 2 * task_counts.WRITER_DEAD_AFTER
    with task_counts.changing(mongo_db, job_id, now=long_ago) as counts:
        task_counts.read(mongo_db, job_id)  # recounts: the writer looks dead, its token goes
        mongo_db[TASKS].update_one({"_id": ids[0]}, {"$set": {"status": "active"}})
        counts.moved("queued", "active")
    assert stored_task_counts(mongo_db, job_id) == {"queued": 2}  # not applied: the recount came first
    assert_task_counts(mongo_db, job_id, maintained=False)
    assert_task_counts(mongo_db, job_id)


def test_recount_stores_nothing_when_a_writer_committed_meanwhile(mongo_db: Database, make_job: MakeJob,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    job_id, ids = make_job(["queued", "queued"])
    real_aggregate = task_counts.aggregate

    def aggregate_then_a_writer_commits(db, job):
        counted = real_aggregate(db, job)
        with task_counts.changing(db, job) as counts:  # lands between the count and its store
            db[TASKS].update_one({"_id": ids[0]}, {"$set": {"status": "active"}})
            counts.moved("queued", "active")
        return counted

    monkeypatch.setattr(task_counts, "aggregate", aggregate_then_a_writer_commits)
    assert task_counts.recount(mongo_db, job_id) == {"queued": 2}
    monkeypatch.setattr(task_counts, "aggregate", real_aggregate)
    assert stored_task_counts(mongo_db, job_id) is None  # the stale result was not stored
    assert_task_counts(mongo_db, job_id, maintained=False)
    assert_task_counts(mongo_db, job_id)


def test_concurrent_writers_add_up(mongo_uri: str, mongo_db: Database, make_job: MakeJob) -> None:
    """Manager-like task changes and user pauses of one job, from several connections at once."""
    job_id, ids = counted_job(make_job, mongo_db, ["queued"] * 24, job_status_="queued")
    errors: list[BaseException] = []

    def cycle_tasks(task_ids: list[ObjectId]) -> None:
        with pymongo.MongoClient(mongo_uri, tz_aware=True) as client:
            db = client.get_default_database()
            for _round in range(3):
                for task_id in task_ids:
                    for new in ("active", "completed", "queued"):
                        try:
                            status.set_task_status(db, task_id, new, actor=status.Actor.SYSTEM)
                        except status.StatusConflict:
                            pass  # a pause moved it meanwhile

    def pause_and_queue() -> None:
        with pymongo.MongoClient(mongo_uri, tz_aware=True) as client:
            db = client.get_default_database()
            for _round in range(4):
                for new in ("paused", "queued"):
                    try:
                        status.set_job_status(db, job_id, new, actor=status.Actor.SYSTEM)
                    except status.StatusConflict:
                        pass  # a task rule changed the job meanwhile

    def guarded(target, *args):
        def run() -> None:
            try:
                target(*args)
            except BaseException as ex:  # noqa: BLE001 - reported by the test below
                errors.append(ex)
        return threading.Thread(target=run)

    threads = [guarded(cycle_tasks, ids[i::3]) for i in range(3)] + [guarded(pause_and_queue)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert_task_counts(mongo_db, job_id)
