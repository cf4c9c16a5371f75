"""``/metrics`` for Prometheus: request latencies and farm gauges of the server.

Registering :data:`blueprint` is all an app needs: on registration it gets its
own ``CollectorRegistry`` (so two apps in one process, as in tests, never mix
their figures) and a request-latency histogram fed by ``before/after_request``.

Gauges are computed when Prometheus scrapes, from cheap queries: one
``count_documents`` per reported status on jobs and tasks, bounded by
:data:`COUNT_LIMIT` and :data:`COUNT_MAX_TIME_MS` so a scrape can never run
away on a huge task collection (the local store scans a collection for every
count, flamenco.store: count), and one small read of the managers collection
for the workers they report.
The scrape needs the token (Prometheus ``authorization: credentials``) of
an account with the ``flamenco-metrics`` capability: a global admin, or a
dedicated ``flamenco-metrics`` account that may do nothing else. The figures
span every project, so project members may not read them.
"""
from __future__ import annotations

import gc
import time
from typing import Iterator, cast

import flask
import redis
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, GCCollector, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import ExecutionTimeout, PyMongoError

from flamenco import auth, errors
from flamenco.auth import roles
from flamenco.store import current_db
from flamenco.store.collections import JOBS, MANAGERS, TASKS
from flamenco_protocol.statuses import JobStatus, TaskStatus

# Task statuses worth a gauge: work waiting at the server or at a manager,
# and work running. Finished tasks only grow and are not worth a scan.
TASK_STATUSES = (TaskStatus.QUEUED, TaskStatus.CLAIMED_BY_MANAGER, TaskStatus.ACTIVE, TaskStatus.SOFT_FAILED,
                 TaskStatus.CANCEL_REQUESTED)
# Job statuses worth a gauge: what the farm is working on or will soon.
JOB_STATUSES = (JobStatus.QUEUED, JobStatus.ACTIVE, JobStatus.PAUSED, JobStatus.UNDER_CONSTRUCTION,
                JobStatus.CANCEL_REQUESTED)
# Counting stops here: beyond a million tasks in one status the exact figure
# does not change any decision, and the bound keeps a scrape's cost fixed.
COUNT_LIMIT = 1_000_000
# A scrape must answer within Prometheus' default 10 s scrape timeout even
# with several counts; each count gets at most this long (MongoDB honours it).
COUNT_MAX_TIME_MS = 2_000
# The Celery queue on Redis (its default queue name); a list whose length is
# the number of background jobs waiting.
CELERY_QUEUE_KEY = "celery"
# Redis must answer fast or the scrape skips the Celery gauge.
REDIS_TIMEOUT_SECONDS = 1.0
# Latency buckets (seconds): API calls are expected in the 5-250 ms range;
# job submission of big jobs can take seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
EXTENSION_KEY = "flamenco_metrics"

blueprint = flask.Blueprint("flamenco_metrics", __name__)


