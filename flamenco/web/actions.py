"""What the dashboard's buttons do to jobs and tasks.

Every status change goes through ``flamenco.status`` (which validates it and
applies the follow-up rules) and announces itself on ``flamenco.eventbus``.
An action on several jobs is applied job by job; a job it does not apply to is
skipped with the reason, and the others still change.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Iterable

import flask
from bson import ObjectId
from bson.errors import InvalidId
from pymongo.database import Database

from flamenco import celery_sender, eventbus, status
from flamenco.jobs import construction, program_gate
from flamenco.manager_api import storage
from flamenco.store.collections import JOBS
from flamenco.web.access import ProjectAccess
from flamenco_protocol.statuses import JobStatus, TaskStatus

JOB_STATUSES = status.JOB_STATUSES
# At most this many jobs per multi-select action: one page of the job list.
MAX_JOBS_PER_ACTION = 500


@dataclasses.dataclass(frozen=True)
class Action:
    """A button: its name in requests, its label, and the statuses it applies to."""

    name: str
    label: str
    from_statuses: frozenset[str]
    confirm: str = ""

    def applies_to(self, current: str | None) -> bool:
        return current in self.from_statuses


JOB_ACTIONS = (
    Action("cancel", "Cancel", status.CANCELABLE_JOB_STATES),
    Action("requeue", "Requeue", status.REQUEABLE_JOB_STATES),
    Action("pause", "Pause", frozenset({JobStatus.QUEUED, JobStatus.ACTIVE})),
    Action("recreate", "Recreate", status.RECREATABLE_JOB_STATES,
           confirm="Recreate the selected jobs? Their tasks and task logs are deleted and the jobs compiled anew."),
    Action("archive", "Archive", status.ARCHIVEABLE_JOB_STATES,
           confirm="Archive the selected jobs? Their tasks and logs move into a ZIP archive."),
    Action("delete-archived", "Delete archived", frozenset({JobStatus.ARCHIVED}),
           confirm="Delete the selected archived jobs for good?"),
)
TASK_ACTIONS = (
    Action("cancel", "Cancel task", status.CANCELABLE_TASK_STATES),
    Action("requeue", "Requeue task", status.REQUEABLE_TASK_STATES),
)
# The job status each status-changing action asks for.
JOB_ACTION_STATUS = {"cancel": JobStatus.CANCEL_REQUESTED, "requeue": JobStatus.REQUEUED, "pause": JobStatus.PAUSED}
# How status reasons name the action ("Canceled by Alice (@alice) from the dashboard").
JOB_ACTION_PAST = {"cancel": "Canceled", "requeue": "Requeued", "pause": "Paused"}
TASK_ACTION_STATUS = {"cancel": TaskStatus.CANCEL_REQUESTED, "requeue": TaskStatus.QUEUED}


class ActionError(ValueError):
    """The request names no valid action or jobs; shown as a 400 with the field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def request_fields() -> tuple[str, Any]:
    """``(action, jobs)`` from a JSON object body or a form (``jobs`` repeated)."""
    request = flask.request
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ActionError("body", "must be a JSON object with 'action' (and 'jobs')")
        return str(body.get("action") or ""), body.get("jobs")
    return request.form.get("action", ""), request.form.getlist("jobs")


def parse_job_ids(raw: Any) -> list[ObjectId]:
    if not isinstance(raw, list) or not raw:
        raise ActionError("jobs", "select at least one job")
    if len(raw) > MAX_JOBS_PER_ACTION:
        raise ActionError("jobs", f"at most {MAX_JOBS_PER_ACTION} jobs at a time")
    try:
        return list(dict.fromkeys(ObjectId(str(j)) for j in raw))
    except InvalidId:
        raise ActionError("jobs", "contains an invalid job id") from None


def reason_text(acc: ProjectAccess, verb: str) -> str:
    return f"{verb} by {acc.user.display_name} from the dashboard"


def change_job_status(db: Database, acc: ProjectAccess, job: dict, action: str) -> None:
    new_status = JOB_ACTION_STATUS[action]
    status.set_job_status(db, job["_id"], new_status, reason=reason_text(acc, JOB_ACTION_PAST[action]),
                          actor=status.Actor.USER)


