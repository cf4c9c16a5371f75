"""Big jobs are constructed by a real Celery worker while the POST (or PATCH construct/recreate) answers at once;
small ones in the request."""
from __future__ import annotations

import datetime
import time
from typing import Callable

import celery
import flask
import pytest
import redis
from bson import ObjectId

from flamenco import clock, defaults
from flamenco.web import live_events
from flamenco.jobs import construction_runs
from flamenco.app import create_app
from flamenco.farm.services import free_port
from tests.server.celery.test_worker import WORKER_TASK_TIMEOUT, celery_worker  # noqa: F401 - fixture
from tests.support.server import job_doc, make_token

JOBS_URL = "/api/flamenco/jobs"
# Jobs above this many tasks go to Celery in these tests (the default is 1000).
TEST_INLINE_MAX_TASKS = 5
BIG_JOB_SETTINGS = {"frames": "1-12", "chunk_size": 1, "time_in_seconds": 1}
SMALL_JOB_SETTINGS = {"frames": "1-12", "chunk_size": 4, "time_in_seconds": 1}
RESUME_AGE = datetime.timedelta(seconds=defaults.FLAMENCO_RESUME_CONSTRUCTION_AGE_SECONDS)
# The queue Celery's default routing puts tasks in (a Redis list of that name).
CELERY_DEFAULT_QUEUE = "celery"


@pytest.fixture
def make_app(mongo_uri: str, redis_url: str, storage_root) -> Callable[..., flask.Flask]:
    def make(**config) -> flask.Flask:
        return create_app({"MONGO_URI": mongo_uri, "REDIS_URL": redis_url, "TESTING": True, "CELERY_ENABLED": True,
                           "STORAGE_DIR": str(storage_root), "INLINE_CONSTRUCTION_MAX_TASKS": TEST_INLINE_MAX_TASKS,
                           **config})
    return make


def post_job(app: flask.Flask, mongo_db, farm, settings: dict, **fields):
    """POST a sleep job with ``settings`` (and other ``fields``) as the farm's user, through ``app``'s test client."""
    token = make_token(mongo_db, farm["user"])
    doc = job_doc(farm["project"], farm["manager"], farm["user"], settings=settings, **fields)
    with app.test_client() as client:
        return client.post(JOBS_URL, json=doc, headers={"Authorization": f"Bearer {token}"})


def wait_for_job(db, job_id: ObjectId, statuses: set[str], worker_log) -> dict:
    """The job once its status is one of ``statuses``; fails with the worker's log after the timeout."""
    deadline = time.monotonic() + WORKER_TASK_TIMEOUT
    while time.monotonic() < deadline:
        job = db["flamenco_jobs"].find_one({"_id": job_id})
        if job["status"] in statuses:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job stayed {job['status']}; worker log:\n{worker_log.read_text()}")


def next_event(pubsub: redis.client.PubSub) -> dict:
    """The next live update published on the subscribed channel (skipping the subscription notice)."""
    deadline = time.monotonic() + WORKER_TASK_TIMEOUT
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=1.0)
        if message is not None:
            return live_events.events_of(message["data"])[1][0]
    raise AssertionError("no live update was published")


def test_big_job_answers_under_construction_and_the_worker_queues_it(make_app, mongo_db, farm, redis_url, request):
    # The worker starts after the POST, so the answer cannot race the construction.
    resp = post_job(make_app(), mongo_db, farm, BIG_JOB_SETTINGS)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    job_id = ObjectId(body["_id"])
    assert body["status"] == "under-construction"
    assert body["_etag"] == mongo_db["flamenco_jobs"].find_one({"_id": job_id})["_etag"]
    assert mongo_db["flamenco_tasks"].count_documents({"job": job_id}) == 0
    live_updates = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    live_updates.subscribe(live_events.CHANNEL)

    job = wait_for_job(mongo_db, job_id, {"queued", "construction-failed"}, request.getfixturevalue("celery_worker"))
    tasks = list(mongo_db["flamenco_tasks"].find({"job": job_id}))
    assert job["status"] == "queued", job.get("status_reason")
    assert job["status_reason"].startswith("Job submitted by")
    assert sorted(t["name"] for t in tasks) == sorted(f"sleep-{frame}" for frame in range(1, 13))
    assert {t["status"] for t in tasks} == {"queued"}
    assert next_event(live_updates)["status"] == "queued"
    live_updates.close()


