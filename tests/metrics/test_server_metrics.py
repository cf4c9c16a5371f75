"""/metrics on the server: gauges match the database, latencies are recorded, a metrics-capable token is required."""
from __future__ import annotations

import flask
import httpx
from pymongo.database import Database

from tests.metrics.parse import samples, value
from tests.support.server import make_job, make_manager, make_project, make_token, make_user, running_server


def _metrics_token(db: Database) -> str:
    """Prometheus' token: an account that may scrape /metrics and nothing else."""
    return make_token(db, make_user(db, "prometheus", roles=("flamenco-metrics",)))


def _scrape(client: flask.testing.FlaskClient, token: str) -> dict:
    resp = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.data
    assert resp.content_type.startswith("text/plain")
    return samples(resp.get_data(as_text=True))


def test_metrics_requires_a_token(server_app: flask.Flask) -> None:
    resp = server_app.test_client().get("/metrics")
    assert resp.status_code == 401
    assert resp.json["_code"] == 401


def test_task_and_job_gauges_match_the_database(server_app: flask.Flask, mongo_db: Database) -> None:
    user = make_user(mongo_db, "metrics-user")
    project = make_project(mongo_db, "Metrics", members=[(user, "admin")])
    manager, _ = make_manager(mongo_db, projects=[project], owner=user)
    make_job(mongo_db, project, manager, user, settings={"frames": "1-12", "chunk_size": 4, "time_in_seconds": 1})
    mongo_db["flamenco_managers"].update_one({"_id": manager["_id"]}, {"$set": {"stats.nr_of_workers": 7}})

    scrape = _scrape(server_app.test_client(), _metrics_token(mongo_db))

    queued_tasks = mongo_db["flamenco_tasks"].count_documents({"status": "queued"})
    assert queued_tasks > 0
    assert value(scrape, "flamenco_tasks", status="queued") == queued_tasks
    assert value(scrape, "flamenco_tasks", status="active") == 0
    assert value(scrape, "flamenco_jobs", status="queued") == 1
    assert value(scrape, "flamenco_managers") == 1
    assert value(scrape, "flamenco_manager_workers", manager=str(manager["_id"]), name=manager["name"]) == 7


def test_request_latency_is_recorded_per_route(server_app: flask.Flask, mongo_db: Database) -> None:
    user = make_user(mongo_db, "latency-user")
    token = make_token(mongo_db, user)
    client = server_app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(3):
        assert client.get("/api/flamenco/jobs", headers=headers).status_code == 200

    scrape = _scrape(client, _metrics_token(mongo_db))

    count = value(scrape, "flamenco_http_request_duration_seconds_count",
                  method="GET", route="/api/flamenco/jobs", status="200")
    assert count == 3


def test_celery_queue_length_comes_from_redis(server_app: flask.Flask, mongo_db: Database, redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.rpush("celery", "job-1", "job-2")
    scrape = _scrape(server_app.test_client(), _metrics_token(mongo_db))

    assert value(scrape, "flamenco_celery_queue_length") == 2


def test_the_serving_process_freezes_its_startup_objects(mongo_uri: str, mongo_db: Database,
                                                         redis_url: str) -> None:
    """``flamenco server`` tunes its collector before serving: the frozen objects and the
    collections per generation show in /metrics (cli.tune_garbage_collector)."""
    token = _metrics_token(mongo_db)
    with running_server(mongo_uri, redis_url) as base_url:
        resp = httpx.get(f"{base_url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert resp.status_code == 200, resp.text
    scrape = samples(resp.text)
    assert (value(scrape, "flamenco_gc_frozen_objects") or 0) > 10_000, "modules and schemas are frozen"
    assert value(scrape, "python_gc_collections_total", generation="2") is not None
