"""The status rules announce their own changes on the event bus (no caller has to publish)."""
from __future__ import annotations

import logging
from typing import Iterator, Sequence

import pytest
from pymongo.database import Database

from flamenco import eventbus, status
from flamenco.eventbus import Change

from .conftest import MakeJob


class Recorder:
    """A listener that keeps every delivery, to see what was announced and how it was grouped."""

    def __init__(self) -> None:
        self.deliveries: list[list[Change]] = []

    def __call__(self, db: Database, changes: Sequence[Change]) -> None:
        self.deliveries.append(list(changes))

    @property
    def changes(self) -> list[Change]:
        return [c for delivery in self.deliveries for c in delivery]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    found = Recorder()
    eventbus.subscribe(found)
    yield found
    eventbus.unsubscribe(found)


def test_a_job_status_change_announces_old_and_final_status(mongo_db: Database, make_job: MakeJob,
                                                             recorder: Recorder):
    job_id, _tasks = make_job(["queued", "active"], job_status="active")
    status.set_job_status(mongo_db, job_id, "cancel-requested", actor=status.Actor.USER)
    [change] = [c for c in recorder.changes if c.kind == "job"]
    assert (change.doc_id, change.previous_status, change.status) == (job_id, "active", "cancel-requested")
    assert change.tasks_changed and change.status_changed


def test_a_follow_up_status_is_announced_once_with_the_status_it_ends_in(mongo_db: Database, make_job: MakeJob,
                                                                         recorder: Recorder):
    job_id, _tasks = make_job(["queued", "queued"], job_status="active")
    status.set_job_status(mongo_db, job_id, "cancel-requested", actor=status.Actor.USER)
    [change] = recorder.changes
    # No task was running, so the chain went on to canceled: one change, from active to canceled.
    assert (change.previous_status, change.status) == ("active", "canceled")


def test_a_task_change_announces_the_task_and_the_job_change_it_caused(mongo_db: Database, make_job: MakeJob,
                                                                       recorder: Recorder):
    job_id, (task_id,) = make_job(["active"], job_status="active")
    status.set_task_status(mongo_db, task_id, "completed", actor=status.Actor.MANAGER)
    kinds = [(c.kind, c.doc_id, c.previous_status, c.status) for c in recorder.changes]
    assert kinds == [("task", task_id, "active", "completed"), ("job", job_id, "active", "completed")]


def test_a_batch_delivers_its_changes_once_together(mongo_db: Database, make_job: MakeJob, recorder: Recorder):
    first, _ = make_job(["queued"], job_status="active")
    second, _ = make_job(["queued"], job_status="active")
    with eventbus.batch(mongo_db):
        status.set_job_status(mongo_db, first, "paused", actor=status.Actor.USER)
        status.set_job_status(mongo_db, second, "paused", actor=status.Actor.USER)
        assert recorder.deliveries == []
    assert [[c.doc_id for c in d] for d in recorder.deliveries] == [[first, second]]


def test_changes_written_before_an_error_are_still_announced(mongo_db: Database, make_job: MakeJob,
                                                            recorder: Recorder):
    job_id, _ = make_job(["queued"], job_status="active")
    with pytest.raises(RuntimeError), eventbus.batch(mongo_db):
        status.set_job_status(mongo_db, job_id, "paused", actor=status.Actor.USER)
        raise RuntimeError("a later step failed")
    assert [c.doc_id for c in recorder.changes] == [job_id]


def test_a_failing_listener_neither_fails_the_change_nor_starves_the_others(mongo_db: Database, make_job: MakeJob,
                                                                          recorder: Recorder, caplog):
    def broken(db: Database, changes: Sequence[Change]) -> None:
        raise ValueError("listener bug")

    eventbus.unsubscribe(recorder)
    eventbus.subscribe(broken)
    eventbus.subscribe(recorder)
    job_id, _ = make_job(["queued"], job_status="active")
    try:
        with caplog.at_level(logging.ERROR, logger="flamenco.eventbus"):
            status.set_job_status(mongo_db, job_id, "paused", actor=status.Actor.USER)
    finally:
        eventbus.unsubscribe(broken)
    assert status.count_task_statuses(mongo_db, job_id) == {"paused": 1}
    assert [c.doc_id for c in recorder.changes] == [job_id]
    assert "listener bug" in caplog.text


def test_subscribing_twice_delivers_once(mongo_db: Database, make_job: MakeJob, recorder: Recorder):
    eventbus.subscribe(recorder)
    job_id, _ = make_job(["queued"], job_status="active")
    status.set_job_status(mongo_db, job_id, "paused", actor=status.Actor.USER)
    assert len(recorder.deliveries) == 1