def test_small_job_is_constructed_in_the_request(make_app, mongo_db, farm, redis_url):
    resp = post_job(make_app(), mongo_db, farm, SMALL_JOB_SETTINGS)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["status"] == "queued"
    assert mongo_db["flamenco_tasks"].count_documents({"job": ObjectId(resp.get_json()["_id"])}) == 3
    assert redis.Redis.from_url(redis_url).llen(CELERY_DEFAULT_QUEUE) == 0


def test_big_job_is_constructed_in_the_request_without_celery(make_app, mongo_db, farm):
    resp = post_job(make_app(CELERY_ENABLED=False), mongo_db, farm, BIG_JOB_SETTINGS)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["status"] == "queued"
    assert mongo_db["flamenco_tasks"].count_documents({"job": ObjectId(resp.get_json()["_id"])}) == 12


def test_failing_compile_in_celery_ends_construction_failed_without_tasks(make_app, mongo_db, farm, request):
    resp = post_job(make_app(), mongo_db, farm, BIG_JOB_SETTINGS)
    job_id = ObjectId(resp.get_json()["_id"])
    # The settings go bad between the POST's validation and the worker's compile.
    mongo_db["flamenco_jobs"].update_one({"_id": job_id}, {"$set": {"settings.frames": "1-x"}})

    job = wait_for_job(mongo_db, job_id, {"queued", "construction-failed"}, request.getfixturevalue("celery_worker"))
    assert job["status"] == "construction-failed"
    assert "compilation failed: settings.frames" in job["status_reason"]
    assert mongo_db["flamenco_tasks"].count_documents({"job": job_id}) == 0


