"""Hand a job to the Celery archival task, by name.

The task itself (``flamenco.celery.archive_job``) lives with the Celery app;
the server only needs a broker connection to enqueue it, so this module keeps
a send-only Celery client per Flask app instead of importing the worker side.
"""
from __future__ import annotations

import logging

import celery
import flask
from bson import ObjectId
from pymongo.database import Database

from flamenco import status
from flamenco_protocol.statuses import JobStatus

log = logging.getLogger(__name__)


def celery_sender(app: flask.Flask) -> celery.Celery:
    """A send-only Celery client for this app (enqueues tasks by name; runs none)."""
    client = app.extensions.get("flamenco_celery_sender")
    if client is None:
        broker = app.config["CELERY_BROKER_URL"] or app.config["REDIS_URL"]
        client = celery.Celery("flamenco-server", broker=broker)
        app.extensions["flamenco_celery_sender"] = client
    return client


def enqueue_archival(app: flask.Flask, job_id: ObjectId) -> bool:
    """Queue archival of ``job_id``; False when Celery is disabled (the job stays
    ``archiving`` and the periodic resume task picks it up later)."""
    if not app.config["CELERY_ENABLED"]:
        log.info("Celery disabled; job %s stays archiving until resumed", job_id)
        return False
    celery_sender(app).send_task(app.config["CELERY_ARCHIVE_TASK"], args=[str(job_id)])
    return True


def start_archiving(app: flask.Flask, db: Database, job: dict, reason: str) -> None:
    """Mark the job ``archiving``, remember its status, queue the archival.

    Raises ``status.IllegalTransition`` unless the job may be archived (only
    finished jobs: Flamenco 2 archived active ones, deleting running tasks).
    """
    status.check_job_transition(job.get("status") or "", JobStatus.ARCHIVING, status.Actor.USER)
    db["flamenco_jobs"].update_one({"_id": job["_id"]}, {"$set": {"pre_archive_status": job.get("status")}})
    status.set_job_status(db, job["_id"], JobStatus.ARCHIVING, actor=status.Actor.USER, reason=reason)
    enqueue_archival(app, job["_id"])
