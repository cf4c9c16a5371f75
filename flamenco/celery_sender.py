"""The server's Celery sender: enqueues Celery tasks by name, through one send-only client per Flask app.

The tasks themselves live with the Celery app (``flamenco.celery``); the
server only needs a broker connection to enqueue them, so it keeps a client
that runs no task instead of importing the worker side. Every Celery task the
server enqueues goes through :func:`client`: job archival (here:
:func:`start_archiving`), big job construction
(``flamenco.jobs.construction.enqueue_construction``) and notification
deliveries (``flamenco.notifications.dispatch.app_enqueue``).
"""
from __future__ import annotations

import logging

import celery
import flask
from bson import ObjectId
from pymongo.database import Database

from flamenco import status
from flamenco.store.collections import JOBS
from flamenco_protocol.statuses import JobStatus

log = logging.getLogger(__name__)


def client(app: flask.Flask) -> celery.Celery:
    """A send-only Celery client for this app (enqueues tasks by name; runs none)."""
    sender = app.extensions.get("flamenco_celery_sender")
    if sender is None:
        broker = app.config["CELERY_BROKER_URL"] or app.config["REDIS_URL"]
        sender = celery.Celery("flamenco-server", broker=broker)
        app.extensions["flamenco_celery_sender"] = sender
    return sender


def enqueue_archival(app: flask.Flask, job_id: ObjectId) -> bool:
    """Queue archival of ``job_id``; False when Celery is disabled (the job stays
    ``archiving`` and the periodic resume task picks it up later)."""
    if not app.config["CELERY_ENABLED"]:
        log.info("Celery disabled; job %s stays archiving until resumed", job_id)
        return False
    client(app).send_task(app.config["CELERY_ARCHIVE_TASK"], args=[str(job_id)])
    return True


def start_archiving(app: flask.Flask, db: Database, job: dict, reason: str) -> None:
    """Mark the job ``archiving``, remember its status, queue the archival.

    Raises ``status.IllegalTransition`` unless the job may be archived (only
    finished jobs: Flamenco 2 archived active ones, deleting running tasks).
    """
    status.check_job_transition(job.get("status") or "", JobStatus.ARCHIVING, status.Actor.USER)
    db[JOBS].update_one({"_id": job["_id"]}, {"$set": {"pre_archive_status": job.get("status")}})
    status.set_job_status(db, job["_id"], JobStatus.ARCHIVING, actor=status.Actor.USER, reason=reason)
    enqueue_archival(app, job["_id"])
