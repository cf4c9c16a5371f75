"""Dashboard page times with 10,000 jobs and 100,000 tasks in the database.

Starts its own FerretDB (SQLite) and Redis in a temp dir, unless
``MONGO_URI`` names a server to use instead (a database ``bench_dashboard``
is created and dropped there). Fills one project with ``--jobs`` jobs of
``--tasks-per-job`` tasks each, inserted in bulk as the server stores them
(each job with its task counts, ``flamenco.task_counts``), then requests each page
through the app (Flask's test client, so the figures are server time without
network) and prints the time of a first request with Redis empty ("cold": the
dashboard's read models are built from MongoDB) and the median and worst of
later requests ("warm"). Two last lines time the job list's live refresh
right after a task event (the common case while jobs render: served from the
read models) and right after a job event (the job-list query runs again).

    .venv/bin/python bench/bench_dashboard.py [--jobs 10000] [--tasks-per-job 10] [--repeat 3]
"""
from __future__ import annotations

import argparse
import datetime
import os
import random
import re
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pymongo
import redis
from bson import ObjectId

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from flamenco import eventbus, projects, task_counts, users  # noqa: E402
from flamenco.app import create_app  # noqa: E402
from flamenco.farm import services  # noqa: E402
from flamenco.web import defaults  # noqa: E402

DATABASE = "bench_dashboard"
PASSWORD = "bench-password"
# Insert in batches of this many documents: big enough to be fast, small
# enough to stay far below MongoDB's 48 MB message limit.
INSERT_BATCH = 5000
JOB_STATUSES = ("queued", "active", "completed", "completed", "completed", "canceled", "failed", "paused")
TASK_STATUSES = ("queued", "claimed-by-manager", "active", "completed", "completed", "failed")
JOB_TYPES = ("blender-render", "sleep", "blender-video-chunks")


def fill(db: pymongo.database.Database, n_jobs: int, tasks_per_job: int) -> dict:
    """One project, two members, one Manager; ``n_jobs`` jobs with their tasks."""
    rng = random.Random(42)
    alice = users.create_user(db, "alice", password=PASSWORD, full_name="Alice Artist")
    bob = users.create_user(db, "bob", password=PASSWORD, full_name="Bob Builder")
    project = projects.create_project(db, "Bench Project", url="bench",
                                      members=[(alice["_id"], "admin"), (bob["_id"], "member")])
    manager_id = ObjectId()
    db["flamenco_managers"].insert_one({"_id": manager_id, "name": "Bench Manager", "projects": [project["_id"]],
                                        "owner_users": [alice["_id"]], "service_account": ObjectId()})
    t0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    jobs, tasks = [], []
    sample_job = sample_task = None
    for j in range(n_jobs):
        when = t0 + datetime.timedelta(minutes=j)
        job_id = ObjectId()
        jobs.append({"_id": job_id, "name": f"shot {j:05d}", "status": rng.choice(JOB_STATUSES),
                     "job_type": rng.choice(JOB_TYPES), "project": project["_id"], "manager": manager_id,
                     "user": rng.choice((alice["_id"], bob["_id"])), "priority": rng.randint(1, 100),
                     "settings": {"frames": f"1-{tasks_per_job * 10}", "chunk_size": 10,
                                  "filepath": f"/render/shot{j:05d}.blend"},
                     "_created": when, "_updated": when, "_etag": "bench"})
        previous = None
        statuses = [rng.choice(TASK_STATUSES) for _ in range(tasks_per_job)]
        # As the server stores a job: with the task counts its rules keep.
        jobs[-1] |= {task_counts.COUNTS_FIELD: dict(Counter(statuses)), task_counts.SEQ_FIELD: 1}
        for t, task_status in enumerate(statuses):
            task_id = ObjectId()
            tasks.append({"_id": task_id, "job": job_id, "project": project["_id"], "manager": manager_id,
                          "user": alice["_id"], "name": f"render-{t * 10 + 1}-{t * 10 + 10}",
                          "status": task_status, "priority": 50, "job_priority": 50,
                          "job_type": "blender-render", "task_type": "blender-render",
                          "commands": [{"name": "blender_render", "settings": {"frames": f"{t * 10 + 1}-{t * 10 + 10}"}}],
                          "parents": [previous] if previous else [], "log": "Fra:1 Mem:12M\n" * 20,
                          "worker": f"node-{rng.randint(1, 20)}", "_created": when, "_updated": when,
                          "_etag": "bench"})
            previous = task_id
            sample_task = sample_task or task_id
        sample_job = sample_job or job_id
        if len(tasks) >= INSERT_BATCH:
            db["flamenco_tasks"].insert_many(tasks)
            tasks = []
        if len(jobs) >= INSERT_BATCH:
            db["flamenco_jobs"].insert_many(jobs)
            jobs = []
    if jobs:
        db["flamenco_jobs"].insert_many(jobs)
    if tasks:
        db["flamenco_tasks"].insert_many(tasks)
    return {"job": sample_job, "task": sample_task, "manager": manager_id, "bob": bob["_id"]}


