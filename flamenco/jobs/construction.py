"""Store and compile jobs: in the request for small jobs, in Celery for big ones.

The compile-and-queue rule itself lives in ``flamenco.status``: it inserts all
tasks in bulk, already in their final status, and then flips the job alone (on
the local store every updated document costs a table scan, flamenco.store:
write, so Flamenco 2's insert-then-flip of each task grew quadratically: 1,000
tasks took 45 s). On any failure the job becomes ``construction-failed`` with
no tasks left behind (reference §14.14).

Even in bulk, inserting costs about 2 s per 10,000 tasks on the local store
(flamenco.store: insert), so a job estimated above
``INLINE_CONSTRUCTION_MAX_TASKS`` is handed to the Celery task
``flamenco.celery.construct_job`` and the POST answers at once with the job
``under-construction``. PATCH ``construct`` and ``recreate`` decide the same
way (:func:`construct_stored_job`, :func:`recreate_job`).
"""
from __future__ import annotations

import functools
import logging
import math
import uuid
from typing import Any, Callable, Mapping

import flask
import kombu.exceptions
from bson import ObjectId
from pymongo.database import Database

from flamenco import celery_sender, clock, frame_ranges, job_compilers, status
from flamenco.defaults import JOB_PRIORITY_DEFAULT
from flamenco.jobs import construction_runs
from flamenco.store.collections import JOBS
from flamenco_protocol.statuses import JobStatus

log = logging.getLogger(__name__)


def validate_settings(job: dict) -> None:
    """Raise ``job_compilers.JobSettingsError(field, reason)`` if the job cannot be compiled."""
    job_compilers.validate_job(job)


def estimated_task_count(job: Mapping[str, Any]) -> int:
    """How many frame chunks the job renders: ``ceil(frames / chunk_size)``; 1 without a frame range.

    Why not compile and count: the request would build every task document
    (0.5 s of CPU and hundreds of MB per 100,000 frames) only to drop them
    for the Celery worker to build again. This reads two settings that every
    frame-based job type shares. Types add a few fixed tasks (video, moves)
    and ``blender-render-progressive`` renders the chunks once per sample
    chunk, so the estimate can be low by that factor; that only moves a job
    between two correct paths, and the settings are validated before this.
    """
    settings = job.get("settings") or {}
    chunk_size = settings.get("chunk_size")
    try:
        frame_count = frame_ranges.parse_frame_range(settings.get("frames")).count
    except frame_ranges.FrameRangeError:
        return 1
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        return frame_count
    return math.ceil(frame_count / chunk_size)


def constructs_in_background(config: Mapping[str, Any], job: Mapping[str, Any]) -> bool:
    """Whether ``job`` is too big to construct in the request (and Celery is there to do it)."""
    return bool(config["CELERY_ENABLED"]) and estimated_task_count(job) > config["INLINE_CONSTRUCTION_MAX_TASKS"]


def enqueue_construction(app: flask.Flask, job_id: ObjectId, reason: str) -> bool:
    """Ask Celery to construct the stored ``under-construction`` job; False if the broker is unreachable.

    The job is stored either way: the beat sweep (``resume_job_construction``)
    picks it up once it has been untouched for ``FLAMENCO_RESUME_CONSTRUCTION_AGE_SECONDS``.
    """
    try:  # the server's send-only client: one broker connection per app for every enqueued job
        celery_sender.client(app).send_task(app.config["CELERY_CONSTRUCT_TASK"], args=[str(job_id), reason])
    except kombu.exceptions.OperationalError as ex:
        log.warning("could not enqueue construction of job %s (%s); the resume sweep will construct it", job_id, ex)
        return False
    return True


def construct_inline(db: Database, job_id: ObjectId, *, reason: str,
                     new_settings: Mapping[str, Any] | None = None) -> str:
    """Compile the job in this request and queue (or pause) it with all its tasks; return its final status.

    ``new_settings`` are merged into ``job.settings`` first (PATCH ``construct``).
    Raises ``status.IllegalTransition`` if the job is not in a constructible status.
    """
    return construction_runs.run_construction(db, job_id, reason=reason, new_settings=new_settings).status


def construct_stored_job(app: flask.Flask, db: Database, job: Mapping[str, Any], *, reason: str,
                         new_settings: Mapping[str, Any] | None = None) -> status.JobStatusChange:
    """Construct a stored job (PATCH ``construct``): in the request when small, in Celery when big.

    ``job`` carries the settings the compile will see (``new_settings`` merged),
    so the estimate is that of the job to be built. Raises what
    ``construction_runs.run_construction`` raises.
    """
    return _inline_or_background(app, job, reason, functools.partial(
        construction_runs.run_construction, db, job["_id"], reason=reason, new_settings=new_settings))


def recreate_job(app: flask.Flask, db: Database, job: Mapping[str, Any], *, reason: str) -> status.JobStatusChange:
    """Delete a finished job's tasks and logs and compile it again: in the request when small, in Celery when big.

    ``job`` needs its ``_id`` and ``settings``. Raises what ``construction_runs.recreate_job`` raises.
    """
    return _inline_or_background(app, job, reason, functools.partial(
        construction_runs.recreate_job, db, job["_id"], reason=reason))


def _inline_or_background(app: flask.Flask, job: Mapping[str, Any], reason: str,
                          rule: Callable[..., status.JobStatusChange]) -> status.JobStatusChange:
    """Run a construction ``rule`` (taking ``defer``): compiling now, or handing a big job to Celery.

    The same size decision as job POST, so a 100,000-frame job never holds a
    request for minutes, whichever way it is (re)built. The job is released
    before the message is sent, so the Celery run can claim it at once.
    """
    background = constructs_in_background(app.config, job)
    change = rule(defer=background)
    if background:
        enqueue_construction(app, job["_id"], reason)
    return change


def submit_job(db: Database, job: dict, reason: str = "Job submitted") -> dict:
    """Store and compile a job without permission checks (tests, CLI); return the stored job.

    ``job`` has ObjectId references; it is compiled unless it is ``waiting-for-files``.
    HTTP submission (``flamenco.jobs.hooks``) checks permissions and then does the same.
    """
    job = {"status": JobStatus.UNDER_CONSTRUCTION, "priority": JOB_PRIORITY_DEFAULT, "settings": {},
           "start_paused": False, **job}
    validate_settings(job)
    now = clock.utcnow()
    job.update({"_id": job.get("_id") or ObjectId(), "_created": now, "_updated": now,
                "_etag": uuid.uuid4().hex})
    db[JOBS].insert_one(job)
    if job["status"] != JobStatus.WAITING_FOR_FILES:
        construct_inline(db, job["_id"], reason=reason)
    return db[JOBS].find_one({"_id": job["_id"]}) or job
