"""Transition validation per actor, and which Manager-reported statuses are accepted (reference §3.6)."""
from __future__ import annotations

import pytest

from flamenco import status
from flamenco.status import Actor, IllegalTransition


@pytest.mark.parametrize("old,new", [
    ("paused", "queued"), ("completed", "requeued"), ("canceled", "requeued"), ("failed", "requeued"),
    ("active", "cancel-requested"), ("queued", "cancel-requested"), ("paused", "cancel-requested"),
    ("queued", "paused"), ("active", "paused"), ("completed", "archiving"), ("construction-failed", "archiving"),
])
def test_user_may_make_job_transition(old: str, new: str) -> None:
    status.check_job_transition(old, new, Actor.USER)


@pytest.mark.parametrize("old,new,reason_part", [
    ("active", "completed", "users may only set"),
    ("queued", "archived", "users may only set"),
    ("active", "archiving", "only possible from"),   # archiving deletes tasks still running (§14.8)
    ("active", "requeued", "only possible from"),
    ("completed", "cancel-requested", "only possible from"),
    ("archived", "queued", "read-only"),
    ("queued", "flying", "unknown job status"),
])
def test_user_may_not_make_job_transition(old: str, new: str, reason_part: str) -> None:
    with pytest.raises(IllegalTransition) as info:
        status.check_job_transition(old, new, Actor.USER)
    assert info.value.field == "status"
    assert (info.value.old, info.value.new) == (old, new)
    assert reason_part in info.value.reason


def test_manager_never_sets_job_status() -> None:
    with pytest.raises(IllegalTransition, match="Manager"):
        status.check_job_transition("queued", "active", Actor.MANAGER)


def test_system_may_set_any_job_status_but_not_leave_archived() -> None:
    status.check_job_transition("active", "completed", Actor.SYSTEM)
    status.check_job_transition("queued", "failed", Actor.SYSTEM)
    with pytest.raises(IllegalTransition, match="read-only"):
        status.check_job_transition("archived", "queued", Actor.SYSTEM)


@pytest.mark.parametrize("old,new", [
    ("queued", "cancel-requested"), ("active", "cancel-requested"), ("soft-failed", "cancel-requested"),
    ("completed", "queued"), ("canceled", "queued"), ("failed", "queued"),
])
def test_user_may_make_task_transition(old: str, new: str) -> None:
    status.check_task_transition(old, new, Actor.USER)


@pytest.mark.parametrize("old,new", [
    ("active", "queued"), ("claimed-by-manager", "queued"), ("cancel-requested", "queued"),  # §14.13
    ("completed", "cancel-requested"), ("queued", "completed"), ("queued", "active"),
])
def test_user_may_not_make_task_transition(old: str, new: str) -> None:
    with pytest.raises(IllegalTransition) as info:
        status.check_task_transition(old, new, Actor.USER)
    assert info.value.field == "status"
    assert info.value.reason


def test_unknown_task_status_is_refused_for_everyone() -> None:
    for actor in Actor:
        with pytest.raises(IllegalTransition, match="unknown task status"):
            status.check_task_transition("queued", "processing-ish", actor)


@pytest.mark.parametrize("current,reported,expected", [
    ("active", None, None),
    ("active", "", None),
    ("active", "active", None),
    ("claimed-by-manager", "active", "active"),
    ("active", "completed", "completed"),
    ("active", "soft-failed", "soft-failed"),
    ("active", "claimed-by-manager", "claimed-by-manager"),
    ("cancel-requested", "active", None),
    ("cancel-requested", "soft-failed", None),
    ("cancel-requested", "canceled", "canceled"),
    ("cancel-requested", "failed", "failed"),
    ("cancel-requested", "completed", "completed"),
    ("active", "bogus", None),
    ("active", "queued", None),              # server-owned statuses are refused (deviation)
    ("active", "under-construction", None),
    ("active", "paused", None),
])
def test_determine_new_task_status(current: str, reported: str | None, expected: str | None) -> None:
    assert status.determine_new_task_status(current, reported) == expected


def test_manager_transition_check_explains_cancel_rule() -> None:
    with pytest.raises(IllegalTransition, match="cancel-requested task only accepts"):
        status.check_task_transition("cancel-requested", "active", Actor.MANAGER)


def test_runnable_job_statuses_hold_only_job_statuses() -> None:
    """Flamenco 2 listed the task status 'soft-failed' here (§14.11)."""
    assert status.DEPSGRAPH_RUNNABLE_JOB_STATUSES <= set(status.JOB_STATUSES)
