"""Job archival: job + tasks + logs into one ZIP, then the tasks leave the database.

Resumable by construction: the ZIP is written to a work file and renamed into
place, its name is stored on the job, and only then are tasks and logs
deleted. A run that dies anywhere can simply be run again: before the rename
it rebuilds the ZIP, after it it only finishes the deletions.

ZIP contents (reference §7): ``job-<id>.json`` (with the status it had before
archiving), ``task-<id>.json`` per task, ``task-<id>.log.gz`` with the task's
log chunks in order, and ``task-<id>-manager.log.gz`` with the log file the
Manager uploaded, if any.
"""
from __future__ import annotations

import datetime
import gzip
import json
import logging
import os
import secrets
import shutil
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from flamenco import clock, status, task_counts
from flamenco.celery import defaults
from flamenco.manager_api import defaults as api_defaults
from flamenco.jobs import construction_runs
from flamenco.manager_api import storage
from flamenco.store.collections import JOBS, TASK_LOGS, TASKS
from flamenco_protocol.statuses import JobStatus

log = logging.getLogger(__name__)


class ArchivalError(RuntimeError):
    """The job cannot be archived (e.g. it is still running)."""


def _json_default(value: Any) -> Any:
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def to_json(doc: dict) -> str:
    """A document as readable JSON: ids as hex, dates as ISO-8601."""
    return json.dumps(doc, default=_json_default, indent=2, sort_keys=True)


def job_json(job: dict) -> str:
    """The job as archived: with the status it had before archiving began."""
    doc = dict(job)
    pre = doc.pop("pre_archive_status", None)
    if pre:
        doc["status"] = pre
    doc.pop("archive_blob_name", None)
    for field in task_counts.COUNTER_FIELDS:  # bookkeeping of the live job; the archive holds the tasks
        doc.pop(field, None)
    return to_json(doc)


def joined_log(chunks: list[dict]) -> bytes:
    """Log chunks in the order the Manager received them, as one text."""
    ordered = sorted(chunks, key=lambda c: c.get("received_on_manager") or datetime.datetime.min)
    text = "".join(c["log"] if c["log"].endswith("\n") else c["log"] + "\n" for c in ordered)
    return text.encode("utf-8")


def write_zip(db: Database, job: dict, zip_path: Path, storage_root: Path) -> int:
    """Write the job's archive to ``zip_path``; return the number of tasks in it."""
    tasks = list(db[TASKS].find({"job": job["_id"]}))
    chunks: dict[ObjectId, list[dict]] = defaultdict(list)
    if tasks:
        for chunk in db[TASK_LOGS].find({"task": {"$in": [t["_id"] for t in tasks]}}):
            chunks[chunk["task"]].append(chunk)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"job-{job['_id']}.json", job_json(job))
        for task in tasks:
            archive.writestr(f"task-{task['_id']}.json", to_json(task))
            if chunks.get(task["_id"]):
                archive.writestr(f"task-{task['_id']}.log.gz", gzip.compress(joined_log(chunks[task["_id"]])))
            uploaded = (task.get("log_file") or {}).get("file_path")
            if uploaded:
                try:
                    path = storage.resolve(storage_root, uploaded)
                except storage.UnsafePath:
                    continue
                if path.is_file():
                    archive.write(path, f"task-{task['_id']}-manager.log.gz")
    return len(tasks)


def archive_name(job_id: ObjectId, storage_root: Path, today: datetime.date) -> str:
    """``flamenco-jobs/flamenco-job-<id>.zip``, or a dated unique name if that exists."""
    name = f"{defaults.ARCHIVE_DIR}/flamenco-job-{job_id}.zip"
    if (storage_root / name).exists():
        name = f"{defaults.ARCHIVE_DIR}/flamenco-job-{job_id}-{today.isoformat()}-{secrets.token_hex(4)}.zip"
    return name


def build_archive(db: Database, job: dict, storage_root: Path) -> str:
    """Write the ZIP and move it into place atomically; return its storage-relative name."""
    work = storage_root / defaults.ARCHIVE_WORK_DIR / f"job-{job['_id']}.zip"
    write_zip(db, job, work, storage_root)
    name = archive_name(job["_id"], storage_root, clock.utcnow().date())
    target = storage_root / name
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(work, target)
    return name


def _start_archiving(db: Database, job: dict) -> None:
    """For jobs not marked yet (CLI, resumed runs): remember the status, mark ``archiving``."""
    if job["status"] not in status.ARCHIVEABLE_JOB_STATES:
        raise ArchivalError(f"job {job['_id']} is {job['status']}; only "
                            f"{', '.join(sorted(status.ARCHIVEABLE_JOB_STATES))} jobs can be archived")
    db[JOBS].update_one({"_id": job["_id"]}, {"$set": {"pre_archive_status": job["status"]}})
    status.set_job_status(db, job["_id"], JobStatus.ARCHIVING, actor=status.Actor.SYSTEM, reason="Archiving")
    job["pre_archive_status"] = job["status"]
    job["status"] = JobStatus.ARCHIVING


def delete_job_data(db: Database, job_id: ObjectId, storage_root: Path) -> None:
    """Delete the job's tasks, log chunks and uploaded log files (bulk deletes); its task counts become empty."""
    construction_runs.delete_job_tasks(db, job_id)
    shutil.rmtree(storage_root / api_defaults.TASK_LOG_DIR / f"job-{job_id}", ignore_errors=True)


def archive_job(db: Database, job_id: ObjectId, storage_root: Path) -> str | None:
    """Archive one job; return the archive's storage-relative name (None if nothing to do)."""
    job = db[JOBS].find_one({"_id": job_id})
    if job is None or job["status"] == JobStatus.ARCHIVED:
        return None
    if job["status"] != JobStatus.ARCHIVING:
        _start_archiving(db, job)
    name = job.get("archive_blob_name")
    if not name or not (storage_root / name).is_file():
        name = build_archive(db, job, storage_root)
        db[JOBS].update_one({"_id": job_id}, {"$set": {"archive_blob_name": name}})
    delete_job_data(db, job_id, storage_root)
    status.set_job_status(db, job_id, JobStatus.ARCHIVED, actor=status.Actor.SYSTEM)
    log.info("archived job %s as %s", job_id, name)
    return name


def jobs_to_resume(db: Database, min_age: datetime.timedelta, now: datetime.datetime | None = None) -> list[ObjectId]:
    """Jobs stuck in ``archiving`` for longer than ``min_age`` (a worker died, or Celery was off)."""
    cutoff = (now or clock.utcnow()) - min_age
    return [j["_id"] for j in db[JOBS].find({"status": JobStatus.ARCHIVING, "_updated": {"$lte": cutoff}},
                                            projection=["_id"])]
