"""Background construction of big jobs, and the sweep that resumes stalled ones.

Job POST stores a big job ``under-construction`` (PATCH ``construct`` and
``recreate`` leave it so) and enqueues ``flamenco.celery.construct_job``; the
rules (claiming the job, deleting a dead run's tasks, batches with signs of
life) are ``flamenco.status``'s. A message can arrive twice or late (Celery
redelivers, the sweep re-enqueues): each run finishes a job that still needs
it and does nothing otherwise.
"""
from __future__ import annotations

import datetime
import logging

from bson import ObjectId
from pymongo.database import Database

from flamenco import status
from flamenco.jobs import construction_runs

log = logging.getLogger(__name__)

# The status reason of a job the sweep hands to Celery again.
RESUME_REASON = "Construction resumed after its run stopped"


def construct_if_needed(db: Database, job_id: ObjectId, reason: str, stale_after: datetime.timedelta) -> str | None:
    """Construct the job unless it is gone, already constructed or held by a live run; its new status or None."""
    try:
        change = construction_runs.resume_construction(db, job_id, reason=reason, stale_after=stale_after)
    except status.NotFound:
        return None
    except status.StatusConflict as ex:  # a run that took over from this one finishes the job
        log.info("construction of job %s stopped: %s", job_id, ex)
        return None
    if change is None:
        return None
    return change.status


def stalled_job_ids(db: Database, stale_after: datetime.timedelta) -> list[ObjectId]:
    """The ``under-construction`` jobs to hand to Celery again: untouched for ``stale_after``."""
    return construction_runs.stalled_constructions(db, stale_after)
