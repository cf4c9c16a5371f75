"""Celery app of the server: Redis broker and result backend, beat schedule, background jobs.

Run a worker with beat: ``celery -A flamenco.celery worker --beat``. The
broker is ``CELERY_BROKER_URL`` or else ``REDIS_URL`` (from the environment,
as the server reads it). Tasks are named ``flamenco.celery.<name>``; the
server enqueues them by name (``flamenco.celery_sender``).

The task bodies are thin: they open the database and call plain functions in
``archival``, ``construction``, ``runnability`` and ``cleanup``, which tests
call directly.
"""
from __future__ import annotations

import datetime

import celery
from bson import ObjectId

from flamenco.celery import archival, cleanup, construction, db, defaults, runnability
from flamenco.extension import FlamencoExtension, subscribe_listeners


def make_app(broker: str | None = None, backend: str | None = None) -> celery.Celery:
    """The Celery app, configured from the server config unless URLs are given."""
    cfg = db.config()
    redis_url = cfg["REDIS_URL"]
    app = celery.Celery("flamenco", broker=broker or cfg["CELERY_BROKER_URL"] or redis_url,
                        backend=backend or redis_url, include=list(FlamencoExtension.celery_task_modules))
    app.conf.update(
        task_track_started=True,
        result_expires=defaults.RESULT_EXPIRES_SECONDS,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        beat_schedule=beat_schedule(),
    )
    return app


def beat_schedule() -> dict[str, dict]:
    """The periodic jobs, in code (Flamenco 2 left them to the deployer, reference §14.20)."""
    return {
        "runnability-check": {"task": "flamenco.celery.schedule_runnability_checks",
                              "schedule": defaults.RUNNABILITY_CHECK_INTERVAL},
        "remove-waiting-for-files": {"task": "flamenco.celery.remove_waiting_for_files",
                                     "schedule": defaults.WAITING_FOR_FILES_CLEANUP_INTERVAL},
        "resume-job-archiving": {"task": "flamenco.celery.resume_job_archiving",
                                 "schedule": defaults.RESUME_ARCHIVING_INTERVAL},
        "remove-orphan-task-logs": {"task": "flamenco.celery.remove_orphan_task_logs",
                                    "schedule": defaults.ORPHAN_TASK_LOG_CLEANUP_INTERVAL},
        "resume-job-construction": {"task": "flamenco.celery.resume_job_construction",
                                    "schedule": defaults.RESUME_CONSTRUCTION_INTERVAL},
        "remove-expired-linking-keys": {"task": "flamenco.celery.remove_expired_linking_keys",
                                        "schedule": defaults.EXPIRED_LINKING_KEYS_CLEANUP_INTERVAL},
    }


app = make_app()
# Changes made by background jobs reach the same listeners as the server's (live updates, notifications).
subscribe_listeners([FlamencoExtension()])


def _object_id(job_id: str) -> ObjectId | None:
    return ObjectId(job_id) if ObjectId.is_valid(job_id) else None


@app.task(name="flamenco.celery.archive_job")
def archive_job(job_id: str) -> str | None:
    """Archive one job (enqueued by the archive-job PATCH); returns the archive name."""
    oid = _object_id(job_id)
    if oid is None:
        return None
    return archival.archive_job(db.database(), oid, db.storage_root())


@app.task(name="flamenco.celery.resume_job_archiving")
def resume_job_archiving() -> list[str]:
    """Re-enqueue archival of jobs stuck in ``archiving``."""
    age = datetime.timedelta(seconds=db.config()["FLAMENCO_RESUME_ARCHIVING_AGE_SECONDS"])
    job_ids = [str(j) for j in archival.jobs_to_resume(db.database(), age)]
    for job_id in job_ids:
        archive_job.delay(job_id)
    return job_ids


def _construction_age() -> datetime.timedelta:
    return datetime.timedelta(seconds=db.config()["FLAMENCO_RESUME_CONSTRUCTION_AGE_SECONDS"])


# acks_late: a worker killed mid-run leaves the message to be delivered again
# (the job's construction token makes the re-run delete what the dead run inserted).
# The registered name stays ``construct_job``: messages queued by an older server still run.
@app.task(name="flamenco.celery.construct_job", acks_late=True)
def construct_big_job(job_id: str, reason: str) -> str | None:
    """Compile a big job into its tasks and queue it (enqueued by job POST and PATCH construct/recreate);
    returns its new status."""
    oid = _object_id(job_id)
    return construction.construct_if_needed(db.database(), oid, reason, _construction_age()) if oid else None


@app.task(name="flamenco.celery.resume_job_construction")
def resume_job_construction() -> list[str]:
    """Re-enqueue construction of jobs whose run died or never started."""
    job_ids = [str(j) for j in construction.stalled_job_ids(db.database(), _construction_age())]
    for job_id in job_ids:
        construct_big_job.delay(job_id, construction.RESUME_REASON)
    return job_ids


@app.task(name="flamenco.celery.schedule_runnability_checks")
def schedule_runnability_checks() -> list[str]:
    """Queue one runnability check per active job."""
    job_ids = [str(j) for j in runnability.active_job_ids(db.database())]
    for job_id in job_ids:
        runnability_check.delay(job_id)
    return job_ids


@app.task(name="flamenco.celery.runnability_check")
def runnability_check(job_id: str) -> str | None:
    """Fail-request the job if tasks wait on failed parents; returns the new status."""
    oid = _object_id(job_id)
    change = runnability.check_job_runnability(db.database(), oid) if oid else None
    return change.status if change else None


@app.task(name="flamenco.celery.remove_waiting_for_files")
def remove_waiting_for_files() -> int:
    """Delete jobs that waited for their files too long."""
    age = datetime.timedelta(seconds=db.config()["FLAMENCO_WAITING_FOR_FILES_MAX_AGE_SECONDS"])
    return cleanup.remove_waiting_for_files(db.database(), age)


@app.task(name="flamenco.celery.remove_orphan_task_logs")
def remove_orphan_task_logs() -> int:
    """Delete log chunks and files of tasks that no longer exist."""
    return cleanup.remove_orphan_task_logs(db.database(), db.storage_root())


@app.task(name="flamenco.celery.remove_expired_linking_keys")
def remove_expired_linking_keys() -> int:
    """Delete linking keys older than 15 minutes."""
    return cleanup.remove_expired_linking_keys(db.database())
