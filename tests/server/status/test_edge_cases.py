"""The fixed edge cases of reference §14.11 and §14.9: each test fails on Flamenco 2's behaviour."""
from __future__ import annotations

import pytest
from pymongo.database import Database

from flamenco import status
from flamenco.status import Actor
from tests.server.status.conftest import MakeJob, job_status, task_statuses


def test_preexisting_cancel_requested_tasks_keep_job_cancel_requested(mongo_db: Database, make_job: MakeJob) -> None:
    """Flamenco 2 counted only tasks it had just modified and went straight to canceled."""
    job_id, tasks = make_job(["cancel-requested", "queued"], "queued")
    change = status.set_job_status(mongo_db, job_id, "cancel-requested", actor=Actor.USER)
    assert change.status == "cancel-requested"
    assert task_statuses(mongo_db, tasks) == ["cancel-requested", "canceled"]


def test_pausing_a_job_pauses_its_queued_tasks(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(["queued", "active", "completed"], "active")
    change = status.set_job_status(mongo_db, job_id, "paused", actor=Actor.USER)
    assert task_statuses(mongo_db, tasks) == ["paused", "active", "completed"]
    assert change.tasks_modified == 1


def test_queueing_a_paused_job_unpauses_its_tasks(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(["paused", "paused", "completed"], "paused")
    status.set_job_status(mongo_db, job_id, "queued", actor=Actor.USER)
    assert task_statuses(mongo_db, tasks) == ["queued", "queued", "completed"]
    assert job_status(mongo_db, job_id) == "queued"


@pytest.mark.parametrize("finished", ["completed", "canceled", "failed", "paused"])
def test_active_task_does_not_resurrect_finished_job(mongo_db: Database, make_job: MakeJob, finished: str) -> None:
    job_id, tasks = make_job(["claimed-by-manager", "completed"], finished)
    change = status.set_task_status(mongo_db, tasks[0], "active", actor=Actor.MANAGER)
    assert change.job_change is None
    assert job_status(mongo_db, job_id) == finished


def test_job_without_tasks_is_not_completed(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, _ = make_job([], "paused")
    change = status.set_job_status(mongo_db, job_id, "queued", actor=Actor.USER)
    assert change.status == "queued"


def test_requeued_never_sticks_whoever_sets_it(mongo_db: Database, make_job: MakeJob) -> None:
    """Flamenco 2's PUT dropped the follow-up and left the job 'requeued' (§14.9)."""
    job_id, _ = make_job(["failed"], "failed")
    status.set_job_status(mongo_db, job_id, "requeued", actor=Actor.SYSTEM)
    assert job_status(mongo_db, job_id) == "queued"


def test_requeue_of_a_job_without_tasks_yet_is_refused(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, _ = make_job([], "under-construction")
    with pytest.raises(status.IllegalTransition, match="no tasks to requeue"):
        status.set_job_status(mongo_db, job_id, "requeued")


def test_last_cancel_requested_task_completing_finalises_job(mongo_db: Database, make_job: MakeJob) -> None:
    """Flamenco 2 left a cancel-requested job stuck when its last running task completed instead."""
    job_id, tasks = make_job(["active", "queued"], "active")
    status.set_job_status(mongo_db, job_id, "cancel-requested", actor=Actor.USER)
    status.set_task_status(mongo_db, tasks[0], "completed", actor=Actor.MANAGER)
    assert job_status(mongo_db, job_id) == "canceled"


def test_illegal_user_job_status_leaves_job_untouched(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, _ = make_job(["active"], "active")
    with pytest.raises(status.IllegalTransition):
        status.set_job_status(mongo_db, job_id, "archiving", actor=Actor.USER)
    assert job_status(mongo_db, job_id) == "active"


def test_unknown_job_is_not_found(mongo_db: Database) -> None:
    from bson import ObjectId

    with pytest.raises(status.NotFound):
        status.set_job_status(mongo_db, ObjectId(), "queued")
