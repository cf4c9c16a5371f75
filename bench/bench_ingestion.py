"""Server ingestion: depsgraph downloads and task-update batches from a Manager.

Through a real server process over HTTP, as the Manager's sync daemon calls it,
with a farm's processes: Celery on (a ``celery worker`` on the same store and
Redis) and the dashboard's live updates published as in production:

1. a job of ``--batch`` (1,000) tasks: the clean-slate depsgraph that claims
   them, then a task-update-batch of one update per task (to ``active``),
   a second one (to ``completed``, which also runs the job rules), and the
   first batch re-sent (what a Manager does after a lost acknowledgement);
2. a job of ``--graph`` (10,000) tasks: the clean-slate depsgraph, which the
   server claims a page at a time (``DEPSGRAPH_CLAIM_PAGE_TASKS``, 1,000), so
   it is pulled as the Manager does, again while ``X-Flamenco-More-Tasks``
   says more wait (printed: the whole pull and its slowest answer); then the
   incremental one right after (nothing changed: 304);
3. the Manager's history: ``--history`` (50,000) tasks of earlier jobs, stored
   as finished, then a new job of ``--batch`` tasks pulled incrementally, and
   the idle pull after it (nothing changed: 304). What a pull reads must not
   grow with what the Manager ran before.

    .venv/bin/python -m bench.bench_ingestion [--batch 1000] [--graph 10000] [--history 50000]
"""
from __future__ import annotations

import argparse
import datetime

import httpx
from bson import ObjectId

from bench.support import Stopwatch, celery_worker, data_store, header, redis_service, tenancy
from flamenco.jobs import construction
from flamenco.store.collections import JOBS, TASKS
from tests.support.server import job_doc, running_server

# A depsgraph of 10,000 tasks or a batch that runs job rules can take minutes on FerretDB.
HTTP_TIMEOUT_SECONDS = 1800


def make_sleep_job(db, project: dict, manager: dict, user: dict, tasks: int) -> dict:
    """A queued sleep job of ``tasks`` zero-length tasks, stored the way POST stores it."""
    doc = job_doc(project, manager, user, job_type="sleep", name=f"ingest {tasks}",
                  settings={"frames": f"1-{tasks}", "chunk_size": 1, "time_in_seconds": 0})
    for field in ("project", "manager", "user"):
        doc[field] = ObjectId(doc[field])
    return construction.submit_job(db, doc)


def updates_for(task_ids: list[str], status: str) -> list[dict]:
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    return [{"_id": str(ObjectId()), "task_id": tid, "task_status": status, "activity": f"bench {status}",
             "task_progress_percentage": 100 if status == "completed" else 0, "worker": "bench (worker)",
             "received_on_manager": now, "log_tail": f"line of {tid}"} for tid in task_ids]


def timed(client: httpx.Client, method: str, url: str, **kwargs) -> tuple[httpx.Response, float]:
    with Stopwatch() as sw:
        resp = client.request(method, url, **kwargs)
    return resp, sw.seconds


def finish_history(db, project: dict, manager: dict, user: dict, tasks: int, per_job: int) -> None:
    """``tasks`` tasks of earlier jobs of the Manager, stored as finished a day ago (and every job so far)."""
    for first in range(0, tasks, per_job):
        make_sleep_job(db, project, manager, user, min(per_job, tasks - first))
    day_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    finished = {"$set": {"status": "completed", "_updated": day_ago}}
    db[TASKS].update_many({}, finished)
    db[JOBS].update_many({}, finished)