def recreate_job(db: Database, acc: ProjectAccess, job: dict, action: str) -> None:
    """Delete the job's tasks and logs and compile it again; big jobs in Celery
    (the same function as the API's ``recreate`` operation), if the user may
    run what the job's settings run (``program_gate``, as the API checks)."""
    program_gate.check_may_run_programs(acc.user, job)
    construction.recreate_job(flask.current_app, db, job, reason=reason_text(acc, "Recreated"))


def archive_job(db: Database, acc: ProjectAccess, job: dict, action: str) -> None:
    """Mark the job ``archiving`` and queue the Celery job that builds the archive
    (the same function as the API's ``archive-job`` operation)."""
    celery_sender.start_archiving(flask.current_app, db, job, reason=reason_text(acc, "Archived"))


def delete_archived_job(db: Database, acc: ProjectAccess, job: dict, action: str) -> None:
    if job.get("status") != JobStatus.ARCHIVED:
        raise status.IllegalTransition("status", job.get("status"), "deleted", "only archived jobs can be deleted")
    db[JOBS].delete_one({"_id": job["_id"], "status": JobStatus.ARCHIVED})
    eventbus.emit(db, eventbus.job_deleted(job))


JOB_ACTION_HANDLERS: dict[str, Callable[[Database, ProjectAccess, dict, str], None]] = {
    "cancel": change_job_status,
    "requeue": change_job_status,
    "pause": change_job_status,
    "recreate": recreate_job,
    "archive": archive_job,
    "delete-archived": delete_archived_job,
}


def apply_job_action(db: Database, acc: ProjectAccess, action: str, raw_ids: Iterable[Any]) -> dict:
    """Apply ``action`` to each job of the project; ``{done: [...], skipped: [{_id, reason}]}``."""
    handler = JOB_ACTION_HANDLERS.get(action)
    if handler is None:
        raise ActionError("action", f"must be one of {', '.join(JOB_ACTION_HANDLERS)}")
    job_ids = parse_job_ids(raw_ids)
    # ``job_type``, ``settings``: recreate checks what they run and estimates the job's size, as job POST does.
    fields = {"status": 1, "name": 1, "project": 1, "job_type": 1, "settings": 1}
    found = {j["_id"]: j for j in db[JOBS].find(
        {"_id": {"$in": job_ids}, "project": acc.project["_id"]}, fields)}
    done: list[str] = []
    skipped: list[dict] = []
    for job_id in job_ids:
        job = found.get(job_id)
        if job is None:
            skipped.append({"_id": str(job_id), "reason": "no such job in this project"})
            continue
        try:
            handler(db, acc, job, action)
        except status.IllegalTransition as ex:
            skipped.append({"_id": str(job_id), "reason": f"{job.get('name', job_id)}: {ex.reason}"})
        except (status.StatusConflict, status.NotFound, program_gate.ProgramsRefused) as ex:
            skipped.append({"_id": str(job_id), "reason": f"{job.get('name', job_id)}: {ex}"})
        else:
            done.append(str(job_id))
    return {"action": action, "done": done, "skipped": skipped}


def apply_task_action(db: Database, acc: ProjectAccess, action: str, task: dict) -> dict:
    """Cancel or requeue one task; same answer shape as :func:`apply_job_action`."""
    new_status = TASK_ACTION_STATUS.get(action)
    if new_status is None:
        raise ActionError("action", f"must be one of {', '.join(TASK_ACTION_STATUS)}")
    try:
        status.set_task_status(db, task["_id"], new_status, actor=status.Actor.USER)
    except status.IllegalTransition as ex:
        return {"action": action, "done": [], "skipped": [{"_id": str(task["_id"]), "reason": ex.reason}]}
    except status.StatusConflict as ex:
        return {"action": action, "done": [], "skipped": [{"_id": str(task["_id"]), "reason": str(ex)}]}
    return {"action": action, "done": [str(task["_id"])], "skipped": []}


def stored_file(relative: str | None) -> Path | None:
    """A file in the server's storage directory (archives, uploaded logs), if it exists."""
    if not relative:
        return None
    try:
        path = storage.resolve(storage.storage_dir(flask.current_app.config), relative)
    except storage.UnsafePath:
        return None
    return path if path.is_file() else None


def archive_path(job: dict) -> Path | None:
    """The job's archive ZIP, if the job is archived and the file exists."""
    return stored_file(job.get("archive_blob_name")) if job.get("status") == JobStatus.ARCHIVED else None
