"""The task -> job rule table of reference §3.5, as a pure function (no database)."""
from __future__ import annotations

import pytest
from bson import ObjectId

from flamenco.status import job_status_after_task_change

JOB = ObjectId("5a0000000000000000000001")


@pytest.mark.parametrize("job_status,task_status,counts,expected", [
    ("completed", "queued", {"queued": 1, "completed": 3}, ("queued", "")),
    ("active", "queued", {"queued": 1}, None),
    ("active", "claimed-by-manager", {"claimed-by-manager": 2}, ("queued", "")),
    ("active", "claimed-by-manager", {"claimed-by-manager": 1, "active": 1}, None),
    ("active", "cancel-requested", {"cancel-requested": 1}, None),
    ("cancel-requested", "canceled", {"canceled": 2}, ("canceled", "")),
    ("fail-requested", "canceled", {"canceled": 2}, ("failed", "")),
    ("cancel-requested", "canceled", {"canceled": 1, "cancel-requested": 1}, None),
    ("active", "canceled", {"canceled": 1, "queued": 1}, None),
    ("queued", "active", {"active": 1, "queued": 1}, ("active", "")),
    ("queued", "soft-failed", {"soft-failed": 1}, ("active", "")),
    ("active", "active", {"active": 2}, None),
    ("active", "completed", {"completed": 2}, ("completed", "All 2 tasks completed")),
    ("queued", "completed", {"completed": 1, "queued": 1}, ("active", "")),
    ("active", "completed", {"completed": 1, "queued": 1}, None),
    ("queued", "failed", {"failed": 1, "queued": 19}, ("active", "")),
    ("active", "paused", {"paused": 1}, None),
    ("active", "under-construction", {"under-construction": 1}, None),
])
def test_rule_table(job_status: str, task_status: str, counts: dict, expected: tuple | None) -> None:
    assert job_status_after_task_change(JOB, job_status, task_status, counts) == expected


def test_failure_threshold_is_exact_at_ten_percent() -> None:
    """Integer arithmetic: 3 of 30 is exactly 10 %, 2 of 30 is not."""
    assert job_status_after_task_change(JOB, "active", "failed", {"failed": 3, "active": 27}) == (
        "failed", f"Failing job {JOB} because 3 of its 30 tasks (10%) failed")
    assert job_status_after_task_change(JOB, "active", "failed", {"failed": 2, "active": 28}) is None


def test_failure_reason_rounds_percentage_down() -> None:
    new, reason = job_status_after_task_change(JOB, "active", "failed", {"failed": 1, "active": 2})
    assert new == "failed"
    assert reason.endswith("1 of its 3 tasks (33%) failed")
