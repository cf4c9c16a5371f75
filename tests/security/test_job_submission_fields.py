"""A job POST may not choose its ``_id`` nor set fields the server owns (issue 13).

A client-chosen ``_id`` answered 409 when a job with that id existed in any
project (an existence oracle across projects), and ``status_reason`` let a
submitter write what the server says about the job.
"""
from __future__ import annotations

import pytest

from tests.security.server_world import World, world  # noqa: F401
from tests.support.server import job_doc

JOBS = "/api/flamenco/jobs"


def _post(world: World, **extra) -> object:
    doc = job_doc(world.project, world.manager, world.member, name="submitted", **extra)
    return world.call("member", "POST", JOBS, json=doc)


def _refused(resp, field: str) -> None:
    assert 400 <= resp.status_code < 500 and resp.status_code != 409, (resp.status_code, resp.get_json())
    assert field in resp.get_json()["_issues"], resp.get_json()


@pytest.mark.parametrize("field,value", [
    ("_id", "5f0000000000000000000001"),
    ("_created", "Thu, 01 Jan 2026 00:00:00 GMT"),
    ("_updated", "Thu, 01 Jan 2026 00:00:00 GMT"),
    ("_etag", "chosen-by-client"),
    ("status_reason", "Approved by the farm admin"),
    ("archive_blob_name", "other-job.zip"),
    ("pre_archive_status", "completed"),
])
def test_server_owned_fields_are_refused(world: World, field: str, value: str) -> None:
    _refused(_post(world, **{field: value}), field)
    assert world.db["flamenco_jobs"].count_documents({"name": "submitted"}) == 0


def test_an_existing_id_is_refused_without_revealing_it_exists(world: World) -> None:
    """The id of a job in the member's own project and an unknown id answer the same."""
    existing = _post(world, _id=str(world.job["_id"]))
    unknown = _post(world, _id="5f0000000000000000000009")
    assert existing.status_code == unknown.status_code
    assert existing.get_json()["_issues"] == unknown.get_json()["_issues"]
    _refused(existing, "_id")


def test_server_owned_fields_are_refused_in_bulk_posts_too(world: World) -> None:
    docs = [job_doc(world.project, world.manager, world.member, name="submitted"),
            job_doc(world.project, world.manager, world.member, name="submitted", _id="5f0000000000000000000002")]
    _refused(world.call("member", "POST", JOBS, json=docs), "_id")
    assert world.db["flamenco_jobs"].count_documents({"name": "submitted"}) == 0


def test_a_plain_submission_still_works(world: World) -> None:
    resp = _post(world)
    assert resp.status_code == 201, resp.get_json()
    job = world.db["flamenco_jobs"].find_one({"name": "submitted"})
    assert job["status_reason"].startswith("Job submitted by")
