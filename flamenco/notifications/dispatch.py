"""The event-bus listener: job changes in, queued deliveries out.

Subscribed at app and Celery start-up (``FlamencoExtension.event_listeners``).
It picks the changes worth telling a project about (a job became completed,
failed or canceled; a task failed, when the project asked for those), and
for each one writes a delivery per webhook (and one e-mail to the project's
recipients) into the log and queues a Celery task per delivery. It reads
only what it needs: nothing at all for the many changes that are none of
the above, and one query per collection for a whole batch otherwise.

It runs inside the change's thread (a request or a Celery job), so it never
talks to a receiver itself: sending, with its time-outs and retries, is the
Celery tasks' business.
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
from typing import Any, Callable, Iterable, Mapping, Sequence

import flask
from bson import ObjectId
from pymongo.database import Database

from flamenco import clock
from flamenco.eventbus import Change
from flamenco.notifications import defaults, deliveries, payloads, targets
from flamenco.store.collections import JOBS, PROJECTS, TASKS
from flamenco_protocol.statuses import TaskStatus

log = logging.getLogger(__name__)

WEBHOOK_TASK = "flamenco.celery.deliver_webhook"
EMAIL_TASK = "flamenco.celery.send_notification_email"

# Queues a Celery task by name with a delivery id; False if background jobs are off.
Enqueue = Callable[[str, ObjectId], bool]


def event_type(change: Change) -> str | None:
    """The notification event of a change, or None if it is not one."""
    if change.deleted or not change.status_changed:
        return None
    if change.kind == "job":
        return defaults.JOB_EVENTS.get(change.status or "")
    if change.kind == "task" and change.status == TaskStatus.FAILED:
        return defaults.TASK_FAILED
    return None


def listener(db: Database, changes: Sequence[Change]) -> None:
    """Queue the notifications of ``changes`` (the event bus calls this after they are written)."""
    relevant = [(change, kind) for change in changes if (kind := event_type(change)) is not None]
    if not relevant:
        return
    config, enqueue = _runtime()
    notify(db, relevant, enqueue, smtp_enabled=bool(config["SMTP_HOST"]), now=clock.utcnow())


def notify(db: Database, relevant: Sequence[tuple[Change, str]], enqueue: Enqueue, *, smtp_enabled: bool,
           now: datetime.datetime) -> list[ObjectId]:
    """Log and queue a delivery per target of each (change, event type); return the delivery ids."""
    job_ids = {change.job_id for change, _ in relevant if change.job_id is not None}
    jobs = _by_id(db, JOBS, job_ids, ("project", "name", "job_type", "status", "status_reason"))
    task_ids = [change.doc_id for change, kind in relevant if kind == defaults.TASK_FAILED]
    tasks = _by_id(db, TASKS, task_ids, ("name", "status", "activity")) if task_ids else {}
    project_targets: dict[ObjectId, ProjectTargets | None] = {}
    queued: list[ObjectId] = []
    for change, kind in relevant:
        job = jobs.get(change.job_id) if change.job_id is not None else None
        if job is None or "project" not in job:
            continue
        project_id = job["project"]
        if project_id not in project_targets:
            project_targets[project_id] = _targets(db, project_id, smtp_enabled)
        found = project_targets[project_id]
        if found is None or (kind == defaults.TASK_FAILED and not found.task_failures):
            continue
        task = tasks.get(change.doc_id) if kind == defaults.TASK_FAILED else None
        event = payloads.job_event(kind, found.project, {**job, "status": _job_status(change, job)},
                                   change.previous_status, now, task=task)
        queued += queue_event(db, found, event, enqueue, now)
    return queued


def _job_status(change: Change, job: dict) -> str:
    """The status the event announces: the change's own for a job change (the job may have moved on)."""
    return change.status if change.kind == "job" and change.status else job.get("status", "")


@dataclasses.dataclass(frozen=True)
class ProjectTargets:
    """Where one project's notifications go: its document, webhooks and e-mail recipients."""

    project: dict
    webhooks: list[dict]
    recipients: list[str]
    task_failures: bool = False


def _targets(db: Database, project_id: ObjectId, smtp_enabled: bool) -> ProjectTargets | None:
    """Where the project's notifications go; None when nowhere (most projects: two cheap reads)."""
    webhooks = targets.list_webhooks(db, project_id)
    settings = targets.project_settings(db, project_id)
    recipients = settings.email_recipients if smtp_enabled else []
    if not webhooks and not recipients:
        return None
    project = db[PROJECTS].find_one({"_id": project_id}, {"name": 1, "url": 1})
    if project is None:
        return None
    return ProjectTargets(project, webhooks, recipients, settings.task_failures)


def queue_event(db: Database, found: ProjectTargets, event: dict, enqueue: Enqueue,
                now: datetime.datetime) -> list[ObjectId]:
    """Log and queue ``event`` for each webhook and (in one e-mail) the recipients of ``found``."""
    queued = []
    for webhook in found.webhooks:
        queued.append(_queue(db, deliveries.new_webhook_delivery(db, webhook, event, now), WEBHOOK_TASK, enqueue, now))
    if found.recipients:
        delivery_id = deliveries.new_email_delivery(db, found.project["_id"], found.recipients, event,
                                                    payloads.email_subject(event), payloads.email_text(event), now)
        queued.append(_queue(db, delivery_id, EMAIL_TASK, enqueue, now))
    return queued


def _queue(db: Database, delivery_id: ObjectId, task_name: str, enqueue: Enqueue, now: datetime.datetime) -> ObjectId:
    if not enqueue(task_name, delivery_id):
        deliveries.set_state(db, delivery_id, deliveries.NOT_QUEUED, now)
    return delivery_id


def _by_id(db: Database, collection: str, ids: Iterable[ObjectId], fields: Sequence[str]) -> dict[ObjectId, dict]:
    found = db[collection].find({"_id": {"$in": list(ids)}}, {field: 1 for field in fields})
    return {doc["_id"]: doc for doc in found}


def _runtime() -> tuple[Mapping[str, Any], Enqueue]:
    """The server config and a way to queue Celery tasks, in a request or in a Celery worker."""
    if flask.has_app_context():
        return flask.current_app.config, app_enqueue(flask.current_app)
    from flamenco.celery import app as celery_app
    from flamenco.celery import db as celery_db

    config = celery_db.config()

    def enqueue(task_name: str, delivery_id: ObjectId) -> bool:
        if not config["CELERY_ENABLED"]:
            return False
        celery_app.send_task(task_name, args=[str(delivery_id)])
        return True

    return config, enqueue


def app_enqueue(app: flask.Flask) -> Enqueue:
    """Queue deliveries through the server's send-only Celery client (none when Celery is off)."""
    from flamenco import celery_sender

    def enqueue(task_name: str, delivery_id: ObjectId) -> bool:
        if not app.config["CELERY_ENABLED"]:
            log.info("Celery disabled; notification %s not queued", delivery_id)
            return False
        celery_sender.client(app).send_task(task_name, args=[str(delivery_id)])
        return True

    return enqueue


def queue_ping(db: Database, project: dict, enqueue: Enqueue, now: datetime.datetime, *,
               webhooks: Sequence[dict] = (), recipients: Sequence[str] = ()) -> list[ObjectId]:
    """Queue a ``ping`` event to these webhooks and recipients (an admin's test-send)."""
    found = ProjectTargets(project, list(webhooks), list(recipients))
    return queue_event(db, found, payloads.ping_event(project, now), enqueue, now)
