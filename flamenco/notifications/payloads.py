"""What a notification says: the event a webhook receives and the e-mail text.

An event is a small JSON object: ``id`` (unique; the same on every retry),
``type`` (``job.completed``, ``job.failed``, ``job.canceled``,
``task.failed`` or ``ping``), ``created``, the ``project`` and the ``job``
(and for ``task.failed`` the ``task``). Only names, ids and statuses travel,
never job settings or logs.
"""
from __future__ import annotations

import datetime

from bson import ObjectId

from flamenco.notifications import defaults


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def _project(project: dict) -> dict:
    return {"id": str(project["_id"]), "name": project.get("name", ""), "url": project.get("url", "")}


def job_event(event_type: str, project: dict, job: dict, previous_status: str | None,
              now: datetime.datetime, task: dict | None = None) -> dict:
    """The event announcing a job's (or one of its task's) new status."""
    job_part: dict = {"id": str(job["_id"]), "name": job.get("name", ""), "job_type": job.get("job_type", ""),
                      "status": job.get("status", ""), "status_reason": job.get("status_reason", "")}
    event: dict = {"id": str(ObjectId()), "type": event_type, "created": _iso(now), "project": _project(project),
                   "job": job_part}
    if task is None:
        job_part["previous_status"] = previous_status
    else:
        event["task"] = {"id": str(task["_id"]), "name": task.get("name", ""), "status": task.get("status", ""),
                         "previous_status": previous_status, "activity": task.get("activity", "")}
    return event


def ping_event(project: dict, now: datetime.datetime) -> dict:
    """The event of a test delivery: proves the URL and the secret work."""
    return {"id": str(ObjectId()), "type": defaults.PING, "created": _iso(now), "project": _project(project)}


def email_subject(event: dict) -> str:
    """A subject line that reads well in a list of mails."""
    project = event["project"]["name"]
    if event["type"] == defaults.PING:
        return f"[Flamenco] {project}: test notification"
    job = event["job"]["name"]
    if event["type"] == defaults.TASK_FAILED:
        return f"[Flamenco] {project}: task {event['task']['name']} of {job} failed"
    return f"[Flamenco] {project}: job {job} {event['job']['status']}"


def email_text(event: dict) -> str:
    """The plain-text body of the e-mail about ``event``."""
    lines = [f"Project: {event['project']['name']}", f"Event: {event['type']} at {event['created']}"]
    if "job" in event:
        job = event["job"]
        lines += [f"Job: {job['name']} ({job['id']}, {job['job_type']})", f"Status: {job['status']}"]
        if job.get("status_reason"):
            lines.append(f"Reason: {job['status_reason']}")
    if "task" in event:
        task = event["task"]
        lines.append(f"Task: {task['name']} ({task['id']}): {task['status']}")
        if task.get("activity"):
            lines.append(f"Last activity: {task['activity']}")
    lines += ["", f"Event id: {event['id']}"]
    return "\n".join(lines) + "\n"
