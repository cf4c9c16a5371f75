"""``attach-task-log``: a Manager uploads a task's full gzipped log (reference §6.5).

The file lands at ``<storage>/flamenco-task-logs/job-<job>/task-<task>.log.gz``,
a path built from ObjectIds only, and the task gets ``log_file``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from bson import ObjectId
from pymongo.database import Database
from werkzeug.datastructures import FileStorage

from flamenco.manager_api import defaults, storage
from flamenco.store.collections import MANAGERS, PROJECTS, TASKS

# Every gzip stream starts with these two bytes (RFC 1952).
GZIP_MAGIC = b"\x1f\x8b"


class LogUploadError(ValueError):
    """The upload cannot be stored; ``code`` is the HTTP status to answer."""

    def __init__(self, code: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


@dataclasses.dataclass
class StoredLog:
    """Where the log went, and whether it replaced an earlier upload."""

    task: dict
    path: Path
    created: bool


def read_upload(upload: FileStorage | None) -> bytes:
    """The gzipped bytes of the ``logfile`` part, or a 400 explaining what is wrong."""
    if upload is None:
        raise LogUploadError(400, "no file uploaded; send multipart/form-data with a 'logfile' part", "logfile")
    if not (upload.filename or "").endswith(".gz"):
        raise LogUploadError(400, "GZIP your file! The filename must end in .gz", "logfile")
    data = upload.read()
    if not data.startswith(GZIP_MAGIC):
        raise LogUploadError(400, "GZIP your file! The content is not gzip data", "logfile")
    return data


def dequeue_upload_request(db: Database, manager: dict, task_id: ObjectId) -> None:
    """Remove the task's entries from the Manager's upload queue.

    ``$pullAll`` of the exact entries (as loaded with the Manager) rather than
    ``$pull`` with a condition, which the local store does not apply to embedded
    documents (flamenco.store: operators).
    """
    entries = [e for e in manager.get("upload_task_file_queue") or [] if e.get("task") == task_id]
    if entries:
        db[MANAGERS].update_one({"_id": manager["_id"]}, {"$pullAll": {"upload_task_file_queue": entries}})


def attach_task_log(db: Database, manager: dict, task_id: ObjectId, data: bytes, storage_root: Path) -> StoredLog:
    """Dequeue the upload request, check the task is this Manager's, store the file."""
    dequeue_upload_request(db, manager, task_id)
    task = db[TASKS].find_one({"_id": task_id, "manager": manager["_id"]},
                              projection=["job", "project", "log_file"])
    if task is None:
        raise LogUploadError(404, f"task {task_id} does not exist or is not this Manager's")
    if db[PROJECTS].find_one({"_id": task.get("project")}, projection=["_id"]) is None:
        raise LogUploadError(404, f"the project of task {task_id} does not exist")
    relpath = storage.task_log_relpath(task.get("job"), task_id)
    path = storage.resolve(storage_root, relpath)
    created = not path.exists()
    storage.write_atomically(path, data)
    db[TASKS].update_one({"_id": task_id},
                         {"$set": {"log_file": {"backend": defaults.TASK_LOG_BACKEND, "file_path": relpath}}})
    return StoredLog(task=task, path=path, created=created)
