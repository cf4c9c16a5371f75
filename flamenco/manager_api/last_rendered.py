"""``last-rendered``: a Manager uploads the newest preview image of one of its jobs.

The Manager makes the preview (a JPEG of at most 1920x1080, see
``flamenco_manager.last_rendered``); Flamenco 2 Managers never call this, so
their jobs simply have none. The file lands at
``<storage>/flamenco-last-rendered/job-<job>.jpg``, a path built from
ObjectIds only. The job gets ``last_rendered`` (the time of the upload): the
job page's cache-busting stamp, and a field of the job's live event, so open
pages show the new image at once. Each project's newest is kept in the small
``flamenco_last_rendered`` collection (one document per project,
``{_id: project, job, at}``) for the dashboard's farm-wide page.
"""
from __future__ import annotations

import dataclasses
import datetime
import io
from pathlib import Path

from bson import ObjectId
from PIL import Image
from pymongo.database import Database
from werkzeug.datastructures import FileStorage

from flamenco import eventbus
from flamenco.manager_api import storage
from flamenco.store.collections import JOBS, LAST_RENDERED

LAST_RENDERED_DIR = "flamenco-last-rendered"
# The multipart part that holds the image.
FIELD = "image"
# A 1920x1080 JPEG at quality 85 is well under 2 MB; twice that leaves room.
MAX_BYTES = 4 * 1024 * 1024
# Browsers decode what is shown: refuse images far beyond a preview's size.
MAX_DIMENSION = 4096


class LastRenderedError(ValueError):
    """The upload cannot be stored; ``code`` is the HTTP status to answer."""

    def __init__(self, code: int, message: str, field: str | None = FIELD) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


@dataclasses.dataclass(frozen=True)
class Stored:
    job_id: ObjectId
    project_id: ObjectId
    at: datetime.datetime


def read_upload(upload: FileStorage | None) -> bytes:
    """The JPEG bytes of the ``image`` part, or a 400/413 saying what is wrong."""
    if upload is None:
        raise LastRenderedError(400, f"no file uploaded; send multipart/form-data with an '{FIELD}' part")
    data = upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise LastRenderedError(413, f"the image is larger than {MAX_BYTES} bytes")
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind, width, height = image.format, image.width, image.height
    except Exception:  # noqa: BLE001 - Pillow raises many kinds for garbage; all mean "not an image"
        raise LastRenderedError(400, "not a JPEG image") from None
    if kind != "JPEG":
        raise LastRenderedError(400, f"must be a JPEG image, not {kind}")
    if width > MAX_DIMENSION or height > MAX_DIMENSION:
        raise LastRenderedError(400, f"at most {MAX_DIMENSION}x{MAX_DIMENSION} pixels, got {width}x{height}")
    return data


def image_relpath(job_id: ObjectId) -> str:
    return f"{LAST_RENDERED_DIR}/job-{job_id}.jpg"


def image_path(storage_root: Path, job_id: ObjectId) -> Path:
    """Where the job's preview is (it may not exist)."""
    return storage.resolve(storage_root, image_relpath(job_id))


def store_image(db: Database, manager: dict, job_id: ObjectId, data: bytes, storage_root: Path,
                now: datetime.datetime) -> Stored:
    """Check the job is this Manager's, store the file, stamp the job and its project; announce it."""
    job = db[JOBS].find_one({"_id": job_id}, projection=["manager", "project"])
    if job is None or job.get("manager") != manager["_id"]:
        raise LastRenderedError(404, f"job {job_id} does not exist or is not this Manager's", field=None)
    storage.write_atomically(image_path(storage_root, job_id), data)
    db[JOBS].update_one({"_id": job_id}, {"$set": {"last_rendered": now}})
    db[LAST_RENDERED].replace_one({"_id": job["project"]}, {"_id": job["project"], "job": job_id, "at": now},
                                  upsert=True)
    eventbus.emit(db, eventbus.job_changed(job_id))
    return Stored(job_id=job_id, project_id=job["project"], at=now)


def newest_of_projects(db: Database, project_ids: list[ObjectId]) -> dict | None:
    """The newest ``{_id: project, job, at}`` among these projects, or None."""
    if not project_ids:
        return None
    found = list(db[LAST_RENDERED].find({"_id": {"$in": project_ids}}))
    return max(found, key=lambda doc: doc["at"], default=None)
