"""Job compilation: 1,000 / 10,000 / 100,000-frame blender-render jobs.

For each size it prints the time to compile the job in memory
(``flamenco.job_compilers.compile_job``), and the time of the whole
submission as a client sees it: POST /api/flamenco/jobs to a real server
process, which validates, stores, compiles, inserts every task with one
``insert_many`` and queues the job before answering.

    .venv/bin/python -m bench.bench_compile [--frames 1000,10000,100000] [--chunk-size 1]
"""
from __future__ import annotations

import argparse
import datetime

import httpx
from bson import ObjectId

from bench.support import Stopwatch, data_store, header, redis_service, tenancy
from flamenco import job_compilers
from tests.support.server import job_doc, make_token, running_server

DEFAULT_FRAMES = "1000,10000,100000"
# One task per frame: the worst case for task count (studios use 1-10).
DEFAULT_CHUNK_SIZE = 1
# A 100,000-task submission must finish; give the POST this long.
POST_TIMEOUT_SECONDS = 1800


def render_settings(frames: int, chunk_size: int) -> dict:
    return {"filepath": "/shot/scene.blend", "render_output": "/render/shot/######", "format": "PNG",
            "frames": f"1-{frames}", "chunk_size": chunk_size}


def compile_in_memory(frames: int, chunk_size: int) -> tuple[int, float]:
    """(tasks, seconds) of compiling a job that is never stored."""
    job = {"_id": ObjectId(), "name": "bench", "job_type": "blender-render", "project": ObjectId(),
           "manager": ObjectId(), "user": ObjectId(), "priority": 50, "status": "under-construction",
           "settings": render_settings(frames, chunk_size)}
    with Stopwatch() as sw:
        tasks = job_compilers.compile_job(job, now=datetime.datetime.now(datetime.timezone.utc))
    return len(tasks), sw.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", default=DEFAULT_FRAMES, help="comma-separated frame counts")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    args = parser.parse_args()
    sizes = [int(f) for f in args.frames.split(",")]

    with data_store() as (server_uri, store), redis_service() as redis_url:
        header("job compilation (blender-render, chunk size %d)" % args.chunk_size, store)
        with tenancy(server_uri, "bench_compile") as farm, running_server(farm.uri, redis_url) as base_url:
            token = make_token(farm.db, farm.user)
            for frames in sizes:
                n_tasks, compile_s = compile_in_memory(frames, args.chunk_size)
                doc = job_doc(farm.project, farm.manager, farm.user, job_type="blender-render", name=f"bench {frames}",
                              settings=render_settings(frames, args.chunk_size))
                with Stopwatch() as sw:
                    resp = httpx.post(f"{base_url}/api/flamenco/jobs", json=doc, timeout=POST_TIMEOUT_SECONDS,
                                      headers={"Authorization": f"Bearer {token}"})
                stored = farm.db["flamenco_tasks"].count_documents({"job": ObjectId(resp.json()["_id"])}) \
                    if resp.status_code == 201 else 0
                status = farm.db["flamenco_jobs"].find_one({"_id": ObjectId(resp.json()["_id"])})["status"] \
                    if resp.status_code == 201 else resp.text[:200]
                print(f"{frames:>7} frames -> {n_tasks:>6} tasks: compile in memory {compile_s:7.3f} s; "
                      f"POST (validate+store+compile+insert+queue) {sw.seconds:7.2f} s, HTTP {resp.status_code}, "
                      f"{stored} tasks stored, job {status}", flush=True)


if __name__ == "__main__":
    main()
