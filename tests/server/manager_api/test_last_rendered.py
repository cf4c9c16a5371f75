"""POST .../last-rendered/<job_id>: a Manager's preview JPEG of one of its jobs."""
from __future__ import annotations

import io
import os

from bson import ObjectId
from PIL import Image

JOBS = "flamenco_jobs"


def jpeg(size: tuple[int, int] = (320, 180), colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=85)
    return out.getvalue()


def upload(mgr, job_id, data: bytes, field: str = "image"):
    return mgr.post(f"/last-rendered/{job_id}", data={field: (io.BytesIO(data), "last-rendered.jpg", "image/jpeg")},
                    content_type="multipart/form-data")


def stored_file(storage_dir, job_id):
    return storage_dir / "flamenco-last-rendered" / f"job-{job_id}.jpg"


def test_upload_stores_the_image_and_stamps_job_and_project(world, mgr_a, job, storage_dir):
    first = jpeg()
    resp = upload(mgr_a, job["_id"], first)
    assert resp.status_code == 204, resp.json
    assert stored_file(storage_dir, job["_id"]).read_bytes() == first
    stamp = world.db[JOBS].find_one({"_id": job["_id"]})["last_rendered"]
    newest = world.db["flamenco_last_rendered"].find_one({"_id": world.project_a["_id"]})
    assert newest["job"] == job["_id"] and newest["at"] == stamp
    second = jpeg(colour=(10, 200, 10))
    assert upload(mgr_a, job["_id"], second).status_code == 204
    assert stored_file(storage_dir, job["_id"]).read_bytes() == second, "a newer image replaces the older"
    assert world.db[JOBS].find_one({"_id": job["_id"]})["last_rendered"] >= stamp


def test_bad_uploads_are_refused_naming_the_field(mgr_a, job, storage_dir):
    png = io.BytesIO()
    Image.new("RGB", (32, 32)).save(png, "PNG")
    cases = [
        (upload(mgr_a, job["_id"], png.getvalue()), 400, "must be a JPEG"),
        (upload(mgr_a, job["_id"], b"\xff\xd8\xff garbage that starts like a JPEG"), 400, "not a JPEG"),
        (upload(mgr_a, job["_id"], jpeg((5000, 16))), 400, "at most 4096x4096"),
        (upload(mgr_a, job["_id"], jpeg(), field="logfile"), 400, "no file uploaded"),
        (upload(mgr_a, job["_id"], b"\xff\xd8\xff" + os.urandom(5 * 1024 * 1024)), 413, "larger than"),
    ]
    for resp, status, message in cases:
        assert resp.status_code == status, resp.json
        assert message in resp.json["_issues"]["image"]
    assert not stored_file(storage_dir, job["_id"]).exists()


def test_another_managers_job_or_an_unknown_one_is_404(world, mgr_b, job, storage_dir):
    assert upload(mgr_b, job["_id"], jpeg()).status_code == 404
    assert upload(mgr_b, ObjectId(), jpeg()).status_code == 404
    assert not stored_file(storage_dir, job["_id"]).exists()
    assert "last_rendered" not in world.db[JOBS].find_one({"_id": job["_id"]})
    resp = upload(mgr_b, "../../etc/passwd", jpeg())
    assert resp.status_code in (400, 404)
    resp = upload(mgr_b, "z" * 24, jpeg())
    assert resp.status_code == 400 and "job_id" in resp.json["_issues"]


def test_only_the_managers_own_account_may_upload(world, mgr_a, job):
    path = f"{mgr_a.base}/last-rendered/{job['_id']}"
    data = {"image": (io.BytesIO(jpeg()), "last-rendered.jpg", "image/jpeg")}
    assert world.client.post(path, data=data, content_type="multipart/form-data").status_code == 401
    data = {"image": (io.BytesIO(jpeg()), "last-rendered.jpg", "image/jpeg")}
    resp = world.client.post(path, data=data, content_type="multipart/form-data",
                             headers={"Authorization": f"Bearer {world.tokens['alice']}"})
    assert resp.status_code == 403