def pull_pages(http: httpx.Client, url: str, since: str = "") -> tuple[int, int, float, float, int, str]:
    """Pull a paged depsgraph to the end: (tasks, answers, seconds in all, slowest answer, bytes, last marker)."""
    tasks = answers = size = 0
    total = slowest = 0.0
    while True:
        resp, secs = timed(http, "GET", url, headers={"X-Flamenco-If-Updated-Since": since} if since else {})
        answers, total, slowest = answers + 1, total + secs, max(slowest, secs)
        if resp.status_code != 200:
            return tasks, answers, total, slowest, size, since
        tasks += len(resp.json()["depsgraph"])
        size += len(resp.content)
        since = resp.headers.get("X-Flamenco-Last-Updated", since)
        if resp.headers.get("X-Flamenco-More-Tasks") != "true":
            return tasks, answers, total, slowest, size, since


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000, help="updates per task-update-batch")
    parser.add_argument("--graph", type=int, default=10_000, help="tasks in the big depsgraph")
    parser.add_argument("--history", type=int, default=50_000, help="finished tasks of the Manager's earlier jobs")
    args = parser.parse_args()

    with data_store() as (server_uri, store), redis_service() as redis_url:
        header("server ingestion (Manager API over HTTP)", store)
        with tenancy(server_uri, "bench_ingest") as farm, celery_worker(farm.uri, redis_url), \
                running_server(farm.uri, redis_url, CELERY_ENABLED=True) as base_url, \
                httpx.Client(base_url=base_url, auth=(farm.manager_token, ""), timeout=HTTP_TIMEOUT_SECONDS) as http:
            db, project, manager, user = farm.db, farm.project, farm.manager, farm.user
            api = f"/api/flamenco/managers/{manager['_id']}"
            small = make_sleep_job(db, project, manager, user, args.batch)
            resp, secs = timed(http, "GET", f"{api}/depsgraph")
            task_ids = [t["_id"] for t in resp.json()["depsgraph"]]
            print(f"depsgraph, clean slate, {len(task_ids)} tasks (claims them): {secs * 1000:.0f} ms "
                  f"(HTTP {resp.status_code})", flush=True)
            first = updates_for(task_ids, "active")
            for label, batch in (("to active", first), ("to completed (runs job rules)",
                                                         updates_for(task_ids, "completed")),
                                 ("re-sent first batch (already handled)", first)):
                resp, secs = timed(http, "POST", f"{api}/task-update-batch", json=batch)
                body = resp.json()
                print(f"task-update-batch of {len(batch)} updates, {label}: {secs * 1000:.0f} ms "
                      f"(HTTP {resp.status_code}, {len(body.get('handled_update_ids', []))} acknowledged, "
                      f"modified {body.get('modified_count')})", flush=True)
            job_status = db[JOBS].find_one({"_id": small["_id"]})["status"]
            print(f"job after the batches: {job_status}", flush=True)

            with Stopwatch() as sw:
                make_sleep_job(db, project, manager, user, args.graph)
            print(f"(setup: submitting the {args.graph}-task job took {sw.seconds:.1f} s)", flush=True)
            count, answers, total, slowest, size, since = pull_pages(http, f"{api}/depsgraph")
            print(f"depsgraph, clean slate, {count} tasks: {total * 1000:.0f} ms in {answers} answers, "
                  f"slowest {slowest * 1000:.0f} ms ({size / 1e6:.1f} MB JSON)", flush=True)
            resp, secs = timed(http, "GET", f"{api}/depsgraph", headers={"X-Flamenco-If-Updated-Since": since})
            print(f"depsgraph, incremental, nothing changed: {secs * 1000:.0f} ms (HTTP {resp.status_code})",
                  flush=True)

            with Stopwatch() as sw:
                finish_history(db, project, manager, user, args.history, args.graph)
            print(f"(setup: {args.history} finished tasks of earlier jobs on the Manager took {sw.seconds:.1f} s)",
                  flush=True)
            make_sleep_job(db, project, manager, user, args.batch)
            count, answers, total, slowest, size, since = pull_pages(http, f"{api}/depsgraph", since)
            print(f"depsgraph, incremental, a new job of {count} tasks after that history: {total * 1000:.0f} ms "
                  f"in {answers} answers", flush=True)
            resp, secs = timed(http, "GET", f"{api}/depsgraph", headers={"X-Flamenco-If-Updated-Since": since})
            print(f"depsgraph, incremental, nothing changed, after that history: {secs * 1000:.0f} ms "
                  f"(HTTP {resp.status_code})", flush=True)


if __name__ == "__main__":
    main()