class FarmCollector(Collector):
    """Gauges computed at scrape time from the app's database and Redis."""

    def __init__(self, app: flask.Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.app.app_context():
            db = current_db()
        timeouts: list[str] = []
        yield status_gauge("flamenco_tasks", "Tasks per status (bounded count).", db[TASKS],
                           TASK_STATUSES, timeouts)
        yield status_gauge("flamenco_jobs", "Jobs per status (bounded count).", db[JOBS], JOB_STATUSES,
                           timeouts)
        yield GaugeMetricFamily("flamenco_metrics_count_timeouts",
                                "Status counts left out of this scrape because they took longer than "
                                f"{COUNT_MAX_TIME_MS} ms.", value=len(timeouts))
        yield from manager_gauges(db)
        celery = celery_queue_gauge(self.app.config.get("REDIS_URL", ""))
        if celery is not None:
            yield celery
        yield GaugeMetricFamily("flamenco_gc_frozen_objects",
                                "Objects Python's cycle collector never scans again (cli.tune_garbage_collector).",
                                value=gc.get_freeze_count())


def bounded_count(collection: Collection, query: dict) -> int:
    """``count_documents`` that can neither count for ever nor run for ever."""
    return collection.count_documents(query, limit=COUNT_LIMIT, maxTimeMS=COUNT_MAX_TIME_MS)


def status_gauge(name: str, doc: str, collection: Collection, statuses: tuple[str, ...],
                 timeouts: list[str]) -> GaugeMetricFamily:
    """One gauge with a ``status`` label, one bounded count per status.

    A count that runs out of time is left out (a missing sample, not a wrong
    one) and its status appended to ``timeouts``, so the rest still scrapes.
    """
    gauge = GaugeMetricFamily(name, doc, labels=["status"])
    for status in statuses:
        try:
            gauge.add_metric([status], bounded_count(collection, {"status": status}))
        except ExecutionTimeout:
            timeouts.append(f"{name}:{status}")
    return gauge


def manager_gauges(db: Database) -> Iterator[GaugeMetricFamily]:
    """Managers known, and the workers each last reported (small collection)."""
    managers = list(db[MANAGERS].find({}, {"name": 1, "stats.nr_of_workers": 1}))
    yield GaugeMetricFamily("flamenco_managers", "Managers registered on this server.", value=len(managers))
    workers = GaugeMetricFamily("flamenco_manager_workers",
                                "Workers each manager reported in its last notification.",
                                labels=["manager", "name"])
    for manager in managers:
        count = (manager.get("stats") or {}).get("nr_of_workers") or 0
        workers.add_metric([str(manager["_id"]), manager.get("name", "")], count)
    yield workers


def celery_queue_gauge(redis_url: str) -> GaugeMetricFamily | None:
    """Background jobs waiting in Celery's Redis queue; None when Redis is unreachable."""
    if not redis_url:
        return None
    client = redis.Redis.from_url(redis_url, socket_timeout=REDIS_TIMEOUT_SECONDS,
                                  socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
    try:
        length = client.llen(CELERY_QUEUE_KEY)
    except redis.RedisError:
        return None
    finally:
        client.close()
    return GaugeMetricFamily("flamenco_celery_queue_length", "Background jobs waiting in the Celery queue.",
                             value=length)


class AppMetrics:
    """The per-app registry and the request-latency histogram in it."""

    def __init__(self, app: flask.Flask) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram("flamenco_http_request_duration_seconds",
                                 "Time to answer an HTTP request, by route.",
                                 ["method", "route", "status"], buckets=LATENCY_BUCKETS,
                                 registry=self.registry)
        self.registry.register(FarmCollector(app))
        GCCollector(registry=self.registry)  # collections per generation: pauses of every request


@blueprint.record_once
def _setup(state: flask.blueprints.BlueprintSetupState) -> None:
    state.app.extensions[EXTENSION_KEY] = AppMetrics(cast(flask.Flask, state.app))


def app_metrics() -> AppMetrics:
    return flask.current_app.extensions[EXTENSION_KEY]


@blueprint.before_app_request
def _start_timer() -> None:
    flask.g.metrics_started = time.perf_counter()


@blueprint.after_app_request
def _observe_latency(response: flask.Response) -> flask.Response:
    started = flask.g.pop("metrics_started", None)
    if started is not None:
        # The URL rule, not the path: one series per route, whatever the ids.
        rule = flask.request.url_rule.rule if flask.request.url_rule is not None else "unmatched"
        app_metrics().latency.labels(flask.request.method, rule, str(response.status_code)).observe(
            time.perf_counter() - started)
    return response


@blueprint.get("/metrics")
def metrics() -> flask.Response:
    """Prometheus text format; 401 without a valid token, 403 without ``flamenco-metrics``."""
    user = auth.current_user()
    if user is None:
        errors.abort(401, "authentication required: send a token as 'Authorization: Bearer <token>'",
                     headers={"WWW-Authenticate": 'Bearer realm="flamenco"'})
    if not user.has_cap(roles.CAP_METRICS):
        errors.abort(403, f"metrics span every project: they need the {roles.CAP_METRICS!r} capability "
                          f"(global admins, or a {roles.ROLE_METRICS!r} account)")
    try:
        body = generate_latest(app_metrics().registry)
    except PyMongoError as ex:
        errors.abort(503, f"database unavailable for metrics: {type(ex).__name__}")
    return flask.Response(body, content_type=CONTENT_TYPE_LATEST)


def init_app(app: flask.Flask) -> None:
    """Register the blueprint (for apps that prefer an init function)."""
    app.register_blueprint(blueprint)