def log_in(client) -> None:
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    response = client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.status_code


def timed(client, url: str) -> float:
    start = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}: {response.get_data(as_text=True)[:300]}")
    return elapsed


def store_description(client: pymongo.MongoClient) -> str:
    info = client.admin.command("buildInfo")
    if "ferretdbVersion" in info:
        return (f"FerretDB v1.24 embedded (tools/ferretdb-embed, SQLite backend), "
                f"reporting MongoDB {info.get('version', '?')}")
    return f"MongoDB {info.get('version', '?')}"


def stop_on_sigterm(_signum: int, _frame: object) -> None:
    """Let ``kill`` end the run through ``finally``, so the data store and Redis stop too."""
    raise SystemExit(143)


def main() -> None:
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--tasks-per-job", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        started = []
        server_uri = os.environ.get("MONGO_URI")
        if not server_uri:
            started.append(services.start_ferretdb(Path(tmp) / "ferretdb"))
            server_uri = started[-1].url
        started.append(services.start_redis(Path(tmp) / "redis"))
        redis_url = started[-1].url + "/0"
        mongo_uri = re.sub(r"^(mongodb://[^/]+)/?[^?]*", rf"\1/{DATABASE}", server_uri, count=1)
        client = pymongo.MongoClient(mongo_uri, tz_aware=True)
        db = client.get_default_database()
        try:
            print(f"data store: {store_description(client)}")
            start = time.perf_counter()
            ids = fill(db, args.jobs, args.tasks_per_job)
            print(f"inserted {db['flamenco_jobs'].estimated_document_count()} jobs and "
                  f"{db['flamenco_tasks'].estimated_document_count()} tasks in {time.perf_counter() - start:.1f} s")
            app = create_app({"MONGO_URI": mongo_uri, "REDIS_URL": redis_url, "TESTING": True,
                              "SECRET_KEY": "bench", "CELERY_ENABLED": False})
            web = app.test_client()
            log_in(web)
            pages = {
                "projects (home)": "/",
                "job list, page 1": "/p/bench/jobs/",
                "job list, page 100": "/p/bench/jobs/?page=100",
                "job list, status=active": "/p/bench/jobs/?status=active",
                "job list, by name, user filter": f"/p/bench/jobs/?sort=name&user={ids['bob']}",
                "job list rows (live refresh)": "/p/bench/jobs/rows",
                "job view": f"/p/bench/jobs/{ids['job']}",
                "job view live part": f"/p/bench/jobs/{ids['job']}/live",
                "job depsgraph.json": f"/p/bench/jobs/{ids['job']}/depsgraph.json",
                "task view": f"/p/bench/tasks/{ids['task']}",
                "managers": "/managers/",
                "manager view": f"/managers/{ids['manager']}",
            }
            print(f"page size {defaults.JOB_PAGE_SIZE} jobs; {args.repeat} requests per page; times in seconds")
            print(f"{'page':34} {'cold':>7} {'warm median':>12} {'warm max':>9}")
            cache = redis.Redis.from_url(redis_url)
            for name, url in pages.items():
                cache.flushdb()
                cold = timed(web, url)
                # A cold request may outlast the job-list cache's expiry; one more settles it.
                timed(web, url)
                warm = [timed(web, url) for _ in range(args.repeat)]
                print(f"{name:34} {cold:7.3f} {statistics.median(warm):12.3f} {max(warm):9.3f}")
            rows_url = pages["job list rows (live refresh)"]
            task = db["flamenco_tasks"].find_one({"_id": ids["task"]})
            job = db["flamenco_jobs"].find_one({"_id": ids["job"]})
            changes = (("rows after a task event", task, lambda doc: eventbus.task_changed(doc["_id"], doc["job"], doc=doc)),
                       ("rows after a job event", job, lambda doc: eventbus.job_changed(doc["_id"], doc=doc)))
            for name, doc, change in changes:
                timed(web, rows_url)
                after = []
                for i in range(args.repeat):
                    doc["activity"] = f"rendering sample {i}"
                    with app.app_context():  # the listeners (live feed, row indexes) use the app's Redis
                        eventbus.emit(db, change(doc))
                    after.append(timed(web, rows_url))
                print(f"{name:34} {'':7} {statistics.median(after):12.3f} {max(after):9.3f}")
        finally:
            client.drop_database(DATABASE)
            client.close()
            for svc in reversed(started):
                svc.stop()


if __name__ == "__main__":
    main()