def test_unreachable_broker_still_stores_the_job_for_the_sweep(make_app, mongo_db, farm):
    app = make_app(CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0")
    resp = post_job(app, mongo_db, farm, BIG_JOB_SETTINGS)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["status"] == "under-construction"
    job_id = ObjectId(resp.get_json()["_id"])
    assert construction_runs.stalled_constructions(mongo_db, RESUME_AGE, now=clock.utcnow() + 2 * RESUME_AGE) == [job_id]


def insert_held_job(db, farm, updated: datetime.datetime) -> ObjectId:
    """An under-construction job whose run inserted two tasks and last touched it at ``updated``."""
    job = job_doc(farm["project"], farm["manager"], farm["user"], settings=BIG_JOB_SETTINGS)
    job.update({field: ObjectId(job[field]) for field in ("project", "manager", "user")})
    job.update(status="under-construction", construction_run="some-run", construction_attempts=1,
               _created=updated, _updated=updated, _etag="etag")
    job_id = db["flamenco_jobs"].insert_one(job).inserted_id
    db["flamenco_tasks"].insert_many([{"job": job_id, "name": "sleep-1", "status": "queued", "_created": updated},
                                      {"job": job_id, "name": "sleep-2", "status": "queued", "_created": updated}])
    return job_id


def test_sweep_resumes_a_dead_construction_without_duplicates(mongo_db, farm, redis_url, celery_worker):
    dead = insert_held_job(mongo_db, farm, clock.utcnow() - 2 * RESUME_AGE)
    live = insert_held_job(mongo_db, farm, clock.utcnow())
    client = celery.Celery("test-client", broker=redis_url, backend=redis_url)
    swept = client.send_task("flamenco.celery.resume_job_construction").get(timeout=WORKER_TASK_TIMEOUT)
    assert swept == [str(dead)]

    job = wait_for_job(mongo_db, dead, {"queued", "construction-failed"}, celery_worker)
    names = [t["name"] for t in mongo_db["flamenco_tasks"].find({"job": dead})]
    assert job["status"] == "queued" and job["status_reason"] == "Construction resumed after its run stopped"
    assert sorted(names) == sorted(f"sleep-{frame}" for frame in range(1, 13))
    assert mongo_db["flamenco_jobs"].find_one({"_id": live})["status"] == "under-construction"
    assert mongo_db["flamenco_tasks"].count_documents({"job": live}) == 2


def test_construction_sweep_is_scheduled():
    from flamenco.celery import beat_schedule

    assert beat_schedule()["resume-job-construction"]["task"] == "flamenco.celery.resume_job_construction"


def test_construction_task_keeps_its_name_on_the_broker():
    """Messages queued by an older server name the task ``flamenco.celery.construct_job``; they must still run."""
    from flamenco.celery import app as celery_app, construct_big_job

    assert construct_big_job.name == defaults.CELERY_CONSTRUCT_TASK == "flamenco.celery.construct_job"
    assert "flamenco.celery.construct_job" in celery_app.tasks


def patch_job(app: flask.Flask, mongo_db, farm, job_id: ObjectId, body: dict):
    """PATCH the job as the farm's user, through ``app``'s test client."""
    token = make_token(mongo_db, farm["user"])
    with app.test_client() as client:
        return client.patch(f"{JOBS_URL}/{job_id}", json=body, headers={"Authorization": f"Bearer {token}"})


def sleep_task_names(db, job_id: ObjectId) -> list[str]:
    return sorted(t["name"] for t in db["flamenco_tasks"].find({"job": job_id}))


def test_patch_construct_of_a_big_job_answers_at_once_and_the_worker_queues_it(make_app, mongo_db, farm, request):
    app = make_app()
    # Small as submitted: the settings the PATCH merges in make it big, and they decide.
    resp = post_job(app, mongo_db, farm, {**BIG_JOB_SETTINGS, "frames": "1-2"}, status="waiting-for-files")
    assert resp.status_code == 201, resp.get_json()
    job_id = ObjectId(resp.get_json()["_id"])

    # The worker starts after the PATCH: had the request compiled the job, its tasks would be there now.
    resp = patch_job(app, mongo_db, farm, job_id, {"op": "construct", "settings": {"frames": "1-12"}})
    assert resp.status_code == 204, resp.get_json()
    job = mongo_db["flamenco_jobs"].find_one({"_id": job_id})
    assert job["status"] == "under-construction" and job["settings"]["frames"] == "1-12"
    assert mongo_db["flamenco_tasks"].count_documents({"job": job_id}) == 0
    assert redis.Redis.from_url(app.config["REDIS_URL"]).llen(CELERY_DEFAULT_QUEUE) == 1

    job = wait_for_job(mongo_db, job_id, {"queued", "construction-failed"}, request.getfixturevalue("celery_worker"))
    assert job["status"] == "queued", job.get("status_reason")
    assert job["status_reason"].startswith("Construction initiated by")
    assert sleep_task_names(mongo_db, job_id) == sorted(f"sleep-{frame}" for frame in range(1, 13))


def test_patch_recreate_of_a_big_job_answers_at_once_and_the_worker_rebuilds_it(make_app, mongo_db, farm,
                                                                                request):
    resp = post_job(make_app(CELERY_ENABLED=False), mongo_db, farm, BIG_JOB_SETTINGS)
    job_id = ObjectId(resp.get_json()["_id"])
    old_ids = {t["_id"] for t in mongo_db["flamenco_tasks"].find({"job": job_id})}
    assert len(old_ids) == 12
    mongo_db["flamenco_task_logs"].insert_one({"task": next(iter(old_ids)), "log": "old log"})
    mongo_db["flamenco_jobs"].update_one({"_id": job_id}, {"$set": {"status": "completed"}})

    resp = patch_job(make_app(), mongo_db, farm, job_id, {"op": "recreate"})
    assert resp.status_code == 204, resp.get_json()
    job = mongo_db["flamenco_jobs"].find_one({"_id": job_id})
    assert job["status"] == "under-construction" and "construction_run" not in job
    assert mongo_db["flamenco_tasks"].count_documents({"job": job_id}) == 0
    assert mongo_db["flamenco_task_logs"].count_documents({}) == 0

    job = wait_for_job(mongo_db, job_id, {"queued", "construction-failed"}, request.getfixturevalue("celery_worker"))
    tasks = list(mongo_db["flamenco_tasks"].find({"job": job_id}))
    assert job["status"] == "queued" and job["status_reason"].startswith("Recreated by")
    assert len(tasks) == 12 and not {t["_id"] for t in tasks} & old_ids
