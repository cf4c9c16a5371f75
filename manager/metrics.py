"""``/metrics`` for Prometheus on the Manager: latencies, tasks, workers, update queue.

Registering :data:`blueprint` gives the app its own ``CollectorRegistry`` and
a request-latency histogram. Gauges are computed at scrape time from the
Manager's small collections: the hot ``tasks`` cache and ``workers`` (one
read each, counted in Python), and ``task_update_queue`` (one count; it only
grows while the Server is unreachable, which is exactly when it matters).
The scrape is guarded like the dashboard (``dashboard_password``, or
loopback only when none is set).
"""
from __future__ import annotations

import collections
import time
from typing import Iterator

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from flamenco_manager import db as dbmod
from flamenco_manager.context import ManagerContext
from flamenco_manager.dashboard.auth import require_human

# Worker calls are expected within tens of milliseconds; a /task that takes
# seconds is the scheduler stalling.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
EXTENSION_KEY = "flamenco_manager_metrics"

blueprint = Blueprint("manager_metrics", __name__)


class ManagerCollector(Collector):
    """Gauges read from the Manager's database when Prometheus scrapes."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        ctx: ManagerContext = self.app.extensions["flamenco_manager"]
        yield counted_by_status("flamenco_manager_tasks", "Cached tasks waiting or running, per status.",
                                ctx.db[dbmod.TASKS].find({}, {"status": 1}))
        yield counted_by_status("flamenco_manager_workers", "Registered workers, per status.",
                                ctx.db[dbmod.WORKERS].find({}, {"status": 1}))
        yield GaugeMetricFamily("flamenco_manager_update_queue_length",
                                "Task updates waiting to be acknowledged by the Server.",
                                value=ctx.db[dbmod.UPDATE_QUEUE].count_documents({}))
        yield GaugeMetricFamily("flamenco_manager_update_rejects",
                                "Task updates the Server never acknowledged, set aside.",
                                value=ctx.db[dbmod.UPDATE_REJECTS].count_documents({}))


def counted_by_status(name: str, doc: str, docs) -> GaugeMetricFamily:
    """A gauge with a ``status`` label from documents' ``status`` fields."""
    counts = collections.Counter(d.get("status") or "none" for d in docs)
    gauge = GaugeMetricFamily(name, doc, labels=["status"])
    for status, count in sorted(counts.items()):
        gauge.add_metric([status], count)
    return gauge


class AppMetrics:
    """The per-app registry and the request-latency histogram in it."""

    def __init__(self, app: Flask) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram("flamenco_manager_http_request_duration_seconds",
                                 "Time to answer an HTTP request, by route.",
                                 ["method", "route", "status"], buckets=LATENCY_BUCKETS,
                                 registry=self.registry)
        self.registry.register(ManagerCollector(app))


@blueprint.record_once
def _setup(state) -> None:  # noqa: ANN001 (Flask's BlueprintSetupState)
    state.app.extensions[EXTENSION_KEY] = AppMetrics(state.app)


@blueprint.before_app_request
def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


@blueprint.after_app_request
def _observe_latency(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        # The URL rule, not the path: one series per route, whatever the ids.
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        current_app.extensions[EXTENSION_KEY].latency.labels(request.method, rule, str(response.status_code)) \
            .observe(time.perf_counter() - started)
    return response


@blueprint.get("/metrics")
@require_human
def metrics() -> Response:
    """Prometheus text format."""
    return Response(generate_latest(current_app.extensions[EXTENSION_KEY].registry),
                    content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Register the blueprint (for apps that prefer an init function)."""
    app.register_blueprint(blueprint)
