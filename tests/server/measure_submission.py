"""Measure compiling + inserting a 10,000-frame blender-render job on FerretDB.

Not a test (no timing assertions in tests); run it by hand:

    .venv/bin/python -m tests.server.measure_submission [--frames 10000] [--chunk-size 1]

It starts its own FerretDB in a temp dir, submits the job the way POST does
(``flamenco.jobs.construction.submit_job``: validate, insert the job, compile,
one insert_many of all tasks, flip the job), and prints the figures.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pymongo

from flamenco.farm import services
from tests.support.server import make_job, make_manager, make_project, make_user


def measure(frames: int, chunk_size: int) -> None:
    with tempfile.TemporaryDirectory(prefix="flamenco-measure-") as tmp:
        svc = services.start_ferretdb(Path(tmp) / "ferretdb")
        try:
            client = pymongo.MongoClient(svc.url, tz_aware=True)
            db = client["measure"]
            user = make_user(db, "measure")
            project = make_project(db, "Measure", members=[(user, "admin")])
            manager, _ = make_manager(db, projects=[project], owner=user)
            settings = {"filepath": "/shot/scene.blend", "render_output": "/render/shot/####",
                        "frames": f"1-{frames}", "chunk_size": chunk_size, "format": "PNG"}
            start = time.perf_counter()
            job = make_job(db, project, manager, user, job_type="blender-render", settings=settings)
            elapsed = time.perf_counter() - start
            count = db["flamenco_tasks"].count_documents({"job": job["_id"]})
            print(f"blender-render job, {frames} frames, chunk size {chunk_size}: {count} tasks, "
                  f"status {job['status']}, validate+compile+insert+flip {elapsed:.2f} s on FerretDB (SQLite)")
            client.close()
        finally:
            svc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--chunk-size", type=int, default=1)
    args = parser.parse_args()
    measure(args.frames, args.chunk_size)


if __name__ == "__main__":
    main()
