"""Raw job/task documents for tests that need data without compiling a job."""
from __future__ import annotations

from bson import ObjectId
from pymongo.database import Database

from flamenco.users import stamp_new


def insert_job(db: Database, project: dict, manager: dict, user: dict, status: str = "queued",
               **fields) -> dict:
    doc = stamp_new({"name": fields.pop("name", "raw job"), "job_type": "sleep", "project": project["_id"],
                     "manager": manager["_id"], "user": user["_id"], "status": status, "priority": 50,
                     "settings": {}, **fields})
    db["flamenco_jobs"].insert_one(doc)
    return doc


def insert_task(db: Database, job: dict, status: str = "queued", **fields) -> dict:
    doc = stamp_new({"job": job["_id"], "manager": job["manager"], "project": job["project"],
                     "user": job["user"], "name": fields.pop("name", "task"), "status": status,
                     "priority": 50, "job_priority": job.get("priority", 50), "job_type": job["job_type"],
                     "task_type": "sleep", "commands": [{"name": "echo", "settings": {"message": "hi"}}],
                     **fields})
    db["flamenco_tasks"].insert_one(doc)
    return doc


def insert_task_log(db: Database, task: dict, text: str = "log line") -> dict:
    from flamenco.clock import utcnow

    doc = {"_id": ObjectId(), "task": task["_id"], "received_on_manager": utcnow(), "log": text}
    db["flamenco_task_logs"].insert_one(doc)
    return doc
