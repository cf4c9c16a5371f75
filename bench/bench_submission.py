"""Job submission: how long POST /api/flamenco/jobs blocks, with construction in the request or in Celery.

For each size it POSTs a blender-render job (chunk size 1: one task per
frame) to a real server process twice: with ``CELERY_ENABLED`` off, the
server compiles and inserts every task before answering (what every POST did
before big jobs went to Celery); with it on and a real ``celery worker``
process, the POST answers ``under-construction`` at once and the worker
builds the job. It prints the POST time, the time until the job is
``queued``, and checks that exactly the compiled number of tasks was stored.

    .venv/bin/python -m bench.bench_submission [--frames 10000,100000] [--chunk-size 1]
"""
from __future__ import annotations

import argparse
import contextlib
import time

import httpx
import pymongo
from bson import ObjectId
from pymongo.database import Database

from bench.support import Stopwatch, celery_worker, data_store, header, redis_service, tenancy
from flamenco import defaults
from tests.support.server import job_doc, make_token, running_server

DEFAULT_FRAMES = "10000,100000"
# One task per frame: the worst case for task count (studios use 1-10).
DEFAULT_CHUNK_SIZE = 1
# Where the job is constructed -> CELERY_ENABLED.
MODES = {"request": False, "celery": True}
# A 100,000-task job is inserted in under a minute on FerretDB; allow a loaded machine far more.
CONSTRUCTION_TIMEOUT_SECONDS = 1800
# Polling the job faster slows the insert it waits for (FerretDB/SQLite serialises them).
POLL_INTERVAL_SECONDS = 1.0
# blender-render adds these to one task per chunk without a video-encoding Manager.
FIXED_TASKS = 1


def render_settings(frames: int, chunk_size: int) -> dict:
    return {"filepath": "/shot/scene.blend", "render_output": "/render/shot/######", "format": "PNG",
            "frames": f"1-{frames}", "chunk_size": chunk_size}


def wait_until_constructed(db: Database, job_id: ObjectId) -> str:
    """The job's status once it left ``under-construction``."""
    deadline = time.monotonic() + CONSTRUCTION_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        job_status = db["flamenco_jobs"].find_one({"_id": job_id}, {"status": 1})["status"]
        if job_status != "under-construction":
            return job_status
        time.sleep(POLL_INTERVAL_SECONDS)
    return "still under-construction"


def submit(base_url: str, token: str, db: Database, doc: dict, expected_tasks: int) -> str:
    """POST the job, wait for its construction, and describe both."""
    with Stopwatch() as post:
        resp = httpx.post(f"{base_url}/api/flamenco/jobs", json=doc, timeout=CONSTRUCTION_TIMEOUT_SECONDS,
                          headers={"Authorization": f"Bearer {token}"})
    if resp.status_code != 201:
        return f"HTTP {resp.status_code}: {resp.text[:200]}"
    job_id = ObjectId(resp.json()["_id"])
    with Stopwatch() as construction:
        final = wait_until_constructed(db, job_id)
    stored = db["flamenco_tasks"].count_documents({"job": job_id})
    check = "ok" if stored == expected_tasks else f"EXPECTED {expected_tasks}"
    return (f"POST {post.seconds:6.2f} s answering {resp.json().get('status')!r}; "
            f"{final} {post.seconds + construction.seconds:6.2f} s after submission; {stored} tasks stored ({check})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", default=DEFAULT_FRAMES, help="comma-separated frame counts")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--mode", choices=sorted(MODES), action="append",
                        help="where to construct (default: both, request first)")
    args = parser.parse_args()
    sizes = [int(f) for f in args.frames.split(",")]

    with data_store() as (server_uri, store), redis_service() as redis_url:
        header(f"job submission (blender-render, chunk size {args.chunk_size}; "
               f"INLINE_CONSTRUCTION_MAX_TASKS {defaults.INLINE_CONSTRUCTION_MAX_TASKS})", store)
        with tenancy(server_uri, "bench_submission") as farm:
            token = make_token(farm.db, farm.user)
            for mode in args.mode or list(MODES):
                celery_enabled = MODES[mode]
                workers = celery_worker(farm.uri, redis_url) if celery_enabled else contextlib.nullcontext()
                with workers, running_server(farm.uri, redis_url, CELERY_ENABLED=celery_enabled) as base_url:
                    for frames in sizes:
                        doc = job_doc(farm.project, farm.manager, farm.user, job_type="blender-render",
                                      name=f"bench {frames}", settings=render_settings(frames, args.chunk_size))
                        expected = -(-frames // args.chunk_size) + FIXED_TASKS
                        print(f"{frames:>7} frames, construction {mode:<7}: "
                              f"{submit(base_url, token, farm.db, doc, expected)}", flush=True)


if __name__ == "__main__":
    main()
